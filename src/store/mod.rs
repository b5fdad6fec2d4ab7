//! The store behind single use: `jti` values already seen (per client and use) and, in legacy
//! mode, pushed authorization requests waiting to be redeemed; in passthrough mode, what was
//! pushed through jargate (`gate::pushed`). One trait, several backends.

pub mod memory;
pub mod redis;
pub mod topology;

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

    /// Forgets a single-use `key` recorded by [`Store::insert_once`], so that a request refused
    /// after recording it leaves no record (SPEC §5: a refused request may be retried). A key
    /// that is not there is no error.
    async fn remove(&self, key: &str) -> Result<(), StoreError>;

    /// Stores a pushed request for `ttl`.
    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError>;

    /// Removes and returns a pushed request: a second `take` of the same key finds nothing.
    async fn take(&self, key: &str) -> Result<Option<Bytes>, StoreError>;

    /// Reads a stored value without removing it (a pushed request remembered in passthrough
    /// mode, which expires rather than being consumed).
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;

    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The key of a single-use `jti`: namespaced by use and client, so the same `jti` from two
/// clients, or in an assertion and a request object, are different entries.
pub fn jti_key(use_: &str, client_id: &str, jti: &str) -> String {
    format!("jti:{use_}:{}:{client_id}:{jti}", client_id.len())
}

/// The single-use key of a DPoP proof (SPEC §11 step 7): its key's RFC 7638 thumbprint (fixed
/// length, base64url) and its `jti`, whoever the client is.
pub fn dpop_key(thumbprint: &str, jti: &str) -> String {
    format!("dpop:{thumbprint}:{jti}")
}
