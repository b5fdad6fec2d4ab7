//! Compact JWS: size and shape, base64url decoding, the protected header, and signature
//! verification against a client's credentials. No OAuth meaning lives here: which claims a
//! token must carry is the business of `rules`.

pub mod json;
pub mod sign;

use crate::keys::{Alg, CredentialSet};
use crate::reject::TokenFault;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{Map, Value};

/// A compact JWS whose three parts decoded; nothing in it is trusted yet.
#[derive(Debug)]
pub struct Jws<'a> {
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a [u8],
    pub header: Map<String, Value>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Limits that apply before any signature is checked.
#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    pub max_bytes: usize,
    pub max_alg_chars: usize,
}

impl<'a> Jws<'a> {
    /// SPEC §5 steps 1 and 2 (shape and header), in order.
    pub fn parse(token: &'a str, limits: ShapeLimits) -> Result<Jws<'a>, TokenFault> {
        if token.len() > limits.max_bytes {
            return Err(TokenFault::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TokenFault::NotCompact);
        };
        match parts.count() {
            0 => {}
            2 => return Err(TokenFault::Encrypted),
            _ => return Err(TokenFault::NotCompact),
        }
        if h.is_empty() || s.is_empty() {
            return Err(TokenFault::NotCompact);
        }
        let decode = |part: &str| B64.decode(part).map_err(|_| TokenFault::BadEncoding);
        let header_bytes = decode(h)?;
        let payload = decode(p)?;
        let signature = decode(s)?;
        let header = match json::parse_object(&header_bytes) {
            Ok(map) => map,
            Err(json::StrictJsonError::Duplicate(_)) => return Err(TokenFault::DuplicateMember),
            Err(_) => return Err(TokenFault::HeaderNotObject),
        };
        let jws = Jws {
            signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
            header,
            payload,
            signature,
        };
        let alg = jws.alg_name()?;
        if alg.len() > limits.max_alg_chars {
            return Err(TokenFault::AlgTooLong);
        }
        if jws.header.contains_key("crit") {
            return Err(TokenFault::Crit);
        }
        Ok(jws)
    }

    fn alg_name(&self) -> Result<&str, TokenFault> {
        self.header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(TokenFault::AlgMissing)
    }

    /// The header's `typ`, when present; one that is not a string is refused.
    pub fn typ(&self) -> Result<Option<&str>, TokenFault> {
        match self.header.get("typ") {
            None => Ok(None),
            Some(Value::String(typ)) => Ok(Some(typ)),
            Some(_) => Err(TokenFault::TypNotAllowed),
        }
    }

    /// SPEC §5 steps 2 (alg and kid against the credentials) and 3 (signature), against the
    /// current credentials of every set (registered keys, then remote JWK Sets). Keys named by
    /// the token itself (`jwk`, `jku`, `x5u`, `x5c`) are never looked at.
    pub fn verify(&self, sets: &[&CredentialSet], now: i64) -> Result<Alg, TokenFault> {
        let current = || sets.iter().flat_map(move |s| s.current(now));
        let alg = Alg::parse(self.alg_name()?).ok_or(TokenFault::AlgNotAllowed)?;
        if current().next().is_none() {
            return Err(TokenFault::NoCredential);
        }
        if !current().any(|c| c.alg == alg) {
            return Err(TokenFault::AlgNotAllowed);
        }
        let kid = match self.header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenFault::UnknownKid),
        };
        if let Some(kid) = kid {
            if !current().any(|c| c.kid == kid) {
                return Err(TokenFault::UnknownKid);
            }
        }
        let mut candidates = current()
            .filter(|c| c.alg == alg && kid.is_none_or(|k| c.kid == k))
            .peekable();
        if candidates.peek().is_none() {
            return Err(TokenFault::AlgNotAllowed);
        }
        if candidates.any(|c| c.key.verify(alg, self.signing_input, &self.signature)) {
            Ok(alg)
        } else {
            Err(TokenFault::BadSignature)
        }
    }

    /// SPEC §5 step 4: the payload is a JSON object without duplicate member names.
    pub fn claims(&self) -> Result<Map<String, Value>, TokenFault> {
        match json::parse_object(&self.payload) {
            Ok(map) => Ok(map),
            Err(json::StrictJsonError::Duplicate(_)) => Err(TokenFault::DuplicateMember),
            Err(_) => Err(TokenFault::ClaimsNotObject),
        }
    }
}

/// Reads one string claim of an unverified payload, leniently: only to find out which client's
/// keys to try. Every claim is checked strictly after the signature verifies.
pub fn peek_claim(token: &str, name: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = B64.decode(payload).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}
