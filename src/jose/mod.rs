//! Compact JWS: size and shape, base64url decoding, the protected header, and signature
//! verification against a client's credentials, one function per SPEC §5 rule of steps 1 to 4.
//! A token is decoded once ([`Jws::read`]) and every rule reads that decoding. No OAuth meaning
//! lives here: which rules run in which order, and which claims a token must carry, is the
//! business of `rules`.

pub mod json;
pub mod sign;

use crate::keys::{Alg, Credential, CredentialSet};
use crate::reject::TokenFault;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use json::StrictJsonError;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// A compact JWS, split at its dots; its parts are decoded on first use, once. Nothing in it
/// is trusted, and reading it refuses nothing: each rule below says what is wrong.
#[derive(Debug)]
pub struct Jws<'a> {
    token: &'a str,
    /// How many dot-separated parts the token has.
    count: usize,
    /// The first three parts (empty when missing).
    parts: [&'a str; 3],
    decoded: OnceLock<Decoded>,
}

/// The parts of a token, each decoded as far as it goes.
#[derive(Debug)]
struct Decoded {
    /// The first of header, payload and signature that is not unpadded base64url.
    bad_part: Option<&'static str>,
    header_len: usize,
    header: Object,
    payload: Vec<u8>,
    claims: Object,
    signature: Vec<u8>,
}

/// A part parsed as JSON once: the value as a lenient reader sees it (the last duplicate wins)
/// and the first member name found twice, or why it is no JSON at all.
type Object = Result<(Value, Option<String>), StrictJsonError>;

fn parse(bytes: &[u8]) -> Object {
    json::parse_keeping_last(bytes)
}

/// The strict reading of `object`: a JSON object without duplicate members.
fn strict(object: &Object, not_object: TokenFault) -> Result<&Map<String, Value>, TokenFault> {
    match object {
        Ok((_, Some(name))) | Err(StrictJsonError::Duplicate(name)) => {
            Err(TokenFault::DuplicateMember { name: name.clone() })
        }
        Ok((Value::Object(map), None)) => Ok(map),
        _ => Err(not_object),
    }
}

impl<'a> Jws<'a> {
    /// Splits `token`; nothing is decoded yet (the size rule comes before any decoding).
    pub fn read(token: &'a str) -> Jws<'a> {
        let mut parts = [""; 3];
        let mut count = 0;
        for part in token.split('.') {
            if let Some(slot) = parts.get_mut(count) {
                *slot = part;
            }
            count += 1;
        }
        Jws {
            token,
            count,
            parts,
            decoded: OnceLock::new(),
        }
    }

    fn decoded(&self) -> &Decoded {
        self.decoded.get_or_init(|| {
            let mut bad_part = None;
            let mut decode = |part: &str, name: &'static str| match B64.decode(part) {
                Ok(bytes) => bytes,
                Err(_) => {
                    bad_part.get_or_insert(name);
                    Vec::new()
                }
            };
            let [h, p, s] = self.parts;
            let header = decode(h, "header");
            let payload = decode(p, "payload");
            let signature = decode(s, "signature");
            Decoded {
                bad_part,
                header_len: header.len(),
                header: parse(&header),
                claims: parse(&payload),
                payload,
                signature,
            }
        })
    }

    /// The token as received.
    pub fn token(&self) -> &'a str {
        self.token
    }

    /// SPEC §5 step 1: at most `max` bytes, checked before any decoding.
    pub fn size(&self, max: usize) -> Result<(), TokenFault> {
        let len = self.token.len();
        if len > max {
            return Err(TokenFault::TooLarge { len, max });
        }
        Ok(())
    }

    /// SPEC §5 step 1: three non-empty base64url parts (five are a JWE).
    pub fn shape(&self) -> Result<(), TokenFault> {
        match self.count {
            3 => {}
            5 => return Err(TokenFault::Encrypted),
            parts => return Err(TokenFault::NotCompact { parts, empty: "" }),
        }
        let [header, _, signature] = self.parts;
        for (part, name) in [(header, "header"), (signature, "signature")] {
            if part.is_empty() {
                return Err(TokenFault::NotCompact {
                    parts: 3,
                    empty: name,
                });
            }
        }
        match self.decoded().bad_part {
            Some(part) => Err(TokenFault::BadEncoding { part }),
            None => Ok(()),
        }
    }

    /// SPEC §5 step 2: the header is a JSON object without duplicate members.
    pub fn header(&self) -> Result<&Map<String, Value>, TokenFault> {
        self.shape()?;
        strict(&self.decoded().header, TokenFault::HeaderNotObject)
    }

    /// SPEC §5 step 2: `alg` is a string of at most `max` characters.
    pub fn alg(&self, max: usize) -> Result<&str, TokenFault> {
        let alg = self.alg_name()?;
        if alg.len() > max {
            return Err(TokenFault::AlgTooLong {
                len: alg.len(),
                max,
            });
        }
        Ok(alg)
    }

    fn alg_name(&self) -> Result<&str, TokenFault> {
        self.header()?
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(TokenFault::AlgMissing)
    }

    /// SPEC §5 step 2: no `crit` (no JWS extension is supported).
    pub fn crit(&self) -> Result<(), TokenFault> {
        match self.header()?.contains_key("crit") {
            true => Err(TokenFault::Crit),
            false => Ok(()),
        }
    }

    /// The header's `typ`, when present; one that is not a string is refused.
    pub fn typ(&self) -> Result<Option<&str>, TokenFault> {
        match self.header()?.get("typ") {
            None => Ok(None),
            Some(Value::String(typ)) => Ok(Some(typ)),
            Some(_) => Err(TokenFault::TypNotAllowed),
        }
    }

    /// SPEC §5 step 2: `alg` is one a current credential of `sets` is registered with.
    pub fn alg_allowed(&self, sets: &[&CredentialSet], now: i64) -> Result<Alg, TokenFault> {
        let alg = Alg::parse(self.alg_name()?).ok_or(TokenFault::AlgNotAllowed)?;
        if current(sets, now).next().is_none() {
            return Err(TokenFault::NoCredential);
        }
        if !current(sets, now).any(|c| c.alg == alg) {
            return Err(TokenFault::AlgNotAllowed);
        }
        Ok(alg)
    }

    /// SPEC §5 step 2: `kid`, when present, names a current credential of `sets`.
    pub fn kid(&self, sets: &[&CredentialSet], now: i64) -> Result<Option<&str>, TokenFault> {
        let kid = match self.header()?.get("kid") {
            None => return Ok(None),
            Some(Value::String(kid)) => kid.as_str(),
            Some(_) => return Err(TokenFault::UnknownKid),
        };
        if !current(sets, now).any(|c| c.kid == kid) {
            return Err(TokenFault::UnknownKid);
        }
        Ok(Some(kid))
    }

    /// The current credentials of `sets` for `alg` (and `kid`, when given).
    pub fn candidates<'s, 'k>(
        sets: &'s [&'s CredentialSet],
        alg: Alg,
        kid: Option<&'k str>,
        now: i64,
    ) -> impl Iterator<Item = &'s Credential> + use<'s, 'k> {
        current(sets, now).filter(move |c| c.alg == alg && kid.is_none_or(|k| c.kid == k))
    }

    /// SPEC §5 step 3: the signature verifies with a current credential of `sets` for `alg`
    /// and `kid` (as [`Jws::alg_allowed`] and [`Jws::kid`] returned them). Keys named by the
    /// token itself (`jwk`, `jku`, `x5u`, `x5c`) are never looked at.
    pub fn signature<'s>(
        &self,
        sets: &'s [&'s CredentialSet],
        alg: Alg,
        kid: Option<&str>,
        now: i64,
    ) -> Result<&'s Credential, TokenFault> {
        let mut candidates = Self::candidates(sets, alg, kid, now).peekable();
        if candidates.peek().is_none() {
            return Err(TokenFault::AlgNotAllowed);
        }
        candidates
            .find(|c| self.verifies_with(c, alg))
            .ok_or(TokenFault::BadSignature)
    }

    /// Whether `credential` verifies the signature as `alg`.
    pub fn verifies_with(&self, credential: &Credential, alg: Alg) -> bool {
        let signature = &self.decoded().signature;
        credential.key.verify(alg, self.signing_input(), signature)
    }

    /// The decoded signature bytes (empty when they do not decode).
    pub fn signature_bytes(&self) -> &[u8] {
        &self.decoded().signature
    }

    /// `header.payload`, the bytes the signature covers (empty unless three parts).
    pub fn signing_input(&self) -> &'a [u8] {
        let [header, payload, _] = self.parts;
        let len = header.len() + 1 + payload.len();
        match self.count {
            3 => self.token.as_bytes().get(..len).unwrap_or_default(),
            _ => &[],
        }
    }

    /// SPEC §5 step 4: the payload is a JSON object without duplicate member names.
    pub fn claims(&self) -> Result<&Map<String, Value>, TokenFault> {
        self.shape()?;
        strict(&self.decoded().claims, TokenFault::ClaimsNotObject)
    }

    /// The decoded payload bytes, whatever they hold.
    pub fn payload(&self) -> &[u8] {
        &self.decoded().payload
    }

    /// Decoded sizes of header, payload and signature, in bytes.
    pub fn decoded_lens(&self) -> [usize; 3] {
        let d = self.decoded();
        [d.header_len, d.payload.len(), d.signature.len()]
    }

    /// The header and claims read leniently (the last duplicate wins), whatever else is wrong
    /// with the token: only to find out what it is and whose keys to try. Every claim is
    /// checked strictly after the signature verifies.
    pub fn unverified_header(&self) -> Option<&Map<String, Value>> {
        lenient(&self.decoded().header)
    }

    /// See [`Jws::unverified_header`].
    pub fn unverified_claims(&self) -> Option<&Map<String, Value>> {
        lenient(&self.decoded().claims)
    }

    /// One string claim of [`Jws::unverified_claims`].
    pub fn unverified(&self, name: &str) -> Option<&str> {
        self.unverified_claims()?.get(name)?.as_str()
    }
}

fn lenient(object: &Object) -> Option<&Map<String, Value>> {
    object.as_ref().ok()?.0.as_object()
}

fn current<'s>(sets: &'s [&'s CredentialSet], now: i64) -> impl Iterator<Item = &'s Credential> {
    sets.iter().flat_map(move |s| s.current(now))
}
