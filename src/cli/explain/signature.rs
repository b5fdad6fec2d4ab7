//! `jargate explain`, SPEC §5 steps 2 and 3 against the client's credentials: `alg` registered
//! for this use, `kid`, and the signature, in the order of `jose::Jws::verify`; after a failure,
//! hints when another of the client's keys (the other use, or an expired one) does verify it.

use super::steps::{Out, Parts, Subject};
use crate::cli::rfc3339;
use crate::cli::sign::Kind;
use crate::config::Client;
use crate::keys::{Alg, Credential};
use crate::reject::TokenFault;
use serde_json::Value;

fn names(creds: &[&Credential]) -> String {
    if creds.is_empty() {
        return "none".into();
    }
    creds
        .iter()
        .map(|c| format!("{:?} (kid {}, {})", c.name, c.kid, c.alg))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SPEC §5 step 2 (alg and kid against the credentials) and step 3 (signature), in the order
/// of `Jws::verify`.
pub(super) fn check(s: &Subject, jws: &Parts, out: &mut Out) {
    let Some(client) = s.client else {
        out.skip(
            "signature",
            "not checked: no registered client to take keys from",
        );
        return;
    };
    let (set, use_) = s.keys_of(client, true);
    let current: Vec<&Credential> = set.current(s.now).collect();
    let Some(alg_name) = jws.header.get("alg").and_then(Value::as_str) else {
        out.skip("signature", "not checked: no alg");
        return;
    };
    let uris = match s.kind {
        Kind::Assertion => &client.auth_jwks_uris,
        Kind::Request => &client.jar_jwks_uris,
    };
    let verified = (|| {
        let Some(alg) = Alg::parse(alg_name) else {
            out.fail(
                "alg allowed",
                TokenFault::AlgNotAllowed,
                format!(
                    "{alg_name:?} is never accepted (none and HS* are not signature algorithms \
                     here); registered for {use_} of {:?}: {}",
                    client.id,
                    names(&current)
                ),
            );
            return None;
        };
        if current.is_empty() {
            let expired = set.all().len();
            let mut text = format!(
                "{:?} has no current credential for {use_} ({expired} registered, all expired)",
                client.id
            );
            if expired == 0 {
                text = format!("{:?} has no credential registered for {use_}", client.id);
            }
            if !uris.is_empty() {
                text += &format!("; jwks_uri keys are not used offline ({})", uris.join(", "));
            }
            out.fail("alg allowed", TokenFault::NoCredential, text);
            return None;
        }
        if !current.iter().any(|c| c.alg == alg) {
            out.fail(
                "alg allowed",
                TokenFault::AlgNotAllowed,
                format!(
                    "{alg} is not registered for {use_} of {:?}; registered: {}",
                    client.id,
                    names(&current)
                ),
            );
            return None;
        }
        out.pass(
            "alg allowed",
            format!("{alg} is registered for {use_} of {:?}", client.id),
        );
        let kid = match jws.header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(other) => {
                out.fail(
                    "kid",
                    TokenFault::UnknownKid,
                    format!("kid must be a string; got {other}"),
                );
                return None;
            }
        };
        match kid {
            Some(k) if !current.iter().any(|c| c.kid == k) => {
                out.fail(
                    "kid",
                    TokenFault::UnknownKid,
                    format!(
                        "{k:?} names no current credential for {use_} of {:?}; current: {}",
                        client.id,
                        names(&current)
                    ),
                );
                return None;
            }
            Some(k) => out.pass("kid", format!("{k:?} names a current credential")),
            None => out.pass(
                "kid",
                format!("absent: every current {alg} credential is tried"),
            ),
        }
        let candidates: Vec<&Credential> = current
            .iter()
            .copied()
            .filter(|c| c.alg == alg && kid.is_none_or(|k| c.kid == k))
            .collect();
        if candidates.is_empty() {
            out.fail(
                "alg allowed",
                TokenFault::AlgNotAllowed,
                format!(
                    "the credential kid {:?} names is not registered for {alg}; current: {}",
                    kid.unwrap_or_default(),
                    names(&current)
                ),
            );
            return None;
        }
        match candidates
            .iter()
            .find(|c| c.key.verify(alg, &jws.signing_input, &jws.signature))
        {
            Some(c) => {
                out.pass(
                    "signature",
                    format!(
                        "verifies with credential {:?} (kid {}, {alg})",
                        c.name, c.kid
                    ),
                );
                Some(())
            }
            None => {
                out.fail(
                    "signature",
                    TokenFault::BadSignature,
                    format!(
                        "does not verify with {}: signed with another key, or the token was \
                         altered after signing",
                        names(&candidates)
                    ),
                );
                None
            }
        }
    })();
    if verified.is_none() {
        if !out.lines.iter().any(|l| l.check == "signature") {
            out.skip("signature", "not checked: no credential to try (see above)");
        }
        signature_hints(s, client, jws, alg_name, out);
    }
    for uri in uris {
        out.info(
            "jwks_uri",
            format!("{uri} is not fetched by explain; the proxy also tries the keys it serves"),
        );
    }
}

/// After a failed signature step: does another of the client's keys verify it?
fn signature_hints(s: &Subject, client: &Client, jws: &Parts, alg_name: &str, out: &mut Out) {
    let Some(alg) = Alg::parse(alg_name) else {
        return;
    };
    let verifies =
        |c: &Credential| c.key.fits(alg) && c.key.verify(alg, &jws.signing_input, &jws.signature);
    let (other, other_use) = s.keys_of(client, false);
    if let Some(c) = other.current(s.now).find(|c| verifies(c)) {
        out.info(
            "hint",
            format!(
                "the signature verifies with {:?}, a credential for {other_use}: keys never \
                 cross uses; sign a {} with a key registered for it",
                c.name,
                s.what()
            ),
        );
    }
    let (own, _) = s.keys_of(client, true);
    if let Some(c) = own
        .all()
        .iter()
        .find(|c| !c.is_current(s.now) && verifies(c))
    {
        out.info(
            "hint",
            format!(
                "the signature verifies with {:?}, which expired at {}",
                c.name,
                c.expires_at.map_or_else(String::new, rfc3339)
            ),
        );
    }
}
