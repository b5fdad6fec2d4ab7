//! Claim checks shared by client assertions and request objects: time claims (SPEC §5 step 5),
//! audience (step 6) and explicit types (step 7). Plain functions over parsed claims.

use crate::reject::TokenFault;
use serde_json::{Map, Value};

/// The time window a token must fit in.
#[derive(Debug, Clone, Copy)]
pub struct TimePolicy {
    pub now: i64,
    pub skew: i64,
    pub max_lifetime: i64,
    pub require_exp: bool,
    pub require_nbf: bool,
}

/// Reads a NumericDate claim: absent is `None`; present but not a JSON number is an error.
fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, TokenFault> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(TokenFault::TimeNotNumber(name)),
        Some(_) => Err(TokenFault::TimeNotNumber(name)),
    }
}

/// Checks `exp`, `iat` and `nbf`; returns `exp` (as whole seconds) when present.
pub fn check_times(claims: &Map<String, Value>, p: TimePolicy) -> Result<Option<i64>, TokenFault> {
    let exp = numeric(claims, "exp")?;
    let iat = numeric(claims, "iat")?;
    let nbf = numeric(claims, "nbf")?;
    let now = p.now as f64;
    let skew = p.skew as f64;
    let max_lifetime = p.max_lifetime as f64;
    if p.require_exp && exp.is_none() {
        return Err(TokenFault::MissingExp);
    }
    if p.require_nbf && nbf.is_none() {
        return Err(TokenFault::MissingNbf);
    }
    if let Some(exp) = exp {
        if exp <= now - skew {
            return Err(TokenFault::Expired);
        }
        let start = match (iat, nbf) {
            (Some(i), Some(n)) => i.max(n),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => now,
        };
        if exp - start > max_lifetime + skew {
            return Err(TokenFault::LifetimeTooLong);
        }
    }
    if iat.is_some_and(|i| i > now + skew) {
        return Err(TokenFault::IssuedInFuture);
    }
    if let Some(nbf) = nbf {
        if nbf > now + skew {
            return Err(TokenFault::NotYetValid);
        }
        if now - nbf > max_lifetime + skew {
            return Err(TokenFault::NbfTooOld);
        }
    }
    Ok(exp.map(|e| e.floor() as i64))
}

/// Who the token must be addressed to.
#[derive(Debug, Clone, Copy)]
pub struct AudiencePolicy<'a> {
    pub identifier: &'a str,
    pub aliases: &'a [String],
    /// One string equal to `identifier` (client assertions with `strict_audience`).
    pub strict: bool,
}

pub fn check_audience(claims: &Map<String, Value>, p: AudiencePolicy) -> Result<(), TokenFault> {
    let accepted = |s: &str| s == p.identifier || p.aliases.iter().any(|a| a == s);
    match claims.get("aud") {
        None => Err(TokenFault::MissingAud),
        Some(Value::String(s)) if p.strict => {
            if s == p.identifier {
                Ok(())
            } else {
                Err(TokenFault::AudienceNotStrict)
            }
        }
        Some(_) if p.strict => Err(TokenFault::AudienceNotStrict),
        Some(Value::String(s)) if accepted(s) => Ok(()),
        Some(Value::Array(items)) if items.iter().filter_map(Value::as_str).any(accepted) => Ok(()),
        Some(_) => Err(TokenFault::AudienceMismatch),
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
        Some(Value::String(s)) if s.chars().count() > max => Err(TokenFault::ClaimTooLong(name)),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenFault::ClaimNotString(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn policy() -> TimePolicy {
        TimePolicy {
            now: NOW,
            skew: 10,
            max_lifetime: 300,
            require_exp: true,
            require_nbf: false,
        }
    }

    fn times(claims: Value) -> Result<Option<i64>, TokenFault> {
        check_times(claims.as_object().unwrap(), policy())
    }

    #[test]
    fn expiry_edges_respect_the_skew() {
        assert_eq!(times(json!({"exp": NOW - 10})), Err(TokenFault::Expired));
        assert_eq!(times(json!({"exp": NOW - 9})), Ok(Some(NOW - 9)));
        assert_eq!(times(json!({})), Err(TokenFault::MissingExp));
    }

    #[test]
    fn lifetime_is_measured_from_the_later_of_iat_and_nbf() {
        assert!(times(json!({"iat": NOW, "exp": NOW + 310})).is_ok());
        assert_eq!(
            times(json!({"iat": NOW, "exp": NOW + 311})),
            Err(TokenFault::LifetimeTooLong)
        );
        assert!(times(json!({"iat": NOW - 100, "nbf": NOW, "exp": NOW + 300})).is_ok());
        // Without iat or nbf the lifetime runs from now.
        assert_eq!(
            times(json!({"exp": NOW + 311})),
            Err(TokenFault::LifetimeTooLong)
        );
        assert!(times(json!({"exp": NOW + 310})).is_ok());
    }

    #[test]
    fn iat_and_nbf_may_not_be_in_the_future_beyond_the_skew() {
        assert!(times(json!({"iat": NOW + 10, "exp": NOW + 60})).is_ok());
        assert_eq!(
            times(json!({"iat": NOW + 11, "exp": NOW + 60})),
            Err(TokenFault::IssuedInFuture)
        );
        assert!(times(json!({"nbf": NOW + 8, "exp": NOW + 60})).is_ok());
        assert_eq!(
            times(json!({"nbf": NOW + 11, "exp": NOW + 60})),
            Err(TokenFault::NotYetValid)
        );
    }

    #[test]
    fn nbf_may_not_be_older_than_the_max_lifetime() {
        let p = TimePolicy {
            require_exp: false,
            ..policy()
        };
        let old = json!({"nbf": NOW - 311});
        assert_eq!(
            check_times(old.as_object().unwrap(), p),
            Err(TokenFault::NbfTooOld)
        );
        let fine = json!({"nbf": NOW - 310});
        assert!(check_times(fine.as_object().unwrap(), p).is_ok());
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
        let aliases = vec!["https://custom.example.com/".to_string()];
        let loose = AudiencePolicy {
            identifier: "https://login.example.com/",
            aliases: &aliases,
            strict: false,
        };
        let strict = AudiencePolicy {
            strict: true,
            ..loose
        };
        let check = |aud: Value, p| check_audience(json!({ "aud": aud }).as_object().unwrap(), p);
        assert!(check(json!("https://login.example.com/"), loose).is_ok());
        assert!(check(json!("https://custom.example.com/"), loose).is_ok());
        assert!(check(json!(["x", "https://login.example.com/"]), loose).is_ok());
        assert_eq!(
            check(json!("https://evil/"), loose),
            Err(TokenFault::AudienceMismatch)
        );
        assert_eq!(check(json!(42), loose), Err(TokenFault::AudienceMismatch));
        assert!(check(json!("https://login.example.com/"), strict).is_ok());
        assert_eq!(
            check(json!(["https://login.example.com/"]), strict),
            Err(TokenFault::AudienceNotStrict)
        );
        assert_eq!(
            check(json!("https://custom.example.com/"), strict),
            Err(TokenFault::AudienceNotStrict)
        );
        assert_eq!(
            check_audience(json!({}).as_object().unwrap(), loose),
            Err(TokenFault::MissingAud)
        );
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
