//! The label values known at start, exported at 0 before their first event: an alert on
//! `rate()` or `increase()` sees the first refusal of a kind only if the series existed before
//! it, and a dashboard panel shows 0 rather than "no data" on a fresh pod.
//!
//! Every refusal is enumerated from `src/reject.rs` through exhaustive matches: a new variant
//! there does not compile until it is listed here, so no rule is missing from `/metrics`.

use crate::reject::{
    ClientFault, ComplianceFault, DpopFault, Rejection, RequestFault, RequestUriFault, TokenFault,
};
use crate::request::Endpoint;
use strum::IntoEnumIterator;

/// `endpoint` label values of `jargate_requests_total`.
pub fn endpoints() -> Vec<&'static str> {
    let mut names: Vec<&str> = ENDPOINTS.iter().map(|e| e.name()).collect();
    names.push("ambiguous_path");
    names
}

const ENDPOINTS: [Endpoint; 5] = [
    Endpoint::Authorize,
    Endpoint::Par,
    Endpoint::Token,
    Endpoint::ClientAuth,
    Endpoint::Userinfo,
];

/// Compiles only while [`ENDPOINTS`] names every endpoint.
#[allow(dead_code)]
fn endpoint_listed(e: Endpoint) {
    match e {
        Endpoint::Authorize
        | Endpoint::Par
        | Endpoint::Token
        | Endpoint::ClientAuth
        | Endpoint::Userinfo => {}
    }
}

/// `outcome` label values of `jargate_requests_total` (SPEC §8).
pub const OUTCOMES: [&str; 4] = ["forwarded", "answered", "rejected", "would_reject"];

/// `endpoint` label values of `jargate_upstream_errors_total`: intercepted endpoints and
/// `passthrough`.
pub fn upstream_endpoints() -> Vec<&'static str> {
    let mut names: Vec<&str> = ENDPOINTS.iter().map(|e| e.name()).collect();
    names.push("passthrough");
    names
}

pub const UPSTREAM_ERROR_KINDS: [&str; 4] = ["connect", "timeout", "reset", "protocol"];
/// `op` and `result` of `jargate_store_operations_total` (see `store.rs` here).
pub const STORE_OPS: [&str; 5] = ["insert_once", "put", "take", "get", "remove"];
pub const STORE_RESULTS: [&str; 4] = ["ok", "full", "timeout", "unavailable"];
/// `result` of `jargate_dpop_proofs_total`: a proof that passed every check (replay
/// included), one refused by a check, a missing or stale jargate nonce, and a required proof
/// that was not sent.
pub const DPOP_RESULTS: [&str; 4] = ["valid", "invalid", "use_dpop_nonce", "missing"];
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// `jargate_response_iss_total{result}` (SPEC §12).
pub const RESPONSE_ISS_RESULTS: [&str; 3] = ["added", "present", "mismatch"];

/// `(error, rule)` of every refusal jargate can answer, without duplicates.
pub fn rejections() -> Vec<(&'static str, &'static str)> {
    let mut all = Vec::new();
    for f in TokenFault::iter() {
        all.push(Rejection::Client(ClientFault::Assertion(f.clone())));
        all.push(Rejection::RequestObject(f));
    }
    all.extend(RequestFault::iter().map(Rejection::Request));
    all.extend(ComplianceFault::iter().map(Rejection::Compliance));
    all.extend([
        Rejection::Client(ClientFault::Unknown),
        Rejection::Client(ClientFault::MalformedBasic),
        Rejection::Client(ClientFault::AssertionRequired),
        Rejection::Client(ClientFault::CertClientIdMissing),
        Rejection::Client(ClientFault::RegisteredMethodRequired),
        Rejection::Client(ClientFault::CertMismatch),
        Rejection::BodyTooLarge,
        Rejection::BodyTimeout,
        Rejection::MethodNotAllowed,
        Rejection::RequestUri(RequestUriFault::UnknownOrUsed),
        Rejection::RequestUri(RequestUriFault::OtherClient),
        Rejection::RequestUriNotSupported,
        Rejection::StoreUnavailable,
        Rejection::UpstreamUnreachable,
        Rejection::UpstreamTimeout,
        Rejection::UseDpopNonce,
    ]);
    all.extend(DpopFault::each().into_iter().map(Rejection::Dpop));
    for r in &all {
        listed(r);
    }
    let mut pairs: Vec<(&str, &str)> = all.iter().map(|r| (r.error(), r.rule())).collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// Compiles only while the list in [`rejections`] covers every variant without a payload
/// enumerated by `strum`.
fn listed(r: &Rejection) {
    match r {
        Rejection::Client(
            ClientFault::Unknown
            | ClientFault::MalformedBasic
            | ClientFault::AssertionRequired
            | ClientFault::CertClientIdMissing
            | ClientFault::RegisteredMethodRequired
            | ClientFault::CertMismatch,
        )
        | Rejection::Client(ClientFault::Assertion(_))
        | Rejection::Request(_)
        | Rejection::BodyTooLarge
        | Rejection::BodyTimeout
        | Rejection::MethodNotAllowed
        | Rejection::RequestObject(_)
        | Rejection::RequestUri(RequestUriFault::UnknownOrUsed | RequestUriFault::OtherClient)
        | Rejection::RequestUriNotSupported
        | Rejection::StoreUnavailable
        | Rejection::UpstreamUnreachable
        | Rejection::UpstreamTimeout
        | Rejection::Compliance(_)
        | Rejection::Dpop(_)
        | Rejection::UseDpopNonce => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_listed_once_per_error() {
        let pairs = rejections();
        // Each token fault once as an assertion fault and once as a request object fault.
        let assertion = pairs.iter().filter(|p| p.0 == "invalid_client").count();
        let object = pairs
            .iter()
            .filter(|p| p.0 == "invalid_request_object")
            .count();
        assert!(object > 30, "{pairs:?}");
        // Plus unknown_client, malformed_basic, assertion_required, the level's method and
        // the three mTLS rules (cert_client_id_missing, registered_method_required,
        // client_cert_mismatch).
        assert_eq!(assertion, object + 7, "{pairs:?}");
        assert!(pairs.contains(&("unsupported_response_type", "level_response_type")));
        assert!(pairs.contains(&("invalid_request", "ambiguous_path")));
        assert!(pairs.contains(&("invalid_request", "unknown_client")));
        assert!(pairs.contains(&("temporarily_unavailable", "store_unavailable")));
        assert!(pairs.contains(&("invalid_request_uri", "request_uri_other_client")));
    }
}
