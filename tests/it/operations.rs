//! Operations (SPEC §8) through the real process: nothing secret in any log line (Pingora's
//! included), request ids, forwarded headers, the decision line and the JSON log format.

use crate::common::*;
use serde_json::{json, Value};
use std::time::Duration;

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
    let object = app1_object();
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
    let token = post_form(proxy, TOKEN, &assertion_form(&assertion)).await;
    assert_eq!(token.status, 502, "{}", token.text());
    let secret_post = post_form(
        proxy,
        TOKEN,
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

fn is_generated_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The last request the upstream received.
fn last(upstream: &StubUpstream) -> Recorded {
    upstream
        .requests()
        .pop()
        .expect("the upstream received nothing")
}

#[tokio::test]
async fn a_valid_request_id_is_kept_forwarded_and_echoed() {
    let (upstream, jargate) = start_default().await;
    let resp = request(
        jargate.proxy_addr(),
        "GET",
        "/userinfo",
        &[("X-Request-Id", "req-42.abc"), ("traceparent", TRACEPARENT)],
        b"",
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-request-id"), Some("req-42.abc"));
    let seen = last(&upstream);
    assert_eq!(seen.header("x-request-id").as_deref(), Some("req-42.abc"));
    assert_eq!(seen.header("traceparent").as_deref(), Some(TRACEPARENT));
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn an_invalid_request_id_is_replaced_by_a_random_one() {
    let (upstream, jargate) = start_default().await;
    let proxy = jargate.proxy_addr();
    let too_long = "x".repeat(129);
    for sent in [Some(too_long.as_str()), Some("tab\there"), None] {
        let headers: Vec<(&str, &str)> = sent.map(|v| ("X-Request-Id", v)).into_iter().collect();
        let resp = request(proxy, "GET", "/userinfo", &headers, b"").await;
        assert_eq!(resp.status, 200);
        let id = resp
            .header("x-request-id")
            .expect("x-request-id")
            .to_string();
        assert!(is_generated_id(&id), "{sent:?} → {id}");
        let seen = last(&upstream);
        assert_eq!(seen.headers.get_all("x-request-id").iter().count(), 1);
        assert_eq!(seen.header("x-request-id"), Some(id));
    }
}

#[tokio::test]
async fn refusals_and_upstream_failures_carry_the_request_id_and_it_is_logged() {
    let (upstream, jargate) = start_with("", default_clients()).await;
    let proxy = jargate.proxy_addr();
    let refused = request(
        proxy,
        "GET",
        TOKEN,
        &[("X-Request-Id", "refused-1"), ("traceparent", TRACEPARENT)],
        b"",
    )
    .await;
    assert_rejected(&refused, 405, "invalid_request", &upstream);
    assert_eq!(refused.header("x-request-id"), Some("refused-1"));
    let generated = post_form(proxy, TOKEN, "grant_type=client_credentials").await;
    assert_eq!(generated.status, 401);
    let id = generated.header("x-request-id").expect("x-request-id");
    assert!(is_generated_id(id), "{id}");

    let down = ClosedPort::new();
    let failing = Jargate::start(down.addr(), "", default_clients()).await;
    let failed = request(
        failing.proxy_addr(),
        "GET",
        "/userinfo",
        &[("X-Request-Id", "down-1")],
        b"",
    )
    .await;
    assert_eq!(failed.status, 502);
    assert_eq!(failed.header("x-request-id"), Some("down-1"));

    tokio::time::sleep(Duration::from_millis(200)).await;
    let stderr = jargate.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("decision") && l.contains("refused-1"))
        .unwrap_or_else(|| panic!("no decision line with the request id:\n{stderr}"));
    assert!(line.contains("127.0.0.1"), "no peer address: {line}");
    assert!(line.contains(TRACEPARENT), "no traceparent: {line}");
    let stderr = failing.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("Fail to proxy") && l.contains("request_id=down-1")),
        "Pingora's error line lacks the request id:\n{stderr}"
    );
}

async fn forwarded_as(policy: &str, sent: &[(&str, &str)]) -> Recorded {
    let config = format!("[listen]\nforwarded_for = \"{policy}\"\n");
    let (upstream, jargate) = start_with(&config, default_clients()).await;
    let mut headers = vec![("Host", "login.example.com")];
    headers.extend_from_slice(sent);
    let resp = request(jargate.proxy_addr(), "GET", "/userinfo", &headers, b"").await;
    assert_eq!(resp.status, 200);
    last(&upstream)
}

fn all(seen: &Recorded, name: &str) -> Vec<String> {
    seen.headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

const SENT: [(&str, &str); 3] = [
    ("X-Forwarded-For", "203.0.113.9"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "spoofed.example"),
];

#[tokio::test]
async fn forwarded_for_append_adds_the_peer() {
    let seen = forwarded_as("append", &SENT).await;
    assert_eq!(all(&seen, "x-forwarded-for"), ["203.0.113.9, 127.0.0.1"]);
    assert_eq!(all(&seen, "x-forwarded-proto"), ["https"]);
    assert_eq!(all(&seen, "x-forwarded-host"), ["spoofed.example"]);
    let fresh = forwarded_as("append", &[]).await;
    assert_eq!(all(&fresh, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(all(&fresh, "x-forwarded-proto"), ["http"]);
    assert_eq!(all(&fresh, "x-forwarded-host"), ["login.example.com"]);
}

#[tokio::test]
async fn forwarded_for_replace_drops_what_the_client_sent() {
    let seen = forwarded_as("replace", &SENT).await;
    assert_eq!(all(&seen, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(all(&seen, "x-forwarded-proto"), ["http"]);
    assert_eq!(all(&seen, "x-forwarded-host"), ["login.example.com"]);
}

#[tokio::test]
async fn forwarded_for_off_leaves_the_headers_alone() {
    let seen = forwarded_as("off", &SENT).await;
    assert_eq!(all(&seen, "x-forwarded-for"), ["203.0.113.9"]);
    assert_eq!(all(&seen, "x-forwarded-proto"), ["https"]);
    assert_eq!(all(&seen, "x-forwarded-host"), ["spoofed.example"]);
    let fresh = forwarded_as("off", &[]).await;
    assert!(all(&fresh, "x-forwarded-for").is_empty());
    assert!(all(&fresh, "x-forwarded-proto").is_empty());
}

#[tokio::test]
async fn an_unknown_forwarded_for_value_is_a_config_error() {
    let upstream = StubUpstream::start().await;
    let err = Jargate::try_start(
        upstream.addr(),
        "[listen]\nforwarded_for = \"appendd\"\n",
        default_clients(),
    )
    .await
    .err()
    .expect("started with a bad forwarded_for");
    assert!(
        err.contains("forwarded_for") || err.contains("appendd"),
        "{err}"
    );
}

/// The JSON lines of `jargate` whose `message` is `message`.
fn lines_with_message(stderr: &str, message: &str) -> Vec<Value> {
    json_lines(stderr)
        .into_iter()
        .filter(|l| l["message"] == message)
        .collect()
}

async fn start_json(extra_toml: &str) -> (StubUpstream, Jargate) {
    let upstream = StubUpstream::start().await;
    let jargate = Jargate::try_start_with(
        upstream.addr(),
        extra_toml,
        default_clients(),
        &["--log-format", "json"],
    )
    .await
    .expect("start");
    (upstream, jargate)
}

#[tokio::test]
async fn json_log_lines_are_flat_and_the_decision_line_has_its_fields() {
    let (upstream, jargate) = start_json("").await;
    let proxy = jargate.proxy_addr();
    let t = now();
    let mut expired = valid_assertion_claims("app-1");
    expired["iat"] = json!(t - 700);
    expired["exp"] = json!(t - 600);
    let resp = post_form_with(
        proxy,
        TOKEN,
        &[
            ("X-Request-Id", "json-expired"),
            ("traceparent", TRACEPARENT),
        ],
        &assertion_form(&app1_assertion(expired)),
    )
    .await;
    assert_rejected(&resp, 401, "invalid_client", &upstream);
    let unknown_kid = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .header("kid", json!("kid-nobody-has"))
        .claims(valid_assertion_claims("app-1"))
        .build();
    let resp = post_form_with(
        proxy,
        TOKEN,
        &[("X-Request-Id", "json-kid")],
        &assertion_form(&unknown_kid),
    )
    .await;
    assert_rejected(&resp, 401, "invalid_client", &upstream);
    let ok = post_form(
        proxy,
        TOKEN,
        &assertion_form(&app1_assertion(valid_assertion_claims("app-1"))),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stderr = jargate.stderr();
    assert!(
        !stderr.contains("log.file") && !stderr.contains(".rs\""),
        "a source path was logged:\n{stderr}"
    );
    let decisions = lines_with_message(&stderr, "decision");
    let find = |id: &str| {
        decisions
            .iter()
            .find(|l| l["request_id"] == id)
            .unwrap_or_else(|| panic!("no decision line for {id}:\n{stderr}"))
            .clone()
    };
    let line = find("json-expired");
    assert_eq!(line["peer"], "127.0.0.1");
    assert_eq!(line["traceparent"], TRACEPARENT);
    assert_eq!(line["endpoint"], "token");
    assert_eq!(line["client_id"], "app-1");
    assert_eq!(line["outcome"], "rejected");
    assert_eq!(line["error"], "invalid_client");
    assert_eq!(line["rule"], "expired");
    assert_eq!(line["alg"], "RS256");
    assert_eq!(line["status"], 401);
    let exp_in = line["exp_in_secs"].as_i64().expect("exp_in_secs");
    assert!((-605..=-595).contains(&exp_in), "{line}");
    let line = find("json-kid");
    assert_eq!(line["rule"], "unknown_kid");
    assert_eq!(line["kid"], "kid-nobody-has");
    assert!(line.get("exp_in_secs").is_none(), "{line}");
    let forwarded = decisions
        .iter()
        .find(|l| l["outcome"] == "forwarded")
        .unwrap_or_else(|| panic!("no forwarded decision:\n{stderr}"));
    assert!(
        is_generated_id(forwarded["request_id"].as_str().unwrap_or_default()),
        "{forwarded}"
    );
    assert_eq!(forwarded["alg"], "RS256");

    let serving = lines_with_message(&stderr, "jargate serving");
    assert_eq!(serving.len(), 1, "{stderr}");
    assert_eq!(serving[0]["admin"], jargate.admin_addr().to_string());
}

#[tokio::test]
async fn access_log_of_passthrough_requests_is_off_by_default_and_never_has_the_query() {
    let (_upstream, quiet) = start_json("").await;
    assert_eq!(get(quiet.proxy_addr(), "/userinfo").await.status, 200);
    let (_upstream, loud) = start_json("[listen]\naccess_log = true\n").await;
    let token = format!("at-{}", random_jti());
    loud.forbid_in_logs(token.as_str());
    let resp = request(
        loud.proxy_addr(),
        "GET",
        &format!("/userinfo?access_token={token}"),
        &[("X-Request-Id", "access-1")],
        b"",
    )
    .await;
    assert_eq!(resp.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(lines_with_message(&quiet.stderr(), "access").is_empty());
    let access = lines_with_message(&loud.stderr(), "access");
    assert_eq!(access.len(), 1, "{}", loud.stderr());
    let line = &access[0];
    assert_eq!(line["request_id"], "access-1");
    assert_eq!(line["peer"], "127.0.0.1");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/userinfo");
    assert_eq!(line["status"], 200);
}

/// Runs `jargate serve` on a config of its own until its stderr contains `until` (or it
/// exits); returns the stderr.
async fn run_until(config: &str, args: &[&str], until: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("jargate.toml"), config).expect("config");
    std::fs::write(
        dir.path().join("clients.json"),
        serde_json::to_string(&registry(vec![])).expect("json"),
    )
    .expect("clients");
    let stderr_path = dir.path().join("stderr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_jargate"))
        .args(["serve", "--config"])
        .arg(dir.path().join("jargate.toml"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr"))
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stderr = loop {
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        if stderr.contains(until) || exited || std::time::Instant::now() > deadline {
            break std::fs::read_to_string(&stderr_path).unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    stderr
}

#[tokio::test]
async fn a_disabled_admin_listener_is_logged_as_disabled() {
    let config = format!(
        "[listen]\nproxy = \"127.0.0.1:{}\"\nadmin = \"\"\n[upstream]\nurl = \"http://127.0.0.1:9\"\n\
         [issuer]\nidentifier = \"{ISSUER}\"\n[clients]\nfile = \"clients.json\"\n",
        free_ports::<1>()[0]
    );
    let stderr = run_until(&config, &["--log-format", "json"], "jargate serving").await;
    let serving = lines_with_message(&stderr, "jargate serving");
    assert_eq!(serving.len(), 1, "{stderr}");
    assert_eq!(serving[0]["admin"], "disabled");
}

#[tokio::test]
async fn a_fatal_start_up_error_is_one_json_line() {
    let config = "[upstream]\nurl = \"http://127.0.0.1:9\"\n[clients]\nfile = \"missing.json\"\n";
    let stderr = run_until(config, &["--log-format", "json"], "missing.json").await;
    let lines = json_lines(&stderr);
    let fatal: Vec<_> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(fatal.len(), 1, "{stderr}");
    assert!(
        fatal[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("missing.json"),
        "{stderr}"
    );
    let text = run_until(config, &[], "missing.json").await;
    assert!(text.starts_with("jargate: "), "{text}");
}

#[tokio::test]
async fn a_stderr_nobody_reads_never_blocks_requests() {
    let upstream = StubUpstream::start().await;
    let [proxy, admin] = free_addrs();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[listen]\nproxy = \"{proxy}\"\nadmin = \"{admin}\"\naccess_log = true\n\
         [upstream]\nurl = \"http://{}\"\n[issuer]\nidentifier = \"{ISSUER}\"\n\
         [clients]\nfile = \"clients.json\"\n",
        upstream.addr()
    );
    std::fs::write(dir.path().join("jargate.toml"), config).expect("config");
    std::fs::write(
        dir.path().join("clients.json"),
        default_clients().to_string(),
    )
    .expect("clients");
    // A pipe whose reader never reads: it is full after a few hundred lines.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_jargate"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(dir.path().join("jargate.toml"))
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while try_send_raw(
        admin,
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(1),
    )
    .await
    .map_or(true, |r| r.status != 200)
    {
        assert!(std::time::Instant::now() < deadline, "not healthy");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let started = std::time::Instant::now();
    let raw = b"GET /userinfo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    for i in 0..1500 {
        let resp = try_send_raw(proxy, raw, Duration::from_secs(5)).await;
        assert!(
            matches!(&resp, Ok(r) if r.status == 200),
            "request {i} blocked or failed: {resp:?}"
        );
    }
    let took = started.elapsed();
    let metrics = scrape_metrics(admin).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert!(
        metric(&metrics, "jargate_log_lines_dropped_total", &[]).is_some(),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_store_failure_line_names_its_request() {
    let redis = ClosedPort::new();
    let config = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"redis://{}/0\"\non_error = \"reject\"\ntimeout_ms = 200\n",
        redis.addr()
    );
    let (upstream, jargate) = start_with(&config, default_clients()).await;
    let resp = post_form_with(
        jargate.proxy_addr(),
        TOKEN,
        &[("X-Request-Id", "store-down-1")],
        &assertion_form(&app1_assertion(valid_assertion_claims("app-1"))),
    )
    .await;
    assert_rejected(&resp, 503, "temporarily_unavailable", &upstream);
    assert_eq!(resp.header("x-request-id"), Some("store-down-1"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stderr = jargate.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("store call failed") && l.contains("store-down-1")),
        "{stderr}"
    );
}
