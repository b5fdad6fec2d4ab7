//! DPoP proofs (RFC 9449, SPEC §11 steps 1–6) at the PAR and token endpoints: a typed
//! [`DpopProof`] beside `ClientAssertion` and `RequestObject`, checked by plain functions in
//! one order ([`run`]); the proxy stops at the first failure ([`check`]), `jargate explain
//! --dpop` runs them all. Step 7 (single use of the key's thumbprint and `jti`) is the
//! caller's, decided last with every other single-use record (SPEC §5); [`ValidProof`] says
//! what to record and for how long.
//!
//! The proof's key comes from its own header, through the narrow parser of
//! [`crate::keys::embedded`]: it never meets the registry's keys. `htu` is compared with the
//! configured origins ([`htu`]), never with what the request's `Host` says; nonces are
//! stateless HMACs of a time step ([`nonce`]).

pub mod htu;
pub mod nonce;

use super::claims::typ_is;
use crate::config::settings::DpopNonce;
use crate::config::DpopPolicy;
use crate::jose::Jws;
use crate::keys::embedded::{JwkFault, ProofKey};
use crate::keys::Alg;
use crate::reject::{DpopFault, Rejection, TokenFault};
use serde_json::{Map, Value};
use std::ops::ControlFlow;

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub const DPOP_TYP: &str = "dpop+jwt";

/// A `DPoP` header value, read once; nothing in it is trusted yet.
#[derive(Debug)]
pub struct DpopProof<'j> {
    jws: Jws<'j>,
}

impl<'j> DpopProof<'j> {
    pub fn read(value: &'j str) -> DpopProof<'j> {
        DpopProof {
            jws: Jws::read(value),
        }
    }

    pub fn jws(&self) -> &Jws<'j> {
        &self.jws
    }
}

/// The request a proof came with: its method and the path of the endpoint it reached (the
/// configured path, which the request's own path equals: SPEC §5 refuses any other form).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub method: &'a str,
    pub path: &'a str,
}

/// A proof that passed steps 1–6; recording (`thumbprint`, `jti`) is step 7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidProof {
    /// RFC 7638 thumbprint of the proof's key (`dpop_jkt`, `cnf.jkt`).
    pub thumbprint: String,
    pub jti: String,
    /// Whole seconds.
    pub iat: i64,
}

/// One check of SPEC §11, in the order [`run`] applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Shape,
    Typ,
    Alg,
    Crit,
    Jwk,
    Signature,
    Claims,
    Htm,
    Htu,
    Iat,
    Nonce,
}

impl Step {
    /// The short name `explain` prints.
    pub fn name(self) -> &'static str {
        match self {
            Step::Shape => "shape",
            Step::Typ => "typ",
            Step::Alg => "alg",
            Step::Crit => "crit",
            Step::Jwk => "jwk",
            Step::Signature => "signature",
            Step::Claims => "claims",
            Step::Htm => "htm",
            Step::Htu => "htu",
            Step::Iat => "iat",
            Step::Nonce => "nonce",
        }
    }

    /// What the step demands, for `explain`.
    pub fn rule(self) -> &'static str {
        match self {
            Step::Shape => "one compact JWS within the size limit, header a JSON object",
            Step::Typ => "typ is dpop+jwt",
            Step::Alg => "alg is one of dpop.algs",
            Step::Crit => "no crit header",
            Step::Jwk => "jwk is a public key of the alg's type (RSA at least 2048 bits)",
            Step::Signature => "the signature verifies with jwk",
            Step::Claims => "jti, htm, htu and iat present",
            Step::Htm => "htm is the request method",
            Step::Htu => "htu is this endpoint at the configured origin",
            Step::Iat => "iat within proof_max_age_secs (+ skew) and not in the future",
            Step::Nonce => "nonce is a current jargate nonce (dpop.nonce = \"jargate\")",
        }
    }
}

/// A step's verdict.
pub type StepResult = Result<(), Rejection>;

/// Checks `proof` for `target` and stops at the first failure.
pub fn check(
    proof: &DpopProof,
    policy: &DpopPolicy,
    target: Target,
    now: i64,
) -> Result<ValidProof, Rejection> {
    let mut first = None;
    let valid = run(proof, policy, target, now, &mut |_, result| match result {
        Err(r) => {
            first = Some(r.clone());
            ControlFlow::Break(())
        }
        Ok(()) => ControlFlow::Continue(()),
    });
    match (first, valid) {
        (Some(r), _) => Err(r),
        (None, Some(valid)) => Ok(valid),
        // Unreachable: run yields a proof whenever no step failed.
        (None, None) => Err(DpopFault::Malformed(TokenFault::HeaderNotObject).into()),
    }
}

/// Runs every step in SPEC §11 order and hands each verdict to `visit`, which may stop the run.
/// A step that needs what a failed one would have given (the key after a bad `alg`, the
/// claims after a bad header) is not visited. Returns the proof when every step passed.
pub fn run(
    proof: &DpopProof,
    policy: &DpopPolicy,
    target: Target,
    now: i64,
    visit: &mut dyn FnMut(Step, &StepResult) -> ControlFlow<()>,
) -> Option<ValidProof> {
    let jws = &proof.jws;
    let mut failed = false;
    let mut step = |s: Step, result: StepResult| -> ControlFlow<()> {
        failed |= result.is_err();
        visit(s, &result)
    };
    // Hands a verdict to `visit`; returns when it says stop.
    macro_rules! step {
        ($s:expr, $r:expr) => {
            if step($s, $r).is_break() {
                return None;
            }
        };
    }
    let header = match shape(jws, policy) {
        Ok(header) => {
            step!(Step::Shape, Ok(()));
            header
        }
        Err(fault) => {
            let _ = step(Step::Shape, Err(fault.into()));
            return None;
        }
    };
    step!(Step::Typ, typ(header).map_err(Into::into));
    let alg = alg(jws, policy);
    step!(
        Step::Alg,
        alg.as_ref().map(|_| ()).map_err(|f| f.clone().into())
    );
    step!(Step::Crit, crit(header).map_err(Into::into));
    let key = alg.ok().map(|alg| (alg, jwk(header, alg)));
    if let Some((_, key)) = &key {
        step!(
            Step::Jwk,
            key.as_ref().map(|_| ()).map_err(|f| f.clone().into())
        );
    }
    let signed = match &key {
        Some((alg, Ok(key))) => {
            let verified = signature(jws, *alg, key);
            step!(Step::Signature, verified.clone().map_err(Into::into));
            verified.is_ok()
        }
        _ => false,
    };
    let claims = match claims(jws, policy) {
        Ok(claims) => {
            step!(Step::Claims, Ok(()));
            claims
        }
        Err(fault) => {
            let _ = step(Step::Claims, Err(fault.into()));
            return None;
        }
    };
    step!(Step::Htm, htm(&claims, target).map_err(Into::into));
    step!(
        Step::Htu,
        htu_matches(&claims, policy, target).map_err(Into::into)
    );
    step!(Step::Iat, iat(&claims, policy, now).map_err(Into::into));
    if policy.nonce == DpopNonce::Jargate {
        step!(Step::Nonce, nonce_current(&claims, policy, now));
    }
    match (failed, signed, key) {
        (false, true, Some((_, Ok(key)))) => Some(ValidProof {
            thumbprint: key.thumbprint().to_owned(),
            jti: claims.jti.to_owned(),
            iat: claims.iat,
        }),
        _ => None,
    }
}

/// Step 1 (the number of headers is the request shape's): one compact JWS of at most
/// `max_bytes`, whose header is a JSON object without duplicate members.
fn shape<'a>(jws: &'a Jws, policy: &DpopPolicy) -> Result<&'a Map<String, Value>, DpopFault> {
    jws.size(policy.max_bytes).map_err(DpopFault::Malformed)?;
    jws.header().map_err(DpopFault::Malformed)
}

/// Step 2: `typ` is `dpop+jwt` (media types compare case-insensitively, `application/`
/// optional, RFC 7515 §4.1.9).
fn typ(header: &Map<String, Value>) -> Result<(), DpopFault> {
    match header.get("typ").and_then(Value::as_str) {
        Some(t) if typ_is(t, DPOP_TYP) => Ok(()),
        _ => Err(DpopFault::Typ),
    }
}

/// Step 2: `alg` names an asymmetric algorithm of `dpop.algs` (`none` and HS* cannot).
fn alg(jws: &Jws, policy: &DpopPolicy) -> Result<Alg, DpopFault> {
    let name = jws.alg(policy.max_alg_chars).map_err(|f| match f {
        TokenFault::AlgMissing | TokenFault::AlgTooLong { .. } => DpopFault::AlgNotAllowed,
        other => DpopFault::Malformed(other),
    })?;
    Alg::parse(name)
        .filter(|alg| policy.algs.contains(alg))
        .ok_or(DpopFault::AlgNotAllowed)
}

fn crit(header: &Map<String, Value>) -> Result<(), DpopFault> {
    match header.contains_key("crit") {
        true => Err(DpopFault::Crit),
        false => Ok(()),
    }
}

/// Step 2: the `jwk` header, read by the narrow parser.
fn jwk(header: &Map<String, Value>, alg: Alg) -> Result<ProofKey, DpopFault> {
    ProofKey::read(header.get("jwk"), alg).map_err(|f| match f {
        JwkFault::Invalid(why) => DpopFault::Jwk(why),
        JwkFault::Private => DpopFault::PrivateJwk,
        JwkFault::AlgMismatch => DpopFault::JwkAlgMismatch,
        JwkFault::TooSmall { bits } => DpopFault::JwkTooSmall { bits },
    })
}

/// Step 3.
fn signature(jws: &Jws, alg: Alg, key: &ProofKey) -> Result<(), DpopFault> {
    match key.verifies(alg, jws.signing_input(), jws.signature_bytes()) {
        true => Ok(()),
        false => Err(DpopFault::BadSignature),
    }
}

/// The claims step 4 requires, read once.
struct ProofClaims<'c> {
    jti: &'c str,
    htm: &'c str,
    htu: &'c str,
    iat: i64,
    nonce: Option<&'c str>,
}

/// Step 4: a JSON object with `jti` (at most `max_claim_chars`), `htm`, `htu` (strings) and
/// `iat` (a number). Other claims are allowed (RFC 9449 §4.2).
fn claims<'c>(jws: &'c Jws, policy: &DpopPolicy) -> Result<ProofClaims<'c>, DpopFault> {
    let claims = jws.claims().map_err(|f| match f {
        TokenFault::ClaimsNotObject => DpopFault::ClaimsNotObject,
        other => DpopFault::Malformed(other),
    })?;
    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or(DpopFault::MissingClaim(name))
    };
    let jti = text("jti")?;
    let chars = jti.chars().count();
    if chars > policy.max_claim_chars {
        return Err(DpopFault::ClaimTooLong {
            claim: "jti",
            chars,
            max: policy.max_claim_chars,
        });
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite())
        .ok_or(DpopFault::MissingClaim("iat"))?;
    Ok(ProofClaims {
        jti,
        htm: text("htm")?,
        htu: text("htu")?,
        iat: iat.floor() as i64,
        nonce: claims.get("nonce").and_then(Value::as_str),
    })
}

/// Step 4: `htm` is the request's method (methods are case-sensitive, RFC 9110 §9.1).
fn htm(claims: &ProofClaims, target: Target) -> Result<(), DpopFault> {
    match claims.htm == target.method {
        true => Ok(()),
        false => Err(DpopFault::Htm),
    }
}

/// Step 4: `htu` names this endpoint at a configured origin.
fn htu_matches(claims: &ProofClaims, policy: &DpopPolicy, target: Target) -> Result<(), DpopFault> {
    match htu::matches(claims.htu, &policy.origins, target.path) {
        true => Ok(()),
        false => Err(DpopFault::Htu {
            actual: claims.htu.chars().take(256).collect(),
        }),
    }
}

/// Step 5: `now − proof_max_age_secs − skew ≤ iat ≤ now + skew`.
fn iat(claims: &ProofClaims, policy: &DpopPolicy, now: i64) -> Result<(), DpopFault> {
    let iat = claims.iat;
    if iat > now.saturating_add(policy.skew) {
        return Err(DpopFault::IssuedInFuture { iat, now });
    }
    if iat
        < now
            .saturating_sub(policy.max_age)
            .saturating_sub(policy.skew)
    {
        return Err(DpopFault::Stale { iat, now });
    }
    Ok(())
}

/// Step 6, with `dpop.nonce = "jargate"`: a missing or stale nonce is answered with a fresh one.
fn nonce_current(claims: &ProofClaims, policy: &DpopPolicy, now: i64) -> StepResult {
    match claims.nonce {
        Some(n) if nonce::accepts(policy, n, now) => Ok(()),
        _ => Err(Rejection::UseDpopNonce),
    }
}

#[cfg(test)]
mod tests;
