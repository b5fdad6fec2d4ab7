//! The `redis` store: single use shared by every replica. A `jti` is recorded with an atomic
//! `SET key value NX PX ttl`, a pushed request is stored with `SET key value PX ttl` and redeemed
//! with `GETDEL`, so two replicas can never both accept one assertion or redeem one `request_uri`.
//! Every key is prefixed with `jargate:`. Needs Redis 6.2 or later (`GETDEL`).
//!
//! - Every call is bounded by `store.timeout_ms`: past it, [`StoreError::Timeout`]; a server
//!   that cannot be reached, [`StoreError::Unavailable`]. The gate then applies `store.on_error`.
//! - Nothing here blocks or does I/O when the store is built: the URL is parsed, and the first
//!   connection is made in the background. jargate starts while Redis is down and serves (503 or
//!   `allow`) until it comes up; `/readyz` answers 503 meanwhile.
//! - The connection is a redis-rs `ConnectionManager` (one multiplexed connection, re-established
//!   after an I/O error). It and every command run on a small runtime of their own, so their
//!   background tasks never depend on which Pingora service runtime made a call. A background
//!   probe (`PING` every second) notices a dropped connection before a request does and replaces
//!   a connection that stopped answering (a half-open socket never reports an I/O error).

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
    client: Client,
    config: ConnectionManagerConfig,
    /// The current connection; swapped whole when the probe finds it unresponsive.
    conn: ArcSwap<ConnectionManager>,
    timeout: Duration,
    /// Random per process: with `counter`, the value written for a `jti`, so that a `SET NX`
    /// retried after an I/O error recognises its own first write.
    nonce_prefix: String,
    counter: AtomicU64,
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
        if timeout.is_zero() {
            return Err("store.timeout_ms: must be at least 1".into());
        }
        if matches!(
            client.get_connection_info().addr(),
            ConnectionAddr::TcpTls { .. }
        ) {
            // One crypto provider in the process: ring. Already installed is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jargate-redis")
            .enable_all()
            .build()
            .map_err(|e| format!("redis store runtime: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // One connection attempt per (re)connect: calls fail fast while Redis is down, and
            // the next call or probe tries again.
            .set_number_of_retries(0);
        let conn = {
            let _in_runtime = runtime.enter();
            ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                .map_err(|e| format!("store.redis_url: {}", describe(&e)))?
        };
        let inner = Arc::new(Inner {
            client,
            config,
            conn: ArcSwap::from_pointee(conn),
            timeout,
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
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // Dropping a runtime may block; never do that inside the async context that drops us.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Inner {
    fn conn(&self) -> ConnectionManager {
        self.conn.load().as_ref().clone()
    }

    fn nonce(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{n:x}", self.nonce_prefix)
    }

    /// Runs `cmd`, and once more after an I/O error other than a timeout while time is left
    /// (the connection manager is reconnecting by then) when `retry` allows it.
    async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        deadline: Instant,
        retry: fn(&RedisError) -> bool,
    ) -> Result<(T, bool), StoreError> {
        match cmd.query_async(&mut self.conn()).await {
            Ok(v) => Ok((v, false)),
            Err(e) if retry(&e) && Instant::now() < deadline => {
                tracing::debug!(error = %describe(&e), "redis call failed, retrying once");
                cmd.query_async(&mut self.conn())
                    .await
                    .map(|v| (v, true))
                    .map_err(|e| to_store_error(&e))
            }
            Err(e) => Err(to_store_error(&e)),
        }
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

/// Pings every [`PROBE_INTERVAL`] while the store lives: a dropped connection is re-established
/// before a request needs it, and one that stopped answering is replaced. Logs state changes.
async fn probe(inner: Weak<Inner>) {
    let mut healthy: Option<bool> = None;
    loop {
        let Some(store) = inner.upgrade() else { return };
        let mut conn = store.conn();
        let result = tokio::time::timeout(
            store.timeout,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        let ok = matches!(result, Ok(Ok(_)));
        match &result {
            Ok(Ok(_)) if healthy != Some(true) => tracing::info!("redis store reachable"),
            Ok(Err(e)) if healthy != Some(false) => {
                tracing::warn!(error = %describe(e), "redis store unreachable")
            }
            Err(_) if healthy != Some(false) => tracing::warn!("redis store not answering"),
            _ => {}
        }
        let timed_out = match &result {
            Ok(Ok(_)) => false,
            Ok(Err(e)) => e.is_timeout(),
            Err(_) => true,
        };
        if timed_out {
            // No I/O error tells the manager to reconnect: start over with a new connection.
            match ConnectionManager::new_lazy_with_config(
                store.client.clone(),
                store.config.clone(),
            ) {
                Ok(fresh) => store.conn.store(Arc::new(fresh)),
                Err(e) => tracing::warn!(error = %describe(&e), "redis store: new connection"),
            }
        }
        healthy = Some(ok);
        drop(conn);
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
            // `OK` when set, nil when the key exists. A retried SET that finds the key must
            // still accept when the key holds our own value: the first attempt got through.
            let (reply, retried) = inner
                .query::<Option<String>>(&set, deadline, broken)
                .await?;
            if reply.is_some() {
                return Ok(true);
            }
            if !retried {
                return Ok(false);
            }
            let mut get = redis::cmd("GET");
            get.arg(&key);
            let (held, _) = inner
                .query::<Option<String>>(&get, deadline, broken)
                .await?;
            Ok(held.as_deref() == Some(value.as_str()))
        })
        .await
    }

    async fn put(&self, key_: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        let key = key(key_);
        self.call(move |inner, deadline| async move {
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(value.as_ref()).arg("PX").arg(millis(ttl));
            // Writing the same fresh key twice is harmless: retry after any broken connection.
            inner.query::<()>(&set, deadline, broken).await.map(|_| ())
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

    async fn remove(&self, key_: &str) -> Result<(), StoreError> {
        let key = key(key_);
        self.call(move |inner, deadline| async move {
            let mut del = redis::cmd("DEL");
            del.arg(&key);
            // DEL is idempotent: a retry after a lost answer does no harm.
            inner.query::<i64>(&del, deadline, broken).await.map(|_| ())
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
