//! Claim checks shared by client assertions and request objects: time claims (SPEC §5 step 5)
//! and audience (step 6), plus the readers and comparisons the kinds' own rules use. Each check
//! is a plain function over the parsed claims and the policy.

use super::check::{Check, ClaimCheck, Claims, Outcome, Subject};
use crate::reject::{Seconds, TokenFault};
use serde_json::{Map, Value};

/// The first rules of the claim stage, the same for client assertions and request objects
/// (SPEC §5): time claims, then the audience.
pub(super) const TIME_AND_AUDIENCE: &[(Check, ClaimCheck)] = &[
    (Check::TimeClaims, time_claims),
    (Check::Exp, exp_present),
    (Check::NbfRequired, nbf_required),
    (Check::NotExpired, not_expired),
    (Check::Lifetime, lifetime),
    (Check::Iat, iat),
    (Check::Nbf, nbf),
    (Check::Aud, audience),
];

/// Reads a NumericDate claim: absent is `None`; present but not a JSON number is an error.
fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, TokenFault> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(TokenFault::TimeNotNumber(name)),
        Some(_) => Err(TokenFault::TimeNotNumber(name)),
    }
}

/// `exp`, `iat` and `nbf`, or `None` when one is not a number (the time claims check fails
/// then, and the other time rules have nothing to work on).
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub exp: Option<f64>,
    pub iat: Option<f64>,
    pub nbf: Option<f64>,
}

pub fn times(claims: &Map<String, Value>) -> Option<Times> {
    Some(Times {
        exp: numeric(claims, "exp").ok()?,
        iat: numeric(claims, "iat").ok()?,
        nbf: numeric(claims, "nbf").ok()?,
    })
}

/// `exp` in whole seconds, when it is a number.
pub fn exp_secs(claims: &Map<String, Value>) -> Option<i64> {
    numeric(claims, "exp").ok()?.map(|e| e.floor() as i64)
}

/// What a lifetime is measured from: the later of `iat` and `nbf`, else now; and its name.
pub fn lifetime_start(t: &Times, now: i64) -> (f64, &'static str) {
    match (t.iat, t.nbf) {
        (Some(i), Some(n)) if n > i => (n, "nbf"),
        (Some(i), _) => (i, "iat"),
        (None, Some(n)) => (n, "nbf"),
        (None, None) => (now as f64, "now"),
    }
}

pub fn time_claims(_: &Subject, c: &Claims) -> Outcome<'static> {
    match c.times {
        Some(_) => Outcome::Pass,
        None => ["exp", "iat", "nbf"]
            .into_iter()
            .try_for_each(|name| numeric(c, name).map(|_| ()))
            .into(),
    }
}

pub fn exp_present(s: &Subject, c: &Claims) -> Outcome<'static> {
    match c.times {
        Some(Times { exp: None, .. }) if s.policy.require_exp => {
            Outcome::Fail(TokenFault::MissingExp)
        }
        Some(_) => Outcome::Pass,
        None => Outcome::Skip,
    }
}

pub fn nbf_required(s: &Subject, c: &Claims) -> Outcome<'static> {
    match c.times {
        _ if !s.policy.require_nbf => Outcome::Skip,
        Some(Times { nbf: None, .. }) => Outcome::Fail(TokenFault::MissingNbf),
        Some(_) => Outcome::Pass,
        None => Outcome::Skip,
    }
}

pub fn not_expired(s: &Subject, c: &Claims) -> Outcome<'static> {
    let Some(exp) = c.times.as_ref().and_then(|t| t.exp) else {
        return Outcome::Skip;
    };
    let (now, skew) = (s.now, s.policy.skew);
    if exp <= now as f64 - skew as f64 {
        return Outcome::Fail(TokenFault::Expired {
            exp: Seconds(exp),
            now,
            skew,
        });
    }
    Outcome::Pass
}

pub fn lifetime(s: &Subject, c: &Claims) -> Outcome<'static> {
    let Some((t, exp)) = c.times.as_ref().and_then(|t| Some((t, t.exp?))) else {
        return Outcome::Skip;
    };
    let (start, from) = lifetime_start(t, s.now);
    let (max, skew) = (s.policy.max_lifetime, s.policy.skew);
    if exp - start > max as f64 + skew as f64 {
        return Outcome::Fail(TokenFault::LifetimeTooLong {
            lifetime: Seconds(exp - start),
            from,
            max,
            skew,
        });
    }
    Outcome::Pass
}

pub fn iat(s: &Subject, c: &Claims) -> Outcome<'static> {
    let Some(t) = &c.times else {
        return Outcome::Skip;
    };
    let (now, skew) = (s.now, s.policy.skew);
    match t.iat {
        Some(iat) if iat > now as f64 + skew as f64 => Outcome::Fail(TokenFault::IssuedInFuture {
            iat: Seconds(iat),
            now,
            skew,
        }),
        _ => Outcome::Pass,
    }
}

pub fn nbf(s: &Subject, c: &Claims) -> Outcome<'static> {
    let Some(t) = &c.times else {
        return Outcome::Skip;
    };
    let (now, skew, max) = (s.now, s.policy.skew, s.policy.max_lifetime);
    match t.nbf {
        Some(nbf) if nbf > now as f64 + skew as f64 => Outcome::Fail(TokenFault::NotYetValid {
            nbf: Seconds(nbf),
            now,
            skew,
        }),
        Some(nbf) if now as f64 - nbf > max as f64 + skew as f64 => {
            Outcome::Fail(TokenFault::NbfTooOld {
                nbf: Seconds(nbf),
                now,
                max,
                skew,
            })
        }
        None if s.policy.require_nbf => Outcome::Skip,
        _ => Outcome::Pass,
    }
}

pub fn audience(s: &Subject, c: &Claims) -> Outcome<'static> {
    let p = &s.policy.audience;
    let fail = |aud: &Value, strict| {
        let (expected, actual) = (p.identifier.clone(), aud.to_string());
        Outcome::Fail(match strict {
            true => TokenFault::AudienceNotStrict { expected, actual },
            false => TokenFault::AudienceMismatch { expected, actual },
        })
    };
    match c.get("aud") {
        None => Outcome::Fail(TokenFault::MissingAud),
        Some(Value::String(a)) if p.strict && *a == p.identifier => Outcome::Pass,
        Some(aud) if p.strict => fail(aud, true),
        Some(Value::String(a)) if p.accepts(a) => Outcome::Pass,
        Some(Value::Array(items))
            if items.iter().filter_map(Value::as_str).any(|a| p.accepts(a)) =>
        {
            Outcome::Pass
        }
        Some(aud) => fail(aud, false),
    }
}

/// Compares a JOSE `typ` with a media type name, case-insensitively and with or without the
/// `application/` prefix (RFC 7515 §4.1.9).
pub fn typ_is(typ: &str, name: &str) -> bool {
    let bare = typ
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    bare.eq_ignore_ascii_case(name)
}

/// A string claim no longer than `max` characters; absent is `None`.
pub fn string_claim<'c>(
    claims: &'c Map<String, Value>,
    name: &'static str,
    max: usize,
) -> Result<Option<&'c str>, TokenFault> {
    match claims.get(name) {
        None => Ok(None),
        // No more characters than bytes: most claims need no counting.
        Some(Value::String(s)) if s.len() <= max => Ok(Some(s)),
        Some(Value::String(s)) => match s.chars().count() {
            chars if chars > max => Err(TokenFault::ClaimTooLong {
                claim: name,
                chars,
                max,
            }),
            _ => Ok(Some(s)),
        },
        Some(_) => Err(TokenFault::ClaimNotString(name)),
    }
}

/// A required string claim (`max_claim_chars` at most).
pub fn required(s: &Subject, c: &Claims, name: &'static str) -> Outcome<'static> {
    match string_claim(c, name, s.policy.max_claim_chars) {
        Ok(Some(_)) => Outcome::Pass,
        Ok(None) => Outcome::Fail(TokenFault::MissingClaim(name)),
        Err(fault) => Outcome::Fail(fault),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AudiencePolicy, TokenPolicy};
    use crate::jose::Jws;
    use crate::rules::TokenKind;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn policy() -> TokenPolicy {
        TokenPolicy {
            max_bytes: 1000,
            max_alg_chars: 16,
            max_claim_chars: 64,
            max_lifetime: 300,
            skew: 10,
            require_exp: true,
            require_nbf: false,
            require_typ: false,
            audience: AudiencePolicy {
                identifier: "https://login.example.com/".into(),
                aliases: vec!["https://custom.example.com/".into()],
                strict: false,
            },
            algs: None,
        }
    }

    /// The first failure of the time rules, in the claim stage's order.
    fn check_with(p: &TokenPolicy, claims: Value) -> Result<(), TokenFault> {
        let jws = Jws::read("");
        let s = Subject {
            jws: &jws,
            kind: TokenKind::Assertion,
            policy: p,
            client_id: "app",
            keys: None,
            now: NOW,
        };
        let c = &Claims::new(claims.as_object().unwrap());
        let rules = [
            time_claims,
            exp_present,
            nbf_required,
            not_expired,
            lifetime,
            iat,
            nbf,
        ];
        for rule in rules {
            if let Outcome::Fail(f) = rule(&s, c) {
                return Err(f);
            }
        }
        Ok(())
    }

    fn times(claims: Value) -> Result<(), TokenFault> {
        check_with(&policy(), claims)
    }

    fn rule(fault: Result<(), TokenFault>) -> &'static str {
        fault.err().map_or("ok", |f| f.rule())
    }

    #[test]
    fn expiry_edges_respect_the_skew() {
        assert_eq!(
            times(json!({"exp": NOW - 10})),
            Err(TokenFault::Expired {
                exp: Seconds((NOW - 10) as f64),
                now: NOW,
                skew: 10
            })
        );
        assert_eq!(times(json!({"exp": NOW - 9})), Ok(()));
        assert_eq!(times(json!({})), Err(TokenFault::MissingExp));
    }

    #[test]
    fn lifetime_is_measured_from_the_later_of_iat_and_nbf() {
        assert!(times(json!({"iat": NOW, "exp": NOW + 310})).is_ok());
        assert_eq!(
            times(json!({"iat": NOW, "exp": NOW + 311})),
            Err(TokenFault::LifetimeTooLong {
                lifetime: Seconds(311.0),
                from: "iat",
                max: 300,
                skew: 10
            })
        );
        assert!(times(json!({"iat": NOW - 100, "nbf": NOW, "exp": NOW + 300})).is_ok());
        // Without iat or nbf the lifetime runs from now.
        assert_eq!(rule(times(json!({"exp": NOW + 311}))), "lifetime_too_long");
        assert!(times(json!({"exp": NOW + 310})).is_ok());
    }

    #[test]
    fn iat_and_nbf_may_not_be_in_the_future_beyond_the_skew() {
        assert!(times(json!({"iat": NOW + 10, "exp": NOW + 60})).is_ok());
        assert_eq!(
            rule(times(json!({"iat": NOW + 11, "exp": NOW + 60}))),
            "iat_in_future"
        );
        assert!(times(json!({"nbf": NOW + 8, "exp": NOW + 60})).is_ok());
        assert_eq!(
            times(json!({"nbf": NOW + 11, "exp": NOW + 60})),
            Err(TokenFault::NotYetValid {
                nbf: Seconds((NOW + 11) as f64),
                now: NOW,
                skew: 10
            })
        );
    }

    #[test]
    fn nbf_may_not_be_older_than_the_max_lifetime() {
        let p = TokenPolicy {
            require_exp: false,
            ..policy()
        };
        assert_eq!(
            rule(check_with(&p, json!({"nbf": NOW - 311}))),
            "nbf_too_old"
        );
        assert!(check_with(&p, json!({"nbf": NOW - 310})).is_ok());
    }

    #[test]
    fn time_claims_must_be_numbers() {
        assert_eq!(
            times(json!({"exp": "1800000060"})),
            Err(TokenFault::TimeNotNumber("exp"))
        );
        assert_eq!(
            times(json!({"exp": NOW + 60, "iat": null})),
            Err(TokenFault::TimeNotNumber("iat"))
        );
        assert!(times(json!({"exp": (NOW + 60) as f64 + 0.5})).is_ok());
    }

    #[test]
    fn audience_rules() {
        let loose = policy();
        let mut strict = policy();
        strict.audience.strict = true;
        let check = |aud: Value, p: &TokenPolicy| {
            let jws = Jws::read("");
            let s = Subject {
                jws: &jws,
                kind: TokenKind::Assertion,
                policy: p,
                client_id: "app",
                keys: None,
                now: NOW,
            };
            match audience(&s, &Claims::new(json!({ "aud": aud }).as_object().unwrap())) {
                Outcome::Fail(f) => f.rule(),
                _ => "ok",
            }
        };
        assert_eq!(check(json!("https://login.example.com/"), &loose), "ok");
        assert_eq!(check(json!("https://custom.example.com/"), &loose), "ok");
        assert_eq!(
            check(json!(["x", "https://login.example.com/"]), &loose),
            "ok"
        );
        assert_eq!(check(json!("https://evil/"), &loose), "aud_mismatch");
        assert_eq!(check(json!(42), &loose), "aud_mismatch");
        assert_eq!(check(json!("https://login.example.com/"), &strict), "ok");
        assert_eq!(
            check(json!(["https://login.example.com/"]), &strict),
            "aud_not_strict"
        );
        assert_eq!(
            check(json!("https://custom.example.com/"), &strict),
            "aud_not_strict"
        );
        let jws = Jws::read("");
        let s = Subject {
            jws: &jws,
            kind: TokenKind::Assertion,
            policy: &loose,
            client_id: "app",
            keys: None,
            now: NOW,
        };
        assert!(matches!(
            audience(&s, &Claims::new(json!({}).as_object().unwrap())),
            Outcome::Fail(TokenFault::MissingAud)
        ));
        let Outcome::Fail(TokenFault::AudienceMismatch { expected, actual }) = audience(
            &s,
            &Claims::new(json!({"aud": ["https://evil/"]}).as_object().unwrap()),
        ) else {
            panic!("aud_mismatch expected");
        };
        assert_eq!(expected, "https://login.example.com/");
        assert_eq!(actual, r#"["https://evil/"]"#);
    }

    #[test]
    fn typ_comparison_ignores_case_and_the_application_prefix() {
        assert!(typ_is("JWT", "jwt"));
        assert!(typ_is(
            "application/oauth-authz-req+jwt",
            "oauth-authz-req+jwt"
        ));
        assert!(!typ_is("oauth-authz-req+jwt", "jwt"));
        assert!(!typ_is("app", "jwt"));
    }
}
