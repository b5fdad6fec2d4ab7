//! Who uses what (SPEC §8, docs/metrics.md): `jargate_client_auth_total{method}` counts the
//! client-authentication requests jargate lets through by the method the *client* used
//! (private_key_jwt, client_secret_post, client_secret_basic, none), and every decision line
//! carries `auth_method`, so the clients still sending a secret are one query away.

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// `[("private_key_jwt", n), ...]` from the admin listener.
async fn by_method(j: &Jargate) -> Vec<(&'static str, f64)> {
    let m = scrape_metrics(j.admin_addr()).await;
    [
        "private_key_jwt",
        "client_secret_post",
        "client_secret_basic",
        "none",
    ]
    .into_iter()
    .map(|method| {
        let value = metric(&m, "jargate_client_auth_total", &[("method", method)])
            .unwrap_or_else(|| panic!("{method} must be exported from the start:\n{m}"));
        (method, value)
    })
    .collect()
}

/// Waits until the proxy has logged `n` decision lines; returns them.
async fn decisions(j: &Jargate, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let lines: Vec<String> = j
            .stderr()
            .lines()
            .filter(|l| l.contains(" decision "))
            .map(str::to_owned)
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} decision lines:\n{}",
            j.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn forwarded_requests_are_counted_by_the_method_the_client_used() {
    let (up, j) = start_default().await;
    assert!(by_method(&j).await.iter().all(|(_, v)| *v == 0.0));
    let addr = j.proxy_addr();
    // private_key_jwt (app-1), at the token endpoint and at a client-auth path.
    let body = assertion_form(&app1_assertion(valid_assertion_claims("app-1")));
    assert_forwarded_nth(
        &post_form(addr, TOKEN, &body).await,
        &up,
        0,
        "POST",
        TOKEN,
        body.as_bytes(),
    );
    // app-post may still use its secret: in the body, in a Basic header, or none (public).
    let post = "grant_type=client_credentials&client_id=app-post&client_secret=s";
    assert_forwarded_nth(
        &post_form(addr, TOKEN, post).await,
        &up,
        1,
        "POST",
        TOKEN,
        post.as_bytes(),
    );
    let basic = format!("Basic {}", b64std(b"app-post:s"));
    let grant = "grant_type=client_credentials";
    let resp = post_form_with(
        addr,
        "/oauth/revoke",
        &[("Authorization", basic.as_str())],
        grant,
    )
    .await;
    assert_forwarded_nth(&resp, &up, 2, "POST", "/oauth/revoke", grant.as_bytes());
    let public = "grant_type=authorization_code&code=c&client_id=app-post";
    assert_forwarded_nth(
        &post_form(addr, TOKEN, public).await,
        &up,
        3,
        "POST",
        TOKEN,
        public.as_bytes(),
    );
    // Refused (app-1 must use private_key_jwt): logged with its method, not counted.
    let refused = "grant_type=client_credentials&client_id=app-1&client_secret=s";
    let resp = post_form(addr, TOKEN, refused).await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(up.count(), 4);

    let lines = decisions(&j, 5).await;
    for (line, method) in lines.iter().zip([
        "private_key_jwt",
        "client_secret_post",
        "client_secret_basic",
        "none",
        "client_secret_post",
    ]) {
        assert!(
            line.contains(&format!("auth_method=\"{method}\"")),
            "{line}"
        );
    }
    assert!(lines[4].contains("outcome=\"rejected\"") && lines[4].contains("client_id=\"app-1\""));
    assert_eq!(
        by_method(&j).await,
        vec![
            ("private_key_jwt", 1.0),
            ("client_secret_post", 1.0),
            ("client_secret_basic", 1.0),
            ("none", 1.0)
        ]
    );
}

#[tokio::test]
async fn legacy_mode_counts_the_clients_method_not_the_injected_secret() {
    let mut clients = default_clients();
    for c in clients["clients"].as_array_mut().expect("clients") {
        c["upstream_client_secret"] = json!("up-secret");
    }
    let (up, j) = start_with("[upstream]\nmode = \"legacy\"\n", clients).await;
    let body = assertion_form(&app1_assertion(valid_assertion_claims("app-1")));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(up.requests()[0]
        .body_str()
        .contains("client_secret=up-secret"));
    // Counted when the decision is logged, after the answer went out.
    let lines = decisions(&j, 1).await;
    let counts = by_method(&j).await;
    assert_eq!(counts[0], ("private_key_jwt", 1.0));
    assert_eq!(counts[1], ("client_secret_post", 0.0));
    assert!(
        lines[0].contains("auth_method=\"private_key_jwt\""),
        "{}",
        lines[0]
    );
}

#[tokio::test]
async fn report_mode_counts_the_secrets_it_lets_through() {
    let (up, j) = start_with("[enforcement]\nmode = \"report\"\n", default_clients()).await;
    // app-1 must use private_key_jwt but sends a secret: forwarded, reported, counted.
    let body = "grant_type=client_credentials&client_id=app-1&client_secret=s";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
    let lines = decisions(&j, 1).await;
    assert_eq!(by_method(&j).await[1], ("client_secret_post", 1.0));
    assert!(
        lines[0].contains("outcome=\"would_reject\"")
            && lines[0].contains("auth_method=\"client_secret_post\"")
            && lines[0].contains("client_id=\"app-1\""),
        "{}",
        lines[0]
    );
}
