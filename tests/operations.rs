//! Operations (SPEC §8) through the real process: nothing secret in any log line (Pingora's
//! included), request ids, forwarded headers, the decision line and the JSON log format.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const REDIRECT: &str = "https://app.example.com/cb";

/// A valid by-value request object of `app-1` (JAR key rsa-b, PS256).
fn app1_request_object() -> String {
    let t = now();
    Jwt::signed(&TestKey::load("rsa-b"), "PS256")
        .header("typ", json!("oauth-authz-req+jwt"))
        .claims(json!({
            "iss": "app-1", "aud": ISSUER, "client_id": "app-1", "response_type": "code",
            "redirect_uri": REDIRECT, "scope": "openid", "jti": random_jti(),
            "iat": t, "nbf": t, "exp": t + 300,
        }))
        .build()
}

/// The stderr lines of a JSON-format process, each parsed (panics on a line that is not one
/// flat JSON object).
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let obj = v
                .as_object()
                .unwrap_or_else(|| panic!("not an object: {l}"));
            for (k, field) in obj {
                assert!(
                    !field.is_object() && !field.is_array(),
                    "nested field {k} in {l}"
                );
            }
            v
        })
        .collect()
}

/// Sends requests full of secrets to a proxy whose upstream is down, in `format`, and checks
/// that none of them reaches stderr.
async fn secrets_never_logged_with_upstream_down(format: &str) {
    let down = ClosedPort::new();
    let jargate = Jargate::try_start_with(
        down.addr(),
        "[upstream]\nconnect_timeout_ms = 300\n",
        default_clients(),
        &["--log-format", format],
    )
    .await
    .expect("start");
    let proxy = jargate.proxy_addr();
    let object = app1_request_object();
    let assertion = app1_assertion(valid_assertion_claims("app-1"));
    let access_token = format!("at-{}", random_jti());
    let password = format!("pw-{}", random_jti());
    let basic = b64std(format!("app-post:{password}").as_bytes());
    let body_secret = format!("cs-{}", random_jti());
    for secret in [
        &object,
        &assertion,
        &access_token,
        &password,
        &basic,
        &body_secret,
    ] {
        jargate.forbid_in_logs(secret.as_str());
    }
    // The signature alone: a partial token must not leak either.
    if let Some(sig) = object.rsplit('.').next() {
        jargate.forbid_in_logs(sig);
    }
    jargate.forbid_in_logs(format!("state-{}", &access_token[3..15]));

    let authorize = get(
        proxy,
        &format!(
            "/authorize?client_id=app-1&request={object}&state=state-{}",
            &access_token[3..15]
        ),
    )
    .await;
    assert_eq!(authorize.status, 502, "{}", authorize.text());
    let passthrough = request(
        proxy,
        "GET",
        &format!("/userinfo?access_token={access_token}"),
        &[("Authorization", &format!("Basic {basic}"))],
        b"",
    )
    .await;
    assert_eq!(passthrough.status, 502, "{}", passthrough.text());
    let token = post_form(proxy, "/oauth/token", &assertion_form(&assertion)).await;
    assert_eq!(token.status, 502, "{}", token.text());
    let secret_post = post_form(
        proxy,
        "/oauth/token",
        &format!("grant_type=client_credentials&client_id=app-post&client_secret={body_secret}"),
    )
    .await;
    assert_eq!(secret_post.status, 502, "{}", secret_post.text());

    // Decision lines are written once the response is sent; Pingora's error lines just after.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stderr = jargate.stderr();
    assert!(
        stderr.contains("Fail to proxy") || stderr.contains("ConnectRefused"),
        "the upstream failure was not logged at all:\n{stderr}"
    );
    assert!(
        !stderr.contains("access_token="),
        "a query string was logged:\n{stderr}"
    );
    if format == "json" {
        json_lines(&stderr);
    }
    jargate.assert_no_secret_logged();
}

#[tokio::test]
async fn nothing_secret_is_logged_when_the_upstream_is_down_text() {
    secrets_never_logged_with_upstream_down("text").await;
}

#[tokio::test]
async fn nothing_secret_is_logged_when_the_upstream_is_down_json() {
    secrets_never_logged_with_upstream_down("json").await;
}
