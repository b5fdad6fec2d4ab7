//! Remote JWK Sets (`jwks_uri` credentials) as a decision reads them: keys by URI, as last
//! fetched or fetched again. The fetching behind it (HTTP, size and time limits, rate limit,
//! metrics) is `jwks.rs`; a decision only asks, so it is tested with a fixed source.

use super::CredentialSet;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How often remote sets are fetched (`clients.jwks_refresh_secs`, `jwks_min_refetch_secs`).
#[derive(Debug, Clone, Copy)]
pub struct Refresh {
    pub every: Duration,
    pub min_interval: Duration,
}

#[async_trait]
pub trait KeySource: Send + Sync {
    /// The keys last fetched from `uri`, if any, without waiting.
    fn cached_keys(&self, uri: &str) -> Option<Arc<CredentialSet>>;

    /// Fetches `uri` again, unless it was tried less than `refresh.min_interval` ago; the
    /// newest keys either way.
    async fn refetched_keys(&self, uri: &str, refresh: Refresh) -> Option<Arc<CredentialSet>>;

    /// Whether the keys of `uri` are unknown: never fetched, or its last fetch failed.
    fn unavailable(&self, uri: &str) -> bool;

    /// Counts a verification that used cached remote keys.
    fn count_hit(&self);
}
