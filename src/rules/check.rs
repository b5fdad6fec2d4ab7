//! The named checks of SPEC §5 and the one order they run in: the token's shape and header
//! (steps 1–2, `jose`), its keys and signature (steps 2–3, `jose`), the claims object (step 4),
//! then the claim stage of its kind, a table of `(Check, fn)` (steps 5–7 and the kind's own
//! rules). Whoever runs them decides whether to stop at the first failure.

use super::claims::{times, Times};
use super::TokenKind;
use crate::clock::rfc3339;
use crate::config::TokenPolicy;
use crate::jose::Jws;
use crate::keys::{Credential, CredentialSet};
use crate::reject::TokenFault;
use serde_json::{Map, Value};
use std::ops::ControlFlow;

/// One SPEC §5 rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Size,
    Shape,
    Header,
    Alg,
    Crit,
    /// The client's compliance level allows this `alg` (SPEC §9).
    LevelAlg,
    AlgAllowed,
    Kid,
    Signature,
    Claims,
    TimeClaims,
    Exp,
    NbfRequired,
    NotExpired,
    Lifetime,
    Iat,
    Nbf,
    Aud,
    Typ,
    /// Client assertions: `iss`, `sub`, `iss = sub`, `sub` = the client, `jti`.
    Iss,
    Sub,
    IssIsSub,
    SubIsClient,
    Jti,
    /// Request objects: `client_id` and `iss` name the client; no `request`, no
    /// `request_uri`; `response_type`; `sub` not the client; `jti` optional.
    ClientId,
    IssIsClient,
    NoRequest,
    NoRequestUri,
    ResponseType,
    SubNotClient,
    OptionalJti,
}

impl Check {
    /// The short name `explain` prints in front of the rule's line.
    pub fn name(self) -> &'static str {
        use Check::*;
        match self {
            Size => "size",
            Shape => "shape",
            Header => "header",
            Alg => "alg",
            Crit => "crit",
            LevelAlg => "level alg",
            AlgAllowed => "alg allowed",
            Kid => "kid",
            Signature => "signature",
            Claims => "claims",
            TimeClaims => "time claims",
            Exp => "exp",
            NbfRequired | Nbf => "nbf",
            NotExpired => "not expired",
            Lifetime => "lifetime",
            Iat => "iat",
            Aud => "aud",
            Typ => "typ",
            Iss | IssIsClient => "iss",
            Sub | SubNotClient => "sub",
            IssIsSub => "iss = sub",
            SubIsClient => "sub = client",
            Jti | OptionalJti => "jti",
            ClientId => "client_id",
            NoRequest => "request",
            NoRequestUri => "request_uri",
            ResponseType => "response_type",
        }
    }
}

impl Check {
    /// What the rule expects, in words, from the policy and the client; `current` names the
    /// client's current credentials for this use. `explain` shows it next to what the token has.
    pub fn expects(self, s: &Subject, current: &str) -> String {
        use Check::*;
        let p = s.policy;
        let (use_, id, max, kind) = (
            format!("{}s", s.kind.what()),
            s.client_id,
            p.max_claim_chars,
            s.kind.store_use(),
        );
        let clock = format!(
            "now {} = {}, limits.clock_skew_secs = {}",
            s.now,
            rfc3339(s.now),
            p.skew
        );
        let lifetime_key = format!("limits.{kind}_max_lifetime_secs");
        match self {
            Size => format!(
                "at most {} bytes (limits.max_{kind}_bytes), checked before decoding",
                p.max_bytes
            ),
            Shape => "a compact JWS: three non-empty unpadded base64url parts (A-Z a-z 0-9 - _), \
                             header.payload.signature; an unsigned JWT or a JWE is never accepted"
                .into(),
            Header | Claims => "a JSON object without duplicate member names".into(),
            Alg => format!("a string of at most {} characters", p.max_alg_chars),
            Crit => "no crit: no JWS extension is supported".into(),
            LevelAlg => match p.algs {
                Some(algs) => format!(
                    "one of {} (the client's compliance level)",
                    algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
                ),
                None => "any registered alg (no compliance level)".into(),
            },
            AlgAllowed => format!("an alg registered for {use_} of {id:?}: {}", current),
            Kid | Signature => {
                format!("a current credential for {use_} of {id:?}: {}", current)
            }
            TimeClaims => "exp, iat and nbf as JSON numbers of seconds since 1970".into(),
            Exp => format!("exp, at most iat + {} s ({lifetime_key})", p.max_lifetime),
            NbfRequired => "nbf (jar.require_nbf = true)".into(),
            NotExpired => format!(
                "exp must be after now − skew = {} ({clock})",
                s.now - p.skew
            ),
            Lifetime => format!(
                "exp − max(iat, nbf) (or − now) at most {} s ({lifetime_key}) + {} s skew",
                p.max_lifetime, p.skew
            ),
            Iat => format!("at most now + skew ({clock})"),
            Nbf => format!(
                "at most now + skew, at least now − {} s − skew ({clock})",
                p.max_lifetime
            ),
            Aud => {
                let (a, aud) = (&p.audience, &p.audience.identifier);
                match (a.strict, a.aliases.join(", ")) {
                    (true, _) => {
                        format!("aud must be the one string {aud:?} (issuer.strict_audience)")
                    }
                    (false, none) if none.is_empty() => {
                        format!("aud must be {aud:?} (or an array with it)")
                    }
                    (false, aliases) => {
                        format!("aud must be {aud:?} or one of {aliases} (or an array)")
                    }
                }
            }
            Typ if s.kind == TokenKind::RequestObject && p.require_typ => {
                "oauth-authz-req+jwt (jar.require_typ)".into()
            }
            Typ => format!("absent, JWT or {}", s.kind.typ()),
            Iss | Sub => format!("the client_id {id:?}, at most {max} characters"),
            IssIsSub => format!("iss = sub = the client_id {id:?}"),
            SubIsClient => format!("sub = the client_id {id:?}"),
            Jti => format!(
                "jti is required: unique to each assertion, at most {max} characters (e.g. 128 \
                 random bits in base64url)"
            ),
            ClientId => format!("the client_id {id:?} (the client_id request parameter)"),
            IssIsClient => format!("absent or the client_id {id:?}"),
            NoRequest | NoRequestUri => {
                "absent: an object never holds request or request_uri".into()
            }
            ResponseType => {
                "response_type and the other authorization parameters inside the object".into()
            }
            SubNotClient => format!("not the client_id {id:?}: it could pass for an assertion"),
            OptionalJti => format!("absent or at most {max} characters"),
        }
    }
}

/// How one check went.
#[derive(Debug, Clone)]
pub enum Outcome<'a> {
    Pass,
    /// The signature check passed with this credential.
    Verified(&'a Credential),
    /// Nothing to check: the rule does not apply, or an earlier failure left its input unusable.
    Skip,
    Fail(TokenFault),
}

impl From<Result<(), TokenFault>> for Outcome<'_> {
    fn from(result: Result<(), TokenFault>) -> Self {
        match result {
            Ok(()) => Outcome::Pass,
            Err(f) => Outcome::Fail(f),
        }
    }
}

/// What the checks run on: one token, read once, for one client.
pub struct Subject<'a> {
    pub jws: &'a Jws<'a>,
    pub kind: TokenKind,
    pub policy: &'a TokenPolicy,
    /// The client the token must belong to.
    pub client_id: &'a str,
    /// The client's credentials for this kind (registered, then remote); `None`: there is no
    /// registered client to take keys from (`explain` only), so the signature is not checked.
    pub keys: Option<&'a [&'a CredentialSet]>,
    pub now: i64,
}

/// The strictly parsed claims, with their time claims read once for the claim stage.
pub struct Claims<'c> {
    pub map: &'c Map<String, Value>,
    pub times: Option<Times>,
}

impl<'c> Claims<'c> {
    pub fn new(map: &'c Map<String, Value>) -> Claims<'c> {
        Claims {
            map,
            times: times(map),
        }
    }
}

impl std::ops::Deref for Claims<'_> {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Map<String, Value> {
        self.map
    }
}

/// A rule of the claim stage.
pub type ClaimCheck = fn(&Subject<'_>, &Claims<'_>) -> Outcome<'static>;

/// Runs every check of `s.kind` in SPEC §5 order, handing each outcome to `each`, which may
/// stop the run. A stage whose input is missing is not run: nothing after a bad shape or
/// header, no signature without keys, no claim rule without a claims object.
pub fn run<'a, F>(s: &Subject<'a>, each: &mut F)
where
    F: FnMut(Check, Outcome<'a>) -> ControlFlow<()>,
{
    let _ = stages(s, each);
}

fn stages<'a, F>(s: &Subject<'a>, each: &mut F) -> ControlFlow<()>
where
    F: FnMut(Check, Outcome<'a>) -> ControlFlow<()>,
{
    let jws = s.jws;
    each(Check::Size, jws.size(s.policy.max_bytes).into())?;
    let shape = jws.shape();
    let bad_shape = shape.is_err();
    each(Check::Shape, shape.into())?;
    if bad_shape {
        return ControlFlow::Break(());
    }
    if let Err(fault) = jws.header() {
        each(Check::Header, Outcome::Fail(fault))?;
        return ControlFlow::Break(());
    }
    each(Check::Header, Outcome::Pass)?;
    each(
        Check::Alg,
        jws.alg(s.policy.max_alg_chars).map(|_| ()).into(),
    )?;
    each(Check::Crit, jws.crit().into())?;
    each(Check::LevelAlg, level_alg(s))?;
    match s.keys {
        Some(keys) => signature(s, keys, each)?,
        None => each(Check::Signature, Outcome::Skip)?,
    }
    let claims = match jws.claims() {
        Ok(claims) => claims,
        Err(fault) => {
            each(Check::Claims, Outcome::Fail(fault))?;
            return ControlFlow::Break(());
        }
    };
    each(Check::Claims, Outcome::Pass)?;
    let claims = Claims::new(claims);
    for (check, rule) in s.kind.claim_checks() {
        each(*check, rule(s, &claims))?;
    }
    ControlFlow::Continue(())
}

/// The level's algorithms (SPEC §9), before any key is looked at: a key registered with
/// another alg is a load error, but a `jwks_uri` key may carry any.
fn level_alg<'a>(s: &Subject<'a>) -> Outcome<'a> {
    let Some(algs) = s.policy.algs else {
        return Outcome::Skip;
    };
    match s.jws.alg(s.policy.max_alg_chars) {
        Ok(name) => match crate::keys::Alg::parse(name) {
            Some(alg) if algs.contains(&alg) => Outcome::Pass,
            _ => Outcome::Fail(TokenFault::AlgNotAllowedByLevel),
        },
        // Already the `alg` check's failure.
        Err(_) => Outcome::Skip,
    }
}

/// SPEC §5 steps 2 and 3 against the credentials; each step needs the one before it.
fn signature<'a, F>(s: &Subject<'a>, keys: &'a [&'a CredentialSet], each: &mut F) -> ControlFlow<()>
where
    F: FnMut(Check, Outcome<'a>) -> ControlFlow<()>,
{
    let alg = match s.jws.alg_allowed(keys, s.now) {
        Ok(alg) => alg,
        // Already the `alg` check's failure: nothing to verify with.
        Err(TokenFault::AlgMissing) => return each(Check::Signature, Outcome::Skip),
        Err(fault) => {
            each(Check::AlgAllowed, Outcome::Fail(fault))?;
            return each(Check::Signature, Outcome::Skip);
        }
    };
    each(Check::AlgAllowed, Outcome::Pass)?;
    let kid = match s.jws.kid(keys, s.now) {
        Ok(kid) => kid,
        Err(fault) => {
            each(Check::Kid, Outcome::Fail(fault))?;
            return each(Check::Signature, Outcome::Skip);
        }
    };
    each(Check::Kid, Outcome::Pass)?;
    match s.jws.signature(keys, alg, kid, s.now) {
        Ok(credential) => each(Check::Signature, Outcome::Verified(credential)),
        Err(fault) => each(Check::Signature, Outcome::Fail(fault)),
    }
}
