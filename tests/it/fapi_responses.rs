//! What a compliance level changes in the upstream's answers, through the real `jargate` binary:
//! discovery documents narrowed to the levels in use and gaining the capabilities jargate
//! provides, in passthrough and at the issuer-path forms (SPEC §9 "Discovery"); `iss` appended
//! to authorization responses that reach a registered callback from any path (SPEC §12); and
//! `x-fapi-interaction-id` echoed, minted, and the upstream's own winning (SPEC §8).

use crate::common::*;
use serde_json::{json, Value};

const OPENID: &str = "/.well-known/openid-configuration";
const OAUTH: &str = "/.well-known/oauth-authorization-server";
const FAPI2_DPOP: &str = "[compliance]\nlevel = \"fapi2_sp_pkj_dpop\"\n";

/// A client that meets every fapi2 level: private_key_jwt with ES256, a PS256 JAR key,
/// https and loopback callbacks.
fn fapi_client(client_id: &str, level: Option<&str>) -> Value {
    let mut client = pkjwt_client(client_id, vec![pem_credential("ec-a", "ES256")]);
    client["signed_request_object"] = json!({"credentials": [pem_credential("rsa-c", "PS256")]});
    client["callbacks"] = json!(["https://app.example/cb", "http://127.0.0.1/cb"]);
    if let Some(level) = level {
        client["compliance_level"] = json!(level);
    }
    client
}

const UPSTREAM_DOCUMENT: &str = r#"{
  "issuer": "https://idp.example/realms/x",
  "token_endpoint": "https://idp.example/realms/x/token",
  "response_types_supported": ["code", "token", "code id_token"],
  "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "tls_client_auth"],
  "request_object_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
  "code_challenge_methods_supported": ["plain", "S256"],
  "x_vendor": {"kept": [1.50]}
}"#;

async fn document(toml: &str, clients: Vec<Value>, path: &str) -> (Value, String) {
    let upstream = CannedUpstream::start(
        200,
        &[("Content-Type", "application/json")],
        UPSTREAM_DOCUMENT.as_bytes().to_vec(),
    )
    .await;
    let j = Jargate::start(upstream.addr(), toml, registry(clients)).await;
    let resp = get(j.proxy_addr(), path).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let heads = upstream.heads();
    (resp.json(), heads.first().cloned().unwrap_or_default())
}

#[tokio::test]
async fn a_global_fapi2_level_narrows_the_document_to_what_its_clients_may_use() {
    let toml = format!("{FAPI2_DPOP}[issuer]\nidentifier = \"https://idp.example/realms/x/\"\n");
    for path in [
        OPENID,
        OAUTH,
        "/realms/x/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/realms/x",
    ] {
        let (doc, head) = document(&toml, vec![fapi_client("fapi", None)], path).await;
        assert!(
            head.to_ascii_lowercase()
                .contains("accept-encoding: identity"),
            "{head}"
        );
        assert_eq!(doc["response_types_supported"], json!(["code"]), "{path}");
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["private_key_jwt"])
        );
        assert_eq!(
            doc["request_object_signing_alg_values_supported"],
            json!(["PS256", "ES256"])
        );
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["require_pushed_authorization_requests"], true);
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        // A dpop level: the proofs jargate checks are advertised (passthrough).
        assert_eq!(
            doc["dpop_signing_alg_values_supported"],
            json!(["ES256", "PS256", "EdDSA"])
        );
        assert!(doc
            .get("tls_client_certificate_bound_access_tokens")
            .is_none());
        assert_eq!(doc["x_vendor"], json!({"kept": [1.50]}));
        assert_eq!(doc["token_endpoint"], "https://idp.example/realms/x/token");
    }
    // Another realm's document is not this issuer's: forwarded as it came.
    let (doc, _) = document(
        &toml,
        vec![fapi_client("fapi", None)],
        "/realms/y/.well-known/openid-configuration",
    )
    .await;
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(UPSTREAM_DOCUMENT).unwrap()
    );
}

#[tokio::test]
async fn a_client_that_opts_out_keeps_the_lists_and_par_as_the_upstream_sent_them() {
    let clients = vec![fapi_client("fapi", None), fapi_client("old", Some("none"))];
    let (doc, _) = document(FAPI2_DPOP, clients, OPENID).await;
    let original: Value = serde_json::from_str(UPSTREAM_DOCUMENT).expect("document");
    for member in [
        "response_types_supported",
        "token_endpoint_auth_methods_supported",
        "request_object_signing_alg_values_supported",
        "code_challenge_methods_supported",
    ] {
        assert_eq!(doc[member], original[member], "{member}");
    }
    assert!(doc.get("require_pushed_authorization_requests").is_none());
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn a_per_client_level_adds_capabilities_but_no_restriction() {
    let clients = vec![fapi_client("fapi", Some("fapi2_sp_pkj_dpop"))];
    let (doc, _) = document("", clients, OPENID).await;
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        json!(["ES256", "PS256", "EdDSA"])
    );
    assert_eq!(
        doc["response_types_supported"],
        json!(["code", "token", "code id_token"])
    );
    assert!(doc.get("require_pushed_authorization_requests").is_none());
    assert!(doc
        .get("authorization_response_iss_parameter_supported")
        .is_none());
}

/// The `Location` a client receives when the upstream redirects to `location`.
async fn redirected(
    toml: &str,
    clients: Vec<Value>,
    path: &str,
    location: &str,
) -> (String, Jargate) {
    let upstream = CannedUpstream::start(302, &[("Location", location)], Vec::new()).await;
    let j = Jargate::start(upstream.addr(), toml, registry(clients)).await;
    let resp = get(j.proxy_addr(), path).await;
    assert_eq!(resp.status, 302);
    let location = resp.header("location").expect("location").to_string();
    (location, j)
}

const ISS: &str = "iss=https%3A%2F%2Flogin.example.com%2F";

#[tokio::test]
async fn an_authorization_response_from_a_login_path_gains_iss() {
    let clients = || vec![fapi_client("fapi", Some("fapi2_sp_pkj_dpop"))];
    let sent = "https://app.example/cb?code=abc&state=s";
    let (location, j) = redirected("", clients(), "/u/login/submit?x=1", sent).await;
    assert_eq!(location, format!("{sent}&{ISS}"));
    let metrics = scrape_metrics(j.admin_addr()).await;
    let count = |result| {
        metric(
            &metrics,
            "jargate_response_iss_total",
            &[("result", result)],
        )
    };
    assert_eq!(count("added"), Some(1.0));
    assert_eq!(count("mismatch"), Some(0.0));

    // A loopback callback at any port; an error response too.
    let sent = "http://127.0.0.1:50123/cb?error=access_denied";
    let (location, _j) = redirected("", clients(), "/u/consent", sent).await;
    assert_eq!(location, format!("{sent}&{ISS}"));
}

#[tokio::test]
async fn other_redirects_reach_the_client_as_sent() {
    let fapi = || vec![fapi_client("fapi", Some("fapi2_sp_pkj_dpop"))];
    for sent in [
        "https://evil.example/cb?code=abc",
        "https://app.example/cb#code=abc",
        "https://app.example/cb?response=eyJhbGciOiJQUzI1NiJ9.e30.c2ln",
        "https://app.example/cb?state=only",
        "https://app.example/login",
    ] {
        let (location, _j) = redirected("", fapi(), "/u/login", sent).await;
        assert_eq!(location, sent);
    }
    // No fapi2 client, or `response_iss = "never"`: nothing is added.
    let sent = "https://app.example/cb?code=abc";
    let (location, _j) = redirected("", vec![fapi_client("plain", None)], "/x", sent).await;
    assert_eq!(location, sent);
    let never = "[compliance]\nresponse_iss = \"never\"\n";
    let (location, _j) = redirected(never, fapi(), "/x", sent).await;
    assert_eq!(location, sent);
    // `always`: every registered callback, whatever the client's level.
    let always = "[compliance]\nresponse_iss = \"always\"\n";
    let (location, _j) = redirected(always, vec![fapi_client("plain", None)], "/x", sent).await;
    assert_eq!(location, format!("{sent}&{ISS}"));
}

#[tokio::test]
async fn an_iss_from_the_upstream_is_kept_and_a_different_one_counted() {
    let fapi = || vec![fapi_client("fapi", Some("fapi2_sp_pkj_dpop"))];
    let sent = "https://app.example/cb?code=abc&iss=https%3A%2F%2Fother.example%2F";
    let (location, j) = redirected("", fapi(), "/x", sent).await;
    assert_eq!(location, sent, "never replaced");
    let metrics = scrape_metrics(j.admin_addr()).await;
    assert_eq!(
        metric(
            &metrics,
            "jargate_response_iss_total",
            &[("result", "mismatch")]
        ),
        Some(1.0)
    );
    let same = format!("https://app.example/cb?code=abc&{ISS}");
    let (location, j) = redirected("", fapi(), "/x", &same).await;
    assert_eq!(location, same);
    let metrics = scrape_metrics(j.admin_addr()).await;
    assert_eq!(
        metric(
            &metrics,
            "jargate_response_iss_total",
            &[("result", "present")]
        ),
        Some(1.0)
    );
}

fn is_uuid(v: &str) -> bool {
    v.len() == 36
        && v.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

const INTERACTION: &str = "x-fapi-interaction-id";

#[tokio::test]
async fn the_interaction_id_is_echoed_or_minted_on_both_sides() {
    let (up, j) = start_with("[compliance]\ninteraction_id = true\n", default_clients()).await;
    let sent = "0b4ae6c2-0bcb-4a0e-9a5b-2b8ad1d4a6b1";
    let resp = request(
        j.proxy_addr(),
        "GET",
        "/userinfo",
        &[(INTERACTION, sent)],
        b"",
    )
    .await;
    assert_eq!(resp.header(INTERACTION), Some(sent));
    assert_eq!(up.requests()[0].header(INTERACTION).as_deref(), Some(sent));

    for headers in [vec![], vec![(INTERACTION, "not-a-uuid")]] {
        let resp = request(j.proxy_addr(), "GET", "/userinfo", &headers, b"").await;
        let minted = resp.header(INTERACTION).expect("minted").to_string();
        assert!(is_uuid(&minted) && minted != "not-a-uuid", "{minted}");
        let last = up.requests().last().cloned().expect("forwarded");
        assert_eq!(last.header(INTERACTION), Some(minted));
    }

    // A refusal jargate writes itself carries it too; the upstream saw nothing.
    let before = up.count();
    let resp = request(
        j.proxy_addr(),
        "POST",
        "/oauth/token",
        &[
            (INTERACTION, sent),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"grant_type=client_credentials&client_id=app-1",
    )
    .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"], "invalid_client");
    assert_eq!(resp.header(INTERACTION), Some(sent));
    assert_eq!(up.count(), before);
}

#[tokio::test]
async fn the_upstreams_interaction_id_wins_and_nothing_happens_when_disabled() {
    let theirs = "11111111-2222-4333-8444-555555555555";
    let upstream = CannedUpstream::start(200, &[(INTERACTION, theirs)], b"{}".to_vec()).await;
    let j = Jargate::start(
        upstream.addr(),
        "[compliance]\ninteraction_id = true\n",
        default_clients(),
    )
    .await;
    let resp = get(j.proxy_addr(), "/userinfo").await;
    assert_eq!(resp.header(INTERACTION), Some(theirs));

    // Disabled (the default): the client's header goes upstream untouched and is not echoed.
    let (up, j) = start_default().await;
    let resp = request(
        j.proxy_addr(),
        "POST",
        "/oauth/token",
        &[
            (INTERACTION, "not-a-uuid"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"grant_type=client_credentials&client_id=app-1",
    )
    .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header(INTERACTION), None);
    let resp = request(
        j.proxy_addr(),
        "GET",
        "/x",
        &[(INTERACTION, "not-a-uuid")],
        b"",
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        up.requests()[0].header(INTERACTION).as_deref(),
        Some("not-a-uuid")
    );
}
