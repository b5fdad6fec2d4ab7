//! `jargate explain`: SPEC §5 on one token, for a client developer. It runs the proxy's own
//! named checks (`rules::run`) without stopping at the first failure and prints a ✓/✗ line per
//! rule with the values it was decided on ([`lines`]), the decoded header and claims, and the
//! verdict: the first failure, the one the proxy answers with. A client whose keys for this use
//! are behind a `jwks_uri` has its set fetched first (as the proxy would), or the output says it
//! could not be. Exit 0 valid, 1 invalid, 2 usage or configuration error.

mod dpop;
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
use lines::Mark;
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
    /// Explain a DPoP proof (SPEC §11) instead of a client assertion or request object.
    #[arg(long, requires = "htu")]
    pub dpop: bool,
    /// With --dpop: the URL of the endpoint the proof is sent to.
    #[arg(long, requires = "dpop")]
    pub htu: Option<String>,
    /// With --dpop: the request method.
    #[arg(long, default_value = "POST", requires = "dpop")]
    pub htm: String,
    /// The compact JWT, or - to read it from standard input.
    pub token: String,
}

pub fn run(args: &ExplainArgs) -> ExitCode {
    let loaded = read_token(&args.token).and_then(|t| Ok((Snapshot::load(&args.config)?, t)));
    let Ok((snapshot, token)) = loaded.map_err(|e| eprintln!("jargate explain: {e}")) else {
        return ExitCode::from(EXIT_USAGE);
    };
    if let (true, Some(htu)) = (args.dpop, &args.htu) {
        let style = Style::stdout();
        return match dpop::explain(&snapshot, &token, htu, &args.htm, unix_now(), style) {
            Ok((text, valid)) => {
                out!("{text}");
                ExitCode::from(if valid { 0 } else { EXIT_FAILURE })
            }
            Err(e) => {
                eprintln!("jargate explain: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        };
    }
    let jws = Jws::read(&token);
    let target = target(&jws, args.client.as_deref(), args.kind);
    let (text, valid) = explain(&snapshot, &jws, &target, unix_now(), Style::stdout());
    out!("{text}");
    ExitCode::from(if valid { 0 } else { EXIT_FAILURE })
}

fn read_token(arg: &str) -> Result<String, String> {
    let mut text = arg.to_owned();
    if arg == "-" {
        text.clear();
        let read = std::io::stdin().read_to_string(&mut text);
        read.map_err(|e| format!("cannot read the token from standard input: {e}"))?;
    }
    let token = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    token.ok_or_else(|| "no token given".into())
}

/// What the token is and whose, from the arguments or guessed from its unverified header and
/// claims, each with where it came from. An empty id names no client.
type Target = ((TokenKind, String), (Option<String>, String));

fn target(jws: &Jws, client: Option<&str>, kind: Option<TokenKind>) -> Target {
    let kind = kind.map_or_else(|| guess_kind(jws), |k| (k, "from --as".into()));
    let names = match kind.0 {
        TokenKind::Assertion => ["sub", "iss"],
        TokenKind::RequestObject => ["client_id", "iss"],
    };
    let named = |n: &&'static str| Some((jws.unverified(n).filter(|v| !v.is_empty())?, *n));
    let client = match (
        client.filter(|c| !c.is_empty()),
        names.iter().find_map(named),
    ) {
        (Some(c), _) => (Some(c.to_owned()), "from --client".into()),
        (None, Some((id, n))) => (Some(id.to_owned()), format!("from the token's {n} claim")),
        (None, None) => (None, "the token names no client".into()),
    };
    (kind, client)
}

fn guess_kind(jws: &Jws) -> (TokenKind, String) {
    use TokenKind::{Assertion, RequestObject};
    let typ = jws.unverified_header().and_then(|h| h.get("typ")?.as_str());
    let typ = typ.unwrap_or_default();
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
        (typ_is(typ, RequestObject.typ()), RequestObject, &from_typ),
        (typ_is(typ, Assertion.typ()), Assertion, &from_typ),
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
    let (uris, mut keys) = (kind.jwks_uris(client), Vec::new());
    let probe = match Online::new(snapshot) {
        _ if uris.is_empty() => return Default::default(),
        Ok(probe) => probe,
        Err(e) => {
            let uris = uris.join(", ");
            let note = format!("cannot fetch {uris}: {e}; their keys are not checked");
            return (CredentialSet::default(), vec![note]);
        }
    };
    let notes = uris.iter().map(|uri| match probe.fetch(uri) {
        Ok(set) => {
            keys.extend(set.keys.all().iter().cloned());
            format!("{uri}: {}", describe_keys(&set.keys))
        }
        Err(e) => format!(
            "{uri}: cannot fetch ({e}); its keys are not checked, and the proxy answers \
             jwks_unavailable while it cannot fetch them either"
        ),
    });
    let notes = notes.collect();
    (CredentialSet::new(keys), notes)
}

/// Runs every rule on the token and renders it; `true` when the proxy would accept it.
fn explain(snapshot: &Snapshot, jws: &Jws, t: &Target, now: i64, style: Style) -> (String, bool) {
    let ((kind, kind_reason), (client_id, client_reason)) = t;
    let (kind, what) = (*kind, kind.what());
    let found = client_id
        .as_deref()
        .and_then(|id| snapshot.registry.get(id));
    let (fetched, notes) = found.map_or_else(Default::default, |c| fetch_remote(snapshot, c, kind));
    let sets: Vec<&CredentialSet> = found.map_or(Vec::new(), |c| vec![kind.keys(c), &fetched]);
    let subject = Subject {
        jws,
        kind,
        policy: kind.policy(snapshot.policies_for(found.map(|c| c.level))),
        client_id: client_id.as_deref().unwrap_or_default(),
        keys: found.map(|_| sets.as_slice()),
        now,
    };
    let client = found.map(|c| c.as_ref());
    let context = lines::Context {
        s: &subject,
        client,
        sets: &sets,
    };
    let (mut checks, mut first) = (vec![lines::client(client_id, found.is_some())], None);
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
    let id = match client_id {
        Some(id) if found.is_none() => format!("{id:?} ({client_reason}; not in the registry)"),
        Some(id) => format!("{id:?} ({client_reason})"),
        None => format!("(none) ({client_reason})"),
    };
    let mut out = format!("kind     {what} ({kind_reason})\nclient   {id}\n");
    notes.iter().for_each(|n| out += &format!("jwks     {n}\n"));
    out += &format!("now      {now} ({})\n\n", rfc3339(now));
    out += &style.bold("checks, in the proxy's order\n");
    let width = checks.iter().map(|l| l.1.len()).max().unwrap_or(0);
    for (mark, check, text) in &checks {
        let (mark, rule) = match mark {
            Mark::Pass => (style.good("✓"), String::new()),
            Mark::Fail(rule) => (style.bad("✗"), format!("  [{rule}]")),
            Mark::Info => (style.dim("·"), String::new()),
            Mark::Skip => (style.dim("-"), String::new()),
        };
        out += &format!("  {mark} {check:width$} {text}{rule}\n");
    }
    let mut section =
        |title: &str, body: String| out += &format!("\n{}\n{body}\n", style.bold(title));
    let pretty = |map| serde_json::to_string_pretty(map).unwrap_or_default();
    if let Ok(header) = jws.header() {
        section("header", pretty(header));
        match jws.claims() {
            Ok(claims) => section("claims", pretty(claims)),
            Err(_) => section(
                "payload (not a valid claims object)",
                String::from_utf8_lossy(jws.payload()).into_owned(),
            ),
        }
    }
    out += &match &verdict {
        None => format!(
            "\nverdict: {} the proxy forwards this {what}, provided its jti was not used before\n",
            style.good("VALID:")
        ),
        Some(r) => {
            let (rule, status, error, why) = (r.rule(), r.status(), r.error(), r.description());
            let answer = format!("the proxy answers {status} {error}: {why:?}");
            format!(
                "\nverdict: {} (rule: {rule}) {answer}\n",
                style.bad("INVALID")
            )
        }
    };
    let mode = crate::gate::report::mode_for(snapshot, found.map(|c| c.id.as_str()));
    if mode == EnforcementMode::Report && verdict.is_some() {
        out += "report mode: the proxy forwards this request as received and logs it as \
                would_reject with the rule above\n";
    }
    (out, verdict.is_none())
}
