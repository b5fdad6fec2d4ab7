//! The alert rules (`deploy/prometheus/alerts.yaml`) and the Grafana dashboard
//! (`deploy/grafana/jargate.json`) name only metrics jargate exports: every PromQL expression
//! is tokenised enough to find its metric names, and each one must be a sample name on the
//! `/metrics` of a running proxy configured so that every family has series (TLS termination,
//! a credential with `expires_at`, a `jwks_uri` client). `promtool check rules` (in `.ci/run`)
//! checks the rules' syntax; this checks that they watch something real.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

fn deploy(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// PromQL words that are not metric names when they stand alone.
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "inf", "nan"];
/// Aggregation operators: their grouping clause may come before the parenthesis.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
/// Followed by a parenthesised list of label names, not of expressions.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression reads: identifiers that are not functions, keywords,
/// label names (inside `{…}` or a grouping list), durations (`[…]`), strings or numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skips from an opening delimiter to its closing one, strings included.
    let skip_group = |mut i: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        while i < chars.len() {
            match chars[i] {
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                '"' | '\'' | '`' => i = skip_string(&chars, i) - 1,
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_group(i, '{', '}');
        } else if c == '[' {
            i = skip_group(i, '[', ']');
        } else if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // Numbers and durations (14, 86400, 1e3, 0x1f, 5m).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c == '$' {
            // A Grafana variable ($__rate_interval, $job).
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            if GROUPING.contains(&word.as_str()) {
                if call {
                    i = skip_group(next, '(', ')');
                }
            } else if !call
                && !KEYWORDS.contains(&word.as_str())
                && !AGGREGATIONS.contains(&word.as_str())
            {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Index just past the string literal starting at `i`.
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() && chars[j] != quote {
        if chars[j] == '\\' && quote != '`' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

/// `expr` of every rule of every group.
fn alert_expressions() -> Vec<String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(&deploy("prometheus/alerts.yaml"))
        .expect("alerts.yaml is YAML");
    let mut exprs = Vec::new();
    for doc in &docs {
        let groups = doc["groups"].as_vec().expect("groups");
        for group in groups {
            for rule in group["rules"].as_vec().expect("rules") {
                let expr = rule["expr"].as_str().expect("every rule has an expr");
                exprs.push(expr.to_owned());
            }
        }
    }
    exprs
}

/// Every `expr` in the dashboard (panel targets), and the metric selector of every
/// `label_values(SELECTOR, label)` template query.
fn dashboard_expressions() -> Vec<String> {
    let dashboard: Value =
        serde_json::from_str(&deploy("grafana/jargate.json")).expect("jargate.json is JSON");
    let mut exprs = Vec::new();
    collect(&dashboard, &mut exprs);
    exprs
}

fn collect(value: &Value, exprs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("expr", Some(expr)) => exprs.push(expr.to_owned()),
                    ("definition" | "query", Some(query)) => {
                        if let Some(rest) = query.trim().strip_prefix("label_values(") {
                            let selector = rest.rsplit_once(',').map_or(rest, |(s, _)| s);
                            exprs.push(selector.to_owned());
                        }
                    }
                    _ => collect(v, exprs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, exprs)),
        _ => {}
    }
}

/// Sample names (`jargate_validation_seconds_bucket`, …) of a text exposition.
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// A server answering every request with `body` as JSON.
async fn json_server(body: Value) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let body = bytes::Bytes::from(body.to_string());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, task)
}

/// `/metrics` of a proxy in which every family has at least one series.
async fn everything_exported() -> String {
    let mut jwk = TestKey::load("ec-a").jwk();
    jwk["kid"] = json!("remote-1");
    jwk["alg"] = json!("ES256");
    let (jwks, task) = json_server(json!({ "keys": [jwk] })).await;
    let mut expiring = pem_credential("ec-b", "ES256");
    expiring["expires_at"] = json!("2099-01-01T00:00:00Z");
    let remote = json!({"credential_type": "jwks_uri", "uri": format!("http://{jwks}/jwks.json")});
    let clients = registry(vec![
        pkjwt_client("app-expiring", vec![expiring]),
        pkjwt_client("app-remote", vec![remote]),
    ]);
    let tls = "[listen]\ntls_cert = \"keys/tls-a.cert.pem\"\ntls_key = \"keys/tls-a.key.pem\"\n";
    let (_up, j) = start_with(tls, clients).await;
    let since = Instant::now();
    loop {
        let text = scrape_metrics(j.admin_addr()).await;
        if text.contains("jargate_jwks_last_success_timestamp_seconds{") {
            task.abort();
            return text;
        }
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "the JWK Set was not fetched within 3 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn alert_rules_and_dashboard_name_only_metrics_jargate_exports() {
    let exported = exported_names(&everything_exported().await);
    let mut unknown = Vec::new();
    let mut used = BTreeSet::new();
    for (file, exprs) in [
        ("prometheus/alerts.yaml", alert_expressions()),
        ("grafana/jargate.json", dashboard_expressions()),
    ] {
        assert!(exprs.len() >= 10, "{file}: {} expressions", exprs.len());
        for expr in exprs {
            let names = metric_names(&expr);
            assert!(!names.is_empty(), "{file}: no metric in {expr:?}");
            for name in names {
                if !exported.contains(&name) {
                    unknown.push(format!("{file}: {name} (in {expr:?})"));
                }
                used.insert(name);
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics not exported by jargate:\n{}\nexported: {exported:?}",
        unknown.join("\n")
    );
    // The families the alerts of SPEC §8 are about are all watched.
    for family in [
        "jargate_rejections_total",
        "jargate_config_last_reload_successful",
        "jargate_credential_expiry_timestamp_seconds",
        "jargate_tls_certificate_expiry_timestamp_seconds",
        "jargate_jwks_last_success_timestamp_seconds",
        "jargate_store_operations_total",
        "jargate_upstream_errors_total",
        "jargate_passthrough_requests_total",
    ] {
        assert!(used.contains(family), "{family} is not used");
    }
}

#[test]
fn metric_names_skip_functions_labels_durations_strings_and_grouping() {
    let expr = r#"histogram_quantile(0.99, sum by (le, job) (rate(foo_bucket{rule=~"a|b", x='}'}[5m] offset 1h)))
        > on (job) group_left (bar) 3 * (bar_total + 1e3) and time() - baz{q="{"} > 14 * 86400
        # a comment naming not_a_metric
        unless sort(qux) == bool 0 or $__rate_interval"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["bar_total", "baz", "foo_bucket", "qux"]);
}

/// `deploy/prometheus/prometheus.yml` loads the alert rules and keeps exactly what the
/// manifests expose: the `jargate` container's port named `admin`, annotated for scraping.
#[test]
fn the_scrape_configuration_matches_the_manifests() {
    let docs = yaml_rust2::YamlLoader::load_from_str(&deploy("prometheus/prometheus.yml"))
        .expect("prometheus.yml is YAML");
    let config = &docs[0];
    let rule_files: Vec<&str> = config["rule_files"]
        .as_vec()
        .expect("rule_files")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert_eq!(rule_files, ["alerts.yaml"]);
    let jobs = config["scrape_configs"].as_vec().expect("scrape_configs");
    let job = jobs
        .iter()
        .find(|j| j["job_name"].as_str() == Some("jargate"))
        .expect("a jargate job");
    let keeps: Vec<(String, String)> = job["relabel_configs"]
        .as_vec()
        .expect("relabel_configs")
        .iter()
        .filter(|r| r["action"].as_str() == Some("keep"))
        .map(|r| {
            let label = r["source_labels"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (label, r["regex"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    for (label, regex) in [
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
            "true",
        ),
        ("__meta_kubernetes_pod_container_name", "jargate"),
        ("__meta_kubernetes_pod_container_port_name", "admin"),
    ] {
        assert!(
            keeps.contains(&(label.to_owned(), regex.to_owned())),
            "keep {label}={regex}: {keeps:?}"
        );
    }
    for manifest in [
        "kubernetes/sidecar.yaml",
        "kubernetes/multi-replica-redis.yaml",
    ] {
        let text = deploy(manifest);
        for needle in [
            "prometheus.io/scrape: \"true\"",
            "prometheus.io/port: \"9901\"",
            "- name: jargate",
            "{ name: admin, containerPort: 9901 }",
        ] {
            assert!(text.contains(needle), "{manifest} lacks {needle:?}");
        }
    }
}
