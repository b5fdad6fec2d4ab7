//! The admin listener (SPEC §8): `/metrics` after a known sequence of requests through the real
//! `jargate` binary (two accepted token requests, a replay, a bad signature, an ambiguous path),
//! the registry gauges, the store counters, `/healthz` and `/readyz`.

mod common;

use common::*;
use std::time::{Duration, Instant};

const TOKEN: &str = "/oauth/token";

fn app_es_assertion() -> String {
    Jwt::signed(&TestKey::load("ec-a"), "ES256")
        .claims(valid_assertion_claims("app-es"))
        .build()
}

/// Scrapes until `jargate_requests_total` adds up to `expected` (the counters are updated once
/// the answer is sent, so a scrape right after the last answer may be early).
async fn scrape_after(admin: std::net::SocketAddr, expected: f64) -> String {
    let since = Instant::now();
    loop {
        let text = scrape_metrics(admin).await;
        let total: f64 = text
            .lines()
            .filter(|l| l.starts_with("jargate_requests_total{"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
        if total >= expected || since.elapsed() > Duration::from_secs(2) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_count_a_known_sequence_of_decisions() {
    let (up, j) = start_default().await;
    let (proxy, admin) = (j.proxy_addr(), j.admin_addr());

    let first = app_es_assertion();
    let resp = post_form(proxy, TOKEN, &assertion_form(&first)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = post_form(proxy, TOKEN, &assertion_form(&app_es_assertion())).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = post_form(proxy, TOKEN, &assertion_form(&first)).await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(resp.json()["error_description"], "jti already used");
    let resp = post_form(
        proxy,
        TOKEN,
        &assertion_form(&tamper_signature(&app_es_assertion())),
    )
    .await;
    assert_error(&resp, 401, "invalid_client");
    let resp = post_form(proxy, "/oauth//token", &assertion_form(&app_es_assertion())).await;
    assert_error(&resp, 400, "invalid_request");
    assert_eq!(up.count(), 2);

    let text = scrape_after(admin, 5.0).await;
    let value = |name: &str, labels: &[(&str, &str)]| {
        metric(&text, name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{text}"))
    };
    let requests = "jargate_requests_total";
    assert_eq!(
        value(requests, &[("endpoint", "token"), ("outcome", "forwarded")]),
        2.0
    );
    assert_eq!(
        value(requests, &[("endpoint", "token"), ("outcome", "rejected")]),
        2.0
    );
    let rejections = "jargate_rejections_total";
    assert_eq!(
        value(
            rejections,
            &[("error", "invalid_client"), ("rule", "jti_replayed")]
        ),
        1.0
    );
    assert_eq!(
        value(
            rejections,
            &[("error", "invalid_client"), ("rule", "bad_signature")]
        ),
        1.0
    );
    assert_eq!(
        value(
            rejections,
            &[("error", "invalid_request"), ("rule", "ambiguous_path")]
        ),
        1.0
    );
    let refused: f64 = text
        .lines()
        .filter(|l| l.starts_with("jargate_rejections_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(refused, 3.0, "no other rejection counted:\n{text}");

    // The validation histogram: one observation per request that reached the validator (the
    // ambiguous path is refused by routing, before any validation).
    let count = value("jargate_validation_seconds_count", &[]);
    assert_eq!(count, 4.0, "validation observations:\n{text}");
    assert_eq!(
        value("jargate_validation_seconds_bucket", &[("le", "+Inf")]),
        count
    );
    let sum = value("jargate_validation_seconds_sum", &[]);
    assert!(sum > 0.0 && sum < 4.0, "validation seconds sum {sum}");

    // The registry: default_clients() has 5 clients, 5 assertion keys and 1 JAR key.
    assert_eq!(value("jargate_clients", &[]), 5.0);
    let credentials = "jargate_credentials";
    assert_eq!(
        value(
            credentials,
            &[("use", "client_assertion"), ("source", "registered")]
        ),
        5.0
    );
    assert_eq!(
        value(
            credentials,
            &[("use", "request_object"), ("source", "registered")]
        ),
        1.0
    );
    assert_eq!(
        value(
            credentials,
            &[("use", "client_assertion"), ("source", "jwks_uri")]
        ),
        0.0
    );
    // Single use: the two accepted jtis and the replayed one were each one store call that
    // answered (a replay is an answer, not a store error).
    let store = "jargate_store_operations_total";
    assert_eq!(
        value(store, &[("op", "insert_once"), ("result", "ok")]),
        3.0
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with(store) && !l.contains("result=\"ok\""))
            .count(),
        0,
        "no store errors:\n{text}"
    );
    assert!(text.contains("jargate_config_age_seconds "));

    let health = get(admin, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text());
    let ready = get(admin, "/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    let other = get(admin, "/nope").await;
    assert_eq!(other.status, 404);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_every_name_prefixed() {
    let (_up, j) = start_default().await;
    let resp = get(j.admin_addr(), "/metrics").await;
    assert_eq!(resp.status, 200);
    let ct = resp.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/plain"), "content type {ct:?}");
    let text = resp.text();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        assert!(
            name.starts_with("jargate_"),
            "metric not prefixed jargate_: {line}"
        );
    }
    assert_eq!(metric(&text, "jargate_clients", &[]), Some(5.0));
}

/// SPEC §8 names `jargate_reloads_total{result="ok|failed"}` and the jwks fetch counter.
/// Series that only appear at their first increment hide that first event from `rate()` and
/// `increase()` (Prometheus has no earlier sample to compare with), so an alert on failed
/// reloads would miss the first one: the label values are exported at 0 from the start.
#[tokio::test]
async fn reload_and_jwks_fetch_counters_are_exported_at_zero_from_the_start() {
    let (_up, j) = start_default().await;
    let text = scrape_metrics(j.admin_addr()).await;
    for (name, result) in [
        ("jargate_reloads_total", "ok"),
        ("jargate_reloads_total", "failed"),
        ("jargate_jwks_fetches_total", "ok"),
        ("jargate_jwks_fetches_total", "failed"),
    ] {
        assert_eq!(
            metric(&text, name, &[("result", result)]),
            Some(0.0),
            "{name}{{result=\"{result}\"}} must be exported (at 0) before its first event:\n{text}"
        );
    }
}
