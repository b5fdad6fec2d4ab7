//! The response side of DPoP (SPEC §11 step 6), Pingora glue only. With `dpop.nonce =
//! "jargate"`, on the PAR and token endpoints: the upstream's own `DPoP-Nonce` headers are
//! removed (two nonce sources make clients loop), every answer to a request with a valid proof
//! carries jargate's current nonce, and an upstream that asks for its own nonce anyway (a 400
//! with a `DPoP-Nonce` header: `use_dpop_nonce`, RFC 9449 §8) is counted in
//! `jargate_upstream_errors_total{kind="protocol"}`. Its answer is passed to the client as it
//! is, but with jargate's nonce. With `"upstream"` nothing here touches a response.
//!
//! The upstream's `use_dpop_nonce` is recognised by its header, not by reading its body:
//! RFC 9449 §8 makes the header part of that answer, and the body is streamed on untouched.

use super::upstream_failure::Kind;
use super::Ctx;
use crate::config::DpopNonce;
use crate::metrics::Metrics;
use crate::request::Endpoint;
use pingora::http::ResponseHeader;

/// The response header that carries a DPoP nonce.
pub const DPOP_NONCE: &str = "dpop-nonce";

/// Applies jargate's nonce mode to the upstream's answer.
pub(super) fn response(
    upstream: &mut ResponseHeader,
    ctx: &Ctx,
    metrics: &Metrics,
) -> pingora::Result<()> {
    let endpoint = match ctx.endpoint {
        Some(e @ (Endpoint::Par | Endpoint::Token)) => e,
        _ => return Ok(()),
    };
    if ctx.snapshot.dpop.nonce != DpopNonce::Jargate {
        return Ok(());
    }
    if upstream.remove_header(DPOP_NONCE).is_some() && upstream.status.as_u16() == 400 {
        metrics
            .upstream_errors
            .with_label_values(&[endpoint.name(), Kind::Protocol.label()])
            .inc();
        tracing::warn!(
            request_id = ctx.trace.request_id,
            endpoint = endpoint.name(),
            "the upstream asked for its own DPoP nonce while dpop.nonce = \"jargate\""
        );
    }
    if let Some(nonce) = &ctx.dpop_nonce {
        upstream.insert_header(DPOP_NONCE, nonce.as_str())?;
    }
    Ok(())
}
