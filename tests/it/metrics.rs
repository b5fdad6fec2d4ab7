//! The admin listener (SPEC §8): `/metrics` after a known sequence of requests through the real
//! `jargate` binary (two accepted token requests, a replay, a bad signature, an ambiguous path),
//! the registry gauges, the store counters, `/healthz` and `/readyz`; the observability pack:
//! build info, process metrics, label sets at 0 from the start, the reload gauge and content
//! hash, credential and certificate expiry, passthrough answers by status class.

use crate::common::*;
use serde_json::json;
use std::net::SocketAddr;

#[tokio::test]
async fn metrics_count_a_known_sequence_of_decisions() {
    let (up, j) = start_default().await;
    let (proxy, admin) = (j.proxy_addr(), j.admin_addr());

    let first = assertion_by("ec-a", "ES256", "app-es");
    let resp = post_form(proxy, TOKEN, &assertion_form(&first)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = post_form(
        proxy,
        TOKEN,
        &assertion_form(&assertion_by("ec-a", "ES256", "app-es")),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = post_form(proxy, TOKEN, &assertion_form(&first)).await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(resp.json()["error_description"], "jti already used");
    let resp = post_form(
        proxy,
        TOKEN,
        &assertion_form(&tamper_signature(&assertion_by("ec-a", "ES256", "app-es"))),
    )
    .await;
    assert_error(&resp, 401, "invalid_client");
    let resp = post_form(
        proxy,
        "/oauth//token",
        &assertion_form(&assertion_by("ec-a", "ES256", "app-es")),
    )
    .await;
    assert_error(&resp, 400, "invalid_request");
    assert_eq!(up.count(), 2);

    let text = scrape_until(admin, "the decisions", |t| {
        total(t, "jargate_requests_total") >= 5.0
    })
    .await;
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
            .filter(|l| !l.ends_with(" 0"))
            .count(),
        0,
        "no store errors:\n{text}"
    );
    assert!(text.contains("jargate_config_age_seconds "));

    let health = get(admin, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text());
    let ready = get(admin, "/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    let ready = get(admin, "/readyz?store").await;
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
        // The standard process metrics keep their standard names (SPEC §8).
        assert!(
            name.starts_with("jargate_") || name.starts_with("process_"),
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

// ---------------------------------------------------------------------------------------------
// The observability pack (SPEC §8)
// ---------------------------------------------------------------------------------------------

/// Every sample of `name`, as its label text (`a="b",c="d"`) and value.
fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let labels = match series.split_once('{') {
                Some((n, rest)) if n == name => rest.strip_suffix('}')?,
                None if series == name => "",
                _ => return None,
            };
            Some((labels, value.parse().ok()?))
        })
        .collect()
}

/// The `hash` label of the one `jargate_config_info` sample.
fn config_hash(text: &str) -> String {
    let info = samples(text, "jargate_config_info");
    assert_eq!(info.len(), 1, "one jargate_config_info series:\n{text}");
    let (labels, value) = info[0];
    assert_eq!(value, 1.0);
    let hash = labels
        .strip_prefix("hash=\"")
        .and_then(|h| h.strip_suffix('"'))
        .unwrap_or_else(|| panic!("jargate_config_info labels {labels}"));
    assert!(
        hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "short hex hash: {hash}"
    );
    hash.to_owned()
}

#[tokio::test]
async fn a_fresh_process_exports_build_info_process_metrics_and_known_labels_at_zero() {
    let (_up, j) = start_default().await;
    let text = scrape_metrics(j.admin_addr()).await;
    let value = |name: &str, labels: &[(&str, &str)]| {
        metric(&text, name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{text}"))
    };
    assert_eq!(
        value(
            "jargate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(value(name, &[]) > 0.0, "{name}");
    }
    assert!(metric(&text, "process_cpu_seconds_total", &[]).is_some());

    for endpoint in ["authorize", "par", "token", "client_auth", "ambiguous_path"] {
        for outcome in ["forwarded", "answered", "rejected", "would_reject"] {
            let labels = [("endpoint", endpoint), ("outcome", outcome)];
            assert_eq!(value("jargate_requests_total", &labels), 0.0);
        }
    }
    // Every rule of src/reject.rs, under each error it can carry (a sample of them here; the
    // enumeration itself is checked by the unit tests of src/metrics/labels.rs).
    for (error, rule) in [
        ("invalid_client", "jti_replayed"),
        ("invalid_client", "unknown_client"),
        ("invalid_client", "assertion_required"),
        ("invalid_client", "bad_signature"),
        ("invalid_request_object", "bad_signature"),
        ("invalid_request_object", "expired"),
        ("invalid_request", "ambiguous_path"),
        ("invalid_request", "body_too_large"),
        ("invalid_request", "method_not_allowed"),
        ("invalid_request_uri", "request_uri_unknown"),
        ("request_uri_not_supported", "request_uri_not_par"),
        ("temporarily_unavailable", "store_unavailable"),
    ] {
        let labels = [("error", error), ("rule", rule)];
        assert_eq!(value("jargate_rejections_total", &labels), 0.0);
    }
    let rules = samples(&text, "jargate_rejections_total");
    assert!(rules.len() > 80, "{} rejection series", rules.len());
    assert!(rules.iter().all(|(_, v)| *v == 0.0));

    for method in [
        "private_key_jwt",
        "client_secret_post",
        "client_secret_basic",
        "none",
    ] {
        assert_eq!(
            value("jargate_client_auth_total", &[("method", method)]),
            0.0
        );
    }
    for endpoint in ["authorize", "par", "token", "client_auth", "passthrough"] {
        for kind in ["connect", "timeout", "reset", "protocol"] {
            let labels = [("endpoint", endpoint), ("kind", kind)];
            assert_eq!(value("jargate_upstream_errors_total", &labels), 0.0);
        }
    }
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
        let labels = [("status_class", class)];
        assert_eq!(value("jargate_passthrough_requests_total", &labels), 0.0);
    }
    assert_eq!(value("jargate_config_last_reload_successful", &[]), 1.0);
    config_hash(&text);
    // Nothing expires in the default registry, and TLS is off: no expiry series at all (a 0
    // would read as "expired in 1970" to an alert).
    assert!(samples(&text, "jargate_credential_expiry_timestamp_seconds").is_empty());
    assert!(samples(&text, "jargate_tls_certificate_expiry_timestamp_seconds").is_empty());
    assert!(samples(&text, "jargate_jwks_last_success_timestamp_seconds").is_empty());
}

#[tokio::test]
async fn a_refused_version_zeroes_the_reload_gauge_and_a_new_version_changes_the_hash() {
    let (_up, j) = start_default().await;
    let admin = j.admin_addr();
    let first = config_hash(&scrape_metrics(admin).await);
    let path = j.dir().join("clients.json");
    let good = serde_json::to_string(&default_clients()).expect("json");

    std::fs::write(&path, &good[..good.len() / 2]).expect("write broken registry");
    let text = scrape_until(admin, "the reload gauge at 0", |t| {
        metric(t, "jargate_config_last_reload_successful", &[]) == Some(0.0)
    })
    .await;
    assert_eq!(
        counter(&text, "jargate_reloads_total", &[("result", "failed")]),
        1.0
    );
    assert_eq!(
        config_hash(&text),
        first,
        "the last good version still serves"
    );

    // The same registry in other bytes (compact JSON): a new version, a new hash.
    std::fs::write(&path, &good).expect("write fixed registry");
    let text = scrape_until(admin, "the reload gauge back at 1", |t| {
        metric(t, "jargate_config_last_reload_successful", &[]) == Some(1.0)
    })
    .await;
    assert_eq!(
        counter(&text, "jargate_reloads_total", &[("result", "ok")]),
        1.0
    );
    assert_ne!(config_hash(&text), first);
}

#[tokio::test]
async fn expiry_timestamps_match_the_registry_and_the_served_certificate() {
    let (assertion_at, object_at) = (now() + 30 * 86_400, now() + 40 * 86_400);
    let mut expiring = pem_credential("ec-a", "ES256");
    expiring["kid"] = json!("k-exp");
    expiring["expires_at"] = json!(rfc3339(assertion_at));
    let mut object_key = pem_credential("rsa-b", "PS256");
    object_key["kid"] = json!("jar-1");
    object_key["expires_at"] = json!(rfc3339(object_at));
    let mut client = pkjwt_client("app-exp", vec![expiring, pem_credential("ec-b", "ES256")]);
    client["signed_request_object"] = json!({ "credentials": [object_key] });
    let tls = "[listen]\ntls_cert = \"keys/tls-a.cert.pem\"\ntls_key = \"keys/tls-a.key.pem\"\n";
    let (_up, j) = start_with(tls, registry(vec![client])).await;
    let text = scrape_metrics(j.admin_addr()).await;

    let expiry = "jargate_credential_expiry_timestamp_seconds";
    assert_eq!(
        metric(
            &text,
            expiry,
            &[
                ("client_id", "app-exp"),
                ("use", "client_assertion"),
                ("kid", "k-exp")
            ]
        ),
        Some(assertion_at as f64)
    );
    assert_eq!(
        metric(
            &text,
            expiry,
            &[
                ("client_id", "app-exp"),
                ("use", "request_object"),
                ("kid", "jar-1")
            ]
        ),
        Some(object_at as f64)
    );
    assert_eq!(
        samples(&text, expiry).len(),
        2,
        "a credential without expires_at has no series"
    );

    let pem = std::fs::read_to_string(keys_dir().join("tls-a.cert.pem")).expect("cert");
    let der = pem::parse(pem).expect("pem").into_contents();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
    let not_after = cert.validity().not_after.timestamp();
    assert_eq!(
        metric(
            &text,
            "jargate_tls_certificate_expiry_timestamp_seconds",
            &[]
        ),
        Some(not_after as f64)
    );

    // A version without the expiring credentials drops their series.
    let clients = registry(vec![pkjwt_client(
        "app-exp",
        vec![pem_credential("ec-b", "ES256")],
    )]);
    let body = serde_json::to_string(&clients).expect("json");
    std::fs::write(j.dir().join("clients.json"), body).expect("write registry");
    scrape_until(j.admin_addr(), "the expiry series gone", |t| {
        samples(t, expiry).is_empty()
    })
    .await;
}

/// An upstream answering `/status/NNN` with status NNN and anything else with 200.
async fn status_upstream() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let status = req
                            .uri()
                            .path()
                            .strip_prefix("/status/")
                            .and_then(|s| s.parse::<u16>().ok())
                            .unwrap_or(200);
                        let _ = req.into_body().collect().await;
                        hyper::Response::builder()
                            .status(status)
                            .body(Full::new(bytes::Bytes::new()))
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn passthrough_answers_are_counted_by_status_class_apart_from_decisions() {
    let (upstream, task) = status_upstream().await;
    let j = Jargate::start(upstream, "", default_clients()).await;
    let proxy = j.proxy_addr();
    for (path, status) in [
        ("/status/200", 200),
        ("/status/204", 204),
        ("/status/302", 302),
        ("/status/404", 404),
        ("/status/503", 503),
    ] {
        assert_eq!(get(proxy, path).await.status, status, "{path}");
    }
    // An intercepted request is a decision, not passthrough.
    let resp = post_form(
        proxy,
        TOKEN,
        &assertion_form(&assertion_by("ec-a", "ES256", "app-es")),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    let sum = |t: &str, name: &str| samples(t, name).iter().map(|(_, v)| v).sum::<f64>();
    let text = scrape_until(j.admin_addr(), "5 answers and 1 decision", |t| {
        sum(t, "jargate_passthrough_requests_total") >= 5.0
            && sum(t, "jargate_requests_total") >= 1.0
    })
    .await;
    let class = |c: &str| {
        counter(
            &text,
            "jargate_passthrough_requests_total",
            &[("status_class", c)],
        )
    };
    assert_eq!(
        [
            class("1xx"),
            class("2xx"),
            class("3xx"),
            class("4xx"),
            class("5xx")
        ],
        [0.0, 2.0, 1.0, 1.0, 1.0]
    );
    assert_eq!(
        sum(&text, "jargate_requests_total"),
        1.0,
        "only the token request is a decision"
    );
    assert_eq!(
        counter(
            &text,
            "jargate_requests_total",
            &[("endpoint", "token"), ("outcome", "forwarded")]
        ),
        1.0
    );
    task.abort();
}
