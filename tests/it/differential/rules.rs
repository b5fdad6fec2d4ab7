//! The two rules issue 22 added to SPEC §5 "No parser differential", through the real proxy:
//! a POST to `/authorize` with a query string, and a JSON body whose raw bytes read as a form
//! name an interpreted parameter. Each is `invalid_request` with its own rule name in every
//! upstream mode (the upstream receives nothing), and a `would_reject` forwarded as received in
//! report mode. HEAD on `/authorize` is validated exactly as GET.

use super::{app_jar_object, clients, json_with_form_inside, valid};
use crate::common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LEGACY: &str = "[upstream]\nmode = \"legacy\"\n";
const REPORT: &str = "[enforcement]\nmode = \"report\"\n";

/// The registry of the differential suite, with an upstream secret for legacy mode.
fn registry() -> serde_json::Value {
    let mut registry = clients();
    for client in registry["clients"].as_array_mut().expect("clients") {
        client["upstream_client_secret"] = serde_json::json!("up-secret");
    }
    registry
}

/// Issue 22's second request: a valid object in the query, a plain request in the form.
fn post_authorize_with_query() -> (String, &'static str) {
    let target = format!("/authorize?request={}", app_jar_object());
    (target, "client_id=app-jar&response_type=code&scope=openid")
}

/// Issue 22's first request: assertion A validated, assertion B in a value.
fn json_reads_as_form() -> String {
    let b = Jwt::signed(&TestKey::load("rsa-b"), "PS256")
        .claims(valid_assertion_claims("app-1"))
        .build();
    json_with_form_inside(&valid(), &b)
}

/// Waits for `name{error="invalid_request",rule}` to be 1 (a decision is counted once its
/// answer is sent); returns the scrape.
async fn assert_counted(j: &Jargate, name: &str, rule: &str) -> String {
    let labels = [("error", "invalid_request"), ("rule", rule)];
    scrape_until(j.admin_addr(), &format!("{name} {rule}"), |m| {
        counter(m, name, &labels) == 1.0
    })
    .await
}

async fn assert_refused_with_rule(j: &Jargate, up: &StubUpstream, resp: &Response, rule: &str) {
    assert_rejected(resp, 400, "invalid_request", up);
    assert_counted(j, "jargate_rejections_total", rule).await;
}

#[tokio::test]
async fn a_post_to_authorize_with_a_query_is_refused_in_every_mode() {
    for mode in ["", LEGACY] {
        let (up, j) = start_with(mode, registry()).await;
        let (target, body) = post_authorize_with_query();
        let resp = post_form(j.proxy_addr(), &target, body).await;
        assert_refused_with_rule(&j, &up, &resp, "authorize_post_with_query").await;
        // Whatever the query holds: only the body of a POST counts.
        let resp = post_form(
            j.proxy_addr(),
            "/authorize?client_id=app-post",
            "response_type=code",
        )
        .await;
        assert_rejected(&resp, 400, "invalid_request", &up);
    }
}

#[tokio::test]
async fn a_json_body_that_reads_as_a_form_is_refused_in_every_mode() {
    for mode in ["", LEGACY] {
        let (up, j) = start_with(mode, registry()).await;
        let resp = post_json(j.proxy_addr(), TOKEN, &json_reads_as_form()).await;
        assert_refused_with_rule(&j, &up, &resp, "json_reads_as_form").await;
        // A value holding `&` and `=` is fine while no interpreted name appears.
        let body = serde_json::json!({
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": valid(),
            "scope": "a&b=c&state=d",
        })
        .to_string();
        let resp = post_json(j.proxy_addr(), TOKEN, &body).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(up.count(), 1);
    }
}

#[tokio::test]
async fn report_mode_forwards_both_as_received_and_reports_them() {
    let (up, j) = start_with(REPORT, registry()).await;
    let (target, body) = post_authorize_with_query();
    let resp = post_form(j.proxy_addr(), &target, body).await;
    assert_forwarded(&resp, &up, "POST", &target, body.as_bytes());
    let json = json_reads_as_form();
    let resp = post_json(j.proxy_addr(), TOKEN, &json).await;
    assert_forwarded_nth(&resp, &up, 1, "POST", TOKEN, json.as_bytes());
    for rule in ["authorize_post_with_query", "json_reads_as_form"] {
        let m = assert_counted(&j, "jargate_would_reject_total", rule).await;
        let labels = [("error", "invalid_request"), ("rule", rule)];
        assert_eq!(
            counter(&m, "jargate_rejections_total", &labels),
            0.0,
            "{rule}"
        );
    }
}

/// Sends `HEAD target` and returns the status of the answer (which has no body).
async fn head(j: &Jargate, target: &str) -> u16 {
    let addr = j.proxy_addr();
    let raw = format!("HEAD {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(raw.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("an answer to HEAD within 5 s");
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn head_on_authorize_is_validated_as_get() {
    let (up, j) = start_with("", registry()).await;
    // app-jar must send a request object: refused as a GET would be.
    let status = head(&j, "/authorize?client_id=app-jar&response_type=code").await;
    assert_eq!((status, up.count()), (400, 0));
    let forged = object_by(
        "rsa-a",
        "PS256",
        object_claims("app-jar", serde_json::json!({})),
    );
    let status = head(
        &j,
        &format!("/authorize?client_id=app-jar&request={forged}"),
    )
    .await;
    assert_eq!((status, up.count()), (400, 0));
    let target = format!("/authorize?client_id=app-jar&request={}", app_jar_object());
    assert_eq!(head(&j, &target).await, 200);
    let sent = up.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), &sent[0].path_and_query),
        ("HEAD", &target)
    );
}
