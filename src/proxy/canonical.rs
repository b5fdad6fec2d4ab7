//! The first step for every request (SPEC §5 "No parser differential"): read the raw request
//! target as the upstream will, classify its path, and make sure what goes upstream is what was
//! classified: origin form, no rewrite headers, no tunnel unless the path is in
//! `paths.upgrade`.

use crate::config::Snapshot;
use crate::reject::RequestFault;
use crate::request::{target, Endpoint, Route};
use pingora::http::RequestHeader;
use pingora::prelude::*;

/// Headers some frameworks (old Symfony, Zend, IIS rewrites) route on instead of the path.
const REWRITE_HEADERS: [&str; 2] = ["x-original-url", "x-rewrite-url"];

pub struct Classified {
    pub route: Route,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// The origin-form target to send upstream when the client used the absolute form.
    pub origin_target: Option<String>,
    pub upgrade_allowed: bool,
}

/// Reads the raw request target (not Pingora's parsed URI, which anchors unusual targets to
/// `/` while their original bytes would go upstream) and classifies its path.
pub fn classify(req: &RequestHeader, snapshot: &Snapshot) -> Result<Classified, RequestFault> {
    let target = target::parse(req.raw_path(), &req.method)?;
    let route = if target.is_asterisk() {
        Route::Passthrough
    } else {
        snapshot.routes.classify(target.path)
    };
    let upgrade_allowed = route == Route::Passthrough
        && snapshot
            .settings
            .paths
            .upgrade
            .iter()
            .any(|p| p == target.path);
    Ok(Classified {
        route,
        query: target.query.map(str::to_owned),
        origin_target: target.rewritten.map(str::to_owned),
        upgrade_allowed,
    })
}

/// Puts the classified target on the upstream request and drops the rewrite headers.
pub fn sanitize_upstream(upstream: &mut RequestHeader, origin_target: Option<&str>) -> Result<()> {
    for name in REWRITE_HEADERS {
        upstream.remove_header(name);
    }
    if let Some(target) = origin_target {
        let uri = target
            .parse::<http::Uri>()
            .or_err(ErrorType::InternalError, "origin-form target")?;
        upstream.set_uri(uri);
    }
    Ok(())
}

/// A `101 Switching Protocols` turns the connection into a tunnel jargate no longer sees: it
/// is relayed only where `paths.upgrade` allows it; otherwise the answer is an upstream error
/// and the client connection is closed.
pub fn check_switching_protocols(
    status: http::StatusCode,
    allowed: bool,
    endpoint: Option<Endpoint>,
) -> Result<()> {
    if status != http::StatusCode::SWITCHING_PROTOCOLS || allowed {
        return Ok(());
    }
    tracing::warn!(
        endpoint = endpoint.map_or("passthrough", Endpoint::name),
        "upstream answered 101 Switching Protocols on a path not in paths.upgrade; closing"
    );
    Error::e_explain(
        ErrorType::InvalidHTTPHeader,
        "101 Switching Protocols outside paths.upgrade",
    )
    .map_err(|e| e.into_up())
}
