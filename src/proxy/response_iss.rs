//! The response-hook side of SPEC §12: a 3xx answer's `Location` handed to
//! `gate::response_iss`, the rewritten one put back, the result counted. Only 3xx answers reach
//! here, and only when some callback gains `iss` (`Snapshot::response_iss`).

use super::Ctx;
use crate::gate::response_iss::{inspect, IssOutcome};
use crate::metrics::Metrics;
use pingora::http::ResponseHeader;
use pingora::prelude::*;

pub(super) fn apply(metrics: &Metrics, upstream: &mut ResponseHeader, ctx: &Ctx) -> Result<()> {
    let mut locations = upstream.headers.get_all(http::header::LOCATION).iter();
    let (Some(location), None) = (locations.next(), locations.next()) else {
        return Ok(());
    };
    let result = match inspect(location.as_bytes(), &ctx.snapshot.response_iss) {
        IssOutcome::NotApplicable => return Ok(()),
        IssOutcome::Added(new) => {
            upstream.insert_header(http::header::LOCATION, new)?;
            "added"
        }
        IssOutcome::Present => "present",
        IssOutcome::Mismatch(upstream_iss) => {
            // The issuer the upstream names is no secret; the rest of the Location (the code) is.
            let shown: String = upstream_iss
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(256)
                .collect();
            tracing::warn!(
                request_id = ctx.trace.request_id,
                upstream_iss = shown,
                expected = ctx.snapshot.settings.issuer.identifier,
                "authorization response: the upstream's iss differs from issuer.identifier"
            );
            "mismatch"
        }
    };
    metrics.response_iss.with_label_values(&[result]).inc();
    Ok(())
}
