//! Client assertions (RFC 7523 §3, Auth0's private_key_jwt limits, SPEC §5): the claim stage
//! and the typed result.

use super::check::{Check, ClaimCheck, Claims, Outcome, Subject};
use super::claims::{exp_secs, required, string_claim, typ_is};
use super::{first_failure, TokenKind};
use crate::config::{AssertionPolicy, Client};
use crate::jose::Jws;
use crate::keys::CredentialSet;
use crate::reject::TokenFault;

/// A client assertion that passed every stateless rule; its `jti` is still to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAssertion<'j> {
    pub jti: &'j str,
    /// Whole seconds.
    pub exp: i64,
}

/// The claim stage of a client assertion after the time and audience rules both kinds share
/// ([`super::claims::TIME_AND_AUDIENCE`]), in SPEC §5 order.
pub(super) const CLAIM_CHECKS: &[(Check, ClaimCheck)] = &[
    (Check::Typ, typ),
    (Check::Iss, |s, c| required(s, c, "iss")),
    (Check::Sub, |s, c| required(s, c, "sub")),
    (Check::IssIsSub, iss_is_sub),
    (Check::SubIsClient, sub_is_client),
    (Check::Jti, |s, c| required(s, c, "jti")),
];

/// `typ`, when present: `JWT` or `client-authentication+jwt`.
fn typ(s: &Subject, _: &Claims) -> Outcome<'static> {
    match s.jws.typ() {
        Ok(Some(t)) if !(typ_is(t, "JWT") || typ_is(t, TokenKind::Assertion.typ())) => {
            Outcome::Fail(TokenFault::TypNotAllowed)
        }
        Ok(_) => Outcome::Pass,
        Err(fault) => Outcome::Fail(fault),
    }
}

fn iss_is_sub(s: &Subject, c: &Claims) -> Outcome<'static> {
    let max = s.policy.max_claim_chars;
    match (string_claim(c, "iss", max), string_claim(c, "sub", max)) {
        (Ok(Some(iss)), Ok(Some(sub))) if iss != sub => Outcome::Fail(TokenFault::IssSubDiffer),
        (Ok(Some(_)), Ok(Some(_))) => Outcome::Pass,
        _ => Outcome::Skip,
    }
}

fn sub_is_client(s: &Subject, c: &Claims) -> Outcome<'static> {
    match string_claim(c, "sub", s.policy.max_claim_chars) {
        Ok(Some(sub)) if sub != s.client_id => Outcome::Fail(TokenFault::NotThisClient("sub")),
        Ok(Some(_)) => Outcome::Pass,
        _ => Outcome::Skip,
    }
}

/// Checks `jws` as a client assertion of `client`, with its registered keys only.
pub fn check_assertion<'j>(
    jws: &'j Jws<'j>,
    policy: &AssertionPolicy,
    client: &Client,
    now: i64,
) -> Result<ClientAssertion<'j>, TokenFault> {
    check_assertion_with(jws, policy, client, &[], now)
}

/// Checks `jws` as a client assertion of `client` in SPEC §5 order, stopping at the first
/// failure; the keys of the client's remote JWK Sets (`remote`) are tried after its own.
pub fn check_assertion_with<'j>(
    jws: &'j Jws<'j>,
    policy: &AssertionPolicy,
    client: &Client,
    remote: &[&CredentialSet],
    now: i64,
) -> Result<ClientAssertion<'j>, TokenFault> {
    let policy = &policy.0;
    let claims = first_failure(jws, TokenKind::Assertion, policy, client, remote, now)?;
    let jti = string_claim(claims, "jti", policy.max_claim_chars)?;
    Ok(ClientAssertion {
        jti: jti.ok_or(TokenFault::MissingClaim("jti"))?,
        exp: exp_secs(claims).ok_or(TokenFault::MissingExp)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Alg;
    use crate::reject::Seconds;
    use crate::rules::testing::*;
    use serde_json::json;

    fn claims() -> serde_json::Value {
        json!({"iss": "app", "sub": "app", "aud": ISSUER, "jti": "j1", "iat": NOW, "exp": NOW + 60})
    }

    fn check(token: &str, extra: &str) -> Result<(String, i64), TokenFault> {
        let policies = policies(extra);
        let jws = Jws::read(token);
        let checked = check_assertion(&jws, &policies.assertion, &client(), NOW)?;
        Ok((checked.jti.to_owned(), checked.exp))
    }

    #[test]
    fn a_valid_assertion_yields_its_jti_and_expiry() {
        let token = sign(&signer("ec-a", Alg::ES256), json!({}), claims());
        let checked = check(&token, "").unwrap();
        assert_eq!(checked, ("j1".to_owned(), NOW + 60));
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
                TokenFault::ClaimTooLong {
                    claim: "jti",
                    chars: 65,
                    max: 64,
                },
            ),
            (
                json!({"aud": "https://evil/"}),
                TokenFault::AudienceMismatch {
                    expected: ISSUER.into(),
                    actual: r#""https://evil/""#.into(),
                },
            ),
            (
                json!({"exp": NOW + 400}),
                TokenFault::LifetimeTooLong {
                    lifetime: Seconds(400.0),
                    from: "iat",
                    max: 300,
                    skew: 10,
                },
            ),
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
        assert_eq!(check(&token, strict).unwrap_err().rule(), "aud_not_strict");
    }

    #[test]
    fn run_reports_every_failure_and_the_proxy_answers_with_the_first() {
        use crate::rules::{run, Check, Outcome, Subject};
        let mut c = claims();
        c["aud"] = json!("https://evil/");
        c["iss"] = json!("other");
        c.as_object_mut().unwrap().remove("jti");
        let token = sign(
            &signer("ec-a", Alg::ES256),
            json!({"typ": "oauth-authz-req+jwt"}),
            c,
        );
        let (jws, policies, client) = (Jws::read(&token), policies(""), client());
        let sets = [&client.auth_keys];
        let subject = Subject {
            jws: &jws,
            kind: TokenKind::Assertion,
            policy: &policies.assertion.0,
            client_id: "app",
            keys: Some(&sets),
            now: NOW,
        };
        let mut failed = Vec::new();
        run(&subject, &mut |check, outcome| {
            if let Outcome::Fail(fault) = outcome {
                failed.push((check, fault.rule()));
            }
            std::ops::ControlFlow::Continue(())
        });
        assert_eq!(
            failed,
            [
                (Check::Aud, "aud_mismatch"),
                (Check::Typ, "typ_not_allowed"),
                (Check::IssIsSub, "iss_sub_differ"),
                (Check::Jti, "missing_claim"),
            ]
        );
        let answer = check_assertion(&jws, &policies.assertion, &client, NOW);
        assert_eq!(answer.unwrap_err().rule(), "aud_mismatch");
    }
}
