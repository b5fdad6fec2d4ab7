//! `jargate check`'s account of compliance levels (SPEC §9): each client's level, where it
//! comes from, the rules it brings, and the duties that stay with the upstream.

use crate::config::compliance::{AlgUse, LevelAuth, ResponseIss, SenderConstraint};
use crate::config::{Client, Level, Snapshot};

/// The lines of one client, empty for a client without a level.
pub fn client_lines(snapshot: &Snapshot, client: &Client) -> String {
    let level = client.level;
    let source = match client.compliance_level {
        Some(Level::None) if snapshot.compliance.global().is_set() => {
            "compliance_level \"none\": opts out of the global level"
        }
        Some(_) => "its compliance_level",
        None => "compliance.level",
    };
    if !level.is_set() {
        return match client.compliance_level {
            Some(Level::None) => format!("  compliance level: none ({source})\n"),
            _ => String::new(),
        };
    }
    let mut out = format!("  compliance level: {level} ({source})\n");
    for rule in rules(level, client) {
        out += &format!("    rule: {rule}\n");
    }
    out += &format!(
        "    left to the upstream: {}\n",
        upstream_duties(snapshot, level).join("; ")
    );
    out
}

fn algs(level: Level, kind: AlgUse) -> String {
    level.alg_names(kind)
}

/// SPEC §9's table, for this client's level.
fn rules(level: Level, client: &Client) -> Vec<String> {
    let mut rules = vec![
        "/authorize only with a PAR request_uri (a request by value is refused)".to_string(),
        "a request_uri jargate did not see pushed is refused".into(),
        "PAR: code_challenge with code_challenge_method S256".into(),
    ];
    if level.is_fapi2() {
        rules.push("PAR: response_type code; response_mode absent, query, jwt or query.jwt".into());
        rules.push(format!(
            "PAR: redirect_uri required, one of {} registered callback(s)",
            client.callbacks.iter().count()
        ));
        rules.push("a PAR request_uri older than 599 s is refused".into());
        rules.push("client assertions: aud one string equal to issuer.identifier".into());
        rules.push("token: password grants refused".into());
    } else {
        rules.push(
            "PAR: response_type code id_token, or code with response_mode jwt or query.jwt".into(),
        );
        rules.push(format!(
            "PAR: redirect_uri, when sent, one of {} registered callback(s)",
            client.callbacks.iter().count()
        ));
    }
    if level.jar_required() {
        rules.push("PAR: a signed request object is required".into());
    }
    rules.push(format!(
        "request objects: nbf and exp required, at most 60 min apart; alg {}",
        algs(level, AlgUse::RequestObject)
    ));
    match level.client_auth() {
        LevelAuth::PrivateKeyJwt => rules.push(format!(
            "client authentication: private_key_jwt only, alg {}",
            algs(level, AlgUse::Assertion)
        )),
        LevelAuth::Mtls => rules.push(
            "client authentication: tls_client_auth or self_signed_tls_client_auth only".into(),
        ),
        LevelAuth::Registry => {}
    }
    match level.sender_constraint() {
        SenderConstraint::Mtls => rules.push("token: a client certificate is required".into()),
        SenderConstraint::Dpop => rules.push(format!(
            "token: a valid DPoP proof is required, alg {}",
            algs(level, AlgUse::DpopProof)
        )),
        SenderConstraint::None => {}
    }
    rules
}

/// What a front door cannot do (SPEC §9).
fn upstream_duties(snapshot: &Snapshot, level: Level) -> Vec<&'static str> {
    let mut duties = vec![
        "authorization codes valid at most 60 s",
        "single-use codes",
        "the PKCE code_verifier check",
    ];
    if level.sender_constraint() != SenderConstraint::None {
        duties.push("binding tokens with cnf");
    }
    if snapshot.compliance.settings.response_iss == ResponseIss::Never {
        duties.push("iss on authorization responses (compliance.response_iss = \"never\")");
    }
    duties
}
