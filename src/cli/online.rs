//! What `check --online` and `explain` contact: the JWK Sets named by `jwks_uri` credentials,
//! fetched as the proxy fetches them (same size and time limits, same trust roots), and the
//! single-use store. Nothing else in the command-line tools opens a connection.

use crate::config::{Backend, Snapshot};
use crate::jwks::{Fetched, JwksCache};
use crate::keys::CredentialSet;
use crate::metrics::Metrics;
use crate::store::redis::RedisStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct Online {
    runtime: tokio::runtime::Runtime,
    jwks: JwksCache,
}

impl Online {
    pub fn new(snapshot: &Snapshot) -> Result<Online, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        let anchors = crate::roots::load(&snapshot.settings.upstream)?;
        let roots = crate::roots::root_store(&anchors)?;
        let jwks = JwksCache::new(Arc::new(Metrics::new()), roots)?;
        Ok(Online { runtime, jwks })
    }

    /// Fetches `uri` once.
    pub fn fetch(&self, uri: &str) -> Result<Fetched, String> {
        self.runtime.block_on(self.jwks.fetch_now(uri))
    }

    /// Pings the configured store: `Ok` with what answered, or why it did not.
    pub fn ping_store(&self, snapshot: &Snapshot) -> Result<String, String> {
        let store = &snapshot.settings.store;
        match store.backend {
            Backend::Memory => Ok("memory (in process): nothing to contact".into()),
            Backend::Redis => {
                let Some(topology) = &snapshot.redis else {
                    return Err("redis: no topology configured".into());
                };
                let place = topology.describe();
                let timeout = Duration::from_millis(store.timeout_ms);
                let redis = RedisStore::connect(topology, timeout, store.redis_wait_replicas)?;
                self.runtime
                    .block_on(redis.ping_report())
                    .map(|answered| format!("redis {place}: {answered}"))
                    .map_err(|e| format!("redis {place}: {e}"))
            }
        }
    }
}

/// Where the redis store is, without any password: `host:port/db` of a URL, the sentinels or
/// the cluster's seed nodes.
pub fn redis_place(snapshot: &Snapshot) -> String {
    snapshot
        .redis
        .as_ref()
        .map_or_else(|| "(none configured)".into(), |t| t.describe())
}

/// `N keys: kid k1 ES256; kid r1 RS256 PS256 …` for a fetched set.
pub fn describe_keys(set: &CredentialSet) -> String {
    let mut by_kid: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in set.all() {
        by_kid.entry(c.kid.as_str()).or_default().push(c.alg.name());
    }
    let count = crate::jwks::distinct_keys(set);
    let keys: Vec<String> = by_kid
        .iter()
        .map(|(kid, algs)| format!("kid {kid} {}", algs.join(" ")))
        .collect();
    let noun = if count == 1 { "key" } else { "keys" };
    if keys.is_empty() {
        return "0 signature keys".into();
    }
    format!("{count} {noun}: {}", keys.join("; "))
}
