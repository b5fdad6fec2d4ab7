//! What the decision line says about the token a decision checked (SPEC §8): the `kid` and
//! `alg` of its JOSE header and, when a time rule refused it, `exp − now`. Read leniently, only
//! for the log: nothing here decides anything.

use super::Decision;
use crate::jose::Jws;
use crate::reject::TokenFault;
use serde_json::Value;

/// A header segment longer than this is not read for the log (the token is refused anyway).
const MAX_HEADER_SEGMENT: usize = 4096;
/// Longest `kid` or `alg` written to a log line.
const MAX_LOGGED: usize = 128;

/// Log facts about the last token checked (the one that failed, if any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFacts {
    pub kid: Option<String>,
    pub alg: Option<String>,
    /// `exp − now` in seconds, on a time-rule refusal.
    pub exp_in: Option<i64>,
}

impl Decision<'_> {
    /// Keeps the facts of `jws`, checked with `outcome`, for the decision line.
    pub(super) fn note_token(&mut self, jws: &Jws, fault: Option<&TokenFault>) {
        self.token = Some(facts(jws, fault, self.now));
    }
}

/// Read from the token's own decoding (lenient: the last of duplicate members wins), so nothing
/// is decoded twice; a header segment too long for a log line is not decoded for it.
pub(super) fn facts(jws: &Jws, fault: Option<&TokenFault>, now: i64) -> TokenFacts {
    let segment = jws.token().split('.').next().unwrap_or_default();
    let header = Some(jws)
        .filter(|_| segment.len() <= MAX_HEADER_SEGMENT)
        .and_then(Jws::unverified_header);
    let field = |name: &str| {
        header
            .and_then(|h| h.get(name))
            .and_then(Value::as_str)
            .filter(|v| v.len() <= MAX_LOGGED && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
            .map(str::to_owned)
    };
    let exp_in = fault.filter(|f| is_time_rule(f)).and_then(|_| {
        let exp = jws.unverified_claims()?.get("exp")?.as_f64()?;
        Some(exp.floor() as i64 - now)
    });
    TokenFacts {
        kid: field("kid"),
        alg: field("alg"),
        exp_in,
    }
}

fn is_time_rule(fault: &TokenFault) -> bool {
    use TokenFault::*;
    matches!(
        fault,
        MissingExp
            | Expired { .. }
            | LifetimeTooLong { .. }
            | IssuedInFuture { .. }
            | NotYetValid { .. }
            | NbfTooOld { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;

    fn token(header: &str, claims: &str) -> String {
        format!("{}.{}.sig", B64.encode(header), B64.encode(claims))
    }

    fn facts(token: &str, fault: Option<&TokenFault>, now: i64) -> TokenFacts {
        super::facts(&Jws::read(token), fault, now)
    }

    #[test]
    fn kid_and_alg_always_exp_only_on_time_rules() {
        let t = token(r#"{"alg":"PS256","kid":"k-1"}"#, r#"{"exp":1000}"#);
        let ok = facts(&t, None, 900);
        assert_eq!(ok.kid.as_deref(), Some("k-1"));
        assert_eq!(ok.alg.as_deref(), Some("PS256"));
        assert_eq!(ok.exp_in, None);
        assert_eq!(
            facts(
                &t,
                Some(&TokenFault::Expired {
                    exp: crate::reject::Seconds(1000.0),
                    now: 1030,
                    skew: 0
                }),
                1030
            )
            .exp_in,
            Some(-30)
        );
        assert_eq!(
            facts(&t, Some(&TokenFault::BadSignature), 1030).exp_in,
            None
        );
    }

    #[test]
    fn garbage_gives_nothing() {
        assert_eq!(facts("not a token", None, 0), TokenFacts::default());
        let t = token(r#"{"alg":"PS256","kid":"a\nb"}"#, "{}");
        assert_eq!(facts(&t, None, 0).kid, None);
    }
}
