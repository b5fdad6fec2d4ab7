//! A Sentinel set: which server is the primary, asked of the sentinels (redis-rs
//! `SentinelClient`, which also checks with `ROLE` that the server it names is a primary), and
//! one multiplexed connection to it.
//!
//! The connection is dropped when it breaks, times out, or is refused as a replica
//! (`READONLY`): the next call asks the sentinels again. A failover by the sentinels also
//! closes the old primary's client connections, so a busy replica moves on its next call; the
//! probe asks the sentinels every second and moves an idle one (or one still connected to a
//! demoted primary that kept its connections) as soon as they name another server.

use super::{node_addr, timeout_error};
use crate::store::topology::{Address, Auth};
use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, RedisError, RedisResult, TlsMode};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

pub(super) struct Primary {
    /// Held while the sentinels are asked, so that concurrent calls ask once.
    sentinels: Mutex<SentinelClient>,
    config: AsyncConnectionConfig,
    timeout: Duration,
    current: ArcSwapOption<Current>,
}

/// The primary in use, and the connection to it.
struct Current {
    addr: String,
    conn: MultiplexedConnection,
}

impl Primary {
    pub(super) fn new(
        sentinels: &[Address],
        master: &str,
        auth: &Auth,
        sentinel_auth: &Auth,
        timeout: Duration,
    ) -> Result<Primary, String> {
        let addrs = sentinels.iter().map(|a| node_addr(a, sentinel_auth.tls));
        let err = |e: RedisError| format!("store.redis_sentinels: {e}");
        let mut builder =
            SentinelClientBuilder::new(addrs, master, SentinelServerType::Master).map_err(err)?;
        if let Some(user) = &auth.username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = &auth.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if auth.tls {
            builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
        }
        builder = builder.set_client_to_redis_db(auth.db);
        if let Some(user) = &sentinel_auth.username {
            builder = builder.set_client_to_sentinel_username(user);
        }
        if let Some(password) = &sentinel_auth.password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        if sentinel_auth.tls {
            builder = builder.set_client_to_sentinel_tls_mode(TlsMode::Secure);
        }
        Ok(Primary {
            sentinels: Mutex::new(builder.build().map_err(err)?),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
            timeout,
            current: ArcSwapOption::empty(),
        })
    }

    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        let current = self.current().await?;
        let result = cmd.query_async(&mut current.conn.clone()).await;
        if let Err(e) = &result {
            if stale(e) {
                self.forget(&current);
            }
        }
        result
    }

    /// The connection in use, or a new one to the primary the sentinels name.
    async fn current(&self) -> RedisResult<Arc<Current>> {
        if let Some(current) = self.current.load_full() {
            return Ok(current);
        }
        let mut sentinels = self.sentinels.lock().await;
        // Another call may have connected while this one waited.
        if let Some(current) = self.current.load_full() {
            return Ok(current);
        }
        let named = self.ask(&mut sentinels).await?;
        let current = Arc::new(self.open(named).await?);
        self.current.store(Some(current.clone()));
        Ok(current)
    }

    /// The primary the sentinels name (checked with `ROLE`), within the timeout.
    async fn ask(&self, sentinels: &mut SentinelClient) -> RedisResult<Client> {
        tokio::time::timeout(self.timeout, sentinels.async_get_client())
            .await
            .map_err(|_| timeout_error())?
    }

    async fn open(&self, named: Client) -> RedisResult<Current> {
        let addr = named.get_connection_info().addr().to_string();
        let conn = named
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        Ok(Current { addr, conn })
    }

    /// Drops `stale` unless another call already replaced it.
    fn forget(&self, stale: &Arc<Current>) {
        let none: Option<Arc<Current>> = None;
        self.current.compare_and_swap(stale, none);
    }

    /// Asks the sentinels which server is primary; moves there if it is not the one in use,
    /// else pings it.
    pub(super) async fn probe(&self, timeout: Duration) -> RedisResult<()> {
        let named = {
            let mut sentinels = self.sentinels.lock().await;
            self.ask(&mut sentinels).await
        };
        let in_use = self.current.load_full();
        let named = match named {
            Ok(named) => named,
            // No sentinel answers: keep the primary in use while it answers.
            Err(e) => {
                return match in_use {
                    Some(current) => self.ping(&current, timeout).await,
                    None => Err(e),
                }
            }
        };
        let addr = named.get_connection_info().addr().to_string();
        match in_use {
            Some(current) if current.addr == addr => self.ping(&current, timeout).await,
            in_use => {
                let fresh = tokio::time::timeout(timeout, self.open(named))
                    .await
                    .map_err(|_| timeout_error())??;
                if let Some(old) = in_use {
                    tracing::info!(from = %old.addr, to = %fresh.addr, "redis sentinel: new primary");
                }
                self.current.store(Some(Arc::new(fresh)));
                Ok(())
            }
        }
    }

    async fn ping(&self, current: &Arc<Current>, timeout: Duration) -> RedisResult<()> {
        let ping = redis::cmd("PING");
        let result = tokio::time::timeout(
            timeout,
            ping.query_async::<String>(&mut current.conn.clone()),
        )
        .await
        .map_err(|_| timeout_error())
        .and_then(|r| r);
        if let Err(e) = &result {
            if stale(e) {
                self.forget(current);
            }
        }
        result.map(|_| ())
    }

    /// `primary HOST:PORT answered PING`.
    pub(super) async fn report(&self) -> RedisResult<String> {
        let current = self.current().await?;
        self.ping(&current, self.timeout).await?;
        Ok(format!("primary {} answered PING", current.addr))
    }
}

/// The connection cannot be trusted to reach the primary any more.
fn stale(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || super::read_only(e)
}
