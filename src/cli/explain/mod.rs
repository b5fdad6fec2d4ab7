//! `jargate explain`: SPEC §5 on one token, for a client developer. It runs the proxy's own
//! named checks (`rules::run`) without stopping at the first failure and prints a ✓/✗ line per
//! rule with the values it was decided on ([`lines`]), the decoded header and claims, and the
//! verdict: the first failure, the one the proxy answers with. A client whose keys for this use
//! are behind a `jwks_uri` has its set fetched first (as the proxy would), or the output says it
//! could not be. Exit 0 valid, 1 invalid, 2 usage or configuration error.

mod lines;

use super::online::{describe_keys, Online};
use super::{rfc3339, Style, EXIT_FAILURE, EXIT_USAGE};
use crate::clock::unix_now;
use crate::config::{Client, EnforcementMode, Snapshot};
use crate::jose::Jws;
use crate::keys::CredentialSet;
use crate::reject::{ClientFault, Rejection, RequestFault};
use crate::rules::{self, claims::typ_is, Outcome, Subject, TokenKind};
use clap::Args;
use lines::{Line, Mark};
use serde_json::{Map, Value};
use std::io::Read;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The jargate.toml whose registry and limits apply.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The client (default: the token's sub or iss for an assertion, client_id or iss for a
    /// request object).
    #[arg(long)]
    pub client: Option<String>,
    /// What the token is (default: guessed from its claims and typ).
    #[arg(long = "as", value_enum)]
    pub kind: Option<TokenKind>,
    /// The compact JWT, or - to read it from standard input.
    pub token: String,
}

pub fn run(args: &ExplainArgs) -> ExitCode {
    let loaded = read_token(&args.token).and_then(|t| Ok((Snapshot::load(&args.config)?, t)));
    let (snapshot, token) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("jargate explain: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let jws = Jws::read(&token);
    let target = Target::of(&jws, args.client.as_deref(), args.kind);
    let (text, valid) = explain(&snapshot, &jws, &target, unix_now(), Style::stdout());
    out!("{text}");
    match valid {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(EXIT_FAILURE),
    }
}

fn read_token(arg: &str) -> Result<String, String> {
    let mut text = arg.to_owned();
    if arg == "-" {
        text.clear();
        let read = std::io::stdin().read_to_string(&mut text);
        read.map_err(|e| format!("cannot read the token from standard input: {e}"))?;
    }
    match text.trim() {
        "" => Err("no token given".into()),
        token => Ok(token.to_owned()),
    }
}

/// What the token is and whose, from the arguments or guessed from its unverified header and
/// claims. An empty id names no client.
struct Target {
    kind: TokenKind,
    kind_reason: String,
    client_id: Option<String>,
    client_reason: String,
}

impl Target {
    fn of(jws: &Jws, client: Option<&str>, kind: Option<TokenKind>) -> Target {
        let (kind, kind_reason) = match kind {
            Some(k) => (k, "from --as".to_string()),
            None => guess_kind(jws),
        };
        let names = match kind {
            TokenKind::Assertion => ["sub", "iss"],
            TokenKind::RequestObject => ["client_id", "iss"],
        };
        let named = |n: &&'static str| {
            let id = jws.unverified(n).filter(|v| !v.is_empty())?;
            Some((id.to_owned(), *n))
        };
        let (client_id, client_reason) = match client.filter(|c| !c.is_empty()) {
            Some(c) => (Some(c.to_owned()), "from --client".to_string()),
            None => match names.iter().find_map(named) {
                Some((id, n)) => (Some(id), format!("from the token's {n} claim")),
                None => (None, "the token names no client".into()),
            },
        };
        Target {
            kind,
            kind_reason,
            client_id,
            client_reason,
        }
    }
}

fn guess_kind(jws: &Jws) -> (TokenKind, String) {
    use TokenKind::{Assertion, RequestObject};
    let header = jws.unverified_header();
    let typ = header
        .and_then(|h| h.get("typ")?.as_str())
        .unwrap_or_default();
    let has = |name| {
        jws.unverified_claims()
            .is_some_and(|c| c.contains_key(name))
    };
    let from_typ = format!("guessed from typ {typ:?}");
    let guesses = [
        (
            has("response_type"),
            RequestObject,
            "guessed: the claims carry response_type",
        ),
        (typ_is(typ, "oauth-authz-req+jwt"), RequestObject, &from_typ),
        (
            typ_is(typ, "client-authentication+jwt"),
            Assertion,
            &from_typ,
        ),
        (
            has("client_id") && !has("sub"),
            RequestObject,
            "guessed: client_id claim and no sub",
        ),
    ];
    let otherwise = (true, Assertion, "guessed: no response_type");
    let (_, kind, why) = guesses.into_iter().find(|g| g.0).unwrap_or(otherwise);
    (kind, format!("{why}; --as to choose"))
}

/// The keys of the client's `jwks_uri`s for `kind`, and a line per URI.
fn fetch_remote(
    snapshot: &Snapshot,
    client: &Client,
    kind: TokenKind,
) -> (CredentialSet, Vec<String>) {
    let (uris, mut keys, mut notes) = (kind.jwks_uris(client), Vec::new(), Vec::new());
    if uris.is_empty() {
        return (CredentialSet::default(), notes);
    }
    let probe = match Online::new(snapshot) {
        Ok(probe) => probe,
        Err(e) => {
            notes.push(format!(
                "cannot fetch {}: {e}; their keys are not checked",
                uris.join(", ")
            ));
            return (CredentialSet::default(), notes);
        }
    };
    for uri in uris {
        match probe.fetch(uri) {
            Ok(set) => {
                notes.push(format!("{uri}: {}", describe_keys(&set.keys)));
                keys.extend(set.keys.all().iter().cloned());
            }
            Err(e) => notes.push(format!(
                "{uri}: cannot fetch ({e}); its keys are not checked, and the proxy answers \
                 jwks_unavailable while it cannot fetch them either"
            )),
        }
    }
    (CredentialSet::new(keys), notes)
}

/// Runs every rule on the token and renders it; `true` when the proxy would accept it.
fn explain(snapshot: &Snapshot, jws: &Jws, t: &Target, now: i64, style: Style) -> (String, bool) {
    let kind = t.kind;
    let found = t
        .client_id
        .as_deref()
        .and_then(|id| snapshot.registry.get(id));
    let (fetched, notes) = match found {
        Some(client) => fetch_remote(snapshot, client, kind),
        None => Default::default(),
    };
    let sets: Vec<&CredentialSet> = found.map_or(Vec::new(), |c| vec![kind.keys(c), &fetched]);
    let subject = Subject {
        jws,
        kind,
        policy: kind.policy(&snapshot.policies),
        client_id: t.client_id.as_deref().unwrap_or_default(),
        keys: found.map(|_| sets.as_slice()),
        now,
    };
    let context = lines::Context {
        s: &subject,
        client: found.map(|c| c.as_ref()),
        sets: &sets,
    };
    let mut checks = vec![lines::client(&t.client_id, found.is_some())];
    let mut first = None;
    rules::run(&subject, &mut |check, outcome| {
        if let Outcome::Fail(fault) = &outcome {
            first.get_or_insert_with(|| fault.clone());
        }
        lines::push(&context, check, &outcome, &mut checks);
        ControlFlow::Continue(())
    });
    let verdict = match (found, kind) {
        (None, TokenKind::Assertion) => Some(Rejection::Client(ClientFault::Unknown)),
        (None, TokenKind::RequestObject) => Some(RequestFault::UnknownClient.into()),
        (Some(_), _) => first.map(|f| kind.rejection(f)),
    };
    let what = kind.what();
    let id = match &t.client_id {
        Some(id) if found.is_none() => format!("{id:?} ({}; not in the registry)", t.client_reason),
        Some(id) => format!("{id:?} ({})", t.client_reason),
        None => format!("(none) ({})", t.client_reason),
    };
    let mut out = format!("kind     {what} ({})\nclient   {id}\n", t.kind_reason);
    notes
        .iter()
        .for_each(|note| out += &format!("jwks     {note}\n"));
    out += &format!("now      {now} ({})\n\n", rfc3339(now));
    out += &style.bold("checks, in the proxy's order\n");
    let width = checks.iter().map(|l| l.check.len()).max().unwrap_or(0);
    for Line { mark, check, text } in &checks {
        let (mark, rule) = match mark {
            Mark::Pass => (style.good("✓"), String::new()),
            Mark::Fail(rule) => (style.bad("✗"), format!("  [{rule}]")),
            Mark::Info => (style.dim("·"), String::new()),
            Mark::Skip => (style.dim("-"), String::new()),
        };
        out += &format!("  {mark} {check:width$} {text}{rule}\n");
    }
    let pretty = |map: &Map<String, Value>| serde_json::to_string_pretty(map).unwrap_or_default();
    if let Ok(header) = jws.header() {
        out += &format!("\n{}\n{}\n", style.bold("header"), pretty(header));
        match jws.claims() {
            Ok(claims) => out += &format!("\n{}\n{}\n", style.bold("claims"), pretty(claims)),
            Err(_) => {
                out += &format!(
                    "\n{}\n{}\n",
                    style.bold("payload (not a valid claims object)"),
                    String::from_utf8_lossy(jws.payload())
                )
            }
        }
    }
    out += &match &verdict {
        None => format!(
            "\nverdict: {} the proxy forwards this {what}, provided its jti was not used before\n",
            style.good("VALID:")
        ),
        Some(r) => format!(
            "\nverdict: {} (rule: {}) the proxy answers {} {}: {:?}\n",
            style.bad("INVALID"),
            r.rule(),
            r.status(),
            r.error(),
            r.description()
        ),
    };
    let mode = crate::gate::report::mode_for(snapshot, found.map(|c| c.id.as_str()));
    if mode == EnforcementMode::Report && verdict.is_some() {
        out += "report mode: the proxy forwards this request as received and logs it as \
                would_reject with the rule above\n";
    }
    (out, verdict.is_none())
}
