//! Report mode (SPEC §5 "Report mode", docs/rollout.md), through the real
//! `jargate` binary and a recording stub upstream, in passthrough and legacy mode. A request
//! that would be refused reaches the upstream exactly as it was sent (method, target, body,
//! `Authorization`), is counted in `jargate_would_reject_total{error,rule}` and
//! `jargate_requests_total{outcome="would_reject"}` (never in `jargate_rejections_total`), and
//! its decision line says `would_reject` and the rule. A valid request is handled as in enforce
//! mode; single use is still recorded; the client's `client_metadata.jargate_enforcement`
//! overrides `enforcement.mode`, except for request-shape failures found before the client is
//! looked up; a store outage is answered as in enforce mode.

use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "upstream-secret";
const GLOBAL_REPORT: &str = "[enforcement]\nmode = \"report\"\n";
const MODES: [(&str, &str); 2] = [("passthrough", ""), ("legacy", LEGACY)];

/// * `app-1`: report mode (`client_metadata.jargate_enforcement`); assertions rsa-a (RS256),
///   request objects rsa-b (PS256).
/// * `app-2`: no override (follows `enforcement.mode`); assertions rsa-c (PS256).
/// * `app-enf`: `"enforce"` override; assertions ec-a (ES256).
fn clients() -> Value {
    let mut app1 = pkjwt_client("app-1", vec![pem_credential("rsa-a", "RS256")]);
    app1["signed_request_object"] = json!({"credentials": [pem_credential("rsa-b", "PS256")]});
    app1["client_metadata"] = json!({"jargate_enforcement": "report", "team": "payments"});
    let app2 = pkjwt_client("app-2", vec![pem_credential("rsa-c", "PS256")]);
    let mut enforced = pkjwt_client("app-enf", vec![pem_credential("ec-a", "ES256")]);
    enforced["client_metadata"] = json!({"jargate_enforcement": "enforce"});
    let mut all = vec![app1, app2, enforced];
    for c in &mut all {
        c["upstream_client_secret"] = json!(SECRET);
    }
    registry(all)
}

/// A valid assertion of `client`, signed by its key in [`clients`].
fn assertion(client: &str) -> String {
    match client {
        "app-2" => assertion_by("rsa-c", "PS256", client),
        "app-enf" => assertion_by("ec-a", "ES256", client),
        _ => assertion_by("rsa-a", "RS256", client),
    }
}

/// Polls the proxy's stderr for the decision line of a `would_reject` for `rule` (decisions are
/// logged once the response is sent).
async fn would_reject_line(j: &Jargate, client_id: &str, rule: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let logs = j.stderr();
        if let Some(line) = logs.lines().find(|l| {
            l.contains("decision")
                && l.contains("would_reject")
                && l.contains(&format!("rule=\"{rule}\""))
                && l.contains(&format!("client_id=\"{client_id}\""))
        }) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no would_reject decision line for {client_id} / {rule} in:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The report-mode accounting of one request: counted as would_reject on `endpoint` with
/// `error`/`rule`, never as a rejection, and logged. The endpoint's only would_reject so far.
async fn assert_reported(j: &Jargate, endpoint: &str, client_id: &str, error: &str, rule: &str) {
    assert_reported_nth(j, endpoint, client_id, error, rule, 1.0).await;
}

/// [`assert_reported`], the endpoint's `n`th would_reject.
async fn assert_reported_nth(
    j: &Jargate,
    endpoint: &str,
    client_id: &str,
    error: &str,
    rule: &str,
    n: f64,
) {
    let line = would_reject_line(j, client_id, rule).await;
    assert!(line.contains(&format!("error=\"{error}\"")), "{line}");
    assert!(line.contains(&format!("endpoint=\"{endpoint}\"")), "{line}");
    let m = scrape_metrics(j.admin_addr()).await;
    let labels = [("error", error), ("rule", rule)];
    assert_eq!(counter(&m, "jargate_would_reject_total", &labels), 1.0);
    assert_eq!(counter(&m, "jargate_rejections_total", &labels), 0.0);
    let by_outcome = [("endpoint", endpoint), ("outcome", "would_reject")];
    assert_eq!(counter(&m, "jargate_requests_total", &by_outcome), n);
}

#[tokio::test]
async fn token_request_that_would_be_refused_is_forwarded_as_received() {
    for (mode, toml) in MODES {
        let (up, j) = start_with(toml, clients()).await;
        let body = format!(
            "grant_type=client_credentials&client_id=app-1&{}",
            assertion_form(&tamper_signature(&assertion("app-1")))
                .trim_start_matches("grant_type=client_credentials&")
        );
        let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
        let rec = assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
        // Not translated in legacy mode either: no secret injected, no header added.
        assert_eq!(rec.header("authorization"), None, "{mode}");
        assert!(!rec.body_str().contains(SECRET), "{mode}");
        assert_reported(&j, "token", "app-1", "invalid_client", "bad_signature").await;
    }
}

#[tokio::test]
async fn par_request_that_would_be_refused_is_forwarded_as_received() {
    for (mode, toml) in MODES {
        let (up, j) = start_with(toml, clients()).await;
        let object = tamper_signature(&app1_object());
        let body = format!(
            "client_id=app-1&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}&request={object}",
            assertion("app-1")
        );
        let resp = post_form(j.proxy_addr(), PAR, &body).await;
        // Legacy mode too: jargate does not emulate a push it would refuse; the upstream
        // answers it as it answers without jargate (here the stub's 200).
        let rec = assert_forwarded(&resp, &up, "POST", PAR, body.as_bytes());
        assert_eq!(rec.header("authorization"), None, "{mode}");
        assert_reported(
            &j,
            "par",
            "app-1",
            "invalid_request_object",
            "bad_signature",
        )
        .await;
    }
}

#[tokio::test]
async fn authorize_request_that_would_be_refused_is_forwarded_as_received() {
    for (mode, toml) in MODES {
        let (up, j) = start_with(toml, clients()).await;
        let target = format!(
            "/authorize?client_id=app-1&request={}&state=xyz",
            tamper_signature(&app1_object())
        );
        let resp = get(j.proxy_addr(), &target).await;
        // The query is neither stripped nor rebuilt from the object's claims (legacy).
        let rec = assert_forwarded(&resp, &up, "GET", &target, b"");
        assert_eq!(rec.method, "GET", "{mode}");
        assert_reported(
            &j,
            "authorize",
            "app-1",
            "invalid_request_object",
            "bad_signature",
        )
        .await;
    }
}

#[tokio::test]
async fn client_auth_request_that_would_be_refused_is_forwarded_as_received() {
    for (mode, toml) in MODES {
        let (up, j) = start_with(toml, clients()).await;
        // app-1 must use private_key_jwt; it sends its secret instead.
        let body = "token=abc&client_id=app-1&client_secret=legacy-secret";
        let resp = post_form(j.proxy_addr(), REVOKE, body).await;
        let rec = assert_forwarded(&resp, &up, "POST", REVOKE, body.as_bytes());
        assert_eq!(rec.header("authorization"), None, "{mode}");
        assert_reported(
            &j,
            "client_auth",
            "app-1",
            "invalid_client",
            "assertion_required",
        )
        .await;
    }
}

#[tokio::test]
async fn valid_requests_in_report_mode_are_handled_as_in_enforce_mode() {
    let (up, j) = start_with(&format!("{LEGACY}{GLOBAL_REPORT}"), clients()).await;
    // Legacy translation: the assertion is replaced by the upstream secret.
    let body = assertion_form(&assertion("app-1"));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let rec = &up.requests()[0];
    assert!(!rec.body_str().contains("client_assertion"), "{rec:?}");
    assert!(
        rec.body_str().ends_with(&format!("client_secret={SECRET}")),
        "{rec:?}"
    );
    // PAR emulation: answered by jargate, nothing upstream.
    let body = format!(
        "client_id=app-1&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}&request={}",
        assertion("app-1"),
        app1_object()
    );
    let resp = post_form(j.proxy_addr(), PAR, &body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(up.count(), 1);
    let m = scrape_until(j.admin_addr(), "both decisions", |t| {
        total(t, "jargate_requests_total") >= 2.0
    })
    .await;
    assert_eq!(
        counter(
            &m,
            "jargate_requests_total",
            &[("endpoint", "token"), ("outcome", "forwarded")]
        ),
        1.0
    );
    assert_eq!(
        counter(
            &m,
            "jargate_requests_total",
            &[("endpoint", "par"), ("outcome", "answered")]
        ),
        1.0
    );
}

#[tokio::test]
async fn single_use_is_still_recorded_in_report_mode() {
    let (up, j) = start_with("", clients()).await;
    let body = assertion_form(&assertion("app-1"));
    let first = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_forwarded(&first, &up, "POST", TOKEN, body.as_bytes());
    let replay = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_forwarded_nth(&replay, &up, 1, "POST", TOKEN, body.as_bytes());
    assert_reported(&j, "token", "app-1", "invalid_client", "jti_replayed").await;
}

#[tokio::test]
async fn a_client_override_decides_once_the_client_is_known() {
    let (up, j) = start_with(GLOBAL_REPORT, clients()).await;
    // "enforce" under a global report mode: refused, nothing upstream.
    let expired = Jwt::signed(&TestKey::load("ec-a"), "ES256")
        .claims(valid_assertion_claims("app-enf"))
        .claim("exp", json!(now() - 600))
        .build();
    let body = assertion_form(&expired);
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
    // No override: the global report mode.
    let body = assertion_form(&tamper_signature(&assertion("app-2")));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
    assert_reported(&j, "token", "app-2", "invalid_client", "bad_signature").await;
    let m = scrape_metrics(j.admin_addr()).await;
    let labels = [("error", "invalid_client"), ("rule", "expired")];
    assert_eq!(counter(&m, "jargate_rejections_total", &labels), 1.0);
    let rejected = [("endpoint", "token"), ("outcome", "rejected")];
    assert_eq!(counter(&m, "jargate_requests_total", &rejected), 1.0);
}

#[tokio::test]
async fn request_shape_failures_follow_the_global_mode() {
    // Global enforce: app-1's report override does not apply before app-1 is looked up.
    let (up, j) = start_with("", clients()).await;
    let body = format!(
        "client_id=app-1&client_secret=s&{}",
        assertion_form(&assertion("app-1")).trim_start_matches("grant_type=client_credentials&")
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
    drop(j);

    // Global report: shape failures are forwarded as received, body unread (method, path).
    let (up, j) = start_with(GLOBAL_REPORT, clients()).await;
    let resp = get(j.proxy_addr(), TOKEN).await;
    assert_forwarded(&resp, &up, "GET", TOKEN, b"");
    assert_reported(&j, "token", "", "invalid_request", "method_not_allowed").await;
    let resp = post_form(j.proxy_addr(), "/oauth//token", "grant_type=x").await;
    assert_forwarded_nth(&resp, &up, 1, "POST", "/oauth//token", b"grant_type=x");
    assert_reported(
        &j,
        "ambiguous_path",
        "",
        "invalid_request",
        "ambiguous_path",
    )
    .await;
}

#[tokio::test]
async fn a_store_outage_is_answered_in_report_mode_too() {
    // A memory store full after one entry refuses to record the next jti: 503, not a rule.
    let (up, j) = start_with(
        &format!("{GLOBAL_REPORT}[store]\nmax_entries = 1\n"),
        clients(),
    )
    .await;
    let first = assertion_form(&assertion("app-2"));
    assert_forwarded(
        &post_form(j.proxy_addr(), TOKEN, &first).await,
        &up,
        "POST",
        TOKEN,
        first.as_bytes(),
    );
    let second = assertion_form(&assertion("app-2"));
    let resp = post_form(j.proxy_addr(), TOKEN, &second).await;
    assert_error(&resp, 503, "temporarily_unavailable");
    assert_eq!(up.count(), 1, "nothing more upstream");
}

#[tokio::test]
async fn start_up_log_lists_the_clients_that_are_not_enforced() {
    let (_up, j) = start_with(GLOBAL_REPORT, clients()).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let logs = j.stderr();
        let line = logs
            .lines()
            .find(|l| l.contains("these clients are not enforced"));
        if let Some(line) = line {
            assert!(line.contains("clients=\"app-1,app-2\""), "{line}");
            assert!(!line.contains("app-enf"), "{line}");
            assert!(
                logs.contains("enforcement.mode = \"report\": requests that break a rule"),
                "the global mode is said plainly: {logs}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no start-up line in:\n{logs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = scrape_metrics(j.admin_addr()).await;
    assert_eq!(metric(&m, "jargate_unenforced_clients", &[]), Some(2.0));
}

/// `jargate check` on a config dir holding `jargate.toml` (+ `extra`) and `clients`.
fn check(extra: &str, clients: &Value) -> (bool, String) {
    cli_with(&["check"], &[], extra, clients)
}

/// `jargate <args> --config <jargate.toml> <tail>` on a [`ConfigDir`] of `extra` and `clients`:
/// whether it succeeded, and its output.
fn cli_with(args: &[&str], tail: &[&str], extra: &str, clients: &Value) -> (bool, String) {
    let dir = ConfigDir::new(extra, clients);
    let config = dir.config();
    let ran = run_jargate(&[args, &["--config", &config], tail].concat());
    (ran.code == 0, ran.output())
}

#[test]
fn check_lists_the_clients_that_are_not_enforced() {
    let (ok, out) = check("", &clients());
    assert!(ok, "{out}");
    assert!(
        out.contains("enforcement enforce, except clients in report mode: app-1"),
        "{out}"
    );
    assert!(
        out.contains("warning: client \"app-1\" is not enforced (report mode)"),
        "{out}"
    );
    let (ok, out) = check(GLOBAL_REPORT, &clients());
    assert!(ok, "{out}");
    assert!(
        out.contains("enforcement report: NOTHING IS REFUSED"),
        "{out}"
    );
    assert!(out.contains("(2 of 3 clients not enforced)"), "{out}");
    assert!(
        out.contains("warning: enforcement.mode is \"report\""),
        "{out}"
    );
    // Each client not enforced is marked in the summary (app-enf is enforced).
    assert_eq!(
        out.matches("enforcement: report (NOT ENFORCED").count(),
        2,
        "{out}"
    );
}

#[test]
fn an_unknown_enforcement_value_is_a_configuration_error() {
    for bad in [json!("shadow"), json!("Report"), json!(true), json!(null)] {
        let mut clients = clients();
        clients["clients"][1]["client_metadata"] = json!({"jargate_enforcement": bad});
        let (ok, out) = check("", &clients);
        assert!(!ok, "{bad} must be refused: {out}");
        assert!(
            out.contains("client \"app-2\"") && out.contains("client_metadata.jargate_enforcement"),
            "{out}"
        );
    }
    let (ok, out) = check("[enforcement]\nmode = \"shadow\"\n", &clients());
    assert!(!ok, "{out}");
    let (ok, out) = check("[enforcement]\nmdoe = \"report\"\n", &clients());
    assert!(!ok, "{out}");
}

#[tokio::test]
async fn an_oversized_body_is_forwarded_when_declared_and_refused_when_not() {
    let (up, j) = start_with(
        &format!("{GLOBAL_REPORT}[limits]\nmax_body_bytes = 1024\n"),
        clients(),
    )
    .await;
    let body = format!("grant_type=client_credentials&pad={}", "a".repeat(2000));
    // Declared too large: forwarded unread, as received.
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
    assert_reported(&j, "token", "", "invalid_request", "body_too_large").await;
    // Chunked past the limit: the part already read cannot be replayed whole, so refused.
    let raw = build_request(
        j.proxy_addr(),
        "POST",
        TOKEN,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(body.as_bytes(), 500),
    );
    let resp = send_raw(j.proxy_addr(), &raw).await;
    assert_error(&resp, 413, "invalid_request");
    assert_eq!(up.count(), 1, "nothing more upstream");
}

#[tokio::test]
async fn a_valid_token_in_a_refused_request_is_still_recorded() {
    // PAR: the assertion is valid, the request object is not; the request goes upstream with
    // the assertion, so the assertion's jti is recorded and its replay reported.
    let (up, j) = start_with("", clients()).await;
    let assertion = assertion("app-1");
    let body = |object: &str| {
        format!(
            "client_id=app-1&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={assertion}&request={object}"
        )
    };
    let first = body(&tamper_signature(&app1_object()));
    let resp = post_form(j.proxy_addr(), PAR, &first).await;
    assert_forwarded(&resp, &up, "POST", PAR, first.as_bytes());
    let second = body(&app1_object());
    let resp = post_form(j.proxy_addr(), PAR, &second).await;
    assert_forwarded_nth(&resp, &up, 1, "POST", PAR, second.as_bytes());
    assert_reported_nth(&j, "par", "app-1", "invalid_client", "jti_replayed", 2.0).await;
}

#[tokio::test]
async fn an_upstream_failure_after_a_would_reject_is_no_refusal() {
    let closed = ClosedPort::new();
    let j = Jargate::start(closed.addr(), "", clients()).await;
    let body = assertion_form(&tamper_signature(&assertion("app-1")));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_error(&resp, 502, "temporarily_unavailable");
    let line = would_reject_line(&j, "app-1", "bad_signature").await;
    assert!(line.contains("status=502"), "{line}");
    let m = scrape_metrics(j.admin_addr()).await;
    let labels = [("error", "invalid_client"), ("rule", "bad_signature")];
    assert_eq!(counter(&m, "jargate_would_reject_total", &labels), 1.0);
    let upstream = [
        ("error", "temporarily_unavailable"),
        ("rule", "upstream_unreachable"),
    ];
    assert_eq!(counter(&m, "jargate_rejections_total", &upstream), 0.0);
}

#[test]
fn explain_says_when_a_refusal_would_only_be_reported() {
    let bad = tamper_signature(&assertion("app-1"));
    let (ok, out) = cli_with(&["explain"], &[&bad], "", &clients());
    assert!(!ok, "{out}");
    assert!(
        out.contains("verdict: INVALID (rule: bad_signature)"),
        "{out}"
    );
    assert!(
        out.contains("report mode: the proxy forwards this request as received"),
        "{out}"
    );
    // An enforced client's refusal is no report.
    let bad = tamper_signature(&assertion("app-enf"));
    let (ok, out) = cli_with(&["explain"], &[&bad], "", &clients());
    assert!(!ok, "{out}");
    assert!(!out.contains("report mode"), "{out}");
}
