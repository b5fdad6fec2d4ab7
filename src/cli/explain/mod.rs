//! `jargate explain`: a dry run of SPEC §5 on one token, for a client developer. It prints a
//! ✓/✗ line per rule ([`steps`], [`times`], [`kinds`]), the decoded header and claims, and the
//! verdict with the answer the proxy would give ([`signature`] covers the credentials). The verdict comes from the proxy's own rule
//! functions (`rules::check_assertion` / `rules::check_request_object`), so `explain` and the
//! proxy cannot disagree; the lines only add detail. A client whose keys for this use are
//! behind a `jwks_uri` has its set fetched first (as the proxy would), or the output says it
//! could not be. Exit 0 valid, 1 invalid, 2 usage or configuration error.

mod kinds;
mod signature;
mod steps;
mod times;

pub use steps::{Line, Mark};

use super::online::{describe_keys, Online};
use super::sign::Kind;
use super::{pad, rfc3339, Style, EXIT_FAILURE, EXIT_USAGE};
use crate::clock::unix_now;
use crate::config::{Client, Snapshot};
use crate::keys::{Credential, CredentialSet};
use crate::reject::{ClientFault, Rejection, RequestFault, TokenFault};
use crate::rules::claims::typ_is;
use crate::rules::{check_assertion, check_request_object};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use clap::Args;
use serde_json::{Map, Value};
use std::io::Read;
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
    pub kind: Option<Kind>,
    /// The compact JWT, or - to read it from standard input.
    pub token: String,
}

/// The outcome of one explanation, for printing and for tests.
pub struct Explanation {
    pub kind: Kind,
    pub kind_reason: String,
    pub client_id: Option<String>,
    pub client_reason: String,
    pub lines: Vec<Line>,
    pub header: Option<Value>,
    pub claims: Option<Value>,
    pub payload_text: Option<String>,
    /// What the proxy answers, from the rule functions: `None` when the token is valid.
    pub verdict: Option<Rejection>,
    /// Whether the client is in the registry.
    pub registered: bool,
    /// What was fetched from the client's `jwks_uri`s, or why not.
    pub remote_notes: Vec<String>,
    /// The first ✗ line does not name the verdict's fault (a bug in this module).
    pub disagreement: bool,
    /// Report mode for this client: a refusal is forwarded as `would_reject` instead.
    pub report_mode: bool,
}

pub fn run(args: &ExplainArgs) -> ExitCode {
    let token = match read_token(&args.token) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("jargate explain: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let snapshot = match Snapshot::load(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("jargate explain: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let now = unix_now();
    let (kind, _, client_id, _) = target(&token, args.client.as_deref(), args.kind);
    let remote = client_id
        .as_deref()
        .and_then(|id| snapshot.registry.get(id))
        .map(|c| fetch_remote(&snapshot, c, kind))
        .unwrap_or_default();
    let explanation = explain_with(
        &snapshot,
        &token,
        args.client.as_deref(),
        args.kind,
        now,
        &remote,
    );
    out!("{}", render(&explanation, now, Style::stdout()));
    if explanation.verdict.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    }
}

fn read_token(arg: &str) -> Result<String, String> {
    let text = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the token from standard input: {e}"))?;
        text
    } else {
        arg.to_owned()
    };
    let token = text.trim();
    if token.is_empty() {
        return Err("no token given".into());
    }
    Ok(token.to_owned())
}

/// The header and claims of a token decoded leniently, only to guess what it is and whose.
fn peek(token: &str) -> (Map<String, Value>, Map<String, Value>) {
    let part = |i: usize| -> Map<String, Value> {
        token
            .split('.')
            .nth(i)
            .and_then(|p| B64.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    (part(0), part(1))
}

fn guess_kind(header: &Map<String, Value>, claims: &Map<String, Value>) -> (Kind, String) {
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if claims.contains_key("response_type") {
        (
            Kind::Request,
            "guessed: the claims carry response_type".into(),
        )
    } else if typ_is(typ, "oauth-authz-req+jwt") {
        (Kind::Request, format!("guessed from typ {typ:?}"))
    } else if typ_is(typ, "client-authentication+jwt") {
        (Kind::Assertion, format!("guessed from typ {typ:?}"))
    } else if claims.contains_key("client_id") && !claims.contains_key("sub") {
        (Kind::Request, "guessed: client_id claim and no sub".into())
    } else {
        (Kind::Assertion, "guessed: no response_type".into())
    }
}

/// Keys fetched from a client's `jwks_uri`s for one use, and a line per URI.
#[derive(Default)]
pub struct Remote {
    pub keys: Vec<Credential>,
    pub notes: Vec<String>,
}

/// Fetches the client's JWK Sets for the use `kind` needs.
fn fetch_remote(snapshot: &Snapshot, client: &Client, kind: Kind) -> Remote {
    let uris = match kind {
        Kind::Assertion => &client.auth_jwks_uris,
        Kind::Request => &client.jar_jwks_uris,
    };
    let mut remote = Remote::default();
    if uris.is_empty() {
        return remote;
    }
    let probe = match Online::new(snapshot) {
        Ok(p) => p,
        Err(e) => {
            remote.notes.push(format!(
                "cannot fetch {}: {e}; their keys are not checked",
                uris.join(", ")
            ));
            return remote;
        }
    };
    for uri in uris {
        match probe.fetch(uri) {
            Ok(set) => {
                remote
                    .notes
                    .push(format!("{uri}: {}", describe_keys(&set.keys)));
                remote.keys.extend(set.keys.all().iter().cloned());
            }
            Err(e) => remote.notes.push(format!(
                "{uri}: cannot fetch ({e}); its keys are not checked, and the proxy answers \
                 jwks_unavailable while it cannot fetch them either"
            )),
        }
    }
    remote
}

/// What the token is and whose, from the arguments or guessed from the token. An empty id
/// names no client.
fn target(
    token: &str,
    client: Option<&str>,
    kind: Option<Kind>,
) -> (Kind, String, Option<String>, String) {
    let (header, claims) = peek(token);
    let (kind, kind_reason) = match kind {
        Some(k) => (k, "from --as".to_string()),
        None => {
            let (k, why) = guess_kind(&header, &claims);
            (k, format!("{why}; --as to choose"))
        }
    };
    let claim_names: &[&str] = match kind {
        Kind::Assertion => &["sub", "iss"],
        Kind::Request => &["client_id", "iss"],
    };
    let (client_id, client_reason) = match client.filter(|c| !c.is_empty()) {
        Some(c) => (Some(c.to_owned()), "from --client".to_string()),
        None => claim_names
            .iter()
            .find_map(|n| {
                let v = claims.get(*n)?.as_str().filter(|v| !v.is_empty())?;
                Some((Some(v.to_owned()), format!("from the token's {n} claim")))
            })
            .unwrap_or((None, "the token names no client".into())),
    };
    (kind, kind_reason, client_id, client_reason)
}

/// Runs every rule on `token` against the registered keys only.
pub fn explain(
    snapshot: &Snapshot,
    token: &str,
    client: Option<&str>,
    kind: Option<Kind>,
    now: i64,
) -> Explanation {
    explain_with(snapshot, token, client, kind, now, &Remote::default())
}

/// Runs every rule on `token`, the `remote` keys counting as the client's for this use; the
/// verdict comes from the proxy's rule functions.
pub fn explain_with(
    snapshot: &Snapshot,
    token: &str,
    client: Option<&str>,
    kind: Option<Kind>,
    now: i64,
    remote: &Remote,
) -> Explanation {
    let (kind, kind_reason, client_id, client_reason) = target(token, client, kind);
    let settings = &snapshot.settings;
    let with_remote: Option<Client> = client_id
        .as_deref()
        .and_then(|id| snapshot.registry.get(id))
        .map(|c| with_keys(c, kind, &remote.keys));
    let found = with_remote.as_ref();
    let subject = steps::Subject {
        token,
        kind,
        client_id: client_id.as_deref(),
        client: found,
        settings,
        now,
    };
    let (lines, decoded) = steps::evaluate(&subject);
    let verdict = match (found, kind) {
        (None, Kind::Assertion) => Some(Rejection::Client(ClientFault::Unknown)),
        (None, Kind::Request) => Some(Rejection::Request(RequestFault::UnknownClient)),
        (Some(c), Kind::Assertion) => check_assertion(token, c, settings, now)
            .err()
            .map(|f| Rejection::Client(ClientFault::Assertion(f))),
        (Some(c), Kind::Request) => check_request_object(token, c, settings, now)
            .err()
            .map(Rejection::RequestObject),
    };
    let first_fail = lines.iter().find_map(|l| match &l.mark {
        Mark::Fail(f) => Some(f.clone()),
        _ => None,
    });
    let disagreement = first_fail != verdict.as_ref().map(fault_of);
    Explanation {
        kind,
        kind_reason,
        client_id,
        client_reason,
        lines,
        header: decoded.header.map(Value::Object),
        claims: decoded.claims.map(Value::Object),
        payload_text: decoded.payload_text,
        verdict,
        registered: found.is_some(),
        remote_notes: remote.notes.clone(),
        disagreement,
        report_mode: crate::gate::report::mode_for(snapshot, found.map(|c| c.id.as_str()))
            == crate::config::EnforcementMode::Report,
    }
}

/// The client with `extra` keys added to those of the use `kind` needs.
fn with_keys(client: &Client, kind: Kind, extra: &[Credential]) -> Client {
    let mut client = client.clone();
    let set = match kind {
        Kind::Assertion => &mut client.auth_keys,
        Kind::Request => &mut client.jar_keys,
    };
    if !extra.is_empty() {
        let mut all = set.all().to_vec();
        all.extend(extra.iter().cloned());
        *set = CredentialSet::new(all);
    }
    client
}

/// The token fault inside a rejection (`None` for an unknown client).
fn fault_of(r: &Rejection) -> Option<TokenFault> {
    match r {
        Rejection::Client(ClientFault::Assertion(f)) | Rejection::RequestObject(f) => {
            Some(f.clone())
        }
        _ => None,
    }
}

/// The text `explain` prints.
pub fn render(e: &Explanation, now: i64, style: Style) -> String {
    let what = match e.kind {
        Kind::Assertion => "client assertion",
        Kind::Request => "request object",
    };
    let mut out = String::new();
    out += &format!("kind     {what} ({})\n", e.kind_reason);
    let registered = match (&e.client_id, e.registered) {
        (None, _) => "",
        (Some(_), true) => "",
        (Some(_), false) => "; not in the registry",
    };
    out += &format!(
        "client   {} ({}{registered})\n",
        e.client_id
            .as_deref()
            .map_or("(none)".to_string(), |id| format!("{id:?}")),
        e.client_reason
    );
    for note in &e.remote_notes {
        out += &format!("jwks     {note}\n");
    }
    out += &format!("now      {now} ({})\n\n", rfc3339(now));
    out += &style.bold("checks, in the proxy's order\n");
    let width = e.lines.iter().map(|l| l.check.len()).max().unwrap_or(0);
    for line in &e.lines {
        let (mark, rule) = match &line.mark {
            Mark::Pass => (style.good("✓"), String::new()),
            Mark::Fail(Some(f)) => (style.bad("✗"), format!("  [{}]", f.rule())),
            Mark::Fail(None) => (style.bad("✗"), "  [unknown_client]".to_string()),
            Mark::Info => (style.dim("·"), String::new()),
            Mark::Skip => (style.dim("-"), String::new()),
        };
        out += &format!("  {mark} {} {}{rule}\n", pad(line.check, width), line.text);
    }
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    if let Some(h) = &e.header {
        out += &format!("\n{}\n{}\n", style.bold("header"), pretty(h));
    }
    match (&e.claims, &e.payload_text) {
        (Some(c), _) => out += &format!("\n{}\n{}\n", style.bold("claims"), pretty(c)),
        (None, Some(raw)) if e.header.is_some() => {
            out += &format!(
                "\n{}\n{raw}\n",
                style.bold("payload (not a valid claims object)")
            )
        }
        _ => {}
    }
    out += "\n";
    match &e.verdict {
        None => {
            out += &format!(
                "verdict: {} the proxy forwards this {what}, provided its jti was not used \
                 before\n",
                style.good("VALID:")
            );
        }
        Some(r) => {
            out += &format!(
                "verdict: {} (rule: {}) the proxy answers {} {}: {:?}\n",
                style.bad("INVALID"),
                r.rule(),
                r.status(),
                r.error(),
                r.description()
            );
        }
    }
    if e.report_mode && e.verdict.is_some() {
        out += "report mode: the proxy forwards this request as received and logs it as \
                would_reject with the rule above\n";
    }
    if e.disagreement {
        out += "note: the first ✗ line above differs from the verdict, which is what the proxy \
                does; please report this\n";
    }
    out
}
