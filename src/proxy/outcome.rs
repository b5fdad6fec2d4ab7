//! What became of a request jargate decided, and what says so (SPEC §8): the decision line,
//! `jargate_requests_total{endpoint,outcome}`, the refusal counters and
//! `jargate_client_auth_total`.

use super::Ctx;
use crate::metrics::Metrics;
use crate::reject::Rejection;
use crate::request::AuthMethod;

/// One state per decided request.
pub(super) enum Outcome {
    /// Sent upstream, as received or rewritten.
    Forwarded,
    /// jargate answered a valid request itself (legacy PAR).
    Answered,
    /// Refused; the upstream was never contacted.
    Rejected(Rejection),
    /// Report mode: forwarded as received, although enforce mode would refuse it so.
    WouldReject(Rejection),
}

impl Outcome {
    /// The `outcome` label and log field.
    fn label(&self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Answered => "answered",
            Outcome::Rejected(_) => "rejected",
            Outcome::WouldReject(_) => "would_reject",
        }
    }

    fn refusal(&self) -> Option<&Rejection> {
        match self {
            Outcome::Rejected(r) | Outcome::WouldReject(r) => Some(r),
            Outcome::Forwarded | Outcome::Answered => None,
        }
    }
}

/// Counts and logs the decision on `endpoint`, answered with `status` (0: none was written).
/// The outcome is the decision's even when the upstream then failed (the status says so): an
/// upstream failure is no refusal. A request that never reached its decision (the client left
/// while its body was read) counts as forwarded.
pub(super) fn record(metrics: &Metrics, ctx: &Ctx, endpoint: &str, status: u16) {
    let outcome = ctx.outcome.as_ref();
    let label = outcome.map_or("forwarded", Outcome::label);
    let refusal = outcome.and_then(Outcome::refusal);
    let auth_method = ctx.auth_method.map_or("", AuthMethod::name);
    if !matches!(outcome, Some(Outcome::Rejected(_))) && !auth_method.is_empty() {
        metrics.client_auth.with_label_values(&[auth_method]).inc();
    }
    let refusals = match outcome {
        Some(Outcome::WouldReject(_)) => Some(&metrics.would_reject),
        Some(Outcome::Rejected(_)) => Some(&metrics.rejections),
        _ => None,
    };
    if let (Some(counter), Some(r)) = (refusals, refusal) {
        counter.with_label_values(&[r.error(), r.rule()]).inc();
    }
    metrics.requests.with_label_values(&[endpoint, label]).inc();
    if let Some(result) = dpop_result(outcome, ctx.dpop_jkt.is_some()) {
        metrics.dpop_proofs.with_label_values(&[result]).inc();
    }
    let token = ctx.token.as_ref();
    tracing::info!(
        request_id = ctx.trace.request_id,
        peer = ctx.trace.peer.map(tracing::field::display),
        traceparent = ctx.trace.traceparent,
        interaction_id = ctx.trace.interaction_id,
        kid = token.and_then(|t| t.kid.as_deref()),
        alg = token.and_then(|t| t.alg.as_deref()),
        exp_in_secs = token.and_then(|t| t.exp_in),
        endpoint,
        client_id = ctx.client_id.as_deref().unwrap_or(""),
        outcome = label,
        error = refusal.map(Rejection::error),
        rule = refusal.map(Rejection::rule),
        auth_method,
        cert_thumbprint = ctx.client_cert.as_ref().map(|c| c.thumbprint()),
        dpop_jkt = ctx.dpop_jkt.as_deref(),
        status,
        latency_us = ctx.started.elapsed().as_micros() as u64,
        "decision"
    );
}

/// The `result` of `jargate_dpop_proofs_total` for a decided request, if it concerned a proof:
/// refused for its proof (or its missing one, or the nonce), or let through with a valid one.
fn dpop_result(outcome: Option<&Outcome>, valid_proof: bool) -> Option<&'static str> {
    use crate::reject::DpopFault;
    match outcome.and_then(Outcome::refusal) {
        Some(Rejection::Dpop(DpopFault::Missing)) => Some("missing"),
        Some(Rejection::Dpop(_)) => Some("invalid"),
        Some(Rejection::UseDpopNonce) => Some("use_dpop_nonce"),
        Some(_) => None,
        None => valid_proof.then_some("valid"),
    }
}
