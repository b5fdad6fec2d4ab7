//! Client assertions (RFC 7523 §3, Auth0's private_key_jwt limits, SPEC §5).

use super::claims::{
    check_audience, check_times, string_claim, typ_is, AudiencePolicy, TimePolicy,
};
use super::Checked;
use crate::config::{Client, Settings};
use crate::jose::{Jws, ShapeLimits};
use crate::keys::CredentialSet;
use crate::reject::TokenFault;

/// Checks `token` as a client assertion of `client`, in SPEC §5 order.
pub fn check_assertion(
    token: &str,
    client: &Client,
    settings: &Settings,
    now: i64,
) -> Result<Checked, TokenFault> {
    check_assertion_with(token, client, &[], settings, now)
}

/// Like [`check_assertion`], also trying the keys of the client's remote JWK Sets.
pub fn check_assertion_with(
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
            max_bytes: limits.max_assertion_bytes,
            max_alg_chars: limits.max_alg_chars,
        },
    )?;
    if remote.is_empty() {
        jws.verify(&[&client.auth_keys], now)?;
    } else {
        let mut sets = vec![&client.auth_keys];
        sets.extend_from_slice(remote);
        jws.verify(&sets, now)?;
    }
    let claims = jws.claims()?;
    let exp = check_times(
        &claims,
        TimePolicy {
            now,
            skew: limits.clock_skew_secs,
            max_lifetime: limits.assertion_max_lifetime_secs,
            require_exp: true,
            require_nbf: false,
        },
    )?;
    check_audience(
        &claims,
        AudiencePolicy {
            identifier: &settings.issuer.identifier,
            aliases: &settings.issuer.aliases,
            strict: settings.issuer.strict_audience,
        },
    )?;
    if let Some(typ) = jws.typ() {
        if !(typ_is(typ, "JWT") || typ_is(typ, "client-authentication+jwt")) {
            return Err(TokenFault::TypNotAllowed);
        }
    }
    let max = limits.max_claim_chars;
    let iss = string_claim(&claims, "iss", max)?.ok_or(TokenFault::MissingClaim("iss"))?;
    let sub = string_claim(&claims, "sub", max)?.ok_or(TokenFault::MissingClaim("sub"))?;
    if iss != sub {
        return Err(TokenFault::IssSubDiffer);
    }
    if sub != client.id {
        return Err(TokenFault::NotThisClient("sub"));
    }
    let jti = string_claim(&claims, "jti", max)?
        .ok_or(TokenFault::MissingClaim("jti"))?
        .to_owned();
    Ok(Checked {
        claims,
        jti: Some(jti),
        exp,
    })
}
