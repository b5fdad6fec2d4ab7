//! The steps of a request, in the order `request_filter` runs them: route, precheck (what needs
//! no body), read the body, decide (`gate`), apply the verdict. Each step hands the next what it
//! needs, or stops the request with a refusal ([`Stop`]); none decides anything itself.

use super::{canonical, respond, Ctx, Gateway, Outcome};
use crate::clock::unix_now;
use crate::gate::{self, discovery, Action, DpopHeader, Forward, Incoming, Verdict};
use crate::reject::{Rejection, RequestFault};
use crate::request::{basic, headers, Endpoint, Route};
use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::Session;
use std::time::Duration;

/// An intercepted request, routed.
pub(super) struct Routed {
    endpoint: Endpoint,
    /// The raw query string, without `?`.
    query: Option<String>,
}

/// Why a request stops before the upstream sees it.
pub(super) enum Stop {
    /// A rule failed: report mode forwards the request as received instead.
    Rule(Rejection),
    /// Refused in every mode: the request cannot go upstream as received.
    Always(Rejection),
}

/// Classifies the request target; `None` for a passthrough request.
pub(super) fn route(session: &Session, ctx: &mut Ctx) -> Result<Option<Routed>, Stop> {
    let req = session.req_header();
    let classified =
        canonical::classify(req, &ctx.snapshot).map_err(|fault| Stop::Rule(fault.into()))?;
    ctx.origin_target = classified.origin_target;
    ctx.upgrade_allowed = classified.upgrade_allowed;
    let endpoint = match classified.route {
        Route::Passthrough => {
            ctx.discovery = discovery::applies(&ctx.snapshot, &req.method, req.uri.path());
            return Ok(None);
        }
        Route::Ambiguous => return Err(Stop::Rule(RequestFault::AmbiguousPath.into())),
        Route::Suffixed => return Err(Stop::Rule(RequestFault::PathSuffix.into())),
        Route::Intercept(endpoint) => endpoint,
    };
    ctx.endpoint = Some(endpoint);
    Ok(Some(Routed {
        endpoint,
        query: classified.query,
    }))
}

/// What is checked before the body is read: the headers, then method, query and declared
/// length (`gate::precheck`).
pub(super) fn precheck(session: &Session, ctx: &mut Ctx, routed: &Routed) -> Result<(), Stop> {
    let req = session.req_header();
    ctx.basic_sent = req
        .headers
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| basic::is_basic(v.as_bytes()));
    headers::check(&req.headers).map_err(|fault| Stop::Always(fault.into()))?;
    let content_length = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (endpoint, has_query) = (routed.endpoint, routed.query.is_some());
    // Report mode forwards before the body is read: Pingora streams it on unchanged.
    gate::precheck(
        &ctx.snapshot,
        endpoint,
        &req.method,
        has_query,
        content_length,
    )
    .map_err(Stop::Rule)
}

/// Answers a refusal; the upstream is never contacted. In report mode (SPEC §5) a rule's
/// refusal is recorded instead and the request forwarded exactly as received.
pub(super) async fn stop(session: &mut Session, ctx: &mut Ctx, stop: Stop) -> Result<bool> {
    let rejection = match stop {
        Stop::Rule(r) if gate::report::forwards(&ctx.snapshot, ctx.client_id.as_deref(), &r) => {
            ctx.forward = Forward::default();
            ctx.outcome = Some(Outcome::WouldReject(r));
            return Ok(false);
        }
        Stop::Rule(r) | Stop::Always(r) => r,
    };
    let nonce = ctx.dpop_nonce.as_deref();
    respond::rejection_with(session, &rejection, ctx.basic_sent, nonce).await;
    ctx.outcome = Some(Outcome::Rejected(rejection));
    Ok(true)
}

/// Carries out the verdict: forward (maybe rewritten), answer, or refuse.
pub(super) async fn apply(session: &mut Session, ctx: &mut Ctx, verdict: Verdict) -> Result<bool> {
    ctx.client_id = verdict.client_id;
    ctx.token = verdict.token.map(Box::new);
    ctx.auth_method = verdict.auth_method;
    ctx.client_authenticated = verdict.client_authenticated;
    ctx.dpop_jkt = verdict.dpop_jkt;
    ctx.dpop_nonce = verdict.dpop_nonce;
    match verdict.result {
        Ok(Action::Forward(forward)) => {
            ctx.forward = forward;
            ctx.outcome = Some(Outcome::Forwarded);
            Ok(false)
        }
        Ok(Action::Answer { status, body }) => {
            ctx.outcome = Some(Outcome::Answered);
            let nonce = ctx.dpop_nonce.as_deref();
            respond::write_json_with(session, status, body, None, nonce).await?;
            Ok(true)
        }
        Err(rejection) => stop(session, ctx, Stop::Rule(rejection)).await,
    }
}

impl Gateway {
    /// Buffers the body within `listen.body_timeout_ms`. A body not read whole is refused in
    /// report mode too: the part already read cannot be replayed.
    pub(super) async fn read_body(
        &self,
        session: &mut Session,
        ctx: &Ctx,
    ) -> Result<Result<Bytes, Stop>> {
        let settings = &ctx.snapshot.settings;
        let within = Duration::from_millis(settings.listen.body_timeout_ms);
        let max = settings.limits.max_body_bytes;
        let body = match tokio::time::timeout(within, buffer_body(session, max)).await {
            Ok(read) => read?,
            Err(_) => {
                let timeouts = &self.app.metrics.client_timeouts;
                timeouts.with_label_values(&["body"]).inc();
                Err(Rejection::BodyTimeout)
            }
        };
        Ok(body.map_err(Stop::Always))
    }

    /// The decision (`gate::decide`) on the buffered request, its log lines under the request id.
    pub(super) async fn decide(
        &self,
        req: &RequestHeader,
        ctx: &Ctx,
        routed: &Routed,
        body: &[u8],
    ) -> Verdict {
        let header = |name: http::header::HeaderName| req.headers.get(name).map(|v| v.as_bytes());
        let incoming = Incoming {
            endpoint: routed.endpoint,
            method: &req.method,
            query: routed.query.as_deref().map(str::as_bytes),
            content_type: header(http::header::CONTENT_TYPE),
            content_encoding: header(http::header::CONTENT_ENCODING),
            authorization: header(http::header::AUTHORIZATION),
            body,
            client_cert: ctx.client_cert.as_deref(),
            dpop: DpopHeader::of(req.headers.get_all("dpop").iter().map(|v| v.as_bytes())),
        };
        let (app, snapshot) = (&self.app, &ctx.snapshot);
        let decision = gate::decide(
            app.store.as_ref(),
            &app.jwks,
            snapshot,
            incoming,
            unix_now(),
        );
        let verdict = crate::logs::with_request_id(ctx.trace.request_id.clone(), decision).await;
        let metrics = &app.metrics;
        metrics
            .validation_seconds
            .observe(ctx.started.elapsed().as_secs_f64());
        if verdict.store_error.is_some() {
            metrics.store_bypassed.inc();
        }
        verdict
    }
}

/// Buffers the whole request body (also when chunked), refusing it past `max` bytes.
async fn buffer_body(session: &mut Session, max: usize) -> Result<Result<Bytes, Rejection>> {
    // Pingora replays the buffered body to the upstream from its retry buffer.
    session.enable_retry_buffering();
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut total = 0usize;
    while let Some(chunk) = session.read_request_body().await? {
        total += chunk.len();
        if total > max {
            return Ok(Err(Rejection::BodyTooLarge));
        }
        match &first {
            None => first = Some(chunk),
            Some(head) => {
                if rest.is_empty() {
                    rest.extend_from_slice(head);
                }
                rest.extend_from_slice(&chunk);
            }
        }
    }
    Ok(Ok(if rest.is_empty() {
        first.unwrap_or_default()
    } else {
        rest.freeze()
    }))
}
