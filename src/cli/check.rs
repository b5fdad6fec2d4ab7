//! `jargate check`: loads a configuration exactly as `serve` does ([`Snapshot::load`]) and
//! prints what it loaded: the listeners and upstream, every client with its credentials per use
//! (name, kid, alg, expiry) and `jwks_uri`s, and warnings (a key registered for both uses, a
//! credential or the TLS certificate expired or expiring within 30 days, a use left with no
//! current key). Exit 0 when it loads (warnings or not), 1 with the loader's own error otherwise.
//! With `--online` it also fetches every `jwks_uri` (keys found, their kids and algs) and
//! pings the store, and fails when one does not answer; without, it says they were not
//! contacted.

use super::online::{self, Online};
use super::{rfc3339, EXIT_FAILURE};
use crate::clock::unix_now;
use crate::config::{tls, Backend, Client, EnforcementMode, Mode, Snapshot};
use crate::gate::report;
use crate::keys::{Credential, CredentialSet, KeyKind};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Credentials expiring within this many seconds are warned about.
const SOON: i64 = 30 * 24 * 3600;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The jargate.toml to check (and the clients.json and key files it names).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Also fetch every jwks_uri and ping the store (Redis).
    #[arg(long)]
    pub online: bool,
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let snapshot = match Snapshot::load(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let now = unix_now();
    out!("{}", summary(&snapshot, now));
    let warnings = warnings(&snapshot, now);
    if !warnings.is_empty() {
        outln!("\nwarnings:");
        for w in &warnings {
            outln!("  warning: {w}");
        }
    }
    let failures = if args.online {
        online(&snapshot)
    } else {
        outln!("\n{}", not_contacted(&snapshot));
        0
    };
    if failures > 0 {
        eprintln!(
            "error: {}: {failures} of the places contacted did not answer as they must",
            args.config.display()
        );
        return ExitCode::from(EXIT_FAILURE);
    }
    let clients = snapshot.registry.len();
    outln!(
        "\nok: {} ({clients} client{}, {} warning{})",
        args.config.display(),
        if clients == 1 { "" } else { "s" },
        warnings.len(),
        if warnings.len() == 1 { "" } else { "s" },
    );
    ExitCode::SUCCESS
}

/// Every `jwks_uri` of the registry with who uses it (`app-1 client assertions, …`).
fn jwks_uris(snapshot: &Snapshot) -> BTreeMap<&str, Vec<String>> {
    let mut uris: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for client in sorted_clients(snapshot) {
        for (list, use_) in [
            (&client.auth_jwks_uris, "client assertions"),
            (&client.jar_jwks_uris, "request objects"),
        ] {
            for uri in list {
                uris.entry(uri.as_str())
                    .or_default()
                    .push(format!("{} {use_}", client.id));
            }
        }
    }
    uris
}

fn not_contacted(snapshot: &Snapshot) -> String {
    let uris = jwks_uris(snapshot).len();
    let store = match snapshot.settings.store.backend {
        Backend::Memory => "the memory store needs none".to_string(),
        Backend::Redis => format!("the redis store at {}", online::redis_place(snapshot)),
    };
    format!(
        "not contacted (jargate check --online does): {uris} jwks_uri{}; {store}",
        if uris == 1 { "" } else { "s" }
    )
}

/// Fetches every `jwks_uri` and pings the store; returns how many failed.
fn online(snapshot: &Snapshot) -> usize {
    outln!("\nonline");
    let probe = match Online::new(snapshot) {
        Ok(p) => p,
        Err(e) => {
            outln!("  cannot contact anything: {e}");
            return 1;
        }
    };
    let mut failures = 0;
    for (uri, users) in jwks_uris(snapshot) {
        let result = probe.fetch(uri);
        let found = match &result {
            Ok(set) if set.key_count > 0 => online::describe_keys(&set.keys),
            Ok(_) => "FAILED: the set holds no signature key".into(),
            Err(e) => format!("FAILED: {e}"),
        };
        if found.starts_with("FAILED") {
            failures += 1;
        }
        outln!("  jwks_uri {uri} ({}): {found}", users.join(", "));
    }
    match probe.ping_store(snapshot) {
        Ok(ok) => outln!("  store    {ok}"),
        Err(e) => {
            failures += 1;
            outln!("  store    FAILED: {e}");
        }
    }
    failures
}

fn sorted_clients(snapshot: &Snapshot) -> Vec<&Client> {
    let mut clients: Vec<&Client> = snapshot.registry.clients().map(|c| c.as_ref()).collect();
    clients.sort_by(|a, b| a.id.cmp(&b.id));
    clients
}

/// The loaded configuration, as text.
pub fn summary(snapshot: &Snapshot, now: i64) -> String {
    let s = &snapshot.settings;
    let mut out = String::new();
    let mode = match s.upstream.mode {
        Mode::Passthrough => "passthrough",
        Mode::Legacy => "legacy",
    };
    let admin = snapshot
        .admin_addr
        .map_or("disabled".to_string(), |a| a.to_string());
    out += &format!("proxy      {}\n", snapshot.proxy_addr);
    out += &format!("admin      {admin}\n");
    match (&s.listen.tls_cert, tls::leaf(snapshot)) {
        (Some(cert), Some((subject, not_after))) => {
            out += &format!(
                "tls        {cert} ({subject}, expires {})\n",
                rfc3339(not_after)
            )
        }
        (Some(cert), None) => out += &format!("tls        {cert}\n"),
        (None, _) => out += "tls        off (plain HTTP on the proxy listener)\n",
    }
    out += &super::check_mtls::sources(snapshot);
    out += &format!("upstream   {} ({mode})\n", s.upstream.url);
    let aliases = if s.issuer.aliases.is_empty() {
        String::new()
    } else {
        format!(" (aliases: {})", s.issuer.aliases.join(", "))
    };
    out += &format!("issuer     {}{aliases}\n", s.issuer.identifier);
    out += &format!("store      {:?}\n", s.store.backend).to_lowercase();
    out += &enforcement_line(snapshot);
    let level = snapshot.compliance.global();
    if level.is_set() {
        out += &format!("compliance {level} (clients without compliance_level)\n");
    }
    out += &format!("clients    {}\n", snapshot.registry.len());
    for client in sorted_clients(snapshot) {
        out += &format!("\nclient {}", client.id);
        if let Some(name) = &client.name {
            out += &format!(" ({name})");
        }
        out += "\n";
        let auth_method = if client.requires_private_key_jwt {
            "private_key_jwt required"
        } else if client.auth_required {
            "a registered method required (mTLS or private_key_jwt, as listed below)"
        } else {
            "other methods forwarded; assertions validated when sent"
        };
        out += &format!("  token endpoint auth: {auth_method}\n");
        let jar = if client.requires_signed_request {
            "required"
        } else {
            "optional"
        };
        out += &format!("  signed request objects: {jar}\n");
        if client.requires_par {
            out += "  pushed authorization requests: required (require_pushed_authorization_requests)\n";
        }
        out += &super::compliance::client_lines(snapshot, client);
        if report::mode_for(snapshot, Some(&client.id)) == EnforcementMode::Report {
            out += "  enforcement: report (NOT ENFORCED: refusals are forwarded as would_reject)\n";
        }
        out += &uses(
            "client assertion credentials",
            &client.auth_keys,
            &client.auth_jwks_uris,
            now,
        );
        out += &uses(
            "request object credentials",
            &client.jar_keys,
            &client.jar_jwks_uris,
            now,
        );
        out += &super::check_mtls::client(client, now);
        if client.upstream_client_secret.is_some() {
            out += "  upstream client secret: set\n";
        }
    }
    out
}

/// The global mode, and in report mode plainly what is not enforced.
fn enforcement_line(snapshot: &Snapshot) -> String {
    let unenforced = report::unenforced_clients(snapshot);
    match snapshot.settings.enforcement.mode {
        EnforcementMode::Report => format!(
            "enforcement report: NOTHING IS REFUSED for a rule except clients with \
             jargate_enforcement = \"enforce\" ({} of {} clients not enforced)\n",
            unenforced.len(),
            snapshot.registry.len()
        ),
        EnforcementMode::Enforce if unenforced.is_empty() => "enforcement enforce\n".into(),
        EnforcementMode::Enforce => format!(
            "enforcement enforce, except clients in report mode: {}\n",
            unenforced.join(", ")
        ),
    }
}

fn uses(title: &str, set: &CredentialSet, uris: &[String], now: i64) -> String {
    let mut out = format!("  {title}:");
    if set.is_empty() && uris.is_empty() {
        return out + " none\n";
    }
    out += "\n";
    for c in set.all() {
        out += &format!(
            "    {:<16} kid {:<44} {:<6} {:<8} {}\n",
            c.name,
            c.kid,
            c.alg.name(),
            key_desc(c),
            expiry(c, now)
        );
    }
    for uri in uris {
        out += &format!("    jwks_uri {uri}\n");
    }
    out
}

fn key_desc(c: &Credential) -> String {
    match c.key.kind() {
        KeyKind::Rsa => format!("RSA-{}", c.key.rsa_bits()),
        KeyKind::P256 => "P-256".into(),
        KeyKind::P384 => "P-384".into(),
        KeyKind::Ed25519 => "Ed25519".into(),
    }
}

fn expiry(c: &Credential, now: i64) -> String {
    match c.expires_at {
        None => "no expiry".into(),
        Some(t) if t <= now => format!("EXPIRED {} (ignored)", rfc3339(t)),
        Some(t) => format!("expires {} (in {} days)", rfc3339(t), (t - now) / 86_400),
    }
}

/// The registry's own warnings plus expiry warnings.
pub fn warnings(snapshot: &Snapshot, now: i64) -> Vec<String> {
    let mut out = snapshot.registry.warnings.clone();
    if let Some((subject, not_after)) = tls::leaf(snapshot) {
        if not_after <= now {
            out.push(format!(
                "TLS certificate {subject} expired at {}",
                rfc3339(not_after)
            ));
        } else if not_after - now <= SOON {
            out.push(format!(
                "TLS certificate {subject} expires at {} (in {} days)",
                rfc3339(not_after),
                (not_after - now) / 86_400
            ));
        }
    }
    if snapshot.settings.enforcement.mode == EnforcementMode::Report {
        // One warning, not one per client: the summary marks each client not enforced.
        out.push(
            "enforcement.mode is \"report\": requests that break a rule are forwarded, not refused"
                .into(),
        );
    } else {
        for id in report::unenforced_clients(snapshot) {
            out.push(format!(
                "client {id:?} is not enforced (report mode): its refusals are only logged"
            ));
        }
    }
    out.extend(dpop_warnings(snapshot));
    for client in sorted_clients(snapshot) {
        out.extend(super::check_mtls::warnings(client, now));
        for (use_, set, uris) in [
            (
                "client assertion",
                &client.auth_keys,
                &client.auth_jwks_uris,
            ),
            ("request object", &client.jar_keys, &client.jar_jwks_uris),
        ] {
            for c in set.all() {
                match c.expires_at {
                    Some(t) if t <= now => out.push(format!(
                        "client {:?}: {use_} credential {:?} expired at {}",
                        client.id,
                        c.name,
                        rfc3339(t)
                    )),
                    Some(t) if t - now <= SOON => out.push(format!(
                        "client {:?}: {use_} credential {:?} expires at {} (in {} days)",
                        client.id,
                        c.name,
                        rfc3339(t),
                        (t - now) / 86_400
                    )),
                    _ => {}
                }
            }
            if !set.is_empty() && set.current(now).next().is_none() && uris.is_empty() {
                out.push(format!(
                    "client {:?}: no current {use_} credential: every {use_} will be refused",
                    client.id
                ));
            }
        }
    }
    out
}

/// SPEC §11: jargate's nonces with a per-process key behind several replicas (the redis store
/// says there are several), and DPoP-bound clients in legacy mode (the upstream mints bearer
/// tokens whatever the proof).
fn dpop_warnings(snapshot: &Snapshot) -> Vec<String> {
    let settings = &snapshot.settings;
    let mut out = Vec::new();
    let per_process = snapshot.dpop.nonce_key.is_none();
    if settings.dpop.nonce == crate::config::DpopNonce::Jargate
        && per_process
        && settings.store.backend == Backend::Redis
    {
        out.push(
            "dpop.nonce is \"jargate\" without dpop.nonce_key: each replica draws its own key, \
             so a nonce from one is refused by the others (set dpop.nonce_key on every replica)"
                .into(),
        );
    }
    if settings.upstream.mode == Mode::Legacy {
        let bound: Vec<&str> = sorted_clients(snapshot)
            .into_iter()
            .filter(|c| c.dpop_bound_access_tokens)
            .map(|c| c.id.as_str())
            .collect();
        if !bound.is_empty() {
            out.push(format!(
                "legacy mode: the upstream mints bearer tokens, so the DPoP proofs jargate \
                 requires of {bound:?} (dpop_bound_access_tokens) bind no token"
            ));
        }
    }
    out
}
