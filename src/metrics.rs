//! Prometheus metrics (`/metrics` on the admin listener), every name prefixed `jargate_`.
//! The proxy, the reloader, the JWKS cache and the store record into one `Metrics`. Besides
//! jargate's own families: `process_*` (Linux) and the label sets known at start, exported at
//! 0 (`labels`); the values derived from the serving configuration are set in `snapshot`.

pub mod labels;
mod snapshot;
mod store;

pub use store::CountedStore;

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
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
    /// 1 with `version`: which build runs where.
    pub build_info: IntGaugeVec,
    /// 0 while the newest version on disk is refused (the last good one keeps serving).
    pub config_reload_ok: IntGauge,
    /// 1 with the `hash` of the serving version's files, to compare replicas.
    pub config_info: IntGaugeVec,
    /// `expires_at` of every registered credential that has one, by `client_id`, `use`, `kid`.
    pub credential_expiry: GaugeVec,
    /// notAfter of the served TLS certificate (no series without TLS termination).
    pub tls_expiry: GaugeVec,
    /// Unix time of the last successful fetch of each remote JWK Set, by `uri`.
    pub jwks_last_success: GaugeVec,
    /// Answers to passthrough requests by `status_class` (1xx … 5xx).
    pub passthrough: IntCounterVec,
    /// Failures talking to the authorization server by `endpoint` (or `passthrough`) and `kind`.
    pub upstream_errors: IntCounterVec,
    /// Clients too slow to send their request, by `phase` (header, body).
    pub client_timeouts: IntCounterVec,
    /// Authorization responses inspected for `iss` (SPEC §12), by `result`.
    pub response_iss: IntCounterVec,
    /// DPoP proofs on intercepted requests by `result` (SPEC §11; [`labels::DPOP_RESULTS`]).
    pub dpop_proofs: IntCounterVec,
    /// Pooled upstream connections found closed by the upstream just before carrying a request
    /// (the request went out on another one): many mean `upstream.idle_timeout_ms` is above
    /// the upstream's keep-alive timeout.
    pub upstream_stale_connections: IntCounter,
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
        for method in crate::request::AuthMethod::ALL {
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
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = GaugeVec::new(Opts::new(name, help), labels).expect("static metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let int_gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let build_info = int_gauge_vec(
            "jargate_build_info",
            "Always 1; the version of the running build",
            &["version"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let config_reload_ok = IntGauge::new(
            "jargate_config_last_reload_successful",
            "0 while the newest configuration on disk is refused, else 1",
        )
        .expect("static metric");
        registry
            .register(Box::new(config_reload_ok.clone()))
            .expect("unique metric");
        config_reload_ok.set(1);
        let config_info = int_gauge_vec(
            "jargate_config_info",
            "Always 1; the content hash of the serving configuration's files",
            &["hash"],
        );
        let credential_expiry = gauge_vec(
            "jargate_credential_expiry_timestamp_seconds",
            "Unix time a registered credential expires at (expires_at)",
            &["client_id", "use", "kid"],
        );
        let tls_expiry = gauge_vec(
            "jargate_tls_certificate_expiry_timestamp_seconds",
            "Unix time the served TLS certificate expires at (notAfter)",
            &[],
        );
        let jwks_last_success = gauge_vec(
            "jargate_jwks_last_success_timestamp_seconds",
            "Unix time of the last successful fetch of a remote JWK Set",
            &["uri"],
        );
        let passthrough = counter_vec(
            "jargate_passthrough_requests_total",
            "Answers to requests on paths jargate does not intercept, by status class",
            &["status_class"],
        );
        let upstream_errors = counter_vec(
            "jargate_upstream_errors_total",
            "Failures reaching or reading the authorization server",
            &["endpoint", "kind"],
        );
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");

        let client_timeouts = counter_vec(
            "jargate_client_timeouts_total",
            "Requests whose head or body did not arrive in time",
            &["phase"],
        );
        for phase in ["header", "body"] {
            client_timeouts.with_label_values(&[phase]);
        }
        let response_iss = counter_vec(
            "jargate_response_iss_total",
            "Authorization responses to registered callbacks: iss added, present, or mismatch",
            &["result"],
        );
        for result in labels::RESPONSE_ISS_RESULTS {
            response_iss.with_label_values(&[result]);
        }
        let dpop_proofs = counter_vec(
            "jargate_dpop_proofs_total",
            "DPoP proofs on intercepted requests, by result",
            &["result"],
        );
        for result in labels::DPOP_RESULTS {
            dpop_proofs.with_label_values(&[result]);
        }
        let upstream_stale_connections = counter(
            "jargate_upstream_stale_connections_total",
            "Pooled upstream connections found closed just before carrying a request, not used",
        );
        // Series that alerts watch exist from the start, at zero.
        for result in ["ok", "failed"] {
            reloads.with_label_values(&[result]);
        }
        for result in ["ok", "failed", "rate_limited"] {
            jwks_fetches.with_label_values(&[result]);
        }
        for endpoint in labels::endpoints() {
            for outcome in labels::OUTCOMES {
                requests.with_label_values(&[endpoint, outcome]);
            }
        }
        for (error, rule) in labels::rejections() {
            rejections.with_label_values(&[error, rule]);
            would_reject.with_label_values(&[error, rule]);
        }
        for class in labels::STATUS_CLASSES {
            passthrough.with_label_values(&[class]);
        }
        for endpoint in labels::upstream_endpoints() {
            for kind in labels::UPSTREAM_ERROR_KINDS {
                upstream_errors.with_label_values(&[endpoint, kind]);
            }
        }
        for op in labels::STORE_OPS {
            for result in labels::STORE_RESULTS {
                store_ops.with_label_values(&[op, result]);
            }
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
            build_info,
            config_reload_ok,
            config_info,
            credential_expiry,
            tls_expiry,
            jwks_last_success,
            passthrough,
            upstream_errors,
            client_timeouts,
            response_iss,
            dpop_proofs,
            upstream_stale_connections,
        }
    }

    /// Counts the answer to a passthrough request; `status` 0 (none was written) is not counted.
    pub fn passthrough_answered(&self, status: u16) {
        if let Some(class) = labels::STATUS_CLASSES.get(usize::from(status / 100).wrapping_sub(1)) {
            self.passthrough.with_label_values(&[class]).inc();
        }
    }

    /// A remote JWK Set was fetched successfully just now.
    pub fn jwks_fetched(&self, uri: &str) {
        self.jwks_last_success
            .with_label_values(&[uri])
            .set(crate::clock::unix_now() as f64);
    }

    /// The Prometheus text exposition of every metric, plus the configuration's age.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut out).is_err() {
            return String::new();
        }
        let mut text = String::from_utf8(out).unwrap_or_default();
        let age = crate::clock::unix_now() as f64 - self.config_loaded.get();
        text.push_str(&format!(
            "# HELP jargate_config_age_seconds Age of the serving configuration\n\
             # TYPE jargate_config_age_seconds gauge\njargate_config_age_seconds {age}\n"
        ));
        text.push_str(&format!(
            "# HELP jargate_log_lines_dropped_total Log lines dropped because stderr could not keep up\n\
             # TYPE jargate_log_lines_dropped_total counter\njargate_log_lines_dropped_total {}\n",
            crate::logs::dropped_lines()
        ));
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
