//! `jargate explain`, SPEC §5 step 5: `exp`, `iat` and `nbf`, one line per rule with the
//! token's values, the clock and the configured limits, in the order of
//! `rules::claims::check_times`.

use super::steps::{Out, Subject};
use crate::cli::rfc3339;
use crate::cli::sign::Kind;
use crate::reject::TokenFault;
use serde_json::{Map, Value};

/// A NumericDate shown as the client wrote it and as a date.
fn show(value: f64) -> String {
    let secs = value.floor() as i64;
    if value.fract() == 0.0 {
        format!("{secs} ({})", rfc3339(secs))
    } else {
        format!("{value} ({})", rfc3339(secs))
    }
}

/// A span of seconds in words.
fn span(secs: f64) -> String {
    let s = secs.abs().round() as i64;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

pub(super) fn check(s: &Subject, claims: &Map<String, Value>, out: &mut Out) {
    let limits = &s.settings.limits;
    let (max_lifetime, lifetime_key, require_exp, require_nbf) = match s.kind {
        Kind::Assertion => (
            limits.assertion_max_lifetime_secs,
            "limits.assertion_max_lifetime_secs",
            true,
            false,
        ),
        Kind::Request => (
            limits.request_object_max_lifetime_secs,
            "limits.request_object_max_lifetime_secs",
            s.settings.jar.require_exp,
            s.settings.jar.require_nbf,
        ),
    };
    let mut values = [None, None, None];
    for (slot, name) in values.iter_mut().zip(["exp", "iat", "nbf"]) {
        match claims.get(name) {
            None => {}
            Some(Value::Number(n)) => *slot = n.as_f64(),
            Some(other) => {
                out.fail(
                    "time claims",
                    TokenFault::TimeNotNumber(name),
                    format!("{name} must be a JSON number of seconds since 1970; got {other}"),
                );
                out.skip("times", "not checked: a time claim is not a number");
                return;
            }
        }
    }
    let [exp, iat, nbf] = values;
    out.pass(
        "time claims",
        "exp, iat and nbf (those present) are JSON numbers",
    );
    let now = s.now as f64;
    let skew = limits.clock_skew_secs as f64;
    let max = max_lifetime as f64;
    let clock = format!(
        "now {} = {}, limits.clock_skew_secs = {}",
        s.now,
        rfc3339(s.now),
        limits.clock_skew_secs
    );
    match exp {
        None if require_exp => {
            let why = match s.kind {
                Kind::Assertion => "required in a client assertion",
                Kind::Request => "required (jar.require_exp = true)",
            };
            out.fail(
                "exp",
                TokenFault::MissingExp,
                format!("absent; exp is {why}: set exp = iat + at most {max_lifetime} s"),
            );
        }
        None => out.info("exp", "absent (allowed: jar.require_exp = false)"),
        Some(_) => out.pass("exp", "present"),
    }
    if require_nbf {
        match nbf {
            None => out.fail(
                "nbf",
                TokenFault::MissingNbf,
                "absent; nbf is required (jar.require_nbf = true)",
            ),
            Some(_) => out.pass("nbf", "present (required by jar.require_nbf)"),
        }
    }
    if let Some(exp) = exp {
        if exp <= now - skew {
            out.fail(
                "not expired",
                TokenFault::Expired,
                format!(
                    "exp {} must be after now − skew = {}; it expired {} ago ({clock})",
                    show(exp),
                    s.now - limits.clock_skew_secs,
                    span(now - exp)
                ),
            );
        } else {
            out.pass(
                "not expired",
                format!(
                    "exp {} is after now − skew; {} left",
                    show(exp),
                    span(exp - now)
                ),
            );
        }
        let (start, from) = match (iat, nbf) {
            (Some(i), Some(n)) if n > i => (n, "nbf"),
            (Some(i), _) => (i, "iat"),
            (None, Some(n)) => (n, "nbf"),
            (None, None) => (now, "now (no iat or nbf)"),
        };
        let lifetime = exp - start;
        if lifetime > max + skew {
            out.fail(
                "lifetime",
                TokenFault::LifetimeTooLong,
                format!(
                    "exp − {from} = {lifetime} s; at most {max_lifetime} s ({lifetime_key}) \
                     + {} s skew",
                    limits.clock_skew_secs
                ),
            );
        } else {
            out.pass(
                "lifetime",
                format!(
                    "exp − {from} = {lifetime} s ≤ {max_lifetime} s ({lifetime_key}) + {} s skew",
                    limits.clock_skew_secs
                ),
            );
        }
    }
    match iat {
        Some(i) if i > now + skew => out.fail(
            "iat",
            TokenFault::IssuedInFuture,
            format!(
                "iat {} is {} in the future; at most now + skew is accepted: check the \
                 client's clock ({clock})",
                show(i),
                span(i - now)
            ),
        ),
        Some(i) => out.pass("iat", format!("{} is not after now + skew", show(i))),
        None => out.info("iat", "absent (optional)"),
    }
    match nbf {
        Some(n) if n > now + skew => out.fail(
            "nbf",
            TokenFault::NotYetValid,
            format!(
                "nbf {} is {} in the future; at most now + skew is accepted ({clock})",
                show(n),
                span(n - now)
            ),
        ),
        Some(n) if now - n > max + skew => out.fail(
            "nbf",
            TokenFault::NbfTooOld,
            format!(
                "nbf {} is {} old; at most {max_lifetime} s ({lifetime_key}) + skew",
                show(n),
                span(now - n)
            ),
        ),
        Some(n) => out.pass("nbf", format!("{} is within the window", show(n))),
        None if require_nbf => {}
        None => out.info("nbf", "absent (optional)"),
    }
}
