//! Discovery for a legacy IdP (SPEC §1 `discovery`, docs/legacy.md), through the
//! real `jargate` binary in front of a canned upstream that answers every request with fixed
//! bytes and records the request heads. In legacy mode with `legacy.discovery` (the default) a
//! `200` JSON-object answer on the two well-known paths gains jargate's PAR endpoint, request
//! object support, the algorithms and `private_key_jwt`; the upstream is asked for `identity`
//! encoding; everything else (compressed, not JSON, other status, other path, passthrough mode,
//! `discovery = false`) reaches the client byte for byte.

use crate::common::*;
use serde_json::{json, Value};

const OPENID: &str = "/.well-known/openid-configuration";
const OAUTH: &str = "/.well-known/oauth-authorization-server";
const ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// A legacy provider's document, pretty-printed, with members jargate must keep as they are.
const DOCUMENT: &str = r#"{
  "issuer": "https://idp.example/",
  "authorization_endpoint": "https://idp.example/authorize",
  "token_endpoint": "https://idp.example/oauth/token",
  "token_endpoint_auth_methods_supported": ["client_secret_post"],
  "claims_supported": ["sub", "email"],
  "x_vendor": {"nested": [1.50, true, null], "b": 2}
}"#;

async fn start(
    toml: &str,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (CannedUpstream, Jargate) {
    let upstream = CannedUpstream::start(status, headers, body.to_vec()).await;
    let jargate = Jargate::start(upstream.addr(), toml, default_clients_with_secret()).await;
    (upstream, jargate)
}

fn default_clients_with_secret() -> Value {
    let mut clients = default_clients();
    for c in clients["clients"].as_array_mut().expect("clients") {
        c["upstream_client_secret"] = json!("s");
    }
    clients
}

/// The request jargate sent upstream asked for an uncompressed answer.
fn asked_for_identity(head: &str) -> bool {
    head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("accept-encoding:") && l.trim_end().ends_with("identity")
    })
}

#[tokio::test]
async fn legacy_discovery_documents_gain_what_jargate_provides() {
    for (path, require_par) in [(OPENID, false), (OAUTH, true)] {
        let toml = format!("{LEGACY}[par]\nrequire_par = {require_par}\n");
        let headers = [("Content-Type", "application/json"), ("ETag", "\"v1\"")];
        let (up, j) = start(&toml, 200, &headers, DOCUMENT.as_bytes()).await;
        let raw = format!(
            "GET {path} HTTP/1.1\r\nHost: idp.example\r\nAccept-Encoding: gzip, br\r\nConnection: close\r\n\r\n"
        );
        let resp = send_raw(j.proxy_addr(), raw.as_bytes()).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let doc = resp.json();
        let original: Value = serde_json::from_str(DOCUMENT).expect("document");
        for (name, value) in original.as_object().expect("object") {
            if name != "token_endpoint_auth_methods_supported" {
                assert_eq!(&doc[name], value, "{name} kept");
            }
        }
        assert_eq!(
            doc["pushed_authorization_request_endpoint"],
            "https://idp.example/oauth/par"
        );
        assert_eq!(doc["request_parameter_supported"], true);
        assert_eq!(
            doc["request_object_signing_alg_values_supported"],
            json!(ALGS)
        );
        assert_eq!(
            doc["token_endpoint_auth_signing_alg_values_supported"],
            json!(ALGS)
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["client_secret_post", "private_key_jwt"])
        );
        let require = doc.get("require_pushed_authorization_requests");
        assert_eq!(require, require_par.then_some(&Value::Bool(true)), "{doc}");
        // Member order and the members' own text are kept.
        let text = resp.text();
        let at = |m: &str| text.find(m).unwrap_or_else(|| panic!("{m} in {text}"));
        assert!(at("\"issuer\"") < at("\"authorization_endpoint\""));
        assert!(at("\"x_vendor\"") < at("\"pushed_authorization_request_endpoint\""));
        assert!(
            text.contains(r#"{"nested": [1.50, true, null], "b": 2}"#),
            "{text}"
        );
        // The body is framed by what jargate sent, never by the upstream's stale length.
        assert_eq!(resp.header("content-length"), None);
        assert_eq!(
            resp.header("etag"),
            None,
            "the upstream's validator no longer fits"
        );
        let heads = up.heads();
        assert_eq!(heads.len(), 1);
        assert!(asked_for_identity(&heads[0]), "{}", heads[0]);
        assert!(
            !heads[0].to_ascii_lowercase().contains("gzip"),
            "{}",
            heads[0]
        );
    }
}

/// `GET path` through jargate returns exactly `body` with the upstream's own Content-Length.
async fn assert_unchanged(j: &Jargate, path: &str, body: &[u8]) {
    let resp = get(j.proxy_addr(), path).await;
    assert_eq!(resp.body, body, "{path}: forwarded unchanged");
    let length = body.len().to_string();
    assert_eq!(
        resp.header("content-length"),
        Some(length.as_str()),
        "{path}"
    );
}

#[tokio::test]
async fn what_cannot_be_rewritten_is_forwarded_unchanged() {
    // Compressed although identity was asked for.
    let gzip: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03";
    let (up, j) = start(LEGACY, 200, &[("Content-Encoding", "gzip")], gzip).await;
    assert_unchanged(&j, OPENID, gzip).await;
    assert!(asked_for_identity(&up.heads()[0]));
    drop(j);
    for body in [
        "<html>maintenance</html>",
        "[1,2]",
        r#"{"no_issuer":true}"#,
        r#"{"issuer":"https://a/","issuer":"https://b/"}"#,
    ] {
        // Buffered to find out, then sent as it came (chunked: the header had left already).
        let (_up, j) = start(LEGACY, 200, &[], body.as_bytes()).await;
        let resp = get(j.proxy_addr(), OAUTH).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), body, "forwarded unchanged");
    }
    // Not a 200.
    let (_up, j) = start(LEGACY, 503, &[], DOCUMENT.as_bytes()).await;
    let resp = get(j.proxy_addr(), OPENID).await;
    assert_eq!(
        (resp.status, resp.body.as_slice()),
        (503, DOCUMENT.as_bytes())
    );
}

#[tokio::test]
async fn discovery_is_left_alone_outside_legacy_mode_or_when_disabled() {
    for toml in [
        "",
        "[upstream]\nmode = \"legacy\"\n[legacy]\ndiscovery = false\n",
    ] {
        let (up, j) = start(toml, 200, &[], DOCUMENT.as_bytes()).await;
        assert_unchanged(&j, OPENID, DOCUMENT.as_bytes()).await;
        assert!(!asked_for_identity(&up.heads()[0]), "{toml}");
    }
    // Another path, in legacy mode.
    let (_up, j) = start(LEGACY, 200, &[], DOCUMENT.as_bytes()).await;
    assert_unchanged(&j, "/.well-known/jwks.json", DOCUMENT.as_bytes()).await;
    assert_unchanged(
        &j,
        "/tenant/.well-known/openid-configuration",
        DOCUMENT.as_bytes(),
    )
    .await;
}

#[test]
fn an_unknown_legacy_key_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("jargate.toml");
    std::fs::write(
        &config,
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n[clients]\nfile = \"c.json\"\n[legacy]\ndiscovry = true\n",
    )
    .expect("config");
    std::fs::write(dir.path().join("c.json"), r#"{"clients":[]}"#).expect("clients");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jargate"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("check");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("discovry"));
}
