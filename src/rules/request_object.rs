//! Request objects (RFC 9101 §4–6, FAPI 2.0, SPEC §5): the claim stage and the typed result.

use super::check::{Check, ClaimCheck, Claims, Outcome, Subject};
use super::claims::{exp_secs, string_claim, typ_is};
use super::{first_failure, TokenKind};
use crate::config::{Client, RequestObjectPolicy};
use crate::jose::Jws;
use crate::keys::CredentialSet;
use crate::reject::TokenFault;
use serde_json::{Map, Value};

/// A request object that passed every stateless rule; its `jti`, if any, is still to be
/// recorded.
#[derive(Debug, Clone)]
pub struct RequestObject<'j> {
    pub claims: &'j Map<String, Value>,
    pub jti: Option<&'j str>,
    /// Whole seconds; `None` only when `jar.require_exp = false`.
    pub exp: Option<i64>,
}

/// The claim stage of a request object after the time and audience rules both kinds share
/// ([`super::claims::TIME_AND_AUDIENCE`]), in SPEC §5 order.
pub(super) const CLAIM_CHECKS: &[(Check, ClaimCheck)] = &[
    (Check::Typ, typ),
    (Check::ClientId, client_id),
    (Check::IssIsClient, iss_is_client),
    (Check::NoRequest, |_, c| forbidden(c, "request")),
    (Check::NoRequestUri, |_, c| forbidden(c, "request_uri")),
    (Check::ResponseType, response_type),
    (Check::SubNotClient, sub_not_client),
    (Check::OptionalJti, optional_jti),
];

/// `typ`, when present: `JWT` or `oauth-authz-req+jwt`; with `jar.require_typ`, present and
/// `oauth-authz-req+jwt`.
fn typ(s: &Subject, _: &Claims) -> Outcome<'static> {
    let require = s.policy.require_typ;
    match s.jws.typ() {
        Err(fault) => Outcome::Fail(fault),
        Ok(None) if require => Outcome::Fail(TokenFault::TypNotAllowed),
        Ok(Some(t)) if require && !typ_is(t, TokenKind::RequestObject.typ()) => {
            Outcome::Fail(TokenFault::TypNotAllowed)
        }
        Ok(Some(t)) if !(typ_is(t, "JWT") || typ_is(t, TokenKind::RequestObject.typ())) => {
            Outcome::Fail(TokenFault::TypNotAllowed)
        }
        Ok(_) => Outcome::Pass,
    }
}

fn client_id(s: &Subject, c: &Claims) -> Outcome<'static> {
    match string_claim(c, "client_id", usize::MAX) {
        Ok(Some(id)) if id != s.client_id => Outcome::Fail(TokenFault::NotThisClient("client_id")),
        Ok(Some(_)) => Outcome::Pass,
        Ok(None) => Outcome::Fail(TokenFault::MissingClaim("client_id")),
        Err(fault) => Outcome::Fail(fault),
    }
}

/// `iss`, when present, is the client too.
fn iss_is_client(s: &Subject, c: &Claims) -> Outcome<'static> {
    match string_claim(c, "iss", s.policy.max_claim_chars) {
        Ok(Some(iss)) if iss != s.client_id => Outcome::Fail(TokenFault::NotThisClient("iss")),
        Ok(_) => Outcome::Pass,
        Err(fault) => Outcome::Fail(fault),
    }
}

fn forbidden(c: &Claims, name: &'static str) -> Outcome<'static> {
    match c.contains_key(name) {
        true => Outcome::Fail(TokenFault::ForbiddenClaim(name)),
        false => Outcome::Pass,
    }
}

fn response_type(_: &Subject, c: &Claims) -> Outcome<'static> {
    match c.contains_key("response_type") {
        true => Outcome::Pass,
        false => Outcome::Fail(TokenFault::MissingClaim("response_type")),
    }
}

/// A request object whose sub is the client could be replayed as a client assertion.
fn sub_not_client(s: &Subject, c: &Claims) -> Outcome<'static> {
    match c.get("sub").and_then(Value::as_str) == Some(s.client_id) {
        true => Outcome::Fail(TokenFault::SubIsClient),
        false => Outcome::Pass,
    }
}

fn optional_jti(s: &Subject, c: &Claims) -> Outcome<'static> {
    string_claim(c, "jti", s.policy.max_claim_chars)
        .map(|_| ())
        .into()
}

/// Checks `jws` as a request object of `client`, with its registered keys only.
pub fn check_request_object<'j>(
    jws: &'j Jws<'j>,
    policy: &RequestObjectPolicy,
    client: &Client,
    now: i64,
) -> Result<RequestObject<'j>, TokenFault> {
    check_request_object_with(jws, policy, client, &[], now)
}

/// Checks `jws` as a request object of `client` in SPEC §5 order, stopping at the first
/// failure; the keys of the client's remote JWK Sets (`remote`) are tried after its own.
pub fn check_request_object_with<'j>(
    jws: &'j Jws<'j>,
    policy: &RequestObjectPolicy,
    client: &Client,
    remote: &[&CredentialSet],
    now: i64,
) -> Result<RequestObject<'j>, TokenFault> {
    let policy = &policy.0;
    let claims = first_failure(jws, TokenKind::RequestObject, policy, client, remote, now)?;
    Ok(RequestObject {
        jti: string_claim(claims, "jti", policy.max_claim_chars)?,
        exp: exp_secs(claims),
        claims,
    })
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
    ) -> Result<(), TokenFault> {
        let token = sign(&signer("ed-a", Alg::EdDSA), header, claims);
        let policies = policies(extra);
        check_request_object(&Jws::read(&token), &policies.request_object, &client(), NOW)
            .map(|_| ())
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
        let policies = policies("");
        let result =
            check_request_object(&Jws::read(&token), &policies.request_object, &client(), NOW)
                .map(|_| ());
        assert_eq!(result.unwrap_err(), TokenFault::AlgNotAllowed);
    }
}
