//! `[dpop]` resolved once per snapshot (SPEC §11): the accepted proof algorithms, the origins
//! a proof's `htu` may name, the acceptance window and the nonce mode and key. A request reads
//! no DPoP setting itself.
//!
//! Decisions: `htu` is built from this configuration only, never from `Host` or
//! `X-Forwarded-*` (auth0/node-oauth2-jwt-bearer built it from a spoofable `Host`). The
//! default origin is the one of `issuer.identifier`. A `nonce_key` shorter than 32 bytes is a
//! configuration error: it is an HMAC-SHA-256 key shared by every replica.

use super::settings::{DpopNonce, Settings};
use crate::keys::Alg;

/// Shortest `dpop.nonce_key`, in bytes (the HMAC-SHA-256 output size).
pub const MIN_NONCE_KEY_BYTES: usize = 32;

/// The origin part of an `htu`, normalised as RFC 3986 §6.2.2–6.2.3 say: scheme and host in
/// lower case, the default port made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtuOrigin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl HtuOrigin {
    /// Reads `scheme://host[:port]` (a path, when present, is ignored: only the origin of
    /// `issuer.identifier` counts).
    pub fn parse(text: &str) -> Result<HtuOrigin, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("{text:?} is not an http(s) URL"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("{text:?} has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{text:?} has no port"))?;
        Ok(HtuOrigin {
            scheme: url.scheme().to_owned(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// What DPoP proofs are checked against.
#[derive(Debug, Clone)]
pub struct DpopPolicy {
    pub nonce: DpopNonce,
    pub algs: Vec<Alg>,
    /// `proof_max_age_secs`.
    pub max_age: i64,
    pub skew: i64,
    /// `limits.max_assertion_bytes` × 2 (step 1).
    pub max_bytes: usize,
    pub max_alg_chars: usize,
    pub max_claim_chars: usize,
    /// `htu_base` (or the issuer's origin) first; `mtls.alias_base`'s origin is added when set.
    pub origins: Vec<HtuOrigin>,
    /// `dpop.nonce_key`; `None`: a random key drawn once per process.
    pub nonce_key: Option<NonceKey>,
}

/// The bytes of `dpop.nonce_key`: a secret, so its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct NonceKey(pub Vec<u8>);

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(<redacted>)")
    }
}

impl DpopPolicy {
    pub fn new(settings: &Settings) -> Result<DpopPolicy, String> {
        let dpop = &settings.dpop;
        let mut algs = Vec::with_capacity(dpop.algs.len());
        for name in &dpop.algs {
            let alg = Alg::parse(name).ok_or_else(|| {
                format!("dpop.algs: {name:?} is not an asymmetric JWS algorithm jargate verifies")
            })?;
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        if algs.is_empty() {
            return Err("dpop.algs: must name at least one algorithm".into());
        }
        if dpop.proof_max_age_secs <= 0 || dpop.proof_max_age_secs > 3600 {
            return Err("dpop.proof_max_age_secs: must be between 1 and 3600".into());
        }
        let base = dpop
            .htu_base
            .as_deref()
            .unwrap_or(&settings.issuer.identifier);
        let key = if dpop.htu_base.is_some() {
            "dpop.htu_base"
        } else {
            "issuer.identifier (the default dpop.htu_base)"
        };
        let mut origins = vec![HtuOrigin::parse(base).map_err(|e| format!("{key}: {e}"))?];
        // SPEC §11 step 4: requests to the mTLS endpoint aliases name that origin, on any
        // listener (behind an ingress, alias requests arrive on the main listener).
        if let Some(alias) = &settings.mtls.alias_base {
            origins.push(HtuOrigin::parse(alias).map_err(|e| format!("mtls.alias_base: {e}"))?);
        }
        let nonce_key = match &dpop.nonce_key {
            Some(k) if k.len() < MIN_NONCE_KEY_BYTES => {
                return Err(format!(
                    "dpop.nonce_key: must be at least {MIN_NONCE_KEY_BYTES} bytes"
                ))
            }
            Some(_) if dpop.nonce == DpopNonce::Upstream => {
                return Err(
                    "dpop.nonce_key: set, but dpop.nonce is \"upstream\" (jargate \
                            issues no nonces); remove it or set dpop.nonce = \"jargate\""
                        .into(),
                )
            }
            k => k.as_ref().map(|k| NonceKey(k.as_bytes().to_vec())),
        };
        Ok(DpopPolicy {
            nonce: dpop.nonce,
            algs,
            max_age: dpop.proof_max_age_secs,
            skew: settings.limits.clock_skew_secs,
            max_bytes: settings.limits.max_assertion_bytes.saturating_mul(2),
            max_alg_chars: settings.limits.max_alg_chars,
            max_claim_chars: settings.limits.max_claim_chars,
            origins,
            nonce_key,
        })
    }

    /// How long a proof's (thumbprint, `jti`) must be remembered (step 7): until
    /// `iat + proof_max_age_secs + 2 × skew`, never less than a second. Never shorter than the
    /// window in which step 5 accepts the proof (Keycloak's bug, keycloak#43505).
    pub fn replay_ttl_secs(&self, iat: i64, now: i64) -> u64 {
        let until = iat
            .saturating_add(self.max_age)
            .saturating_add(self.skew.saturating_mul(2));
        until.saturating_sub(now).max(1) as u64
    }
}
