//! Carrying out a `gate::Forward` on what goes upstream: the target under `upstream.url`'s
//! path, a new query, a GET without a body (legacy `/authorize`), a new body and its length,
//! the `Authorization` header replaced or dropped. What to rewrite was decided in `gate`.

use crate::gate::Forward;
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::prelude::*;

/// Rewrites the upstream request head; `base` is the path prefix of `upstream.url`.
pub fn head(upstream: &mut RequestHeader, forward: &Forward, base: &str) -> Result<()> {
    if !base.is_empty() || forward.query.is_some() {
        let path = upstream.uri.path();
        let query = match &forward.query {
            Some(q) => (!q.is_empty()).then_some(q.as_str()),
            None => upstream.uri.query(),
        };
        let target = match query {
            Some(q) => format!("{base}{path}?{q}"),
            None => format!("{base}{path}"),
        };
        let uri = target
            .parse::<http::Uri>()
            .or_err(ErrorType::InternalError, "rebuilding the upstream URI")?;
        upstream.set_uri(uri);
    }
    if forward.as_get {
        // A GET carries no body: the original one, if any, is dropped by `body`. An explicit
        // zero length, or Pingora would frame the dropped body as chunked.
        // A HEAD stays a HEAD: its answer has no body.
        if upstream.method != http::Method::HEAD {
            upstream.set_method(http::Method::GET);
        }
        upstream.remove_header(&http::header::CONTENT_TYPE);
        upstream.remove_header(&http::header::TRANSFER_ENCODING);
        upstream.insert_header(http::header::CONTENT_LENGTH, "0")?;
    }
    if let Some(body) = &forward.body {
        upstream.remove_header(&http::header::TRANSFER_ENCODING);
        upstream.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    }
    if forward.push.is_some() {
        // The answer to a push is read to remember it (`gate::pushed`): it must come
        // uncompressed.
        upstream.insert_header(http::header::ACCEPT_ENCODING, "identity")?;
    }
    if forward.drop_authorization {
        upstream.remove_header(&http::header::AUTHORIZATION);
    }
    if let Some(authorization) = &forward.authorization {
        upstream.insert_header(http::header::AUTHORIZATION, authorization.as_str())?;
    }
    Ok(())
}

/// Swaps in the rewritten body. The buffered body is replayed to the upstream in one piece,
/// so the rewrite is sent once, whole.
pub fn body(forward: &mut Forward, body: &mut Option<Bytes>) {
    if forward.as_get {
        *body = None;
    } else if let Some(rewritten) = forward.body.take() {
        *body = Some(rewritten);
    }
}
