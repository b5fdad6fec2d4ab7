//! Request objects (RFC 9101 §4–6, FAPI 2.0, SPEC §5).

use super::claims::{
    check_audience, check_times, string_claim, typ_is, AudiencePolicy, TimePolicy,
};
use super::{verified, Checked};
use crate::config::{Client, Settings};
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
    let (jws, claims) = verified(
        token,
        limits.max_request_object_bytes,
        limits.max_alg_chars,
        &client.jar_keys,
        remote,
        now,
    )?;
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
    match jws.typ()? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Alg;
    use crate::rules::testing::*;
    use serde_json::json;

    fn claims() -> serde_json::Value {
        json!({"iss": "app", "client_id": "app", "aud": ISSUER, "response_type": "code",
               "scope": "openid", "iat": NOW, "exp": NOW + 300})
    }

    fn check(
        claims: serde_json::Value,
        header: serde_json::Value,
        extra: &str,
    ) -> Result<Checked, TokenFault> {
        let token = sign(&signer("ed-a", Alg::EdDSA), header, claims);
        check_request_object(&token, &client(), &settings(extra), NOW)
    }

    fn with(patch: serde_json::Value) -> serde_json::Value {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    #[test]
    fn each_request_object_rule_is_enforced() {
        assert!(check(claims(), json!({"typ": "oauth-authz-req+jwt"}), "").is_ok());
        let cases = [
            (
                json!({"client_id": null}),
                TokenFault::MissingClaim("client_id"),
            ),
            (
                json!({"client_id": "b"}),
                TokenFault::NotThisClient("client_id"),
            ),
            (json!({"iss": "b"}), TokenFault::NotThisClient("iss")),
            (
                json!({"request": "x"}),
                TokenFault::ForbiddenClaim("request"),
            ),
            (
                json!({"request_uri": "x"}),
                TokenFault::ForbiddenClaim("request_uri"),
            ),
            (
                json!({"response_type": null}),
                TokenFault::MissingClaim("response_type"),
            ),
            (json!({"sub": "app"}), TokenFault::SubIsClient),
            (json!({"exp": null}), TokenFault::MissingExp),
        ];
        for (patch, fault) in cases {
            let result = check(with(patch.clone()), json!({}), "");
            assert_eq!(result.unwrap_err(), fault, "{patch}");
        }
        // Never strict for request objects: the conformance suite sends [issuer, other, junk].
        let aud = with(json!({"aud": [ISSUER, "https://other/", "invalid"]}));
        assert!(check(aud, json!({}), "[issuer]\nstrict_audience = true\n").is_ok());
    }

    #[test]
    fn jar_settings_change_what_is_required() {
        let no_exp = with(json!({"exp": null}));
        assert!(check(no_exp, json!({}), "[jar]\nrequire_exp = false\n").is_ok());
        assert_eq!(
            check(claims(), json!({}), "[jar]\nrequire_nbf = true\n").unwrap_err(),
            TokenFault::MissingNbf
        );
        assert_eq!(
            check(
                claims(),
                json!({"typ": "JWT"}),
                "[jar]\nrequire_typ = true\n"
            )
            .unwrap_err(),
            TokenFault::TypNotAllowed
        );
        assert_eq!(
            check(claims(), json!({"typ": "client-authentication+jwt"}), "").unwrap_err(),
            TokenFault::TypNotAllowed
        );
    }

    #[test]
    fn the_assertion_key_never_verifies_a_request_object() {
        let token = sign(&signer("ec-a", Alg::ES256), json!({}), claims());
        let result = check_request_object(&token, &client(), &settings(""), NOW);
        assert_eq!(result.unwrap_err(), TokenFault::AlgNotAllowed);
    }
}
