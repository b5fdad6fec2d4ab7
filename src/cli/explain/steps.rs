//! The ✓/✗ lines of `jargate explain`: every SPEC §5 rule evaluated on its own, in the order the
//! proxy applies them, with the values it saw and the values it expected. Unlike the rule
//! functions, this keeps going after a failure so that a client developer sees every problem at
//! once. The formulas mirror `rules::claims`, `jose::Jws` and `rules::{assertion,
//! request_object}`; the verdict itself never comes from here (see the parent module), and the
//! tests check that the first ✗ here is the fault the rule functions return.

use crate::cli::sign::Kind;
use crate::config::{Client, Settings};
use crate::jose::json::{parse_object, StrictJsonError};
use crate::keys::CredentialSet;
use crate::reject::TokenFault;
use crate::rules::claims::typ_is;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{Map, Value};

/// How one rule went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    Pass,
    /// Failed with this fault (`None`: not a token fault, e.g. an unknown client).
    Fail(Option<TokenFault>),
    /// Information, not a rule (absent optional claims, checks done only by the proxy).
    Info,
    /// Not evaluated: an earlier failure left nothing to check.
    Skip,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub mark: Mark,
    pub check: &'static str,
    pub text: String,
}

/// What a token decoded to, as far as it decoded.
#[derive(Debug, Default)]
pub struct Decoded {
    pub header: Option<Map<String, Value>>,
    pub header_text: Option<String>,
    pub claims: Option<Map<String, Value>>,
    pub payload_text: Option<String>,
}

/// The inputs of one explanation.
pub struct Subject<'a> {
    pub token: &'a str,
    pub kind: Kind,
    /// The client id asked about, registered or not.
    pub client_id: Option<&'a str>,
    pub client: Option<&'a Client>,
    pub settings: &'a Settings,
    pub now: i64,
}

impl Subject<'_> {
    pub(super) fn what(&self) -> &'static str {
        match self.kind {
            Kind::Assertion => "client assertion",
            Kind::Request => "request object",
        }
    }

    pub(super) fn keys_of(&self, client: &Client, own: bool) -> (CredentialSet, &'static str) {
        let assertion = (self.kind == Kind::Assertion) == own;
        if assertion {
            (client.auth_keys.clone(), "client assertions")
        } else {
            (client.jar_keys.clone(), "request objects")
        }
    }
}

/// The lines collected so far.
#[derive(Default)]
pub(super) struct Out {
    pub(super) lines: Vec<Line>,
}

impl Out {
    pub(super) fn pass(&mut self, check: &'static str, text: impl Into<String>) {
        self.push(Mark::Pass, check, text.into());
    }
    pub(super) fn fail(&mut self, check: &'static str, fault: TokenFault, text: impl Into<String>) {
        self.push(Mark::Fail(Some(fault)), check, text.into());
    }
    pub(super) fn info(&mut self, check: &'static str, text: impl Into<String>) {
        self.push(Mark::Info, check, text.into());
    }
    pub(super) fn skip(&mut self, check: &'static str, text: impl Into<String>) {
        self.push(Mark::Skip, check, text.into());
    }
    fn push(&mut self, mark: Mark, check: &'static str, text: String) {
        self.lines.push(Line { mark, check, text });
    }
}

/// Evaluates every rule on the token; returns the lines and what decoded.
pub fn evaluate(s: &Subject) -> (Vec<Line>, Decoded) {
    let mut out = Out::default();
    let mut decoded = Decoded::default();
    match (s.client, s.client_id) {
        (Some(c), _) => out.pass("client", format!("{:?} is registered", c.id)),
        (None, Some(id)) => out.push(
            Mark::Fail(None),
            "client",
            format!(
                "{id:?} is not in the registry (the proxy looks the client up before any \
                 token rule)"
            ),
        ),
        (None, None) => out.push(
            Mark::Fail(None),
            "client",
            "the token names no client (no sub, iss or client_id claim); give --client".into(),
        ),
    }
    if let Some(jws) = shape(s, &mut out, &mut decoded) {
        super::signature::check(s, &jws, &mut out);
        claims(s, &jws, &mut out, &mut decoded);
    }
    (out.lines, decoded)
}

/// The parts of a token that decoded.
pub(super) struct Parts {
    pub(super) signing_input: Vec<u8>,
    pub(super) header: Map<String, Value>,
    pub(super) payload: Vec<u8>,
    pub(super) signature: Vec<u8>,
}

/// SPEC §5 steps 1 and 2 without the credentials: size, parts, header, alg, crit.
fn shape(s: &Subject, out: &mut Out, decoded: &mut Decoded) -> Option<Parts> {
    let limits = &s.settings.limits;
    let (limit, key) = match s.kind {
        Kind::Assertion => (limits.max_assertion_bytes, "limits.max_assertion_bytes"),
        Kind::Request => (
            limits.max_request_object_bytes,
            "limits.max_request_object_bytes",
        ),
    };
    let len = s.token.len();
    if len > limit {
        out.fail(
            "size",
            TokenFault::TooLarge,
            format!(
                "{len} bytes; at most {limit} are accepted ({key}), checked before any decoding"
            ),
        );
    } else {
        out.pass("size", format!("{len} bytes, at most {limit} ({key})"));
    }
    let parts: Vec<&str> = s.token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            out.fail(
                "shape",
                TokenFault::Encrypted,
                "five parts: an encrypted JWT (JWE); only signed JWTs (header.payload.signature) \
                 are accepted",
            );
            return None;
        }
        n => {
            out.fail(
                "shape",
                TokenFault::NotCompact,
                format!("{n} part(s); a compact JWS has exactly three: header.payload.signature"),
            );
            return None;
        }
    }
    if parts[0].is_empty() || parts[2].is_empty() {
        let empty = if parts[0].is_empty() {
            "header"
        } else {
            "signature"
        };
        out.fail(
            "shape",
            TokenFault::NotCompact,
            format!("the {empty} part is empty (an unsigned JWT is never accepted)"),
        );
        return None;
    }
    let mut bytes = Vec::with_capacity(3);
    for (part, name) in parts.iter().zip(["header", "payload", "signature"]) {
        match B64.decode(part) {
            Ok(b) => bytes.push(b),
            Err(_) => {
                out.fail(
                    "shape",
                    TokenFault::BadEncoding,
                    format!(
                        "the {name} part is not unpadded base64url (no '=' padding; only \
                         A-Z a-z 0-9 - _)"
                    ),
                );
                return None;
            }
        }
    }
    let signature = bytes.pop().unwrap_or_default();
    let payload = bytes.pop().unwrap_or_default();
    let header_bytes = bytes.pop().unwrap_or_default();
    out.pass(
        "shape",
        format!(
            "three base64url parts (header {} bytes, payload {} bytes, signature {} bytes)",
            header_bytes.len(),
            payload.len(),
            signature.len()
        ),
    );
    decoded.header_text = Some(String::from_utf8_lossy(&header_bytes).into_owned());
    decoded.payload_text = Some(String::from_utf8_lossy(&payload).into_owned());
    let header = match parse_object(&header_bytes) {
        Ok(h) => h,
        Err(StrictJsonError::Duplicate(name)) => {
            out.fail(
                "header",
                TokenFault::DuplicateMember,
                format!("the header has the member {name:?} twice"),
            );
            return None;
        }
        Err(_) => {
            out.fail(
                "header",
                TokenFault::HeaderNotObject,
                "the header is not a JSON object",
            );
            return None;
        }
    };
    out.pass("header", "a JSON object without duplicate members");
    decoded.header = Some(header.clone());
    let max_alg = s.settings.limits.max_alg_chars;
    match header.get("alg") {
        Some(Value::String(alg)) if alg.len() > max_alg => out.fail(
            "alg",
            TokenFault::AlgTooLong,
            format!(
                "alg is {} characters; at most {max_alg} (limits.max_alg_chars)",
                alg.len()
            ),
        ),
        Some(Value::String(alg)) => out.pass("alg", format!("{alg:?}")),
        Some(other) => out.fail(
            "alg",
            TokenFault::AlgMissing,
            format!("alg must be a string; got {other}"),
        ),
        None => out.fail("alg", TokenFault::AlgMissing, "the header has no alg"),
    }
    match header.get("crit") {
        Some(crit) => out.fail(
            "crit",
            TokenFault::Crit,
            format!("the header carries crit ({crit}); no JWS extension is supported, remove it"),
        ),
        None => out.pass("crit", "absent"),
    }
    for name in ["jwk", "jku", "x5u", "x5c"] {
        if header.contains_key(name) {
            out.info(
                "header keys",
                format!(
                    "{name} is ignored: keys come from the registry only, never from the token"
                ),
            );
        }
    }
    let cut = parts[0].len() + 1 + parts[1].len();
    Some(Parts {
        signing_input: s.token.as_bytes()[..cut].to_vec(),
        header,
        payload,
        signature,
    })
}

/// SPEC §5 step 4 and the claim rules that follow it.
fn claims(s: &Subject, jws: &Parts, out: &mut Out, decoded: &mut Decoded) {
    let claims = match parse_object(&jws.payload) {
        Ok(c) => c,
        Err(StrictJsonError::Duplicate(name)) => {
            out.fail(
                "claims",
                TokenFault::DuplicateMember,
                format!(
                    "the member {name:?} appears twice; servers disagree on which one counts, so \
                     it is refused"
                ),
            );
            return;
        }
        Err(_) => {
            out.fail(
                "claims",
                TokenFault::ClaimsNotObject,
                "the payload is not a JSON object",
            );
            return;
        }
    };
    out.pass("claims", "a JSON object without duplicate member names");
    decoded.claims = Some(claims.clone());
    super::times::check(s, &claims, out);
    audience(s, &claims, out);
    typ(s, jws, out);
    match s.kind {
        Kind::Assertion => super::kinds::assertion(s, &claims, out),
        Kind::Request => super::kinds::request(s, &claims, out),
    }
}

fn audience(s: &Subject, claims: &Map<String, Value>, out: &mut Out) {
    let issuer = &s.settings.issuer;
    let strict = s.kind == Kind::Assertion && issuer.strict_audience;
    let accepted = |a: &str| a == issuer.identifier || issuer.aliases.iter().any(|x| x == a);
    let expected = if strict {
        format!(
            "aud must be the one string {:?} (issuer.strict_audience: no array, no alias)",
            issuer.identifier
        )
    } else if issuer.aliases.is_empty() {
        format!(
            "aud must be {:?} (or an array containing it)",
            issuer.identifier
        )
    } else {
        format!(
            "aud must be {:?} or an alias ({}), or an array containing one",
            issuer.identifier,
            issuer.aliases.join(", ")
        )
    };
    match claims.get("aud") {
        None => out.fail("aud", TokenFault::MissingAud, format!("absent; {expected}")),
        Some(Value::String(a)) if strict && *a == issuer.identifier => {
            out.pass("aud", format!("{a:?} is the issuer identifier"))
        }
        Some(aud) if strict => out.fail(
            "aud",
            TokenFault::AudienceNotStrict,
            format!("{expected}; got {aud}"),
        ),
        Some(Value::String(a)) if accepted(a) => {
            out.pass("aud", format!("{a:?} names this authorization server"))
        }
        Some(Value::Array(items)) if items.iter().filter_map(Value::as_str).any(accepted) => out
            .pass(
                "aud",
                format!(
                    "{} contains this authorization server",
                    Value::Array(items.clone())
                ),
            ),
        Some(aud) => out.fail(
            "aud",
            TokenFault::AudienceMismatch,
            format!("{expected}; got {aud}"),
        ),
    }
}

fn typ(s: &Subject, jws: &Parts, out: &mut Out) {
    if let Some(other) = jws.header.get("typ").filter(|t| !t.is_string()) {
        out.fail(
            "typ",
            TokenFault::TypNotAllowed,
            format!("typ must be a string; got {other}"),
        );
        return;
    }
    let typ = jws.header.get("typ").and_then(Value::as_str);
    let require = s.kind == Kind::Request && s.settings.jar.require_typ;
    let allowed = match s.kind {
        Kind::Assertion => "JWT or client-authentication+jwt",
        Kind::Request if require => "oauth-authz-req+jwt (jar.require_typ)",
        Kind::Request => "JWT or oauth-authz-req+jwt",
    };
    let ok = |t: &str| match s.kind {
        Kind::Assertion => typ_is(t, "JWT") || typ_is(t, "client-authentication+jwt"),
        Kind::Request if require => typ_is(t, "oauth-authz-req+jwt"),
        Kind::Request => typ_is(t, "JWT") || typ_is(t, "oauth-authz-req+jwt"),
    };
    match typ {
        None if require => out.fail(
            "typ",
            TokenFault::TypNotAllowed,
            format!("absent; a request object must be typed {allowed}"),
        ),
        None => out.pass("typ", format!("absent (allowed; when present: {allowed})")),
        Some(t) if ok(t) => out.pass("typ", format!("{t:?}")),
        Some(t) => {
            let crossing = match s.kind {
                Kind::Assertion if typ_is(t, "oauth-authz-req+jwt") => {
                    ": that is a request object's type, and types never cross"
                }
                Kind::Request if typ_is(t, "client-authentication+jwt") => {
                    ": that is a client assertion's type, and types never cross"
                }
                _ => "",
            };
            out.fail(
                "typ",
                TokenFault::TypNotAllowed,
                format!(
                    "{t:?} is not allowed for a {}{crossing}; use {allowed}",
                    s.what()
                ),
            )
        }
    }
}
