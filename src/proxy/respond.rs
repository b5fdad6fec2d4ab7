//! Writing jargate's own answers (SPEC §6): JSON error bodies, never cached.

use crate::reject::Rejection;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

/// Writes `rejection` to the client. A failure to write is only logged: the client is gone.
pub async fn rejection(session: &mut Session, rejection: &Rejection, basic_sent: bool) {
    rejection_with(session, rejection, basic_sent, None).await
}

/// [`rejection`], with the `DPoP-Nonce` jargate issues (SPEC §11 step 6), when it has one.
pub async fn rejection_with(
    session: &mut Session,
    rejection: &Rejection,
    basic_sent: bool,
    dpop_nonce: Option<&str>,
) {
    // The request body may be unread; the connection cannot be reused safely.
    session.set_keepalive(None);
    let body = Bytes::from(rejection.body());
    let mut www_authenticate = None;
    if rejection.status() == 401 && basic_sent {
        www_authenticate = Some("Basic realm=\"jargate\"");
    }
    let written = write_json_with(
        session,
        rejection.status(),
        body,
        www_authenticate,
        dpop_nonce,
    );
    if let Err(e) = written.await {
        let id = session
            .req_header()
            .headers
            .get(super::request_id::X_REQUEST_ID);
        let id = id.and_then(|v| v.to_str().ok()).unwrap_or_default();
        tracing::debug!(request_id = id, error = %e, "could not write the refusal");
    }
}

/// Writes a JSON answer of jargate's own, with a `DPoP-Nonce` header when `dpop_nonce` is set.
pub async fn write_json_with(
    session: &mut Session,
    status: u16,
    body: Bytes,
    www_authenticate: Option<&'static str>,
    dpop_nonce: Option<&str>,
) -> pingora::Result<()> {
    super::close_if_draining(session);
    let mut header = ResponseHeader::build(status, Some(7))?;
    header.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    header.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    header.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    if let Some(id) = session
        .req_header()
        .headers
        .get(super::request_id::X_REQUEST_ID)
    {
        header.insert_header(super::request_id::X_REQUEST_ID, id.clone())?;
    }
    let req = session.req_header();
    if let Some(id) = req.extensions.get::<super::interaction_id::InteractionId>() {
        header.insert_header(super::interaction_id::HEADER, id.0.as_str())?;
    }
    if let Some(value) = www_authenticate {
        header.insert_header(http::header::WWW_AUTHENTICATE, value)?;
    }
    if let Some(nonce) = dpop_nonce {
        header.insert_header(super::dpop::DPOP_NONCE, nonce)?;
    }
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session.write_response_body(Some(body), true).await
}
