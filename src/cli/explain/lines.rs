//! The lines of `jargate explain`, one per outcome of `rules::run`: what the token has (from the
//! values its fault carries, or read from the token) and, on a failure, what the rule expects
//! (from the policy and the client). Nothing here decides anything; a few notes add what only
//! the proxy checks (single use) or what a failed signature most likely means.

use crate::cli::rfc3339;
use crate::config::Client;
use crate::jose::Jws;
use crate::keys::{Alg, Credential, CredentialSet};
use crate::reject::{Seconds, TokenFault};
use crate::rules::claims::{lifetime_start, times, typ_is};
use crate::rules::{Check, Outcome, Subject, TokenKind};
use serde_json::Value;

/// How one rule went: passed, failed with a rule name, a note, or not checked.
pub(super) enum Mark {
    Pass,
    Fail(&'static str),
    Info,
    Skip,
}

pub(super) struct Line {
    pub mark: Mark,
    pub check: &'static str,
    pub text: String,
}

fn line(mark: Mark, check: &'static str, text: impl Into<String>) -> Line {
    let text = text.into();
    Line { mark, check, text }
}

/// What the lines are about, beyond the checks' subject.
pub(super) struct Context<'a> {
    pub s: &'a Subject<'a>,
    pub client: Option<&'a Client>,
    /// The client's credentials for this use, registered and fetched.
    pub sets: &'a [&'a CredentialSet],
}

impl Context<'_> {
    fn header(&self, name: &str) -> Option<&Value> {
        self.s.jws.header().ok()?.get(name)
    }
    fn claim(&self, name: &str) -> Option<&Value> {
        self.s.jws.claims().ok()?.get(name)
    }
    fn alg(&self) -> &str {
        self.header("alg")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    /// A claim or header member as JSON text, or `absent`.
    fn got(&self, name: &str) -> String {
        let value = self.claim(name).or_else(|| self.header(name));
        value.map_or("absent".into(), Value::to_string)
    }
    fn current(&self) -> String {
        names(self.sets.iter().flat_map(|s| s.current(self.s.now)))
    }
}

/// What the keys of `kind` are called, and the other use.
fn uses(kind: TokenKind) -> (&'static str, TokenKind, &'static str) {
    match kind {
        TokenKind::Assertion => (
            "client assertions",
            TokenKind::RequestObject,
            "request objects",
        ),
        TokenKind::RequestObject => ("request objects", TokenKind::Assertion, "client assertions"),
    }
}

fn names<'c>(creds: impl Iterator<Item = &'c Credential>) -> String {
    let named: Vec<String> = creds
        .map(|c| format!("{:?} (kid {}, {})", c.name, c.kid, c.alg))
        .collect();
    match named.is_empty() {
        true => "none".into(),
        false => named.join(", "),
    }
}

/// A NumericDate shown as the client wrote it and as a date.
fn show(value: Seconds) -> String {
    format!("{value} ({})", rfc3339(value.0.floor() as i64))
}

/// A span of seconds in words.
fn span(secs: f64) -> String {
    match secs.abs().round() as i64 {
        s @ 0..=119 => format!("{s} s"),
        s @ 120..=7199 => format!("{} min", s / 60),
        s @ 7200..=172_799 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// The first line: the proxy looks the client up before any token rule.
pub(super) fn client(id: &Option<String>, registered: bool) -> Line {
    let text = match (id, registered) {
        (Some(id), true) => return line(Mark::Pass, "client", format!("{id:?} is registered")),
        (Some(id), false) => format!("{id:?} is not in the registry (looked up before any rule)"),
        (None, _) => "the token names no client (no sub, iss or client_id); give --client".into(),
    };
    line(Mark::Fail("unknown_client"), "client", text)
}

/// The line of one outcome, then the notes that follow its rule.
pub(super) fn push(c: &Context, check: Check, outcome: &Outcome, out: &mut Vec<Line>) {
    let name = check.name();
    match outcome {
        Outcome::Fail(fault) => {
            let text = format!(
                "{}; got {}",
                expected(c, check),
                actual(c, check, Some(fault))
            );
            out.push(line(Mark::Fail(fault.rule()), name, text));
        }
        Outcome::Verified(cred) => {
            let text = format!(
                "verifies with credential {:?} (kid {})",
                cred.name, cred.kid
            );
            out.push(line(Mark::Pass, name, text));
        }
        Outcome::Pass => match (check, actual(c, check, None)) {
            (Check::NoRequest | Check::NoRequestUri | Check::SubNotClient, _) => {}
            (Check::Crit, _) => out.push(line(Mark::Pass, name, "absent")),
            (Check::Size | Check::Lifetime, text) => {
                let text = format!("{text}; {}", expected(c, check));
                out.push(line(Mark::Pass, name, text))
            }
            (_, absent) if absent == "absent" => {
                out.push(line(Mark::Info, name, "absent (optional)"))
            }
            (_, text) => out.push(line(Mark::Pass, name, text)),
        },
        Outcome::Skip if check == Check::Signature => {
            let why = match (c.client, c.header("alg").and_then(Value::as_str)) {
                (None, _) => "no registered client to take keys from",
                (_, None) => "no alg",
                _ => "no credential to try (see above)",
            };
            out.push(line(Mark::Skip, name, format!("not checked: {why}")));
        }
        Outcome::Skip => {}
    }
    let note = |check, text: String| line(Mark::Info, check, text);
    match check {
        Check::Crit => out.extend(["jwk", "jku", "x5u", "x5c"].into_iter().filter_map(|n| {
            c.header(n)?;
            Some(note(
                "header keys",
                format!("{n} is ignored: keys come from the registry only"),
            ))
        })),
        Check::Signature if !matches!(outcome, Outcome::Verified(_)) => hints(c, out),
        Check::Jti => out.push(note(
            "single use",
            "not checked offline: the proxy refuses a jti already used by this client until \
             exp + skew (\"jti already used\"); send a fresh jti with every request"
                .into(),
        )),
        Check::OptionalJti => out.extend([
            note(
                "single use",
                "not checked offline: a jti, when present, is single use".into(),
            ),
            note(
                "parameters",
                format!(
                    "at /authorize the client_id request parameter must be {:?} too; parameters \
                 outside the object follow jar.outside_parameters",
                    c.s.client_id
                ),
            ),
        ]),
        _ => {}
    }
}

/// What the rule expects, from the policy and the client.
fn expected(c: &Context, check: Check) -> String {
    let (s, p) = (c.s, c.s.policy);
    let (size_key, lifetime_key) = limit_keys(s.kind);
    let (use_, id, max) = (uses(s.kind).0, s.client_id, p.max_claim_chars);
    let clock = format!(
        "now {} = {}, limits.clock_skew_secs = {}",
        s.now,
        rfc3339(s.now),
        p.skew
    );
    match check {
        Check::Size => format!(
            "at most {} bytes ({size_key}), checked before decoding",
            p.max_bytes
        ),
        Check::Shape => {
            "a compact JWS: three non-empty unpadded base64url parts (A-Z a-z 0-9 - _), \
                         header.payload.signature; an unsigned JWT or a JWE is never accepted"
                .into()
        }
        Check::Header | Check::Claims => "a JSON object without duplicate member names".into(),
        Check::Alg => format!("a string of at most {} characters", p.max_alg_chars),
        Check::Crit => "no crit: no JWS extension is supported".into(),
        Check::AlgAllowed => format!("an alg registered for {use_} of {id:?}: {}", c.current()),
        Check::Kid | Check::Signature => {
            format!("a current credential for {use_} of {id:?}: {}", c.current())
        }
        Check::TimeClaims => "exp, iat and nbf as JSON numbers of seconds since 1970".into(),
        Check::Exp => format!("exp, at most iat + {} s ({lifetime_key})", p.max_lifetime),
        Check::NbfRequired => "nbf (jar.require_nbf = true)".into(),
        Check::NotExpired => format!(
            "exp must be after now − skew = {} ({clock})",
            s.now - p.skew
        ),
        Check::Lifetime => format!(
            "exp − max(iat, nbf) (or − now) at most {} s ({lifetime_key}) + {} s skew",
            p.max_lifetime, p.skew
        ),
        Check::Iat => format!("at most now + skew ({clock})"),
        Check::Nbf => format!(
            "at most now + skew, at least now − {} s − skew ({clock})",
            p.max_lifetime
        ),
        Check::Aud => {
            let (a, id) = (&p.audience, &p.audience.identifier);
            match (a.strict, a.aliases.join(", ")) {
                (true, _) => format!("aud must be the one string {id:?} (issuer.strict_audience)"),
                (false, none) if none.is_empty() => {
                    format!("aud must be {id:?} (or an array with it)")
                }
                (false, aliases) => format!("aud must be {id:?} or one of {aliases} (or an array)"),
            }
        }
        Check::Typ => match s.kind {
            TokenKind::Assertion => "absent, JWT or client-authentication+jwt".into(),
            TokenKind::RequestObject if p.require_typ => {
                "oauth-authz-req+jwt (jar.require_typ)".into()
            }
            TokenKind::RequestObject => "absent, JWT or oauth-authz-req+jwt".into(),
        },
        Check::Iss | Check::Sub => format!("the client_id {id:?}, at most {max} characters"),
        Check::IssIsSub => format!("iss = sub = the client_id {id:?}"),
        Check::SubIsClient => format!("sub = the client_id {id:?}"),
        Check::Jti => format!(
            "jti is required: unique to each assertion, at most {max} characters (e.g. 128 \
             random bits in base64url)"
        ),
        Check::ClientId => format!("the client_id {id:?} (the client_id request parameter)"),
        Check::IssIsClient => format!("absent or the client_id {id:?}"),
        Check::NoRequest | Check::NoRequestUri => "absent: an object never holds request or \
                                                   request_uri"
            .into(),
        Check::ResponseType => "response_type and the other authorization parameters inside the \
                                object"
            .into(),
        Check::SubNotClient => format!("not the client_id {id:?}: it could pass for an assertion"),
        Check::OptionalJti => format!("absent or at most {max} characters"),
    }
}

/// What the token has: the values the fault carries, else the member the rule read.
fn actual(c: &Context, check: Check, fault: Option<&TokenFault>) -> String {
    use TokenFault::*;
    let s = c.s;
    let future = |t: &Seconds| format!("{}, {} in the future", show(*t), span(t.0 - s.now as f64));
    match (check, fault) {
        (_, Some(TooLarge { len, .. })) => format!("{len} bytes"),
        (Check::Size, None) => format!("{} bytes", s.jws.token().len()),
        (Check::Shape, None) => {
            let [h, p, sig] = s.jws.decoded_lens();
            format!("three parts of {h}, {p} and {sig} bytes")
        }
        (_, Some(NotCompact { parts, empty: "" })) => format!("{parts} part(s)"),
        (_, Some(NotCompact { empty, .. })) => format!("an empty {empty} part"),
        (_, Some(Encrypted)) => "five parts: an encrypted JWT (JWE)".into(),
        (_, Some(BadEncoding { part })) => format!("a {part} part that is not base64url"),
        (_, Some(DuplicateMember { name })) => {
            format!("{name:?} appears twice (servers disagree on which counts)")
        }
        (Check::Header | Check::Claims, _) => match fault {
            None => "a JSON object without duplicate members".into(),
            Some(_) => "no JSON object".into(),
        },
        (_, Some(AlgTooLong { len, .. })) => format!("{len} characters"),
        (Check::AlgAllowed, Some(AlgNotAllowed)) if Alg::parse(c.alg()).is_none() => {
            format!(
                "{:?} is never accepted (none and HS* are not signature algorithms)",
                c.alg()
            )
        }
        (Check::AlgAllowed, _) => c.alg().into(),
        (Check::Signature, Some(AlgNotAllowed)) => format!("kid {} of another alg", c.got("kid")),
        (_, Some(NoCredential)) => "no current credential".into(),
        (_, Some(BadSignature)) => {
            let kid = c.header("kid").and_then(Value::as_str);
            let tried = Alg::parse(c.alg()).map(|a| names(Jws::candidates(c.sets, a, kid, s.now)));
            let tried = tried.unwrap_or_default();
            format!("a signature that does not verify with {tried} (another key, or altered)")
        }
        (Check::TimeClaims, None) => "numbers (those present)".into(),
        (_, Some(Expired { exp, now, .. })) => {
            format!("{}, expired {} ago", show(*exp), span(*now as f64 - exp.0))
        }
        (Check::NotExpired, None) => {
            let exp = c.claim("exp").and_then(Value::as_f64).map(Seconds);
            exp.map_or_else(String::new, |e| {
                format!("{}, {} left", show(e), span(e.0 - s.now as f64))
            })
        }
        (_, Some(LifetimeTooLong { lifetime, from, .. })) => format!("exp − {from} = {lifetime} s"),
        (Check::Lifetime, None) => {
            let t = s.jws.claims().ok().and_then(times);
            let lifetime = t.and_then(|t| {
                let (start, from) = lifetime_start(&t, s.now);
                Some(format!("exp − {from} = {} s", Seconds(t.exp? - start)))
            });
            lifetime.unwrap_or_default()
        }
        (_, Some(IssuedInFuture { iat: t, .. } | NotYetValid { nbf: t, .. })) => {
            format!("{} (check the client's clock)", future(t))
        }
        (_, Some(NbfTooOld { nbf, now, .. })) => {
            format!("{}, {} old", show(*nbf), span(*now as f64 - nbf.0))
        }
        (Check::Exp | Check::Iat | Check::Nbf | Check::NbfRequired, _) => {
            match c.claim(check.name()).and_then(Value::as_f64) {
                Some(t) => show(Seconds(t)),
                None => "absent".into(),
            }
        }
        (_, Some(AudienceMismatch { actual, .. } | AudienceNotStrict { actual, .. })) => {
            actual.clone()
        }
        (Check::Typ, Some(TypNotAllowed)) => {
            let typ = c.header("typ").and_then(Value::as_str).unwrap_or_default();
            let crossing = match s.kind {
                TokenKind::Assertion => typ_is(typ, "oauth-authz-req+jwt"),
                TokenKind::RequestObject => typ_is(typ, "client-authentication+jwt"),
            };
            let crossing = if crossing {
                " (the other kind's: types never cross)"
            } else {
                ""
            };
            format!("{}{crossing}", c.got("typ"))
        }
        (_, Some(ClaimTooLong { chars, .. })) => format!("{chars} characters"),
        (Check::IssIsSub, _) => format!("iss {} and sub {}", c.got("iss"), c.got("sub")),
        (Check::SubIsClient | Check::SubNotClient, _) => c.got("sub"),
        (Check::IssIsClient, _) => c.got("iss"),
        (Check::OptionalJti, _) => c.got("jti"),
        _ => c.got(check.name()),
    }
}

/// After a failed signature step: does another of the client's keys verify it?
fn hints(c: &Context, out: &mut Vec<Line>) {
    let (Some(client), Some(alg)) = (c.client, Alg::parse(c.alg())) else {
        return;
    };
    let s = c.s;
    let verifies = |cred: &&Credential| cred.key.fits(alg) && s.jws.verifies_with(cred, alg);
    let (_, other, other_use) = uses(s.kind);
    if let Some(cred) = other.keys(client).current(s.now).find(verifies) {
        let what = s.kind.what();
        out.push(line(
            Mark::Info,
            "hint",
            format!(
                "the signature verifies with {:?}, a credential for {other_use}: keys never cross \
             uses; sign a {what} with a key registered for it",
                cred.name
            ),
        ));
    }
    let mut expired = c
        .sets
        .iter()
        .flat_map(|set| set.all())
        .filter(|k| !k.is_current(s.now));
    if let Some(cred) = expired.find(verifies) {
        let at = cred.expires_at.map_or_else(String::new, rfc3339);
        let text = format!(
            "the signature verifies with {:?}, which expired at {at}",
            cred.name
        );
        out.push(line(Mark::Info, "hint", text));
    }
}

/// The configuration keys of the size and lifetime limits of `kind`.
fn limit_keys(kind: TokenKind) -> (&'static str, &'static str) {
    match kind {
        TokenKind::Assertion => (
            "limits.max_assertion_bytes",
            "limits.assertion_max_lifetime_secs",
        ),
        TokenKind::RequestObject => (
            "limits.max_request_object_bytes",
            "limits.request_object_max_lifetime_secs",
        ),
    }
}
