//! Request objects (RFC 9101 §4–6, FAPI 2.0, SPEC §5).

use super::claims::{
    check_audience, check_times, string_claim, typ_is, AudiencePolicy, TimePolicy,
};
use super::Checked;
use crate::config::{Client, Settings};
use crate::jose::{Jws, ShapeLimits};
use crate::keys::CredentialSet;
use crate::reject::TokenFault;

/// Checks `token` as a request object of `client`, in SPEC §5 order.
pub fn check_request_object(
    token: &str,
    client: &Client,
    settings: &Settings,
    now: i64,
) -> Result<Checked, TokenFault> {
    check_request_object_with(token, client, &[], settings, now)
}

/// Like [`check_request_object`], also trying the keys of the client's remote JWK Sets.
pub fn check_request_object_with(
    token: &str,
    client: &Client,
    remote: &[&CredentialSet],
    settings: &Settings,
    now: i64,
) -> Result<Checked, TokenFault> {
    let limits = &settings.limits;
    let jws = Jws::parse(
        token,
        ShapeLimits {
            max_bytes: limits.max_request_object_bytes,
            max_alg_chars: limits.max_alg_chars,
        },
    )?;
    if remote.is_empty() {
        jws.verify(&[&client.jar_keys], now)?;
    } else {
        let mut sets = vec![&client.jar_keys];
        sets.extend_from_slice(remote);
        jws.verify(&sets, now)?;
    }
    let claims = jws.claims()?;
    let exp = check_times(
        &claims,
        TimePolicy {
            now,
            skew: limits.clock_skew_secs,
            max_lifetime: limits.request_object_max_lifetime_secs,
            require_exp: settings.jar.require_exp,
            require_nbf: settings.jar.require_nbf,
        },
    )?;
    // `strict_audience` hardens client assertions only: the OpenID conformance suite requires
    // a request object with `aud = [issuer, other]` to be accepted.
    check_audience(
        &claims,
        AudiencePolicy {
            identifier: &settings.issuer.identifier,
            aliases: &settings.issuer.aliases,
            strict: false,
        },
    )?;
    match jws.typ() {
        None if settings.jar.require_typ => return Err(TokenFault::TypNotAllowed),
        Some(typ) if settings.jar.require_typ && !typ_is(typ, "oauth-authz-req+jwt") => {
            return Err(TokenFault::TypNotAllowed)
        }
        Some(typ) if !(typ_is(typ, "JWT") || typ_is(typ, "oauth-authz-req+jwt")) => {
            return Err(TokenFault::TypNotAllowed)
        }
        _ => {}
    }
    let client_id = string_claim(&claims, "client_id", usize::MAX)?
        .ok_or(TokenFault::MissingClaim("client_id"))?;
    if client_id != client.id {
        return Err(TokenFault::NotThisClient("client_id"));
    }
    if let Some(iss) = string_claim(&claims, "iss", limits.max_claim_chars)? {
        if iss != client.id {
            return Err(TokenFault::NotThisClient("iss"));
        }
    }
    for forbidden in ["request", "request_uri"] {
        if claims.contains_key(forbidden) {
            return Err(TokenFault::ForbiddenClaim(forbidden));
        }
    }
    if !claims.contains_key("response_type") {
        return Err(TokenFault::MissingClaim("response_type"));
    }
    // A request object whose sub is the client could be replayed as a client assertion.
    if claims.get("sub").and_then(|s| s.as_str()) == Some(client.id.as_str()) {
        return Err(TokenFault::SubIsClient);
    }
    let jti = string_claim(&claims, "jti", limits.max_claim_chars)?.map(str::to_owned);
    Ok(Checked { claims, jti, exp })
}
