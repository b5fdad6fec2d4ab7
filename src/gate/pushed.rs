//! Pushed requests remembered in passthrough mode (SPEC §5, `strip` for a PAR `request_uri`).
//! The upstream keeps what a client pushed; jargate keeps, under the `request_uri` of the
//! upstream's `201` answer, a [`Record`] of what it validated and forwarded to the PAR endpoint,
//! so that at `/authorize` the outside parameters a client repeats next to `request_uri` (OIDC
//! Core §6.1: `response_type`, `scope`, `redirect_uri`) are compared with it: identical values
//! reach an OIDC-strict upstream, others are dropped (or refused under `reject`).
//!
//! Decisions:
//! - **What is kept.** The client, and for each parameter the strip rule may compare (every
//!   parameter of a plain push, or every claim of its request object, but the client, its
//!   authentication, the object carriers and the JWT claims `iss aud exp iat nbf jti`) the
//!   SHA-256 of its value as the strip rule reads it, never the value: the store (Redis) holds
//!   no `login_hint`, `claims` or `state` of anybody. A name longer than [`MAX_NAME_BYTES`] is
//!   left out, and so is any parameter past [`MAX_RECORD_BYTES`] of record: what is not kept
//!   is dropped at `/authorize`, which is the safe side.
//! - **How long.** The answer's `expires_in` (a positive integer), capped at [`MAX_TTL_SECS`]
//!   (RFC 9126 §2.2 expects "a short time"; ten minutes is more than any server answers). An
//!   answer that is not a `201` JSON object with a URN `request_uri` (SPEC §5 syntax) and an
//!   `expires_in` — or larger than [`MAX_ANSWER_BYTES`], or content-encoded — is forwarded
//!   unchanged and nothing is remembered.
//! - **Read, not taken.** `/authorize` reads the record and leaves it to expire. In passthrough
//!   the upstream is the authority on its `request_uri` (single use, binding to the client,
//!   expiry); taking the record would gain nothing against replay and would strip the repeated
//!   parameters from a legitimate second `/authorize` with the same `request_uri` (a browser
//!   reload, a server that lets a `request_uri` be used until it expires), breaking the flow
//!   at an OIDC-strict upstream. A record pushed by another client than the one at
//!   `/authorize` is not used (everything outside is dropped; the upstream refuses the reuse).
//! - **Ordering.** The record is written while the `201` goes to the client; the write is
//!   registered before the answer's last byte is sent and a read in this process waits for it
//!   (at most [`WRITE_WAIT`]), so the client's `/authorize` cannot overtake it here. Another
//!   replica reading Redis would need the client to come back within the Redis write's
//!   round trip: a browser redirect takes longer.

use super::legacy::JWT_CLAIMS;
use super::outside::claim_text;
use crate::request::params::{Params, INTERPRETED};
use crate::request::urn::is_urn;
use crate::store::{Store, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The largest record kept, in bytes of its stored form.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;
/// The longest parameter name kept.
pub const MAX_NAME_BYTES: usize = 128;
/// The longest a record is kept, whatever the upstream's `expires_in`.
pub const MAX_TTL_SECS: u64 = 600;
/// The largest PAR answer read; a longer one is forwarded and nothing is remembered.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// How long a read waits for a write of the same record still in flight in this process.
pub const WRITE_WAIT: Duration = Duration::from_secs(1);

/// What jargate validated and forwarded to the upstream's PAR endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The client that pushed it.
    client_id: String,
    /// Parameter name → base64url SHA-256 of its value as the strip rule compares it.
    params: BTreeMap<String, String>,
    /// When it was pushed (Unix seconds): a fapi2 level refuses a `request_uri` older than
    /// 599 s at `/authorize` even when the upstream would still accept it (SPEC §9).
    #[serde(default)]
    pushed_at: i64,
}

impl Record {
    /// A plain push: its parameters.
    pub fn from_params(client_id: &str, params: &Params) -> Record {
        Record::build(
            client_id,
            params.iter().map(|p| (p.name.as_str(), p.value.clone())),
        )
    }

    /// A push with a request object: the object's claims.
    pub fn from_claims(client_id: &str, claims: &Map<String, Value>) -> Record {
        let compared = claims
            .iter()
            .filter(|(name, _)| !JWT_CLAIMS.contains(&name.as_str()))
            .map(|(name, value)| (name.as_str(), claim_text(value)));
        Record::build(client_id, compared)
    }

    fn build<'n>(client_id: &str, pairs: impl Iterator<Item = (&'n str, String)>) -> Record {
        let mut params = BTreeMap::new();
        // `{"client_id":"…","params":{},"pushed_at":<up to 20 digits>}` and, per entry,
        // `"name":"<43 chars>",`.
        let mut size = client_id.len() + 26 + 33;
        for (name, value) in pairs {
            if INTERPRETED.contains(&name) || name.len() > MAX_NAME_BYTES {
                continue;
            }
            let entry = name.len() + 43 + 6;
            if size + entry > MAX_RECORD_BYTES {
                continue;
            }
            size += entry;
            params.insert(name.to_owned(), digest(&value));
        }
        Record {
            client_id: client_id.to_owned(),
            params,
            pushed_at: 0,
        }
    }

    /// The record, stamped with the time of its push.
    pub fn pushed_at(mut self, now: i64) -> Record {
        self.pushed_at = now;
        self
    }

    pub fn pushed_time(&self) -> i64 {
        self.pushed_at
    }

    /// Whether the pushed request holds `name` with exactly `value`.
    pub fn holds(&self, name: &str, value: &str) -> bool {
        self.params
            .get(name)
            .is_some_and(|kept| *kept == digest(value))
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

fn digest(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        value.as_bytes(),
    ))
}

/// The store key of the record of `request_uri`: a digest, so that the store never holds a
/// usable `request_uri` either.
fn key(request_uri: &str) -> String {
    format!("pushed:{}", digest(request_uri))
}

/// The `request_uri` of an upstream's `201` PAR answer and how long to remember it, or `None`
/// when the answer is anything else than RFC 9126 §2.2 describes.
pub fn read_answer(body: &[u8]) -> Option<(String, Duration)> {
    if body.len() > MAX_ANSWER_BYTES {
        return None;
    }
    let answer: Map<String, Value> = serde_json::from_slice(body).ok()?;
    let request_uri = answer.get("request_uri")?.as_str()?;
    let expires_in = answer.get("expires_in")?.as_u64().filter(|s| *s > 0)?;
    if !is_urn(request_uri) {
        return None;
    }
    let ttl = Duration::from_secs(expires_in.min(MAX_TTL_SECS));
    Some((request_uri.to_owned(), ttl))
}

/// Writes still in flight in this process, by store key; the sender is dropped when done.
static WRITING: LazyLock<Mutex<HashMap<String, watch::Receiver<()>>>> =
    LazyLock::new(Mutex::default);

fn writing() -> std::sync::MutexGuard<'static, HashMap<String, watch::Receiver<()>>> {
    WRITING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Remembers `record` under the `request_uri` of the upstream's answer `body`, if the answer is
/// one (see [`read_answer`]). Returns at once: the write runs on its own, and a read of the
/// same record in this process waits for it. Needs a Tokio runtime.
pub fn remember(store: Arc<dyn Store>, record: Record, body: &[u8]) {
    let Some((request_uri, ttl)) = read_answer(body) else {
        tracing::info!("PAR answer without a request_uri and expires_in: nothing remembered");
        return;
    };
    let Ok(value) = serde_json::to_vec(&record) else {
        return;
    };
    let key = key(&request_uri);
    let (done, wait) = watch::channel(());
    writing().insert(key.clone(), wait);
    tokio::spawn(async move {
        if let Err(e) = store.put(&key, Bytes::from(value), ttl).await {
            tracing::warn!(error = %e, "store call failed: pushed request not remembered");
        }
        let mut writing = writing();
        if writing
            .get(&key)
            .is_some_and(|w| w.same_channel(&done.subscribe()))
        {
            writing.remove(&key);
        }
        drop(writing);
        drop(done);
    });
}

/// The record of `request_uri`, if jargate forwarded its push and it has not expired.
pub async fn recall(store: &dyn Store, request_uri: &str) -> Result<Option<Record>, StoreError> {
    let key = key(request_uri);
    let pending = writing().get(&key).cloned();
    if let Some(mut pending) = pending {
        // Resolves (with an error) once the writer drops its sender.
        let _ = tokio::time::timeout(WRITE_WAIT, pending.changed()).await;
    }
    let Some(stored) = store.get(&key).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&stored).ok())
}

/// Whether `request_uri` was pushed through jargate by `client_id` and has not expired: the
/// one question a policy that refuses unknown `request_uri` values asks.
pub async fn was_pushed(
    store: &dyn Store,
    request_uri: &str,
    client_id: &str,
) -> Result<bool, StoreError> {
    let record = recall(store, request_uri).await?;
    Ok(record.is_some_and(|r| r.client_id == client_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::params::Origin;
    use crate::store::memory::MemoryStore;
    use serde_json::json;

    #[test]
    fn a_plain_push_keeps_what_strip_compares_and_never_a_value() {
        let mut params = Params::default();
        params
            .add_form(
                b"client_id=app&response_type=code&scope=openid+email&client_secret=s",
                Origin::Form,
            )
            .unwrap();
        let record = Record::from_params("app", &params);
        assert!(record.holds("response_type", "code"));
        assert!(record.holds("scope", "openid email"));
        assert!(!record.holds("scope", "openid"));
        assert!(!record.holds("client_secret", "s"));
        assert!(!record.holds("client_id", "app"));
        let stored = serde_json::to_string(&record).unwrap();
        assert!(!stored.contains("openid"), "{stored}");
    }

    #[test]
    fn claims_are_compared_as_the_strip_rule_reads_them() {
        let claims = json!({"iss": "app", "exp": 1, "response_type": "code", "max_age": 300,
            "claims": {"id_token": {"email": null}}, "request_uri": "x"});
        let record = Record::from_claims("app", claims.as_object().unwrap());
        assert!(record.holds("max_age", "300"));
        assert!(record.holds("claims", r#"{"id_token":{"email":null}}"#));
        assert!(!record.holds("exp", "1"));
        assert!(!record.holds("iss", "app"));
        assert!(!record.holds("request_uri", "x"));
    }

    #[test]
    fn a_record_is_bounded() {
        let mut params = Params::default();
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        let mut form = format!("{long}=1");
        for i in 0..400 {
            form.push_str(&format!("&p{i}=v"));
        }
        params.add_form(form.as_bytes(), Origin::Form).unwrap();
        let record = Record::from_params("app", &params);
        assert!(!record.holds(&long, "1"));
        assert!(record.holds("p0", "v"));
        assert!(serde_json::to_vec(&record).unwrap().len() <= MAX_RECORD_BYTES);
    }

    #[test]
    fn only_an_answer_as_rfc_9126_describes_is_read() {
        let ok =
            br#"{"request_uri":"urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6","expires_in":60}"#;
        let (uri, ttl) = read_answer(ok).unwrap();
        assert!(uri.starts_with("urn:uuid:"));
        assert_eq!(ttl, Duration::from_secs(60));
        let capped = br#"{"request_uri":"urn:xy:z","expires_in":86400}"#;
        assert_eq!(
            read_answer(capped).unwrap().1,
            Duration::from_secs(MAX_TTL_SECS)
        );
        for bad in [
            &br#"{"request_uri":"https://as.example/r/1","expires_in":60}"#[..],
            br#"{"request_uri":"urn:xy:z"}"#,
            br#"{"request_uri":"urn:xy:z","expires_in":0}"#,
            br#"{"request_uri":"urn:xy:z","expires_in":-5}"#,
            br#"{"request_uri":"urn:xy:z","expires_in":"60"}"#,
            br#"{"request_uri":7,"expires_in":60}"#,
            br#"["urn:xy:z",60]"#,
            b"not json",
            b"",
        ] {
            assert_eq!(read_answer(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let mut huge = br#"{"request_uri":"urn:xy:z","expires_in":60,"pad":""#.to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_ANSWER_BYTES));
        huge.extend_from_slice(b"\"}");
        assert_eq!(read_answer(&huge), None);
    }

    #[tokio::test]
    async fn a_remembered_push_is_read_at_once_and_not_consumed() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(100));
        let answer = br#"{"request_uri":"urn:uuid:abc","expires_in":60}"#;
        let mut params = Params::default();
        params.add_form(b"scope=openid", Origin::Form).unwrap();
        remember(store.clone(), Record::from_params("app", &params), answer);
        // No yield between the answer and the read: the read waits for the write.
        let record = recall(store.as_ref(), "urn:uuid:abc").await.unwrap();
        assert!(record.is_some_and(|r| r.holds("scope", "openid")));
        assert!(was_pushed(store.as_ref(), "urn:uuid:abc", "app")
            .await
            .unwrap());
        assert!(!was_pushed(store.as_ref(), "urn:uuid:abc", "other")
            .await
            .unwrap());
        assert!(!was_pushed(store.as_ref(), "urn:uuid:other", "app")
            .await
            .unwrap());
    }
}
