//! `jargate explain`: the rules that belong to one kind of token, after the common ones: a
//! client assertion's `iss`/`sub`/`jti` (RFC 7523 §3) and a request object's claims
//! (RFC 9101 §4–6), in the order of `rules::assertion` and `rules::request_object`.

use super::steps::{Out, Subject};
use crate::reject::TokenFault;
use crate::rules::claims::string_claim;
use serde_json::{Map, Value};

/// A string claim no longer than `max`: its value, or a fail line and `None`.
fn string(
    claims: &Map<String, Value>,
    name: &'static str,
    max: usize,
    out: &mut Out,
) -> Result<Option<String>, ()> {
    match string_claim(claims, name, max) {
        Ok(v) => Ok(v.map(str::to_owned)),
        Err(f @ TokenFault::ClaimTooLong(_)) => {
            let len = claims
                .get(name)
                .and_then(Value::as_str)
                .map_or(0, |s| s.chars().count());
            out.fail(
                name,
                f,
                format!("{len} characters; at most {max} (limits.max_claim_chars)"),
            );
            Err(())
        }
        Err(f) => {
            let got = claims.get(name).map(Value::to_string).unwrap_or_default();
            out.fail(name, f, format!("{name} must be a string; got {got}"));
            Err(())
        }
    }
}

fn client_id<'a>(s: &'a Subject) -> &'a str {
    s.client.map_or("", |c| c.id.as_str())
}

pub(super) fn assertion(s: &Subject, claims: &Map<String, Value>, out: &mut Out) {
    let max = s.settings.limits.max_claim_chars;
    let id = client_id(s);
    let present = |name: &'static str, out: &mut Out| match string(claims, name, max, out) {
        Ok(Some(v)) => {
            out.pass(name, format!("{v:?}"));
            Some(v)
        }
        Ok(None) => {
            out.fail(
                name,
                TokenFault::MissingClaim(name),
                format!("absent; {name} must be the client_id {id:?}"),
            );
            None
        }
        Err(()) => None,
    };
    let iss = present("iss", out);
    let sub = present("sub", out);
    if let (Some(iss), Some(sub)) = (&iss, &sub) {
        if iss != sub {
            out.fail(
                "iss = sub",
                TokenFault::IssSubDiffer,
                format!("iss {iss:?} and sub {sub:?} must both be the client_id {id:?}"),
            );
        } else {
            out.pass("iss = sub", "equal");
        }
    }
    if let Some(sub) = &sub {
        if sub != id {
            out.fail(
                "sub = client",
                TokenFault::NotThisClient("sub"),
                format!("sub must be the client_id {id:?}; got {sub:?}"),
            );
        } else {
            out.pass("sub = client", format!("sub is the client_id {id:?}"));
        }
    }
    match string(claims, "jti", max, out) {
        Ok(Some(jti)) => out.pass("jti", format!("{jti:?}")),
        Ok(None) => out.fail(
            "jti",
            TokenFault::MissingClaim("jti"),
            format!(
                "absent; jti is required: a value unique to each assertion (at most {max} \
                 characters, e.g. 128 random bits in base64url)"
            ),
        ),
        Err(()) => {}
    }
    out.info(
        "single use",
        "not checked offline: the proxy refuses a jti already used by this client until \
         exp + skew (\"jti already used\"); send a fresh jti with every request",
    );
}

pub(super) fn request(s: &Subject, claims: &Map<String, Value>, out: &mut Out) {
    let max = s.settings.limits.max_claim_chars;
    let id = client_id(s);
    match string(claims, "client_id", usize::MAX, out) {
        Ok(Some(c)) if c != id => out.fail(
            "client_id",
            TokenFault::NotThisClient("client_id"),
            format!("client_id must be {id:?} (the client_id request parameter); got {c:?}"),
        ),
        Ok(Some(c)) => out.pass("client_id", format!("{c:?}")),
        Ok(None) => out.fail(
            "client_id",
            TokenFault::MissingClaim("client_id"),
            format!("absent; the object must carry client_id {id:?}"),
        ),
        Err(()) => {}
    }
    match string(claims, "iss", max, out) {
        Ok(Some(iss)) if iss != id => out.fail(
            "iss",
            TokenFault::NotThisClient("iss"),
            format!("iss, when present, must be the client_id {id:?}; got {iss:?}"),
        ),
        Ok(Some(iss)) => out.pass("iss", format!("{iss:?}")),
        Ok(None) => out.info("iss", "absent (optional)"),
        Err(()) => {}
    }
    for name in ["request", "request_uri"] {
        if claims.contains_key(name) {
            out.fail(
                name,
                TokenFault::ForbiddenClaim(name),
                format!("a request object must not contain {name}"),
            );
        }
    }
    match claims.get("response_type") {
        Some(rt) => out.pass("response_type", rt.to_string()),
        None => out.fail(
            "response_type",
            TokenFault::MissingClaim("response_type"),
            "absent; the authorization parameters (response_type, redirect_uri, scope, ...) \
             belong inside the object",
        ),
    }
    if claims.get("sub").and_then(Value::as_str) == Some(id) {
        out.fail(
            "sub",
            TokenFault::SubIsClient,
            format!("sub must not be the client_id {id:?}: the object could pass for a client assertion"),
        );
    }
    match string(claims, "jti", max, out) {
        Ok(Some(jti)) => out.pass("jti", format!("{jti:?}")),
        Ok(None) => out.info("jti", "absent (optional)"),
        Err(()) => {}
    }
    out.info(
        "single use",
        "not checked offline: a jti, when present, is single use at the proxy",
    );
    out.info(
        "parameters",
        format!(
            "at /authorize the client_id request parameter must be {id:?} too; parameters \
             outside the object follow jar.outside_parameters"
        ),
    );
}
