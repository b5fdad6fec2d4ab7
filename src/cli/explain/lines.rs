//! The lines of `jargate explain`, one per outcome of `rules::run`: what the token has (from the
//! values its fault carries, or read from the token) and, on a failure, what the rule expects
//! (from the policy and the client). Nothing here decides anything; a few notes add what only
//! the proxy checks (single use) or what a failed signature most likely means.

use crate::clock::{rfc3339, span};
use crate::config::Client;
use crate::jose::Jws;
use crate::keys::{Alg, Credential, CredentialSet};
use crate::reject::{Seconds, TokenFault};
use crate::rules::claims::{lifetime_start, times, typ_is};
use crate::rules::{Check, Outcome, Subject};
use serde_json::Value;

/// How one rule went: passed, failed with a rule name, a note, or not checked.
pub(super) enum Mark {
    Pass,
    Fail(&'static str),
    Info,
    Skip,
}

/// One line: its mark, the rule's short name and the text.
pub(super) type Line = (Mark, &'static str, String);

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
    fn text(&self, name: &str) -> &str {
        self.header(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    /// A claim or header member as JSON text, or `absent`.
    fn got(&self, name: &str) -> String {
        let value = self.claim(name).or_else(|| self.header(name));
        value.map_or("absent".into(), Value::to_string)
    }
    /// A time claim as the client wrote it.
    fn time(&self, name: &str) -> Option<Seconds> {
        self.claim(name).and_then(Value::as_f64).map(Seconds)
    }
    fn since(&self, t: Seconds) -> String {
        span(self.s.now as f64 - t.0)
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

/// The client's current credentials for this use.
fn current(c: &Context) -> String {
    names(c.sets.iter().flat_map(|set| set.current(c.s.now)))
}

/// The first line: the proxy looks the client up before any token rule.
pub(super) fn client(id: &Option<String>, registered: bool) -> Line {
    let text = match (id, registered) {
        (Some(id), true) => return (Mark::Pass, "client", format!("{id:?} is registered")),
        (Some(id), false) => format!("{id:?} is not in the registry (looked up before any rule)"),
        (None, _) => "the token names no client (no sub, iss or client_id); give --client".into(),
    };
    (Mark::Fail("unknown_client"), "client", text)
}

/// The line of one outcome, then the notes that follow its rule.
pub(super) fn push(c: &Context, check: Check, outcome: &Outcome, out: &mut Vec<Line>) {
    let name = check.name();
    let (mark, text) = match outcome {
        Outcome::Fail(f) => {
            let text = format!(
                "{}; got {}",
                check.expects(c.s, &current(c)),
                actual(c, check, Some(f))
            );
            (Some(Mark::Fail(f.rule())), text)
        }
        Outcome::Verified(cred) => (
            Some(Mark::Pass),
            format!(
                "verifies with credential {:?} (kid {})",
                cred.name, cred.kid
            ),
        ),
        Outcome::Pass => match (check, actual(c, check, None)) {
            (Check::NoRequest | Check::NoRequestUri | Check::SubNotClient, _) => (None, "".into()),
            (Check::Crit, _) => (Some(Mark::Pass), "absent".into()),
            (Check::Size | Check::Lifetime, got) => (
                Some(Mark::Pass),
                format!("{got}; {}", check.expects(c.s, &current(c))),
            ),
            (_, got) if got == "absent" => (Some(Mark::Info), "absent (optional)".into()),
            (_, got) => (Some(Mark::Pass), got),
        },
        Outcome::Skip if check == Check::Signature => {
            let why = match (c.client, c.header("alg")) {
                (None, _) => "no registered client to take keys from",
                (_, None) => "no alg",
                _ => "no credential to try (see above)",
            };
            (Some(Mark::Skip), format!("not checked: {why}"))
        }
        Outcome::Skip => (None, "".into()),
    };
    out.extend(mark.map(|mark| (mark, name, text)));
    let mut note = |check, text: String| out.push((Mark::Info, check, text));
    match check {
        Check::Crit => ["jwk", "jku", "x5u", "x5c"]
            .into_iter()
            .filter(|n| c.header(n).is_some())
            .for_each(|n| {
                let text = format!("{n} is ignored: keys come from the registry only");
                note("header keys", text)
            }),
        Check::Signature if !matches!(outcome, Outcome::Verified(_)) => hints(c, &mut note),
        Check::Jti => note(
            "single use",
            "not checked offline: the proxy refuses a jti already used by this client until \
             exp + skew (\"jti already used\"); send a fresh jti with every request"
                .into(),
        ),
        Check::OptionalJti => {
            let once = "not checked offline: a jti, when present, is single use";
            note("single use", once.into());
            let id = c.s.client_id;
            note(
                "parameters",
                format!(
                    "at /authorize the client_id request parameter must be {id:?} too; \
                     parameters outside the object follow jar.outside_parameters"
                ),
            )
        }
        _ => {}
    }
}

/// What the token has: the values the fault carries, else the member the rule read.
fn actual(c: &Context, check: Check, fault: Option<&TokenFault>) -> String {
    use TokenFault::*;
    let (s, alg) = (c.s, c.text("alg"));
    if let Some(detail) = fault.and_then(TokenFault::detail) {
        return detail;
    }
    match (check, fault) {
        (Check::Size, None) => format!("{} bytes", s.jws.token().len()),
        (Check::Shape, None) => {
            let [h, p, sig] = s.jws.decoded_lens();
            format!("three parts of {h}, {p} and {sig} bytes")
        }
        (Check::Header | Check::Claims, None) => "a JSON object without duplicate members".into(),
        (Check::Header | Check::Claims, Some(_)) => "no JSON object".into(),
        (Check::AlgAllowed, Some(AlgNotAllowed)) if Alg::parse(alg).is_none() => {
            format!("{alg:?} is never accepted (none and HS* are not signature algorithms)")
        }
        (Check::AlgAllowed | Check::LevelAlg, _) => alg.into(),
        (Check::Signature, Some(AlgNotAllowed)) => format!("kid {} of another alg", c.got("kid")),
        (_, Some(BadSignature)) => {
            let kid = c.header("kid").and_then(Value::as_str);
            let tried = Alg::parse(alg).map(|a| names(Jws::candidates(c.sets, a, kid, s.now)));
            let tried = tried.unwrap_or_default();
            format!("a signature that does not verify with {tried} (another key, or altered)")
        }
        (Check::TimeClaims, None) => "numbers (those present)".into(),
        (Check::NotExpired, None) => c.time("exp").map_or_else(String::new, |e| {
            format!("{}, {} left", e.dated(), c.since(e))
        }),
        (Check::Lifetime, None) => {
            let t = s.jws.claims().ok().and_then(times);
            let lifetime = t.and_then(|t| {
                let (start, from) = lifetime_start(&t, s.now);
                Some(format!("exp − {from} = {} s", Seconds(t.exp? - start)))
            });
            lifetime.unwrap_or_default()
        }
        (Check::Exp | Check::Iat | Check::Nbf | Check::NbfRequired, _) => {
            c.time(check.name()).map_or("absent".into(), Seconds::dated)
        }
        (Check::Typ, Some(TypNotAllowed)) => match typ_is(c.text("typ"), s.kind.other().typ()) {
            true => format!("{} (the other kind's: types never cross)", c.got("typ")),
            false => c.got("typ"),
        },
        (Check::IssIsSub, _) => format!("iss {} and sub {}", c.got("iss"), c.got("sub")),
        (Check::SubIsClient | Check::SubNotClient, _) => c.got("sub"),
        (Check::IssIsClient, _) => c.got("iss"),
        (Check::OptionalJti, _) => c.got("jti"),
        _ => c.got(check.name()),
    }
}

/// After a failed signature step: does another of the client's keys verify it?
fn hints(c: &Context, note: &mut impl FnMut(&'static str, String)) {
    let (Some(client), Some(alg)) = (c.client, Alg::parse(c.text("alg"))) else {
        return;
    };
    let s = c.s;
    let verifies = |cred: &&Credential| cred.key.fits(alg) && s.jws.verifies_with(cred, alg);
    let other = s.kind.other();
    if let Some(cred) = other.keys(client).current(s.now).find(verifies) {
        let (name, what, use_) = (&cred.name, s.kind.what(), other.what());
        note(
            "hint",
            format!(
                "the signature verifies with {name:?}, a credential for {use_}s: keys never \
                 cross uses; sign a {what} with a key registered for it"
            ),
        );
    }
    let all = c.sets.iter().flat_map(|set| set.all());
    if let Some(cred) = all.filter(|k| !k.is_current(s.now)).find(verifies) {
        let at = cred.expires_at.map_or_else(String::new, rfc3339);
        let text = format!(
            "the signature verifies with {:?}, which expired at {at}",
            cred.name
        );
        note("hint", text);
    }
}
