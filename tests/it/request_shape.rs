//! The request around a client assertion, through the real `jargate` binary and a stub
//! upstream (SPEC §5 "before any JWT is looked at", §4 `token_endpoint_auth_method`, §3
//! `clients.unregistered`, §6): assertion type, one authentication method per request,
//! repeated parameters, body media types and charsets, `Content-Encoding`, `max_body_bytes`
//! (fixed and chunked), path normalisation tricks, query strings and methods on the token
//! endpoint, the private_key_jwt requirement, unknown clients, untouched pass-through of other
//! paths, and upstream failures (502 / 504).
//!
//! Every refusal checks status, `error`, `Content-Type: application/json`,
//! `Cache-Control: no-store` and that the upstream received nothing; every acceptance checks the
//! upstream received the path and body byte-for-byte.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;

fn valid_form() -> String {
    assertion_form(&app1_assertion(valid_assertion_claims("app-1")))
}

// ----------------------------------------------------------------------------------------------
// Parameters and authentication methods
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn wrong_client_assertion_type_is_invalid_request() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let body = format!(
        "grant_type=client_credentials\
         &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Asaml2-bearer\
         &client_assertion={jwt}"
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn client_assertion_without_its_type_is_invalid_request() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let body = format!("grant_type=client_credentials&client_assertion={jwt}");
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn assertion_together_with_client_secret_is_invalid_request() {
    let (up, j) = start_default().await;
    let body = format!("{}&client_secret=s3cret", valid_form());
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn assertion_together_with_basic_authorization_is_invalid_request() {
    let (up, j) = start_default().await;
    let auth = basic("app-1", "s3cret");
    let resp = post_form_with(
        j.proxy_addr(),
        TOKEN,
        &[("Authorization", auth.as_str())],
        &valid_form(),
    )
    .await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn duplicated_form_field_is_invalid_request() {
    let (up, j) = start_default().await;
    let body = format!("grant_type=client_credentials&{}", valid_form());
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn duplicated_client_assertion_is_invalid_request() {
    let (up, j) = start_default().await;
    let first = app1_assertion(valid_assertion_claims("app-1"));
    let second = app1_assertion(valid_assertion_claims("app-1"));
    let body = format!("{}&client_assertion={second}", assertion_form(&first));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn private_key_jwt_client_sending_only_client_secret_is_refused() {
    let (up, j) = start_default().await;
    let body = "grant_type=client_credentials&client_id=app-1&client_secret=s3cret";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}

#[tokio::test]
async fn private_key_jwt_client_sending_only_basic_is_refused_with_www_authenticate() {
    let (up, j) = start_default().await;
    let auth = basic("app-1", "s3cret");
    let resp = post_form_with(
        j.proxy_addr(),
        TOKEN,
        &[("Authorization", auth.as_str())],
        "grant_type=client_credentials",
    )
    .await;
    assert_rejected(&resp, 401, "invalid_client", &up);
    let www = resp.header("www-authenticate").unwrap_or_default();
    assert!(
        www.to_ascii_lowercase().starts_with("basic"),
        "WWW-Authenticate must name the Basic scheme the client used, got {www:?}"
    );
}

#[tokio::test]
async fn private_key_jwt_client_without_any_authentication_is_refused() {
    let (up, j) = start_default().await;
    let resp = post_form(
        j.proxy_addr(),
        TOKEN,
        "grant_type=client_credentials&client_id=app-1",
    )
    .await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}

#[tokio::test]
async fn client_with_another_method_sending_client_secret_is_forwarded_untouched() {
    let (up, j) = start_default().await;
    let body = "grant_type=client_credentials&client_id=app-post&client_secret=s3cret%2B%2F";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
}

#[tokio::test]
async fn client_with_another_method_still_has_a_present_assertion_validated() {
    let (up, j) = start_default().await;
    let key = TestKey::load("ec-b");
    let good = Jwt::signed(&key, "ES256")
        .claims(valid_assertion_claims("app-post"))
        .build();
    let resp = post_form(
        j.proxy_addr(),
        TOKEN,
        &assertion_form(&tamper_signature(&good)),
    )
    .await;
    assert_rejected(&resp, 401, "invalid_client", &up);
    // Control: its valid assertion passes.
    let body = assertion_form(&good);
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
}

#[tokio::test]
async fn unknown_client_with_a_secret_is_refused_by_default() {
    let (up, j) = start_default().await;
    let body = "grant_type=client_credentials&client_id=stranger&client_secret=s3cret";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}

const PASSTHROUGH: &str = "[clients]\nunregistered = \"passthrough\"\n";

#[tokio::test]
async fn unregistered_passthrough_forwards_an_unknown_client_without_jwt() {
    let (up, j) = start_with(PASSTHROUGH, default_clients()).await;
    let body = "grant_type=client_credentials&client_id=stranger&client_secret=s3cret";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
}

#[tokio::test]
async fn unregistered_passthrough_still_refuses_an_unknown_client_with_an_assertion() {
    let (up, j) = start_with(PASSTHROUGH, default_clients()).await;
    let jwt = Jwt::signed(&TestKey::load("rsa-c"), "RS256")
        .claims(valid_assertion_claims("stranger"))
        .build();
    let resp = post_form(j.proxy_addr(), TOKEN, &assertion_form(&jwt)).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}

#[tokio::test]
async fn unregistered_passthrough_still_enforces_private_key_jwt_for_known_clients() {
    let (up, j) = start_with(PASSTHROUGH, default_clients()).await;
    let body = "grant_type=client_credentials&client_id=app-1&client_secret=s3cret";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}

// ----------------------------------------------------------------------------------------------
// Body: media type, charset, encoding, size, chunking
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn json_body_with_an_assertion_is_accepted_and_forwarded_unchanged() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let body = json!({
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": jwt,
    })
    .to_string();
    let resp = post_json(j.proxy_addr(), TOKEN, &body).await;
    let fwd = assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
    assert_eq!(
        fwd.header("content-type").as_deref(),
        Some("application/json")
    );
}

#[tokio::test]
async fn json_body_with_an_invalid_assertion_is_refused() {
    let (up, j) = start_default().await;
    let jwt = tamper_signature(&app1_assertion(valid_assertion_claims("app-1")));
    let body = json!({
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": jwt,
    })
    .to_string();
    let resp = post_json(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}

#[tokio::test]
async fn json_body_that_is_not_an_object_of_strings_is_refused() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let body = json!({
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": jwt,
        "scope": ["read", "write"],
    })
    .to_string();
    let resp = post_json(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

/// A valid token request sent with `Content-Type: <content_type>`: forwarded unchanged, or
/// refused `invalid_request` with nothing forwarded.
async fn content_type_case(content_type: &str, forwarded: bool) {
    let (up, j) = start_default().await;
    let body = valid_form();
    let resp = post_with_type(j.proxy_addr(), TOKEN, content_type, &body).await;
    if forwarded {
        assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
    } else {
        assert_rejected(&resp, 400, "invalid_request", &up);
    }
}

cases! { content_type_case;
    form_with_utf8_charset_parameter_is_accepted:
        "application/x-www-form-urlencoded;charset=UTF-8", true;
    media_type_is_matched_case_insensitively:
        "Application/X-WWW-Form-URLEncoded; charset=utf-8", true;
    form_with_iso_8859_1_charset_is_refused:
        "application/x-www-form-urlencoded; charset=ISO-8859-1", false;
    other_content_type_is_refused: "text/plain", false;
}

#[tokio::test]
async fn missing_content_type_is_refused() {
    let (up, j) = start_default().await;
    let resp = request(j.proxy_addr(), "POST", TOKEN, &[], valid_form().as_bytes()).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn content_encoding_gzip_is_refused() {
    let (up, j) = start_default().await;
    let resp = post_form_with(
        j.proxy_addr(),
        TOKEN,
        &[("Content-Encoding", "gzip")],
        &valid_form(),
    )
    .await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

const SMALL_BODY_LIMIT: &str = "[limits]\nmax_body_bytes = 1024\n";

/// A valid app-1 form padded with a `scope` parameter to exactly `len` bytes.
fn form_of_len(len: usize) -> String {
    let base = format!("{}&scope=", valid_form());
    assert!(base.len() < len, "base form already {} bytes", base.len());
    let body = format!("{base}{}", "a".repeat(len - base.len()));
    assert_eq!(body.len(), len);
    body
}

#[tokio::test]
async fn body_of_exactly_max_body_bytes_is_accepted() {
    let (up, j) = start_with(SMALL_BODY_LIMIT, default_clients()).await;
    let body = form_of_len(1024);
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
}

#[tokio::test]
async fn body_over_max_body_bytes_is_413() {
    let (up, j) = start_with(SMALL_BODY_LIMIT, default_clients()).await;
    let resp = post_form(j.proxy_addr(), TOKEN, &form_of_len(1025)).await;
    assert_rejected(&resp, 413, "invalid_request", &up);
}

fn chunked_post(addr: std::net::SocketAddr, body: &str, chunk: usize) -> Vec<u8> {
    build_request(
        addr,
        "POST",
        TOKEN,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(body.as_bytes(), chunk),
    )
}

#[tokio::test]
async fn chunked_body_is_accepted_and_forwarded_whole() {
    let (up, j) = start_default().await;
    let body = valid_form();
    let resp = send_raw(j.proxy_addr(), &chunked_post(j.proxy_addr(), &body, 100)).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
}

#[tokio::test]
async fn chunked_body_over_max_body_bytes_is_413() {
    let (up, j) = start_with(SMALL_BODY_LIMIT, default_clients()).await;
    let raw = chunked_post(j.proxy_addr(), &form_of_len(1500), 200);
    let resp = send_raw(j.proxy_addr(), &raw).await;
    assert_rejected(&resp, 413, "invalid_request", &up);
}

// ----------------------------------------------------------------------------------------------
// Paths, query strings and methods
// ----------------------------------------------------------------------------------------------

/// A valid token request sent to a path that only normalises to /oauth/token.
async fn ambiguous_path_is_refused(path: &str) {
    let (up, j) = start_default().await;
    let resp = post_form(j.proxy_addr(), path, &valid_form()).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

cases! { ambiguous_path_is_refused;
    repeated_slash_in_token_path_is_refused: "/oauth//token";
    uppercase_token_path_is_refused: "/OAUTH/token";
    percent_encoded_token_path_is_refused: "/oauth/%74oken";
    trailing_slash_on_token_path_is_refused: "/oauth/token/";
    dot_segment_in_token_path_is_refused: "/oauth/./token";
    parent_segment_in_token_path_is_refused: "/oauth/x/../token";
    semicolon_parameter_on_token_path_is_refused: "/oauth/token;x=1";
    percent_encoded_revoke_path_is_refused: "/oauth/rev%6Fke";
}

/// Django and django-oauth-toolkit serve `/o/token/`: configured with its slash, that spelling is
/// the endpoint and every other one, the slash-less path included, is refused.
#[tokio::test]
async fn a_token_path_configured_with_a_trailing_slash_is_its_only_spelling() {
    let (up, j) = start_with("[paths]\ntoken = \"/o/token/\"\n", default_clients()).await;
    for path in ["/o/token", "/o/token//", "/O/token/"] {
        let resp = post_form(j.proxy_addr(), path, &valid_form()).await;
        assert_rejected(&resp, 400, "invalid_request", &up);
    }
    let body = valid_form();
    let resp = post_form(j.proxy_addr(), "/o/token/", &body).await;
    assert_forwarded(&resp, &up, "POST", "/o/token/", body.as_bytes());
}

#[tokio::test]
async fn query_string_on_post_token_is_refused() {
    let (up, j) = start_default().await;
    let resp = post_form(
        j.proxy_addr(),
        "/oauth/token?grant_type=password",
        &valid_form(),
    )
    .await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn get_on_token_endpoint_is_405() {
    let (up, j) = start_default().await;
    let resp = get(j.proxy_addr(), TOKEN).await;
    assert_rejected(&resp, 405, "invalid_request", &up);
}

#[tokio::test]
async fn put_on_token_endpoint_is_405() {
    let (up, j) = start_default().await;
    let resp = request(
        j.proxy_addr(),
        "PUT",
        TOKEN,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        valid_form().as_bytes(),
    )
    .await;
    assert_rejected(&resp, 405, "invalid_request", &up);
}

#[tokio::test]
async fn get_on_a_client_auth_path_is_405() {
    let (up, j) = start_default().await;
    let resp = get(j.proxy_addr(), REVOKE).await;
    assert_rejected(&resp, 405, "invalid_request", &up);
}

// ----------------------------------------------------------------------------------------------
// Other paths pass through untouched
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn unrelated_get_is_passed_through_untouched() {
    let (up, j) = start_default().await;
    let target = "/userinfo?schema=openid&x=%2F..%2F&y=a+b";
    let resp = request(
        j.proxy_addr(),
        "GET",
        target,
        &[("Authorization", "Bearer abc.def.ghi")],
        b"",
    )
    .await;
    let fwd = assert_forwarded(&resp, &up, "GET", target, b"");
    assert_eq!(
        fwd.header("authorization").as_deref(),
        Some("Bearer abc.def.ghi")
    );
}

#[tokio::test]
async fn unrelated_post_with_a_body_is_passed_through_untouched() {
    let (up, j) = start_default().await;
    // Not a form, carries things jargate would refuse on an intercepted path.
    let body = "client_secret=a&client_secret=b&client_assertion=not.a.jwt\u{e9}";
    let resp = request(
        j.proxy_addr(),
        "POST",
        "/userinfo",
        &[("Content-Type", "text/plain; charset=ISO-8859-1")],
        body.as_bytes(),
    )
    .await;
    assert_forwarded(&resp, &up, "POST", "/userinfo", body.as_bytes());
}

// ----------------------------------------------------------------------------------------------
// limits.max_parameters
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn parameters_up_to_max_parameters_are_accepted_and_one_more_is_refused() {
    let (up, j) = start_with("[limits]\nmax_parameters = 5\n", default_clients()).await;
    // grant_type, client_assertion_type, client_assertion + 2 = 5.
    let body = format!("{}&a=1&b=2", valid_form());
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());

    let (up, j) = start_with("[limits]\nmax_parameters = 5\n", default_clients()).await;
    let body = format!("{}&a=1&b=2&c=3", valid_form());
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
    let body = resp.json();
    assert_eq!(body["error_description"], "too many parameters");
}

/// 0 would refuse every request, and past 1000 the pre-authentication cost of a many-name
/// body would grow with the setting: both are configuration errors, never started.
#[tokio::test]
async fn max_parameters_outside_1_to_1000_is_a_config_error() {
    for value in [0, 1001] {
        let upstream = StubUpstream::start().await;
        let err = Jargate::try_start(
            upstream.addr(),
            &format!("[limits]\nmax_parameters = {value}\n"),
            default_clients(),
        )
        .await
        .err()
        .expect("started with an out-of-range max_parameters");
        assert!(
            err.contains("limits.max_parameters: must be between 1 and 1000"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn parameters_over_the_limit_at_authorize_are_refused() {
    // Query and form never count together any more: a POST with a query is refused itself.
    let (up, j) = start_with("[limits]\nmax_parameters = 3\n", default_clients()).await;
    let resp = get(
        j.proxy_addr(),
        "/authorize?client_id=app-post&response_type=code&scope=openid&state=x",
    )
    .await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

// ----------------------------------------------------------------------------------------------
// Upstream failures
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn upstream_down_is_502_temporarily_unavailable() {
    let closed = ClosedPort::new();
    let j = Jargate::start(closed.addr(), "", default_clients()).await;
    let resp = post_form(j.proxy_addr(), TOKEN, &valid_form()).await;
    assert_error(&resp, 502, "temporarily_unavailable");
}

#[tokio::test]
async fn upstream_that_never_answers_is_504_after_the_read_timeout() {
    let silent = SilentUpstream::start().await;
    let j = Jargate::start(
        silent.addr(),
        "[upstream]\nread_timeout_ms = 500\n",
        default_clients(),
    )
    .await;
    let started = Instant::now();
    let resp = post_form(j.proxy_addr(), TOKEN, &valid_form()).await;
    let took = started.elapsed();
    assert_error(&resp, 504, "temporarily_unavailable");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(4),
        "504 should come after ~500 ms, took {took:?}"
    );
}
