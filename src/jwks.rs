//! Remote JWK Sets named by `jwks_uri` credentials: fetched in the background, cached (the last
//! good set stays when a fetch fails), refetched early when a token names an unknown key, at
//! most once per `jwks_min_refetch_secs` per URI, so random `kid`s cannot turn jargate into a
//! request amplifier. Response size and fetch time are bounded. The cache also knows which
//! URIs are failing (a token whose key cannot be found then is `jwks_unavailable`, not
//! `no_credential`) and keeps `jargate_credentials{source="jwks_uri"}` at the number of keys
//! the fetched sets hold.

use crate::keys::{Alg, Credential, CredentialSet, KeySource, PublicKey, Refresh};
use crate::metrics::Metrics;
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest JWK Set accepted.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Most keys taken from one set.
pub const MAX_JWKS_KEYS: usize = 64;
/// Longest a fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// One fetched set.
#[derive(Debug)]
pub struct Fetched {
    pub keys: Arc<CredentialSet>,
    /// Distinct keys in the set (a key without `alg` yields one credential per algorithm).
    pub key_count: usize,
    pub at: Instant,
    /// How long the set is fresh: `jwks_refresh_secs`, or a shorter `Cache-Control: max-age`.
    pub ttl: Duration,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

pub struct JwksCache {
    sets: moka::sync::Cache<String, Arc<Fetched>>,
    last_attempt: Mutex<HashMap<String, Instant>>,
    /// One fetch per URI at a time; requests that need the same set wait for it.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// URIs whose last fetch failed (or that were never fetched successfully, see
    /// [`KeySource::unavailable`]).
    failing: Mutex<HashSet<String>>,
    /// Each `jwks_uri` credential of the serving registry with its use, for the key counts.
    tracked: Mutex<Vec<(String, &'static str)>>,
    client: HttpsClient,
    metrics: Arc<Metrics>,
}

impl JwksCache {
    /// `roots`: the trust anchors for https JWK Sets ([`crate::roots`]).
    pub fn new(metrics: Arc<Metrics>, roots: rustls::RootCertStore) -> Result<JwksCache, String> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(JwksCache {
            sets: moka::sync::Cache::builder().max_capacity(100_000).build(),
            last_attempt: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            failing: Mutex::new(HashSet::new()),
            tracked: Mutex::new(Vec::new()),
            client: Client::builder(TokioExecutor::new()).build(connector),
            metrics,
        })
    }

    /// The `jwks_uri` credentials of the serving registry (URI and use), whose keys
    /// `jargate_credentials{source="jwks_uri"}` counts.
    pub fn track(&self, credentials: Vec<(String, &'static str)>) {
        *lock(&self.tracked) = credentials;
        self.recount();
    }

    fn recount(&self) {
        let mut counts: HashMap<&'static str, i64> =
            HashMap::from([("request_object", 0), ("client_assertion", 0)]);
        for (uri, use_) in lock(&self.tracked).iter() {
            let keys = self.cached(uri).map_or(0, |f| f.key_count as i64);
            *counts.entry(use_).or_default() += keys;
        }
        for (use_, n) in counts {
            self.metrics
                .credentials
                .with_label_values(&[use_, "jwks_uri"])
                .set(n);
        }
    }

    /// The last good set of `uri`, if any.
    pub fn cached(&self, uri: &str) -> Option<Arc<Fetched>> {
        self.sets.get(uri)
    }

    /// Fetches `uri` unless it was tried less than `min_interval` ago; returns the newest set.
    /// A caller that finds a fetch of the same URI under way waits for it and takes its result,
    /// so a client rotating its keys is not refused while the new set is on its way.
    pub async fn refetch(&self, uri: &str, refresh: Refresh) -> Option<Arc<Fetched>> {
        let asked = Instant::now();
        let gate = lock(&self.in_flight)
            .entry(uri.to_owned())
            .or_default()
            .clone();
        let _turn = gate.lock().await;
        if let Some(fresh) = self.cached(uri).filter(|f| f.at >= asked) {
            return Some(fresh);
        }
        if !self.may_fetch(uri, refresh.min_interval) {
            self.metrics
                .jwks_fetches
                .with_label_values(&["rate_limited"])
                .inc();
            return self.cached(uri);
        }
        match tokio::time::timeout(FETCH_TIMEOUT, self.fetch(uri, refresh.every)).await {
            Ok(Ok(fetched)) => {
                self.metrics.jwks_fetches.with_label_values(&["ok"]).inc();
                self.metrics.jwks_fetched(uri);
                let fetched = Arc::new(fetched);
                self.sets.insert(uri.to_owned(), fetched.clone());
                lock(&self.failing).remove(uri);
                self.recount();
                Some(fetched)
            }
            Ok(Err(e)) => {
                self.metrics
                    .jwks_fetches
                    .with_label_values(&["failed"])
                    .inc();
                lock(&self.failing).insert(uri.to_owned());
                tracing::warn!(jwks_uri = uri, error = %e, "jwks fetch failed; keeping the last good keys");
                self.cached(uri)
            }
            Err(_) => {
                self.metrics
                    .jwks_fetches
                    .with_label_values(&["failed"])
                    .inc();
                lock(&self.failing).insert(uri.to_owned());
                tracing::warn!(
                    jwks_uri = uri,
                    "jwks fetch timed out; keeping the last good keys"
                );
                self.cached(uri)
            }
        }
    }

    /// One fetch of `uri` now, bypassing the cache and its rate limit, with the proxy's limits
    /// (for `jargate check --online` and `explain`).
    pub async fn fetch_now(&self, uri: &str) -> Result<Fetched, String> {
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch(uri, Duration::from_secs(300)))
            .await
            .map_err(|_| format!("timed out after {} s", FETCH_TIMEOUT.as_secs()))?
    }

    /// Refreshes every set that is missing or stale (the background task calls this).
    pub async fn refresh_due<'a>(&self, uris: impl IntoIterator<Item = &'a str>, refresh: Refresh) {
        for uri in uris {
            let due = self.cached(uri).is_none_or(|f| f.at.elapsed() >= f.ttl);
            if due {
                self.refetch(uri, refresh).await;
            }
        }
    }

    /// Records an attempt now if the last one is older than `min_interval`.
    fn may_fetch(&self, uri: &str, min_interval: Duration) -> bool {
        let mut attempts = lock(&self.last_attempt);
        let now = Instant::now();
        match attempts.get(uri) {
            Some(last) if now.duration_since(*last) < min_interval => false,
            _ => {
                attempts.insert(uri.to_owned(), now);
                true
            }
        }
    }

    async fn fetch(&self, uri: &str, max_ttl: Duration) -> Result<Fetched, String> {
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("status {}", response.status()));
        }
        let ttl = max_age(response.headers()).map_or(max_ttl, |age| age.min(max_ttl));
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes();
        let keys = parse_jwks(&body)?;
        Ok(Fetched {
            key_count: distinct_keys(&keys),
            keys: Arc::new(keys),
            at: Instant::now(),
            ttl,
        })
    }
}

/// What a decision reads: the keys of the sets above.
#[async_trait]
impl KeySource for JwksCache {
    fn cached_keys(&self, uri: &str) -> Option<Arc<CredentialSet>> {
        self.cached(uri).map(|f| f.keys.clone())
    }

    async fn refetched_keys(&self, uri: &str, refresh: Refresh) -> Option<Arc<CredentialSet>> {
        self.refetch(uri, refresh).await.map(|f| f.keys.clone())
    }

    fn unavailable(&self, uri: &str) -> bool {
        self.cached(uri).is_none() || lock(&self.failing).contains(uri)
    }

    fn count_hit(&self) {
        self.metrics.jwks_cache_hits.inc();
    }
}

/// A poisoned lock only means another thread panicked mid-update of a plain map: keep going.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').find_map(|d| {
        let (name, secs) = d.trim().split_once('=')?;
        name.eq_ignore_ascii_case("max-age")
            .then(|| secs.trim().parse().ok().map(Duration::from_secs))?
    })
}

/// Keys in a set, each counted once whatever the number of algorithms it serves.
pub fn distinct_keys(set: &CredentialSet) -> usize {
    let keys: HashSet<(&str, &str)> = set
        .all()
        .iter()
        .map(|c| (c.kid.as_str(), c.key.thumbprint()))
        .collect();
    keys.len()
}

/// Reads a JWK Set: signature keys only (`use: enc` and keys without `verify` in `key_ops` are
/// skipped), each usable with its `alg`, or every algorithm of its key type when it has none.
pub fn parse_jwks(body: &[u8]) -> Result<CredentialSet, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no \"keys\" array")?;
    let mut credentials = Vec::new();
    for jwk in keys.iter().take(MAX_JWKS_KEYS) {
        if jwk
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        if let Some(ops) = jwk.get("key_ops").and_then(Value::as_array) {
            if !ops.iter().any(|op| op.as_str() == Some("verify")) {
                continue;
            }
        }
        let Ok(key) = PublicKey::from_jwk(jwk) else {
            continue;
        };
        let algs: Vec<Alg> = match jwk.get("alg").and_then(Value::as_str) {
            Some(name) => Alg::parse(name).into_iter().collect(),
            None => Alg::ALL.into_iter().collect(),
        };
        let kid = jwk
            .get("kid")
            .and_then(Value::as_str)
            .map_or_else(|| key.thumbprint().to_owned(), str::to_owned);
        for alg in algs.into_iter().filter(|a| key.fits(*a)) {
            credentials.push(Credential {
                name: format!("jwks:{kid}"),
                kid: kid.clone(),
                alg,
                expires_at: None,
                key: key.clone(),
            });
        }
    }
    Ok(CredentialSet::new(credentials))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_keys_are_never_signature_keys() {
        let ec = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/keys/ec-a.pub.pem"
        ))
        .unwrap();
        let mut jwk = PublicKey::from_pem(&ec).unwrap().to_jwk();
        jwk["kid"] = "k1".into();
        let mut enc = jwk.clone();
        enc["use"] = "enc".into();
        enc["kid"] = "k2".into();
        let body = serde_json::json!({ "keys": [jwk, enc] }).to_string();
        let set = parse_jwks(body.as_bytes()).unwrap();
        let kids: Vec<_> = set.all().iter().map(|c| (c.kid.as_str(), c.alg)).collect();
        assert_eq!(kids, vec![("k1", Alg::ES256)]);
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CACHE_CONTROL,
            "public, max-age=120".parse().unwrap(),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(120)));
    }
}
