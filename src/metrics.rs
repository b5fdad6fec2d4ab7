//! Prometheus metrics (`/metrics` on the admin listener), every name prefixed `jargate_`.
//! The proxy, the reloader, the JWKS cache and the store record into one `Metrics`.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Requests on intercepted endpoints by `endpoint` and `outcome` (forwarded, answered,
    /// rejected).
    pub requests: IntCounterVec,
    /// Refusals by OAuth `error` and `rule`.
    pub rejections: IntCounterVec,
    /// Report mode: requests forwarded although they would be refused, by `error` and `rule`.
    pub would_reject: IntCounterVec,
    /// Client-authentication requests let through, by the `method` the client used.
    pub client_auth: IntCounterVec,
    /// Time from the request's arrival to the decision (body buffering included).
    pub validation_seconds: Histogram,
    /// Configuration reloads by `result` (ok, failed).
    pub reloads: IntCounterVec,
    /// Unix time the serving configuration was loaded at.
    pub config_loaded: Gauge,
    pub clients: IntGauge,
    /// Registered clients in report mode (SPEC §5): an alert that catches report mode left on.
    pub unenforced_clients: IntGauge,
    /// Registered credentials by `use` (request_object, client_assertion) and `source`.
    pub credentials: IntGaugeVec,
    /// Remote JWK Set fetches by `result` (ok, failed, rate_limited).
    pub jwks_fetches: IntCounterVec,
    pub jwks_cache_hits: IntCounter,
    /// Store calls by `op` and `result` (ok, error).
    pub store_ops: IntCounterVec,
    /// Requests forwarded although single use could not be recorded (`store.on_error = "allow"`).
    pub store_bypassed: IntCounter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let requests = counter_vec(
            "jargate_requests_total",
            "Requests on intercepted endpoints",
            &["endpoint", "outcome"],
        );
        let rejections = counter_vec(
            "jargate_rejections_total",
            "Requests refused, by OAuth error and rule",
            &["error", "rule"],
        );
        let would_reject = counter_vec(
            "jargate_would_reject_total",
            "Report mode: requests forwarded that enforce mode would refuse, by OAuth error and rule",
            &["error", "rule"],
        );
        let client_auth = counter_vec(
            "jargate_client_auth_total",
            "Client-authentication requests let through, by the method the client used",
            &["method"],
        );
        for method in crate::gate::AuthMethod::ALL {
            client_auth.with_label_values(&[method.name()]);
        }
        let reloads = counter_vec(
            "jargate_reloads_total",
            "Configuration reloads",
            &["result"],
        );
        let jwks_fetches = counter_vec(
            "jargate_jwks_fetches_total",
            "Remote JWK Set fetches",
            &["result"],
        );
        let store_ops = counter_vec(
            "jargate_store_operations_total",
            "Single-use and PAR store calls",
            &["op", "result"],
        );
        let validation_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "jargate_validation_seconds",
                "Time to decide an intercepted request",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
            ]),
        )
        .expect("static metric");
        registry
            .register(Box::new(validation_seconds.clone()))
            .expect("unique metric");
        let config_loaded = Gauge::new(
            "jargate_config_loaded_timestamp_seconds",
            "Unix time the serving configuration was loaded",
        )
        .expect("static metric");
        registry
            .register(Box::new(config_loaded.clone()))
            .expect("unique metric");
        let clients =
            IntGauge::new("jargate_clients", "Registered clients").expect("static metric");
        registry
            .register(Box::new(clients.clone()))
            .expect("unique metric");
        let unenforced_clients = IntGauge::new(
            "jargate_unenforced_clients",
            "Registered clients in report mode (not enforced)",
        )
        .expect("static metric");
        registry
            .register(Box::new(unenforced_clients.clone()))
            .expect("unique metric");
        let credentials = IntGaugeVec::new(
            Opts::new("jargate_credentials", "Registered credentials"),
            &["use", "source"],
        )
        .expect("static metric");
        registry
            .register(Box::new(credentials.clone()))
            .expect("unique metric");
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("static metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let jwks_cache_hits = counter(
            "jargate_jwks_cache_hits_total",
            "Verifications that used cached remote keys",
        );
        let store_bypassed = counter(
            "jargate_store_bypassed_total",
            "Requests forwarded without recording single use (store.on_error = allow)",
        );
        // Series that alerts watch exist from the start, at zero.
        for result in ["ok", "failed"] {
            reloads.with_label_values(&[result]);
        }
        for result in ["ok", "failed", "rate_limited"] {
            jwks_fetches.with_label_values(&[result]);
        }
        Metrics {
            registry,
            requests,
            rejections,
            would_reject,
            client_auth,
            validation_seconds,
            reloads,
            config_loaded,
            clients,
            unenforced_clients,
            credentials,
            jwks_fetches,
            jwks_cache_hits,
            store_ops,
            store_bypassed,
        }
    }

    /// The Prometheus text exposition of every metric, plus the configuration's age.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut out).is_err() {
            return String::new();
        }
        let mut text = String::from_utf8(out).unwrap_or_default();
        let age = crate::app::unix_now() as f64 - self.config_loaded.get();
        text.push_str(&format!(
            "# HELP jargate_config_age_seconds Age of the serving configuration\n\
             # TYPE jargate_config_age_seconds gauge\njargate_config_age_seconds {age}\n"
        ));
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
