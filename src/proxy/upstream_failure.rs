//! What an upstream failure means for the client (SPEC §6): which kind it was (for
//! `jargate_upstream_errors_total`), whether jargate may still answer it with its own error
//! body, and that an intercepted request is never sent twice.
//!
//! Two rules hold whatever Pingora would do by default:
//! * once any byte of a response went to the client, the only honest thing left is to cut the
//!   connection: an error body written then would be read as part of the upstream's answer;
//! * an intercepted request is never retried (Pingora retries idempotent requests that failed
//!   on a reused pooled connection): its single-use `jti` or assertion would reach the upstream
//!   twice. Passthrough requests keep Pingora's policy.
//!
//! A stale pooled connection is avoided rather than retried: `upstream.idle_timeout_ms` (set on
//! every peer in `upstream_peer`) closes a pooled connection before the upstream's keep-alive
//! timeout can close it under a request, and Pingora 0.9's pool checks a connection when it is
//! taken (`TransportConnector::reused_stream`: a non-blocking read; the upstream's FIN, a reset
//! or unexpected bytes mean a new connection instead). What is left is an upstream closing a
//! connection for a reason of its own at the instant a request is written: answered 502, never
//! resent.

use crate::metrics::Metrics;
use crate::reject::Rejection;
use crate::request::Endpoint;
use pingora::prelude::*;

/// The `kind` label of `jargate_upstream_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No connection could be made (refused, unreachable, TLS handshake).
    Connect,
    /// Connecting, writing or reading took longer than the upstream timeouts.
    Timeout,
    /// The connection broke (reset or closed) before the response was complete.
    Reset,
    /// The upstream answered something that is not valid HTTP/1.1.
    Protocol,
}

impl Kind {
    #[cfg(test)]
    pub const ALL: [Kind; 4] = [Kind::Connect, Kind::Timeout, Kind::Reset, Kind::Protocol];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Timeout => "timeout",
            Kind::Reset => "reset",
            Kind::Protocol => "protocol",
        }
    }

    /// The answer jargate writes when nothing was sent to the client yet.
    pub fn rejection(self) -> Rejection {
        match self {
            Kind::Timeout => Rejection::UpstreamTimeout,
            _ => Rejection::UpstreamUnreachable,
        }
    }
}

/// The kind of an upstream failure; `None` when the error is not the upstream's (the client
/// went away, an internal error).
pub fn classify(e: &Error) -> Option<Kind> {
    use ErrorType::*;
    // Connection-level types are also raised for the client's side: only count the upstream's.
    if e.esource() != &ErrorSource::Upstream {
        return None;
    }
    Some(match e.etype() {
        ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout => Kind::Timeout,
        ConnectRefused | ConnectNoRoute | ConnectError | ConnectProxyFailure
        | TLSHandshakeFailure | TLSWantX509Lookup | InvalidCert | HandshakeError | SocketError
        | BindError => Kind::Connect,
        InvalidHTTPHeader | H1Error | H2Error | InvalidH2 | H2Downgrade => Kind::Protocol,
        // Pingora's own body errors: "InvalidChunk", "InvalidHTTPHeader"-like framing faults.
        Custom(name) | CustomCode(name, _) if name.starts_with("Invalid") => Kind::Protocol,
        // ReadError, WriteError, ConnectionClosed, PrematureBodyEnd and the rest.
        _ => Kind::Reset,
    })
}

/// An intercepted request is sent upstream at most once: whatever Pingora decided, no retry.
/// A failed connect sent nothing and a retry of it would be harmless, but there is one upstream
/// address, so a retry would meet the same refusal: no exception is kept, the rule stays simple.
pub fn no_retry_if_intercepted(intercepted: bool, mut e: Box<Error>) -> Box<Error> {
    if intercepted {
        e.set_retry(false);
    }
    e
}

/// The `endpoint` label: the intercepted endpoint's name, or `passthrough`.
pub fn endpoint_label(endpoint: Option<Endpoint>) -> &'static str {
    endpoint.map_or("passthrough", Endpoint::name)
}

/// Counts and logs one upstream failure, with the endpoint it happened on. Nothing of the
/// request is logged (its target may carry a request object).
pub fn record(metrics: &Metrics, endpoint: Option<Endpoint>, kind: Kind, started: bool) {
    let endpoint = endpoint_label(endpoint);
    metrics
        .upstream_errors
        .with_label_values(&[endpoint, kind.label()])
        .inc();
    tracing::warn!(
        endpoint,
        kind = kind.label(),
        response_started = started,
        "upstream failure"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The series created at start-up (`metrics::labels`) are the ones `record` counts.
    #[test]
    fn kinds_are_the_metric_labels() {
        let labels: Vec<&str> = Kind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels, crate::metrics::labels::UPSTREAM_ERROR_KINDS);
    }
}
