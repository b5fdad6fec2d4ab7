//! A Redis Cluster through redis-rs's `cluster_async` connection: it learns the slot map from
//! the seed nodes, sends each command to the primary of its key's slot, follows `MOVED` (and
//! refreshes the map) and `ASK`, and reconnects to nodes that drop. Each jargate command
//! touches one key, so nothing crosses slots.
//!
//! The client retries a command itself after an I/O error, which `insert_once` allows for by
//! reading back a key it finds taken. Should the connection stop answering altogether (every
//! seed replaced since it was made), the probe builds a new one from the seeds after three
//! failed rounds.

use super::{node_addr, timeout_error};
use crate::store::topology::{Address, Auth};
use arc_swap::ArcSwap;
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, FromRedisValue, RedisResult, TlsMode};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Failed probe rounds after which the connection is rebuilt from the seeds.
const REBUILD_AFTER: u32 = 3;

pub(super) struct Nodes {
    client: ClusterClient,
    config: ClusterConfig,
    conn: ArcSwap<ClusterConnection>,
    failed_probes: AtomicU32,
    timeout: Duration,
}

impl Nodes {
    pub(super) fn new(seeds: &[Address], auth: &Auth, timeout: Duration) -> Result<Nodes, String> {
        let mut builder = ClusterClientBuilder::new(seeds.iter().map(|a| node_addr(a, auth.tls)))
            // Redirections and reconnections within the call's time: a few quick retries.
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(100);
        if let Some(user) = &auth.username {
            builder = builder.username(user);
        }
        if let Some(password) = &auth.password {
            builder = builder.password(password);
        }
        if auth.tls {
            builder = builder.tls(TlsMode::Secure);
        }
        let client = builder
            .build()
            .map_err(|e| format!("store.redis_cluster: {e}"))?;
        let config = ClusterConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        let conn = client.get_pending_async_connection_with_config(config.clone());
        Ok(Nodes {
            client,
            config,
            conn: ArcSwap::from_pointee(conn),
            failed_probes: AtomicU32::new(0),
            timeout,
        })
    }

    fn conn(&self) -> ClusterConnection {
        self.conn.load().as_ref().clone()
    }

    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        cmd.query_async(&mut self.conn()).await
    }

    /// Sends `wait` to the primary of `key`'s slot: the node that took the write.
    pub(super) async fn wait_at(&self, key: &str, wait: &Cmd) -> RedisResult<u64> {
        let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
        let value = self.conn().route_command(wait.clone(), routing).await?;
        Ok(redis::from_redis_value(value)?)
    }

    /// `PING` to every primary; rebuilds the connection after [`REBUILD_AFTER`] failed rounds.
    pub(super) async fn probe(&self, timeout: Duration) -> RedisResult<()> {
        let result = tokio::time::timeout(timeout, self.query::<String>(&redis::cmd("PING")))
            .await
            .map_err(|_| timeout_error())
            .and_then(|r| r);
        if result.is_ok() {
            self.failed_probes.store(0, Ordering::Relaxed);
        } else if self.failed_probes.fetch_add(1, Ordering::Relaxed) + 1 >= REBUILD_AFTER {
            self.failed_probes.store(0, Ordering::Relaxed);
            let fresh = self
                .client
                .get_pending_async_connection_with_config(self.config.clone());
            self.conn.store(Arc::new(fresh));
        }
        result.map(|_| ())
    }

    /// `cluster_state ok, N primaries serving slots; every primary answered PING`.
    pub(super) async fn report(&self) -> RedisResult<String> {
        self.probe(self.timeout).await?;
        let info: String = self
            .query(&redis::cmd("CLUSTER").arg("INFO").clone())
            .await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
                .unwrap_or("?")
                .to_owned()
        };
        let state = field("cluster_state");
        let size = field("cluster_size");
        if state != "ok" {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "cluster not serving",
                format!("cluster_state {state}"),
            )));
        }
        Ok(format!(
            "cluster_state ok, {size} primaries serving slots; every primary answered PING"
        ))
    }
}
