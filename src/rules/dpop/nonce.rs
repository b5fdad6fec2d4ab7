//! jargate's DPoP nonces (`dpop.nonce = "jargate"`, RFC 9449 §8): stateless, an HMAC-SHA-256
//! of the current time step ([`STEP_SECS`]) under `dpop.nonce_key`, base64url. A nonce is
//! accepted during its own step and the next, so it lives between one and two steps; nothing
//! is stored, and every replica that shares the key accepts every other's nonces.
//!
//! Without `dpop.nonce_key` the key is drawn at random once per process (it survives reloads,
//! not restarts): right for one replica, while with several a nonce from one is refused by
//! the others, which answer `use_dpop_nonce` again (`check` warns about that with the redis
//! store, which signals several replicas).

use crate::config::DpopPolicy;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::hmac;
use std::sync::OnceLock;

/// Length of a nonce's time step, in seconds.
pub const STEP_SECS: i64 = 60;

/// What the HMAC covers besides the step: nonces are never valid as anything else.
const CONTEXT: &[u8] = b"jargate dpop nonce v1\0";

/// The key of this process, drawn on first use (`None`: no system randomness: no nonce is
/// ever issued or accepted, so DPoP requests fail closed).
fn process_key() -> Option<&'static hmac::Key> {
    static KEY: OnceLock<Option<hmac::Key>> = OnceLock::new();
    KEY.get_or_init(|| {
        crate::random::bytes::<32>()
            .ok()
            .map(|bytes| hmac::Key::new(hmac::HMAC_SHA256, &bytes))
    })
    .as_ref()
}

fn with_key<T>(policy: &DpopPolicy, f: impl FnOnce(&hmac::Key) -> T) -> Option<T> {
    match &policy.nonce_key {
        Some(configured) => Some(f(&hmac::Key::new(hmac::HMAC_SHA256, &configured.0))),
        None => process_key().map(f),
    }
}

fn message(step: i64) -> [u8; CONTEXT.len() + 8] {
    let mut m = [0u8; CONTEXT.len() + 8];
    m[..CONTEXT.len()].copy_from_slice(CONTEXT);
    m[CONTEXT.len()..].copy_from_slice(&step.to_be_bytes());
    m
}

/// A current nonce (`None` only without system randomness and without `nonce_key`).
pub fn issue(policy: &DpopPolicy, now: i64) -> Option<String> {
    let step = now.div_euclid(STEP_SECS);
    with_key(policy, |key| B64.encode(hmac::sign(key, &message(step))))
}

/// Whether `nonce` was issued in the current or the previous step (compared in constant time).
pub fn accepts(policy: &DpopPolicy, nonce: &str, now: i64) -> bool {
    // 32 bytes of HMAC are 43 base64url characters: anything else is no nonce of ours.
    if nonce.len() != 43 {
        return false;
    }
    let Ok(tag) = B64.decode(nonce) else {
        return false;
    };
    let step = now.div_euclid(STEP_SECS);
    with_key(policy, |key| {
        [step, step - 1]
            .iter()
            .any(|s| hmac::verify(key, &message(*s), &tag).is_ok())
    })
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::dpop::NonceKey;
    use crate::rules::testing::policies_settings;

    fn policy(key: Option<&str>) -> DpopPolicy {
        let mut policy = DpopPolicy::new(&policies_settings("")).unwrap();
        policy.nonce_key = key.map(|k| NonceKey(k.as_bytes().to_vec()));
        policy
    }

    #[test]
    fn a_nonce_lives_for_its_step_and_the_next() {
        let p = policy(None);
        let now = 1_800_000_010;
        let n = issue(&p, now).unwrap();
        assert_eq!(n.len(), 43);
        assert!(accepts(&p, &n, now));
        assert!(accepts(&p, &n, now + STEP_SECS));
        assert!(!accepts(&p, &n, now + 2 * STEP_SECS));
        assert!(!accepts(&p, &n, now - STEP_SECS));
    }

    #[test]
    fn replicas_sharing_a_key_accept_each_others_nonces_and_no_one_elses() {
        let key = "k".repeat(32);
        let (a, b) = (policy(Some(&key)), policy(Some(&key)));
        let now = 1_800_000_000;
        assert!(accepts(&b, &issue(&a, now).unwrap(), now));
        let other = policy(Some(&"o".repeat(32)));
        assert!(!accepts(&other, &issue(&a, now).unwrap(), now));
        assert!(!accepts(&policy(None), &issue(&a, now).unwrap(), now));
        for junk in ["", "x", &"A".repeat(43), &"!".repeat(43)] {
            assert!(!accepts(&a, junk, now), "{junk}");
        }
    }
}
