//! The client registry's semantics (SPEC §4) and the placing of configuration errors, through
//! the real binary: `jargate check` (exit code and message) for every rule, and the proxy
//! where a rule changes what is let through (status, `error`, what the upstream saw). The
//! realistic Auth0 export under `tests/fixtures/` (several clients carrying every documented
//! field, credentials by id) loads unchanged and is enforced as Auth0 enforces it.

use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// `jargate check` on the base configuration ([`ConfigDir::new`]) with `extra_toml`, and exactly
/// `clients` as `clients.json`.
fn check(extra_toml: &str, clients: &str) -> Ran {
    ConfigDir::with_text(extra_toml, clients).check()
}

/// `jargate check` on exactly this `jargate.toml` and `clients.json`.
fn check_config(config: &str, clients: &str) -> Ran {
    ConfigDir::with_files(config, clients).check()
}

fn check_json(extra_toml: &str, clients: &Value) -> Ran {
    ConfigDir::new(extra_toml, clients).check()
}

/// The check failed with every one of `expected` in its error.
fn assert_refused(c: &Ran, expected: &[&str]) {
    assert_eq!(c.code, 1, "check should fail:\n{}{}", c.stdout, c.stderr);
    for e in expected {
        assert!(c.stderr.contains(e), "error lacks {e:?}:\n{}", c.stderr);
    }
}

fn assert_loads(c: &Ran) {
    assert_eq!(c.code, 0, "check should pass:\n{}{}", c.stdout, c.stderr);
}

/// An Auth0-shaped private_key_jwt client: no method, credentials under
/// `client_authentication_methods`.
fn auth0_client(id: &str) -> Value {
    json!({"client_id": id, "token_endpoint_auth_method": null,
           "client_authentication_methods": {"private_key_jwt": {"credentials": [
               pem_credential("rsa-a", "RS256")]}}})
}

// ----------------------------------------------------------------------------------------------
// private_key_jwt required
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn auth0_shaped_private_key_jwt_client_cannot_use_its_secret() {
    let (up, j) = start_with("", registry(vec![auth0_client("app-1")])).await;
    let body = "grant_type=client_credentials&client_id=app-1&client_secret=s3cr3t";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let body = assertion_form(&jwt);
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());

    let c = check_json("", &registry(vec![auth0_client("app-1")]));
    assert_loads(&c);
    assert!(
        c.stdout.contains("private_key_jwt required"),
        "{}",
        c.stdout
    );
}

#[tokio::test]
async fn explicit_other_method_next_to_credentials_lets_both_through_and_warns() {
    let mut client = auth0_client("app-1");
    client["token_endpoint_auth_method"] = json!("client_secret_basic");
    let (up, j) = start_with("", registry(vec![client.clone()])).await;
    let body = "grant_type=client_credentials&client_id=app-1&client_secret=s3cr3t";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
    // An assertion sent is still validated.
    let bad = tamper_signature(&app1_assertion(valid_assertion_claims("app-1")));
    let resp = post_form(j.proxy_addr(), TOKEN, &assertion_form(&bad)).await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(up.count(), 1, "the tampered assertion reached the upstream");

    let c = check_json("", &registry(vec![client]));
    assert_loads(&c);
    assert!(
        c.stdout.contains("client \"app-1\": token_endpoint_auth_method \"client_secret_basic\" next to private_key_jwt credentials"),
        "{}",
        c.stdout
    );
    assert!(c.stdout.contains("1 warning)"), "{}", c.stdout);
}

#[test]
fn errors_found_after_parsing_still_name_their_line() {
    let text = "{\"clients\": [\n  {\"client_id\": \"app-1\",\n   \"client_authentication_methods\": {\"private_key_jwt\": {\"credentials\": [\n     {\"credential_type\": \"public_key\", \"pem_file\": \"nowhere.pem\", \"alg\": \"ES256\"}]}}}\n]}";
    assert_refused(
        &check("", text),
        &["clients.json:4:", "client \"app-1\": client_authentication_methods.private_key_jwt.credentials[0].pem_file: cannot read"],
    );
}

#[test]
fn required_private_key_jwt_without_credentials_is_refused() {
    let client = json!({"client_id": "app-1", "client_authentication_methods": {"private_key_jwt": {"credentials": []}}});
    assert_refused(
        &check_json("", &registry(vec![client])),
        &[
            "client \"app-1\"",
            "private_key_jwt is required but no client assertion credential",
        ],
    );
}

// ----------------------------------------------------------------------------------------------
// Typos never weaken policy
// ----------------------------------------------------------------------------------------------

#[test]
fn a_misspelt_client_field_is_refused_with_the_closest_name() {
    let mut client = auth0_client("app-1");
    client["signed_request_objects"] = json!({"required": true});
    assert_refused(
        &check_json("", &registry(vec![client])),
        &[
            "clients.json:",
            "client \"app-1\": clients[0].signed_request_objects: unknown field \"signed_request_objects\" (did you mean \"signed_request_object\"?)",
        ],
    );
    let mut client = auth0_client("app-1");
    client["token_endpoint_auth_methd"] = json!("private_key_jwt");
    assert_refused(
        &check_json("", &registry(vec![client])),
        &["unknown field \"token_endpoint_auth_methd\" (did you mean \"token_endpoint_auth_method\"?)"],
    );
}

#[test]
fn a_field_given_twice_is_refused_rather_than_the_last_one_taken() {
    let text = "{\"clients\": [\n  {\"client_id\": \"app-1\",\n   \"token_endpoint_auth_method\": \"private_key_jwt\",\n   \"token_endpoint_auth_method\": \"none\"}\n]}";
    assert_refused(
        &check("", text),
        &[
            "clients.json:4:",
            "member \"token_endpoint_auth_method\" is given twice",
        ],
    );
}

#[test]
fn a_misspelt_nested_or_credential_field_names_the_credential_index() {
    let mut client = auth0_client("app-1");
    client["client_authentication_methods"]["private_key_jwt"]["credentials"]
        .as_array_mut()
        .expect("array")
        .push(json!({"credential_type": "public_key", "pem_fil": "keys/ec-a.pub.pem", "alg": "ES256"}));
    assert_refused(
        &check_json("", &registry(vec![client])),
        &["client \"app-1\": clients[0].client_authentication_methods.private_key_jwt.credentials[1].pem_fil: unknown field \"pem_fil\" (did you mean \"pem_file\"?)"],
    );
    let mut client = auth0_client("app-1");
    client["client_authentication_methods"]["private_key_jwts"] = json!({});
    assert_refused(
        &check_json("", &registry(vec![client])),
        &["(did you mean \"private_key_jwt\"?)"],
    );
    let mut client = auth0_client("app-1");
    client["signed_request_object"] = json!({"require": true, "credentials": []});
    assert_refused(
        &check_json("", &registry(vec![client])),
        &["signed_request_object.require: unknown field \"require\" (did you mean \"required\"?)"],
    );
}

#[test]
fn bad_enum_values_and_types_are_refused_at_their_line_and_column() {
    let text = "{\"clients\": [\n  {\"client_id\": \"app-1\",\n   \"token_endpoint_auth_method\": \"private_key_jwtt\"}\n]}";
    assert_refused(
        &check("", text),
        &["clients.json:3:", "client \"app-1\": clients[0].token_endpoint_auth_method: unknown value \"private_key_jwtt\"", "(did you mean \"private_key_jwt\"?)"],
    );
    let text = "{\"clients\": [\n  {\"client_id\": \"app-1\",\n   \"require_pushed_authorization_requests\": \"yes\"}\n]}";
    assert_refused(
        &check("", text),
        &[
            "clients.json:3:",
            "invalid type: string \"yes\", expected a boolean",
        ],
    );
    let mut client = auth0_client("app-1");
    client["client_authentication_methods"]["private_key_jwt"]["credentials"][0]["alg"] =
        json!("HS256");
    assert_refused(
        &check_json("", &registry(vec![client])),
        &["credentials[0].alg: unknown value \"HS256\""],
    );
}

#[test]
fn documented_auth0_fields_are_accepted_and_client_metadata_stays_free_form() {
    let mut client = auth0_client("app-1");
    client["app_type"] = json!("non_interactive");
    client["jwt_configuration"] = json!({"alg": "RS256", "lifetime_in_seconds": 36000});
    client["client_metadata"] = json!({"team": "payments", "anything_at_all": "x"});
    client["client_authentication_methods"]["private_key_jwt"]["credentials"][0]["subject_dn"] =
        json!("CN=x");
    client["client_authentication_methods"]["private_key_jwt"]["credentials"][0]
        ["thumbprint_sha256"] = json!("abc");
    client["client_authentication_methods"]["private_key_jwt"]["credentials"][0]
        ["parse_expiry_from_cert"] = json!(false);
    assert_loads(&check_json("", &registry(vec![client.clone()])));
    client["client_metadata"] = json!({"count": 3});
    assert_refused(
        &check_json("", &registry(vec![client.clone()])),
        &["client_metadata"],
    );
    client["client_metadata"] = json!({"jargate_enforcement": "off"});
    assert_refused(
        &check_json("", &registry(vec![client])),
        &[
            "client \"app-1\"",
            "client_metadata.jargate_enforcement: \"off\" is not",
        ],
    );
}

// ----------------------------------------------------------------------------------------------
// Export shapes, credentials by id, per-client fields
// ----------------------------------------------------------------------------------------------

#[test]
fn the_three_export_shapes_load() {
    let clients = vec![auth0_client("app-1"), auth0_client("app-2")];
    for doc in [
        registry(clients.clone()),
        Value::Array(clients.clone()),
        json!({"clients": clients, "start": 0, "limit": 50, "length": 2, "total": 2}),
    ] {
        let c = check_json("", &doc);
        assert_loads(&c);
        assert!(c.stdout.contains("(2 clients"), "{}", c.stdout);
    }
    assert_refused(
        &check_json("", &json!({"client": []})),
        &["unknown field \"client\" (did you mean \"clients\"?)"],
    );
}

#[test]
fn credentials_by_id_resolve_from_credentials_file_or_are_an_error() {
    let by_id = json!({"client_id": "app-1", "client_authentication_methods": {"private_key_jwt": {
        "credentials": [{"id": "cred_1m7sfABoNTTKYwTQ8qt6tX"}]}}});
    let extra = format!(
        "credentials_file = {:?}\n",
        fixture("auth0-credentials.json").display().to_string()
    );
    let c = check_json(&extra, &registry(vec![by_id.clone()]));
    assert_loads(&c);
    assert!(c.stdout.contains("payments-auth-2026"), "{}", c.stdout);
    assert_refused(
        &check_json("", &registry(vec![by_id])),
        &[
            "client \"app-1\"",
            "credentials[0] (\"cred_1m7sfABoNTTKYwTQ8qt6tX\")",
            "given by id only and is not in clients.credentials_file",
        ],
    );
}

#[test]
fn jwks_min_refetch_secs_must_be_at_least_one() {
    assert_refused(
        &check_json(
            "jwks_min_refetch_secs = 0\n",
            &registry(vec![auth0_client("app-1")]),
        ),
        &["jargate.toml:9:25: clients.jwks_min_refetch_secs: must be at least 1"],
    );
}

#[tokio::test]
async fn require_pushed_authorization_requests_applies_par_to_that_client() {
    let mut strict = auth0_client("app-1");
    strict["require_pushed_authorization_requests"] = json!(true);
    let (up, j) = start_with("", registry(vec![strict, auth0_client("app-2")])).await;
    let resp = get(
        j.proxy_addr(),
        "/authorize?client_id=app-1&response_type=code",
    )
    .await;
    assert_rejected(&resp, 400, "invalid_request", &up);
    let pushed =
        "/authorize?client_id=app-1&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc";
    let resp = get(j.proxy_addr(), pushed).await;
    assert_forwarded(&resp, &up, "GET", pushed, b"");
    let other = "/authorize?client_id=app-2&response_type=code";
    let resp = get(j.proxy_addr(), other).await;
    assert_forwarded_nth(&resp, &up, 1, "GET", other, b"");
}

// ----------------------------------------------------------------------------------------------
// Positions in jargate.toml, ${VAR} by key
// ----------------------------------------------------------------------------------------------

#[test]
fn settings_errors_carry_file_line_and_column() {
    let clients = registry(vec![auth0_client("app-1")]);
    assert_refused(
        &check_json("unregisterd = \"reject\"\n", &clients),
        &["jargate.toml:9:1: clients.unregisterd: unknown field \"unregisterd\" (did you mean \"unregistered\"?)"],
    );
    assert_refused(
        &check_json("jwks_refresh_secs = \"often\"\n", &clients),
        &["jargate.toml:9:21: clients.jwks_refresh_secs: invalid type: string \"often\""],
    );
    assert_refused(
        &check_json("unregistered = \"passthru\"\n", &clients),
        &["jargate.toml:9:16: clients.unregistered: unknown value \"passthru\""],
    );
    assert_refused(
        &check_config(
            "[upstream]\nurl = \"https://127.0.0.1:1\"\nca_only = true\n[clients]\nfile = \"clients.json\"\n",
            &clients.to_string(),
        ),
        &["upstream.ca_only: needs upstream.ca_file"],
    );
    assert_refused(
        &check_json("file2 = \"${JARGATE_TEST_NEVER_SET}\"\n", &clients),
        &["jargate.toml: clients.file2: environment variable JARGATE_TEST_NEVER_SET is not set"],
    );
    let mut client = auth0_client("app-1");
    client["upstream_client_secret"] = json!("${JARGATE_TEST_NEVER_SET}");
    assert_refused(
        &check_json("", &registry(vec![client])),
        &["clients.json: client \"app-1\": clients[0].upstream_client_secret: environment variable JARGATE_TEST_NEVER_SET is not set"],
    );
}

// ----------------------------------------------------------------------------------------------
// A realistic Auth0 export
// ----------------------------------------------------------------------------------------------

const M2M: &str = "M2mPkjwtAaiyAPdpYdesoKnqjj8H";
const WEB: &str = "WebSecretQ1w2e3r4t5y6u7i8o9p0";
const SPA: &str = "SpaNoneZx9Cv8Bn7Mm6Ll5Kk4Jj3";

fn auth0_export() -> (String, Value) {
    let extra = format!(
        "[clients]\ncredentials_file = {:?}\n",
        fixture("auth0-credentials.json").display().to_string()
    );
    let text = std::fs::read_to_string(fixture("auth0-clients.json")).expect("fixture");
    (extra, serde_json::from_str(&text).expect("fixture json"))
}

#[test]
fn a_realistic_auth0_export_passes_check() {
    let (extra, export) = auth0_export();
    let extra = extra.replace("[clients]\n", "");
    let c = check_json(&extra, &export);
    assert_loads(&c);
    for expected in [
        "(3 clients, 0 warnings)",
        "payments-auth-2026",
        "PaymentsJarKey2026",
        "private_key_jwt required",
        "pushed authorization requests: required",
    ] {
        assert!(
            c.stdout.contains(expected),
            "lacks {expected:?}:\n{}",
            c.stdout
        );
    }
}

#[tokio::test]
async fn a_realistic_auth0_export_is_enforced_as_auth0_enforces_it() {
    let (extra, export) = auth0_export();
    let (up, j) = start_with(&extra, export).await;
    let addr = j.proxy_addr();
    // The private_key_jwt client: its secret is refused, a signed assertion goes through.
    let body = format!(
        "grant_type=client_credentials&client_id={M2M}&client_secret=auth0-generated-secret-{M2M}"
    );
    assert_rejected(
        &post_form(addr, TOKEN, &body).await,
        401,
        "invalid_client",
        &up,
    );
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .header("kid", json!("PaymentsAuthKey2026"))
        .claims(valid_assertion_claims(M2M))
        .build();
    let body = assertion_form(&jwt);
    assert_forwarded(
        &post_form(addr, TOKEN, &body).await,
        &up,
        "POST",
        TOKEN,
        body.as_bytes(),
    );
    // Its authorization requests must be pushed.
    let plain = format!("/authorize?client_id={M2M}&response_type=code");
    let resp = get(addr, &plain).await;
    assert_error(&resp, 400, "invalid_request");
    assert_eq!(up.count(), 1, "an unpushed request reached the upstream");
    // The secret client and the public SPA are the upstream's business.
    let body = format!("grant_type=client_credentials&client_id={WEB}&client_secret=x");
    assert_forwarded_nth(
        &post_form(addr, TOKEN, &body).await,
        &up,
        1,
        "POST",
        TOKEN,
        body.as_bytes(),
    );
    let spa = format!("/authorize?client_id={SPA}&response_type=code");
    assert_forwarded_nth(&get(addr, &spa).await, &up, 2, "GET", &spa, b"");
}

#[tokio::test]
async fn a_rotated_key_in_credentials_file_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = dir.path().join("credentials.json");
    let write = |key: &str| {
        let doc = json!([{"id": "cred_rotating", "credential_type": "public_key",
                          "pem": key_file(&format!("{key}.pub.pem")), "alg": "RS256"}]);
        std::fs::write(&creds, doc.to_string()).expect("write credentials");
    };
    write("rsa-a");
    let client = json!({"client_id": "app-1", "client_authentication_methods": {
        "private_key_jwt": {"credentials": [{"id": "cred_rotating"}]}}});
    let extra = format!(
        "[clients]\ncredentials_file = {:?}\n",
        creds.display().to_string()
    );
    let (up, j) = start_with(&extra, registry(vec![client])).await;
    let signed_by = |key: &str| {
        assertion_form(
            &Jwt::signed(&TestKey::load(key), "RS256")
                .claims(valid_assertion_claims("app-1"))
                .build(),
        )
    };
    let resp = post_form(j.proxy_addr(), TOKEN, &signed_by("rsa-a")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    write("rsa-b");
    let written = std::time::Instant::now();
    loop {
        let resp = post_form(j.proxy_addr(), TOKEN, &signed_by("rsa-b")).await;
        if resp.status == 200 {
            break;
        }
        assert!(
            written.elapsed() < std::time::Duration::from_secs(3),
            "the rotated credential was not served within 3 s: {}",
            resp.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let before = up.count();
    let resp = post_form(j.proxy_addr(), TOKEN, &signed_by("rsa-a")).await;
    assert_rejected_after(&resp, &up, before);
}

/// Refused 401 invalid_client with nothing more reaching the upstream than `before` requests.
fn assert_rejected_after(resp: &Response, up: &StubUpstream, before: usize) {
    assert_error(resp, 401, "invalid_client");
    assert_eq!(
        up.count(),
        before,
        "the refused request reached the upstream"
    );
}
