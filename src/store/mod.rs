//! The store behind single use: `jti` values already seen (per client and use) and, in legacy
//! mode, pushed authorization requests waiting to be redeemed. One trait, several backends.

pub mod memory;
pub mod redis;

use async_trait::async_trait;
use bytes::Bytes;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("store unreachable: {0}")]
    Unavailable(String),
    #[error("store timed out")]
    Timeout,
    #[error("store is full")]
    Full,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Records `key` for `ttl`. `Ok(false)` when it was already recorded: a replay.
    async fn insert_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Stores a pushed request for `ttl`.
    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError>;

    /// Removes and returns a pushed request: a second `take` of the same key finds nothing.
    async fn take(&self, key: &str) -> Result<Option<Bytes>, StoreError>;

    /// Forgets a single-use record this request wrote (SPEC §5 "Single use is decided last":
    /// when a later record of the same request fails, the earlier ones are removed). Removing
    /// a key that is not there is not an error.
    async fn remove(&self, key: &str) -> Result<(), StoreError>;

    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The key of a single-use `jti`: namespaced by use and client, so the same `jti` from two
/// clients, or in an assertion and a request object, are different entries.
pub fn jti_key(use_: &str, client_id: &str, jti: &str) -> String {
    format!("jti:{use_}:{}:{client_id}:{jti}", client_id.len())
}
