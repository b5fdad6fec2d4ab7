//! The compliance-level rules of SPEC §9 that are not token rules: the authorization-request
//! parameters at PAR (PKCE, `response_type`, `response_mode`, `redirect_uri` against the
//! client's `callbacks`), the level's client-authentication method, sender-constraining,
//! password grants, the age of a pushed request, and access tokens at userinfo. Plain
//! functions over typed input: the decision (`gate`) calls them in SPEC §5's order.
//!
//! The token rules a level tightens (algorithms, strict `aud`, `nbf`/`exp` windows) are the §5
//! rules run with the level's policy (`config::policy::LevelPolicies`), not copies of them.

use crate::config::compliance::{LevelAuth, SenderConstraint};
use crate::config::{Callbacks, Level};
use crate::reject::ComplianceFault;
use crate::request::{AuthMethod, Params};
use serde_json::{Map, Value};

/// FAPI 2.0 §5.3.2.2 item 13: a pushed request is redeemed within 600 s, so one older than
/// 599 s is refused even when the upstream would still accept it.
pub const MAX_REQUEST_URI_AGE_SECS: i64 = 599;

/// Where the authorization-request parameters are read: the request object's claims when the
/// request carries one, the request's parameters otherwise.
#[derive(Debug, Clone, Copy)]
pub enum AuthzSource<'a> {
    Claims(&'a Map<String, Value>),
    Params(&'a Params),
}

/// One authorization-request parameter as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found<'a> {
    Absent,
    Text(&'a str),
    /// A claim that is not a string: refused by whichever rule reads it.
    NotText,
}

impl<'a> AuthzSource<'a> {
    fn get(self, name: &str) -> Found<'a> {
        match self {
            AuthzSource::Params(p) => p.get(name).map_or(Found::Absent, Found::Text),
            AuthzSource::Claims(c) => match c.get(name) {
                None | Some(Value::Null) => Found::Absent,
                Some(Value::String(s)) => Found::Text(s),
                Some(_) => Found::NotText,
            },
        }
    }
}

/// The authorization-request rules at PAR, in the order of SPEC §9's table; the first failure
/// decides.
pub fn authorization_request(
    level: Level,
    callbacks: &Callbacks,
    src: AuthzSource<'_>,
) -> Result<(), ComplianceFault> {
    if !level.is_set() {
        return Ok(());
    }
    pkce(src)?;
    response_type(level, src)?;
    if level.is_fapi2() {
        response_mode(src)?;
    }
    redirect_uri(level, callbacks, src)
}

/// PKCE (RFC 7636) with S256: `code_challenge` of 43–128 unreserved characters.
fn pkce(src: AuthzSource<'_>) -> Result<(), ComplianceFault> {
    let challenge = match src.get("code_challenge") {
        Found::Absent => return Err(ComplianceFault::PkceMissing),
        Found::NotText => return Err(ComplianceFault::PkceChallenge),
        Found::Text(c) => c,
    };
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if !(43..=128).contains(&challenge.len()) || !challenge.bytes().all(unreserved) {
        return Err(ComplianceFault::PkceChallenge);
    }
    match src.get("code_challenge_method") {
        Found::Text("S256") => Ok(()),
        _ => Err(ComplianceFault::PkceMethod),
    }
}

/// fapi2: `code` only. fapi1: `code id_token`, or `code` with JARM (`jwt`, `query.jwt`).
/// `response_type` is a set of space-separated values (RFC 6749 §3.1.1): order is ignored.
fn response_type(level: Level, src: AuthzSource<'_>) -> Result<(), ComplianceFault> {
    let Found::Text(value) = src.get("response_type") else {
        return Err(ComplianceFault::ResponseType);
    };
    let mut values: Vec<&str> = value.split(' ').collect();
    values.sort_unstable();
    let ok = match values.as_slice() {
        ["code"] if level.is_fapi2() => true,
        ["code"] => matches!(src.get("response_mode"), Found::Text("jwt" | "query.jwt")),
        ["code", "id_token"] => level.is_fapi1(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ComplianceFault::ResponseType)
    }
}

/// fapi2: the response comes in the query (plain or JARM), which can carry `iss` (§12).
fn response_mode(src: AuthzSource<'_>) -> Result<(), ComplianceFault> {
    match src.get("response_mode") {
        Found::Absent | Found::Text("query" | "jwt" | "query.jwt") => Ok(()),
        _ => Err(ComplianceFault::ResponseMode),
    }
}

/// fapi2 requires `redirect_uri`; at every level one that is sent is a registered callback.
fn redirect_uri(
    level: Level,
    callbacks: &Callbacks,
    src: AuthzSource<'_>,
) -> Result<(), ComplianceFault> {
    match src.get("redirect_uri") {
        Found::Absent if level.is_fapi2() => Err(ComplianceFault::RedirectUriMissing),
        Found::Absent => Ok(()),
        Found::Text(uri) if callbacks.matches(uri) => Ok(()),
        _ => Err(ComplianceFault::RedirectUriNotRegistered),
    }
}

/// The level's client-authentication method (SPEC §9), decided after the client authenticated
/// and before sender-constraining.
pub fn client_auth_method(level: Level, used: AuthMethod) -> Result<(), ComplianceFault> {
    let ok = match level.client_auth() {
        LevelAuth::Registry => true,
        LevelAuth::PrivateKeyJwt => used == AuthMethod::PrivateKeyJwt,
        LevelAuth::Mtls => matches!(
            used,
            AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(ComplianceFault::ClientAuthMethod)
    }
}

/// Sender-constraining at the token endpoint: mtls needs a client certificate (§10), dpop a
/// valid DPoP proof (§11). The mechanisms are checked elsewhere; this rule only asks that one
/// was present.
pub fn sender_constraint(
    level: Level,
    has_client_cert: bool,
    dpop_proof_valid: bool,
) -> Result<(), ComplianceFault> {
    match level.sender_constraint() {
        SenderConstraint::None => Ok(()),
        SenderConstraint::Mtls if has_client_cert => Ok(()),
        SenderConstraint::Mtls => Err(ComplianceFault::CertificateRequired),
        SenderConstraint::Dpop if dpop_proof_valid => Ok(()),
        SenderConstraint::Dpop => Err(ComplianceFault::DpopProofRequired),
    }
}

/// The resource-owner password grants, RFC 6749's and Auth0's realm variant.
const PASSWORD_GRANTS: [&str; 2] = [
    "password",
    "http://auth0.com/oauth/grant-type/password-realm",
];

/// fapi2 refuses password grants at the token endpoint.
pub fn grant_type(level: Level, grant_type: Option<&str>) -> Result<(), ComplianceFault> {
    match grant_type {
        Some(g) if level.is_fapi2() && PASSWORD_GRANTS.contains(&g) => {
            Err(ComplianceFault::PasswordGrant)
        }
        _ => Ok(()),
    }
}

/// fapi2: a pushed request redeemed more than 599 s after it was pushed is refused.
pub fn request_uri_age(level: Level, pushed_at: i64, now: i64) -> Result<(), ComplianceFault> {
    if level.is_fapi2() && now - pushed_at > MAX_REQUEST_URI_AGE_SECS {
        Err(ComplianceFault::RequestUriTooOld)
    } else {
        Ok(())
    }
}

/// Whether a form-encoded `raw` (a query, or a body of any type read as a form) names
/// `access_token`, whatever its letter case or percent-encoding (`%61ccess_token`). Linear in
/// the input; undecodable names are compared as they decode (lossily).
pub fn names_access_token(raw: &[u8]) -> bool {
    raw.split(|b| *b == b'&').any(|pair| {
        let name = pair.split(|b| *b == b'=').next().unwrap_or_default();
        if name.len() > 3 * "access_token".len() {
            return false;
        }
        let plus: Vec<u8> = name
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        let decoded: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
        decoded.eq_ignore_ascii_case(b"access_token")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::params::Origin;
    use serde_json::json;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn params(form: &str) -> Params {
        let mut p = Params::default();
        p.add_form(form.as_bytes(), Origin::Form).expect("form");
        p
    }

    fn callbacks() -> Callbacks {
        Callbacks::new(vec![
            "https://app.example.com/cb".into(),
            "http://127.0.0.1/cb".into(),
        ])
    }

    fn fapi2(form: &str) -> Result<(), ComplianceFault> {
        let p = params(form);
        authorization_request(Level::Fapi2SpPkjDpop, &callbacks(), AuthzSource::Params(&p))
    }

    fn valid() -> String {
        format!(
            "response_type=code&code_challenge={CHALLENGE}&code_challenge_method=S256\
             &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb"
        )
    }

    #[test]
    fn a_fapi2_request_with_pkce_code_and_a_callback_passes() {
        assert_eq!(fapi2(&valid()), Ok(()));
        let loopback = valid().replace(
            "https%3A%2F%2Fapp.example.com%2Fcb",
            "http%3A%2F%2F127.0.0.1%3A4711%2Fcb",
        );
        assert_eq!(fapi2(&loopback), Ok(()));
        assert_eq!(
            fapi2(&format!("{}&response_mode=query.jwt", valid())),
            Ok(())
        );
    }

    #[test]
    fn each_authorization_request_rule_refuses_on_its_own() {
        use ComplianceFault::*;
        let cases = [
            (valid().replace("code_challenge=", "x="), PkceMissing),
            (valid().replace(CHALLENGE, "short"), PkceChallenge),
            (
                valid().replace(CHALLENGE, &format!("{}+", &CHALLENGE[1..])),
                PkceChallenge,
            ),
            (valid().replace("S256", "plain"), PkceMethod),
            (
                valid().replace("&code_challenge_method=S256", ""),
                PkceMethod,
            ),
            (
                valid().replace("response_type=code", "response_type=token"),
                ResponseType,
            ),
            (
                valid().replace("response_type=code", "response_type=code+id_token"),
                ResponseType,
            ),
            (valid().replace("response_type=code", "x=y"), ResponseType),
            (format!("{}&response_mode=fragment", valid()), ResponseMode),
            (format!("{}&response_mode=form_post", valid()), ResponseMode),
            (valid().replace("&redirect_uri=", "&x="), RedirectUriMissing),
            (
                valid().replace("cb&", "cb2&").replace("%2Fcb", "%2Fcb2"),
                RedirectUriNotRegistered,
            ),
        ];
        for (form, fault) in cases {
            assert_eq!(fapi2(&form), Err(fault), "{form}");
        }
    }

    #[test]
    fn fapi1_takes_hybrid_or_jarm_and_leaves_redirect_uri_optional() {
        let claims = |extra: Value| {
            let mut c = json!({"code_challenge": CHALLENGE, "code_challenge_method": "S256"});
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            c
        };
        let level = Level::Fapi1AdvPkjPar;
        let check = |v: Value| {
            authorization_request(
                level,
                &callbacks(),
                AuthzSource::Claims(v.as_object().unwrap()),
            )
        };
        assert_eq!(
            check(claims(json!({"response_type": "id_token code"}))),
            Ok(())
        );
        assert_eq!(
            check(claims(
                json!({"response_type": "code", "response_mode": "jwt"})
            )),
            Ok(())
        );
        assert_eq!(
            check(claims(json!({"response_type": "code"}))),
            Err(ComplianceFault::ResponseType)
        );
        assert_eq!(
            check(claims(
                json!({"response_type": "code id_token", "redirect_uri": 7})
            )),
            Err(ComplianceFault::RedirectUriNotRegistered)
        );
        assert_eq!(
            check(json!({"response_type": "code id_token", "code_challenge": 7})),
            Err(ComplianceFault::PkceChallenge)
        );
    }

    #[test]
    fn no_level_checks_nothing() {
        let p = params("response_type=token");
        let none = authorization_request(Level::None, &callbacks(), AuthzSource::Params(&p));
        assert_eq!(none, Ok(()));
        assert_eq!(client_auth_method(Level::None, AuthMethod::None), Ok(()));
        assert_eq!(sender_constraint(Level::None, false, false), Ok(()));
        assert_eq!(grant_type(Level::None, Some("password")), Ok(()));
    }

    #[test]
    fn the_level_method_and_sender_constraint_are_checked_from_plain_inputs() {
        use AuthMethod::*;
        let pkj = Level::Fapi2SpPkjMtls;
        assert_eq!(client_auth_method(pkj, PrivateKeyJwt), Ok(()));
        for other in [ClientSecretPost, ClientSecretBasic, None, TlsClientAuth] {
            assert_eq!(
                client_auth_method(pkj, other),
                Err(ComplianceFault::ClientAuthMethod)
            );
        }
        let mtls = Level::Fapi2SpMtlsDpop;
        assert_eq!(client_auth_method(mtls, SelfSignedTlsClientAuth), Ok(()));
        assert_eq!(
            client_auth_method(mtls, PrivateKeyJwt),
            Err(ComplianceFault::ClientAuthMethod)
        );
        assert_eq!(sender_constraint(pkj, true, false), Ok(()));
        assert_eq!(
            sender_constraint(pkj, false, true),
            Err(ComplianceFault::CertificateRequired)
        );
        assert_eq!(sender_constraint(mtls, false, true), Ok(()));
        assert_eq!(
            sender_constraint(mtls, true, false),
            Err(ComplianceFault::DpopProofRequired)
        );
    }

    #[test]
    fn fapi2_refuses_password_grants_and_old_request_uris() {
        let level = Level::Fapi2SpPkjDpop;
        for g in PASSWORD_GRANTS {
            assert_eq!(
                grant_type(level, Some(g)),
                Err(ComplianceFault::PasswordGrant)
            );
        }
        assert_eq!(grant_type(level, Some("authorization_code")), Ok(()));
        assert_eq!(grant_type(Level::Fapi1AdvPkjPar, Some("password")), Ok(()));
        assert_eq!(request_uri_age(level, 1000, 1599), Ok(()));
        assert_eq!(
            request_uri_age(level, 1000, 1600),
            Err(ComplianceFault::RequestUriTooOld)
        );
    }

    #[test]
    fn access_token_is_found_in_any_spelling() {
        for raw in [
            "access_token=x",
            "a=1&ACCESS_TOKEN=x",
            "%61ccess_token=x",
            "access%5Ftoken",
            "{\"a\":\"&access_token=x\"}",
        ] {
            assert!(names_access_token(raw.as_bytes()), "{raw}");
        }
        for raw in [
            "access_tokens=x",
            "token=access_token",
            "",
            "{\"access_token\":1}",
        ] {
            assert!(!names_access_token(raw.as_bytes()), "{raw}");
        }
    }
}
