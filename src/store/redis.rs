//! The `redis` store: single use shared by every replica. A `jti` is recorded with an atomic
//! `SET key value NX PX ttl`, a pushed request is stored with `SET key value PX ttl` and redeemed
//! with `GETDEL`, so two replicas can never both accept one assertion or redeem one `request_uri`.
//! Every key is prefixed with `jargate:`. Needs Redis 6.2 or later (`GETDEL`).
//!
//! - Three topologies (SPEC §7) behind one set of methods: [`Connection`] is one server
//!   (`redis_url`), a Sentinel set ([`sentinel`]) or a Cluster ([`cluster`]). Every command of
//!   the [`Store`] methods goes through [`Inner::query`], so a method added here works on all
//!   three. Each command touches one key, and keys carry no hash tag: in a Cluster they spread
//!   over every primary's slots and `SET NX PX` stays atomic on its one slot.
//! - Every call is bounded by `store.timeout_ms`: past it, [`StoreError::Timeout`]; a server
//!   that cannot be reached, [`StoreError::Unavailable`]. The gate then applies `store.on_error`.
//! - Nothing here blocks or does I/O when the store is built: addresses are parsed, and the
//!   first connection is made in the background. jargate starts while Redis is down and serves
//!   (503 or `allow`) until it comes up; `/readyz?store` answers 503 meanwhile.
//! - Connections and commands run on a small runtime of their own, so their background tasks
//!   never depend on which Pingora service runtime made a call. A background probe (every
//!   second) notices a dropped connection before a request does, replaces one that stopped
//!   answering (a half-open socket never reports an I/O error) and, for Sentinel, moves to the
//!   primary the sentinels name after a failover even while no request comes.
//! - `store.redis_wait_replicas` > 0: every record written (`insert_once`, `put`) is followed by
//!   `WAIT n ms` on the connection (Cluster: on the key's primary) with what is left of the
//!   call's time; fewer acknowledgements is a store error. Without it, a record written to a
//!   primary in its last moment before a failover may never reach the replica promoted in its
//!   place (docs/replicas.md). Known gap: if the connection breaks between the write and its
//!   `WAIT`, the `WAIT` runs on the new connection, which has written nothing, and succeeds.

use super::topology::Topology;
use super::{Store, StoreError};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionAddr, RedisError};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::time::Instant;

mod cluster;
mod sentinel;

/// Prefix of every key jargate writes.
pub const KEY_PREFIX: &str = "jargate:";

/// How often the background probe pings Redis.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Parses `url` as the client will use it (no I/O): `redis://[:password@]host[:port][/db]`,
/// `rediss://` for TLS (certificates verified against the system roots, or `SSL_CERT_FILE`).
pub fn parse_url(url: &str) -> Result<Client, String> {
    let client = Client::open(url).map_err(|e| describe(&e))?;
    if let ConnectionAddr::TcpTls { insecure: true, .. } = client.get_connection_info().addr() {
        return Err("`#insecure` (no certificate verification) is not supported".into());
    }
    Ok(client)
}

/// A redis error in words, without the URL (it may carry a password).
fn describe(e: &RedisError) -> String {
    e.to_string()
}

pub struct RedisStore {
    inner: Arc<Inner>,
    /// Runs the connection's tasks and every command; `None` only while dropping.
    runtime: Option<Runtime>,
}

struct Inner {
    conn: Connection,
    timeout: Duration,
    /// `store.redis_wait_replicas`: replicas that must acknowledge each record (0: no `WAIT`).
    wait_replicas: u32,
    /// Random per process: with `counter`, the value written for a `jti`, so that a `SET NX`
    /// retried after an I/O error recognises its own first write.
    nonce_prefix: String,
    counter: AtomicU64,
}

/// The connection kinds, behind one set of methods (`query`, `wait`, `probe`).
enum Connection {
    /// `redis_url`: one server through a `ConnectionManager` (one multiplexed connection,
    /// re-established after an I/O error), swapped whole when it stops answering.
    Single {
        client: Client,
        config: ConnectionManagerConfig,
        conn: ArcSwap<ConnectionManager>,
    },
    Sentinel(sentinel::Primary),
    Cluster(cluster::Nodes),
}

impl RedisStore {
    /// Builds the client for `url`; each call will take at most `timeout`. Connects in the
    /// background: this returns at once whether Redis is up or not.
    pub fn new(url: &str, timeout: Duration) -> Result<RedisStore, String> {
        let client = parse_url(url).map_err(|e| format!("store.redis_url: {e}"))?;
        RedisStore::with_client(client, timeout)
    }

    /// As [`RedisStore::new`], for a client built otherwise (e.g. with its own TLS roots).
    pub fn with_client(client: Client, timeout: Duration) -> Result<RedisStore, String> {
        RedisStore::single(client, timeout, 0)
    }

    fn single(client: Client, timeout: Duration, wait_replicas: u32) -> Result<RedisStore, String> {
        let tls = matches!(
            client.get_connection_info().addr(),
            ConnectionAddr::TcpTls { .. }
        );
        RedisStore::build(timeout, wait_replicas, tls, |timeout| {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                // One connection attempt per (re)connect: calls fail fast while Redis is down,
                // and the next call or probe tries again.
                .set_number_of_retries(0);
            let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                .map_err(|e| format!("store.redis_url: {}", describe(&e)))?;
            Ok(Connection::Single {
                client,
                config,
                conn: ArcSwap::from_pointee(conn),
            })
        })
    }

    /// The store `[store]` names: one server, a Sentinel set or a Cluster (no I/O).
    pub fn connect(
        topology: &Topology,
        timeout: Duration,
        wait_replicas: u32,
    ) -> Result<RedisStore, String> {
        match topology {
            Topology::Single { url } => {
                let client = parse_url(url).map_err(|e| format!("store.redis_url: {e}"))?;
                RedisStore::single(client, timeout, wait_replicas)
            }
            Topology::Sentinel {
                sentinels,
                master,
                auth,
                sentinel_auth,
            } => RedisStore::build(timeout, wait_replicas, auth.tls, |timeout| {
                sentinel::Primary::new(sentinels, master, auth, sentinel_auth, timeout)
                    .map(Connection::Sentinel)
            }),
            Topology::Cluster { nodes, auth } => {
                RedisStore::build(timeout, wait_replicas, auth.tls, |timeout| {
                    cluster::Nodes::new(nodes, auth, timeout).map(Connection::Cluster)
                })
            }
        }
    }

    /// Builds the runtime, then the connection inside it (lazy connections spawn their tasks
    /// there), then starts the probe.
    fn build(
        timeout: Duration,
        wait_replicas: u32,
        tls: bool,
        connection: impl FnOnce(Duration) -> Result<Connection, String>,
    ) -> Result<RedisStore, String> {
        if timeout.is_zero() {
            return Err("store.timeout_ms: must be at least 1".into());
        }
        if tls {
            // One crypto provider in the process: ring. Already installed is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jargate-redis")
            .enable_all()
            .build()
            .map_err(|e| format!("redis store runtime: {e}"))?;
        let conn = {
            let _in_runtime = runtime.enter();
            connection(timeout)?
        };
        let inner = Arc::new(Inner {
            conn,
            timeout,
            wait_replicas,
            nonce_prefix: nonce_prefix()?,
            counter: AtomicU64::new(0),
        });
        runtime.spawn(probe(Arc::downgrade(&inner)));
        Ok(RedisStore {
            inner,
            runtime: Some(runtime),
        })
    }

    /// Runs `op` on the store's runtime, bounded by the timeout.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Inner>, Instant) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(runtime) = self.runtime.as_ref() else {
            return Err(StoreError::Unavailable("store is shutting down".into()));
        };
        let deadline = Instant::now() + self.inner.timeout;
        let task = runtime.spawn(op(self.inner.clone(), deadline));
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("store task failed: {e}"))),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// Pings the store and says what answered: the server, the primary the sentinels name, or
    /// the cluster's primaries (for `check --online`).
    pub async fn ping_report(&self) -> Result<String, StoreError> {
        self.call(|inner, _deadline| async move {
            inner.conn.report().await.map_err(|e| to_store_error(&e))
        })
        .await
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // Dropping a runtime may block; never do that inside the async context that drops us.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Connection {
    /// Sends `cmd` once to where its key lives.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self {
            Connection::Single { conn, .. } => {
                cmd.query_async(&mut conn.load().as_ref().clone()).await
            }
            Connection::Sentinel(primary) => primary.query(cmd).await,
            Connection::Cluster(nodes) => nodes.query(cmd).await,
        }
    }

    /// `WAIT replicas timeout_ms` where `key` was just written; the acknowledgements.
    async fn wait(&self, key: &str, replicas: u32, timeout_ms: u64) -> redis::RedisResult<u64> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas).arg(timeout_ms);
        match self {
            Connection::Cluster(nodes) => nodes.wait_at(key, &wait).await,
            _ => self.query(&wait).await,
        }
    }

    /// One probe round: `Ok(true)` when the store answered.
    async fn probe(&self, timeout: Duration) -> Result<(), RedisError> {
        match self {
            Connection::Single {
                client,
                config,
                conn,
            } => {
                let mut current = conn.load().as_ref().clone();
                let result = tokio::time::timeout(
                    timeout,
                    redis::cmd("PING").query_async::<String>(&mut current),
                )
                .await;
                let timed_out = match &result {
                    Ok(Ok(_)) => false,
                    Ok(Err(e)) => e.is_timeout(),
                    Err(_) => true,
                };
                if timed_out {
                    // No I/O error tells the manager to reconnect: start over.
                    match ConnectionManager::new_lazy_with_config(client.clone(), config.clone()) {
                        Ok(fresh) => conn.store(Arc::new(fresh)),
                        Err(e) => {
                            tracing::warn!(error = %describe(&e), "redis store: new connection")
                        }
                    }
                }
                match result {
                    Ok(r) => r.map(|_| ()),
                    Err(_) => Err(timeout_error()),
                }
            }
            Connection::Sentinel(primary) => primary.probe(timeout).await,
            Connection::Cluster(nodes) => nodes.probe(timeout).await,
        }
    }

    async fn report(&self) -> redis::RedisResult<String> {
        match self {
            Connection::Single { .. } => {
                self.query::<String>(&redis::cmd("PING")).await?;
                Ok("PING answered".into())
            }
            Connection::Sentinel(primary) => primary.report().await,
            Connection::Cluster(nodes) => nodes.report().await,
        }
    }
}

/// A sentinel or cluster node's address, over TLS when `tls`.
fn node_addr(a: &super::topology::Address, tls: bool) -> ConnectionAddr {
    if tls {
        ConnectionAddr::TcpTls {
            host: a.host.clone(),
            port: a.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(a.host.clone(), a.port)
    }
}

fn timeout_error() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no answer within store.timeout_ms",
    ))
}

impl Inner {
    fn nonce(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{n:x}", self.nonce_prefix)
    }

    /// Runs `cmd`, and once more while time is left when `retry` allows it after the first
    /// error, or when the server refused it as a read-only replica (a primary demoted by a
    /// failover: the command did nothing, and the second attempt goes to the new primary).
    async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        deadline: Instant,
        retry: fn(&RedisError) -> bool,
    ) -> Result<(T, bool), StoreError> {
        match self.conn.query(cmd).await {
            Ok(v) => Ok((v, false)),
            Err(e) if (retry(&e) || read_only(&e)) && Instant::now() < deadline => {
                tracing::debug!(error = %describe(&e), "redis call failed, retrying once");
                self.conn
                    .query(cmd)
                    .await
                    .map(|v| (v, true))
                    .map_err(|e| to_store_error(&e))
            }
            Err(e) => Err(to_store_error(&e)),
        }
    }

    /// With `redis_wait_replicas` > 0: waits until that many replicas hold `key`, within what
    /// is left before `deadline`; fewer acknowledgements is a store error.
    async fn replicate(&self, key: &str, deadline: Instant) -> Result<(), StoreError> {
        let wanted = self.wait_replicas;
        if wanted == 0 {
            return Ok(());
        }
        // WAIT 0 would block forever: keep at least a millisecond.
        let left = millis(deadline.saturating_duration_since(Instant::now()));
        let acked = self
            .conn
            .wait(key, wanted, left)
            .await
            .map_err(|e| to_store_error(&e))?;
        if acked < u64::from(wanted) {
            return Err(StoreError::Unavailable(format!(
                "WAIT: {acked} of {wanted} replicas acknowledged the write within the timeout"
            )));
        }
        Ok(())
    }
}

/// The connection broke and the command may or may not have reached Redis.
fn broken(e: &RedisError) -> bool {
    e.is_io_error() && !e.is_timeout()
}

/// The connection could not be made: the command never reached Redis.
fn refused(e: &RedisError) -> bool {
    e.is_connection_refusal()
}

/// A replica refused a write (`READONLY`): nothing was done.
fn read_only(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

fn to_store_error(e: &RedisError) -> StoreError {
    if e.is_timeout() {
        StoreError::Timeout
    } else {
        StoreError::Unavailable(describe(e))
    }
}

fn key(key: &str) -> String {
    format!("{KEY_PREFIX}{key}")
}

/// `PX` wants at least one millisecond.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// 64 random bits in hex, then `:`.
fn nonce_prefix() -> Result<String, String> {
    let bytes = crate::random::bytes::<8>().map_err(|e| format!("redis store: {e}"))?;
    Ok(format!("{}:", crate::random::hex(&bytes)))
}

/// Probes every [`PROBE_INTERVAL`] while the store lives (see [`Connection::probe`]). Logs
/// state changes.
async fn probe(inner: Weak<Inner>) {
    let mut healthy: Option<bool> = None;
    loop {
        let Some(store) = inner.upgrade() else { return };
        let result = store.conn.probe(store.timeout).await;
        match &result {
            Ok(()) if healthy != Some(true) => tracing::info!("redis store reachable"),
            Err(e) if healthy != Some(false) => {
                tracing::warn!(error = %describe(e), "redis store unreachable")
            }
            _ => {}
        }
        healthy = Some(result.is_ok());
        drop(store);
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn insert_once(&self, key_: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = key(key_);
        self.call(move |inner, deadline| async move {
            let value = inner.nonce();
            let mut set = redis::cmd("SET");
            set.arg(&key)
                .arg(&value)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl));
            // `OK` when set, nil when the key exists.
            let (reply, retried) = inner
                .query::<Option<String>>(&set, deadline, broken)
                .await?;
            if reply.is_some() {
                inner.replicate(&key, deadline).await?;
                return Ok(true);
            }
            // A retried SET (ours, or the cluster client's own after a lost answer) that finds
            // the key must still accept when the key holds our own value: the first attempt got
            // through. Without a retry of ours, only a cluster client can have retried.
            if !retried && !matches!(inner.conn, Connection::Cluster(_)) {
                return Ok(false);
            }
            let mut get = redis::cmd("GET");
            get.arg(&key);
            // The key exists: if it cannot be read back, it is someone else's (a replay).
            let held = match inner.query::<Option<String>>(&get, deadline, broken).await {
                Ok((held, _)) => held,
                Err(_) => return Ok(false),
            };
            if held.as_deref() != Some(value.as_str()) {
                return Ok(false);
            }
            inner.replicate(&key, deadline).await?;
            Ok(true)
        })
        .await
    }

    async fn remove(&self, key_: &str) -> Result<(), StoreError> {
        let key = key(key_);
        self.call(move |inner, deadline| async move {
            let mut del = redis::cmd("DEL");
            del.arg(&key);
            // Deleting twice is harmless: retry after any broken connection.
            inner.query::<i64>(&del, deadline, broken).await.map(|_| ())
        })
        .await
    }

    async fn put(&self, key_: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        let key = key(key_);
        self.call(move |inner, deadline| async move {
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(value.as_ref()).arg("PX").arg(millis(ttl));
            // Writing the same fresh key twice is harmless: retry after any broken connection.
            inner.query::<()>(&set, deadline, broken).await?;
            inner.replicate(&key, deadline).await
        })
        .await
    }

    async fn take(&self, key_: &str) -> Result<Option<Bytes>, StoreError> {
        let key = key(key_);
        self.call(move |inner, deadline| async move {
            let mut getdel = redis::cmd("GETDEL");
            getdel.arg(&key);
            // Retried only when the first attempt never reached Redis: a GETDEL whose answer
            // was lost has consumed the entry.
            let (value, _) = inner
                .query::<Option<Vec<u8>>>(&getdel, deadline, refused)
                .await?;
            Ok(value.map(Bytes::from))
        })
        .await
    }

    async fn get(&self, key_: &str) -> Result<Option<Bytes>, StoreError> {
        let key = key(key_);
        self.call(move |inner, deadline| async move {
            let mut get = redis::cmd("GET");
            get.arg(&key);
            // A read changes nothing: retry after any broken connection.
            let (value, _) = inner
                .query::<Option<Vec<u8>>>(&get, deadline, broken)
                .await?;
            Ok(value.map(Bytes::from))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.call(|inner, deadline| async move {
            inner
                .query::<String>(&redis::cmd("PING"), deadline, broken)
                .await
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_without_connecting() {
        assert!(parse_url("redis://127.0.0.1:6379/0").is_ok());
        assert!(parse_url("redis://:secret@redis.example:6380/2").is_ok());
        assert!(parse_url("rediss://redis.example:6380/0").is_ok());
        assert!(parse_url("http://127.0.0.1:6379").is_err());
        assert!(parse_url("redis://127.0.0.1:6379/notadb").is_err());
        assert!(parse_url("not a url").is_err());
        assert!(parse_url("rediss://redis.example/#insecure").is_err());
    }

    #[test]
    fn errors_never_show_the_password() {
        let e = parse_url("redis://:hunter2@127.0.0.1:6379/x").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn ttls_are_whole_milliseconds_and_never_zero() {
        assert_eq!(millis(Duration::from_secs(70)), 70_000);
        assert_eq!(millis(Duration::ZERO), 1);
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_within_the_timeout() {
        // Port 1 on loopback: nothing listens there.
        let store = RedisStore::new("redis://127.0.0.1:1/0", Duration::from_millis(500)).unwrap();
        let started = std::time::Instant::now();
        let r = store.insert_once("jti:x", Duration::from_secs(5)).await;
        assert!(
            matches!(
                r,
                Err(StoreError::Unavailable(_)) | Err(StoreError::Timeout)
            ),
            "{r:?}"
        );
        assert!(store.ping().await.is_err());
        assert!(started.elapsed() < Duration::from_millis(1500));
        drop(store); // inside an async context: must not panic
    }
}
