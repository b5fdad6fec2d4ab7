//! Client assertions (RFC 7523 §3, Auth0's private_key_jwt limits, SPEC §5).

use super::claims::{
    check_audience, check_times, string_claim, typ_is, AudiencePolicy, TimePolicy,
};
use super::{verified, Checked};
use crate::config::{Client, Settings};
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
    let (jws, claims) = verified(
        token,
        limits.max_assertion_bytes,
        limits.max_alg_chars,
        &client.auth_keys,
        remote,
        now,
    )?;
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
    if let Some(typ) = jws.typ()? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Alg;
    use crate::rules::testing::*;
    use serde_json::json;

    fn claims() -> serde_json::Value {
        json!({"iss": "app", "sub": "app", "aud": ISSUER, "jti": "j1", "iat": NOW, "exp": NOW + 60})
    }

    fn check(token: &str, extra: &str) -> Result<Checked, TokenFault> {
        check_assertion(token, &client(), &settings(extra), NOW)
    }

    #[test]
    fn a_valid_assertion_yields_its_jti_and_expiry() {
        let token = sign(&signer("ec-a", Alg::ES256), json!({}), claims());
        let checked = check(&token, "").unwrap();
        assert_eq!(checked.jti.as_deref(), Some("j1"));
        assert_eq!(checked.exp, Some(NOW + 60));
    }

    #[test]
    fn the_request_object_key_never_verifies_an_assertion() {
        let token = sign(&signer("ed-a", Alg::EdDSA), json!({}), claims());
        assert_eq!(check(&token, "").unwrap_err(), TokenFault::AlgNotAllowed);
    }

    #[test]
    fn each_assertion_claim_rule_is_enforced() {
        let key = signer("ec-a", Alg::ES256);
        let cases = [
            (json!({"iss": "other"}), TokenFault::IssSubDiffer),
            (
                json!({"iss": "b", "sub": "b"}),
                TokenFault::NotThisClient("sub"),
            ),
            (json!({"jti": null}), TokenFault::ClaimNotString("jti")),
            (
                json!({"jti": "x".repeat(65)}),
                TokenFault::ClaimTooLong("jti"),
            ),
            (
                json!({"aud": "https://evil/"}),
                TokenFault::AudienceMismatch,
            ),
            (json!({"exp": NOW + 400}), TokenFault::LifetimeTooLong),
        ];
        for (patch, fault) in cases {
            let mut c = claims();
            for (k, v) in patch.as_object().unwrap() {
                c[k] = v.clone();
            }
            let token = sign(&key, json!({}), c);
            assert_eq!(check(&token, "").unwrap_err(), fault);
        }
        let mut no_jti = claims();
        no_jti.as_object_mut().unwrap().remove("jti");
        let token = sign(&key, json!({}), no_jti);
        assert_eq!(
            check(&token, "").unwrap_err(),
            TokenFault::MissingClaim("jti")
        );
    }

    #[test]
    fn typ_must_not_cross_and_strict_audience_wants_one_string() {
        let key = signer("ec-a", Alg::ES256);
        for typ in [json!("oauth-authz-req+jwt"), json!(7)] {
            let token = sign(&key, json!({ "typ": typ }), claims());
            assert_eq!(check(&token, "").unwrap_err(), TokenFault::TypNotAllowed);
        }
        let mut array = claims();
        array["aud"] = json!([ISSUER]);
        let token = sign(&key, json!({}), array);
        assert!(check(&token, "").is_ok());
        let strict = "[issuer]\nstrict_audience = true\n";
        assert_eq!(
            check(&token, strict).unwrap_err(),
            TokenFault::AudienceNotStrict
        );
    }
}
