//! The Pingora glue: route each request, buffer and decide intercepted ones (`gate`), answer
//! refusals, forward the rest. Hooks stay short; every decision lives in `gate` and `rules`.

mod respond;

use crate::app::{unix_now, App};
use crate::config::Snapshot;
use crate::gate::discovery::{self, DocumentBuffer};
use crate::gate::{self, Action, Forward, Incoming};
use crate::reject::{Rejection, RequestFault};
use crate::request::{Endpoint, Route};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::Arc;
use std::time::Instant;

pub struct Gateway {
    app: Arc<App>,
}

impl Gateway {
    pub fn new(app: Arc<App>) -> Gateway {
        Gateway { app }
    }
}

/// What the hooks of one request share.
pub struct Ctx {
    snapshot: Arc<Snapshot>,
    endpoint: Option<Endpoint>,
    client_id: Option<String>,
    forward: Forward,
    basic_sent: bool,
    started: Instant,
    outcome: Option<Result<(), Rejection>>,
    /// jargate answered a valid request itself (legacy PAR).
    answered: bool,
    /// Report mode: the refusal this request would have had; it is forwarded as received.
    would_reject: Option<Rejection>,
    /// How the client authenticated (token, PAR, client-auth paths), once the body was read.
    auth_method: Option<gate::AuthMethod>,
    /// A discovery document request in legacy mode (`legacy.discovery`).
    discovery: bool,
    /// The discovery document being buffered for rewriting.
    document: Option<DocumentBuffer>,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            snapshot: self.app.snapshot(),
            endpoint: None,
            client_id: None,
            forward: Forward::default(),
            basic_sent: false,
            started: Instant::now(),
            outcome: None,
            answered: false,
            would_reject: None,
            auth_method: None,
            discovery: false,
            document: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let route = ctx
            .snapshot
            .routes
            .classify(session.req_header().uri.path());
        let endpoint = match route {
            Route::Passthrough => {
                let req = session.req_header();
                ctx.discovery = discovery::applies(&ctx.snapshot, &req.method, req.uri.path());
                return Ok(false);
            }
            Route::Ambiguous => {
                return self
                    .refuse_or_report(session, ctx, RequestFault::AmbiguousPath.into())
                    .await
            }
            Route::Intercept(endpoint) => endpoint,
        };
        ctx.endpoint = Some(endpoint);
        let req = session.req_header();
        ctx.basic_sent = req
            .headers
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| {
                v.as_bytes()
                    .get(..6)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"basic "))
            });
        let content_length = req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let has_query = req.uri.query().is_some();
        if let Err(rejection) = gate::precheck(
            &ctx.snapshot,
            endpoint,
            &req.method,
            has_query,
            content_length,
        ) {
            // Report mode forwards before the body is read: Pingora streams it on unchanged.
            return self.refuse_or_report(session, ctx, rejection).await;
        }
        let body = match read_body(session, ctx.snapshot.settings.limits.max_body_bytes).await? {
            Ok(body) => body,
            // Refused in report mode too: the part already read cannot be replayed whole.
            Err(rejection) => return self.refuse(session, ctx, rejection).await,
        };
        let req = session.req_header();
        let header = |name: http::header::HeaderName| req.headers.get(name).map(|v| v.as_bytes());
        let incoming = Incoming {
            endpoint,
            method: &req.method,
            query: req.uri.query().map(str::as_bytes),
            content_type: header(http::header::CONTENT_TYPE),
            content_encoding: header(http::header::CONTENT_ENCODING),
            authorization: header(http::header::AUTHORIZATION),
            body: &body,
        };
        let verdict = gate::decide(&self.app, &ctx.snapshot, incoming, unix_now()).await;
        let metrics = &self.app.metrics;
        metrics
            .validation_seconds
            .observe(ctx.started.elapsed().as_secs_f64());
        if verdict.store_error.is_some() {
            metrics.store_bypassed.inc();
        }
        ctx.client_id = verdict.client_id;
        ctx.auth_method = verdict.auth_method;
        match verdict.result {
            Ok(Action::Forward(forward)) => {
                ctx.forward = forward;
                ctx.outcome = Some(Ok(()));
                Ok(false)
            }
            Ok(Action::Answer { status, body }) => {
                ctx.outcome = Some(Ok(()));
                ctx.answered = true;
                respond::write_json(session, status, body, None).await?;
                Ok(true)
            }
            Err(rejection) => self.refuse_or_report(session, ctx, rejection).await,
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let up = &ctx.snapshot.upstream;
        let mut peer = HttpPeer::new(up.addr, up.tls, up.host.clone());
        peer.options.connection_timeout = Some(up.connect_timeout);
        peer.options.total_connection_timeout = Some(up.connect_timeout);
        peer.options.read_timeout = Some(up.read_timeout);
        peer.options.write_timeout = Some(up.read_timeout);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let base = &ctx.snapshot.upstream.base_path;
        if !base.is_empty() || ctx.forward.query.is_some() {
            let path = upstream.uri.path();
            let query = match &ctx.forward.query {
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
        if ctx.forward.as_get {
            // A GET carries no body: the original one, if any, is dropped below. An explicit
            // zero length, or Pingora would frame the dropped body as chunked.
            upstream.set_method(http::Method::GET);
            upstream.remove_header(&http::header::CONTENT_TYPE);
            upstream.remove_header(&http::header::TRANSFER_ENCODING);
            upstream.insert_header(http::header::CONTENT_LENGTH, "0")?;
        }
        if let Some(body) = &ctx.forward.body {
            upstream.remove_header(&http::header::TRANSFER_ENCODING);
            upstream.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
        }
        if let Some(authorization) = &ctx.forward.authorization {
            upstream.insert_header(http::header::AUTHORIZATION, authorization.as_str())?;
        }
        if ctx.discovery {
            // A document jargate rewrites must come uncompressed.
            upstream.insert_header(http::header::ACCEPT_ENCODING, "identity")?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let encoding = response.headers.get(http::header::CONTENT_ENCODING);
        if ctx.discovery
            && discovery::rewritable(response.status.as_u16(), encoding.map(|v| v.as_bytes()))
        {
            // The header leaves before the body is read: the new length is not known yet, so
            // the document goes out chunked and the upstream's length and validator are dropped.
            response.remove_header(&http::header::CONTENT_LENGTH);
            response.remove_header(&http::header::ETAG);
            response.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
            ctx.document = Some(DocumentBuffer::default());
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(document) = ctx.document.as_mut() {
            let mut out = body.take().and_then(|chunk| document.push(chunk));
            if end_of_stream {
                out = out.or_else(|| document.finish(&discovery::Provided::of(&ctx.snapshot)));
            }
            *body = Some(out.unwrap_or_default());
        }
        Ok(None)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // The buffered body is replayed to the upstream in one piece; swap in the rewrite.
        if ctx.forward.as_get {
            *body = None;
        } else if let Some(rewritten) = ctx.forward.body.take() {
            *body = Some(rewritten);
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let rejection = match e.etype() {
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                Some(Rejection::UpstreamTimeout)
            }
            _ if e.esource() == &ErrorSource::Upstream => Some(Rejection::UpstreamUnreachable),
            _ => None,
        };
        let code = match rejection {
            Some(r) => {
                let code = r.status();
                ctx.outcome = Some(Err(r.clone()));
                respond::rejection(session, &r, false).await;
                code
            }
            None => 0,
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        let endpoint = match (ctx.endpoint, &ctx.outcome) {
            (Some(endpoint), _) => endpoint.name(),
            (None, Some(_)) => "ambiguous_path",
            (None, None) if ctx.would_reject.is_some() => "ambiguous_path",
            (None, None) => return,
        };
        let latency_us = ctx.started.elapsed().as_micros() as u64;
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let metrics = &self.app.metrics;
        let auth_method = ctx.auth_method.map_or("", gate::AuthMethod::name);
        if !matches!(ctx.outcome, Some(Err(_))) && !auth_method.is_empty() {
            metrics.client_auth.with_label_values(&[auth_method]).inc();
        }
        // The decision was would_reject even when the upstream then failed (status says so):
        // an upstream failure is no refusal.
        if let Some(r) = &ctx.would_reject {
            return self.log_would_reject(ctx, r, endpoint, auth_method, status, latency_us);
        }
        let outcome = match &ctx.outcome {
            Some(Err(r)) => {
                metrics
                    .rejections
                    .with_label_values(&[r.error(), r.rule()])
                    .inc();
                "rejected"
            }
            _ if ctx.answered => "answered",
            _ => "forwarded",
        };
        metrics
            .requests
            .with_label_values(&[endpoint, outcome])
            .inc();
        match &ctx.outcome {
            Some(Err(r)) => tracing::info!(
                endpoint = endpoint,
                client_id = ctx.client_id.as_deref().unwrap_or(""),
                outcome = "rejected",
                error = r.error(),
                rule = r.rule(),
                auth_method,
                status,
                latency_us,
                "decision"
            ),
            _ => tracing::info!(
                endpoint = endpoint,
                client_id = ctx.client_id.as_deref().unwrap_or(""),
                outcome,
                auth_method,
                status,
                latency_us,
                "decision"
            ),
        }
    }
}

impl Gateway {
    /// In report mode (SPEC §5) a rule refusal is recorded and the request forwarded exactly
    /// as received; otherwise it is answered.
    async fn refuse_or_report(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        rejection: Rejection,
    ) -> Result<bool> {
        if gate::report::forwards(&ctx.snapshot, ctx.client_id.as_deref(), &rejection) {
            ctx.forward = Forward::default();
            ctx.would_reject = Some(rejection);
            return Ok(false);
        }
        self.refuse(session, ctx, rejection).await
    }

    /// Report mode's decision line and counters (never `jargate_rejections_total`).
    fn log_would_reject(
        &self,
        ctx: &Ctx,
        r: &Rejection,
        endpoint: &str,
        auth_method: &str,
        status: u16,
        latency_us: u64,
    ) {
        let metrics = &self.app.metrics;
        metrics
            .would_reject
            .with_label_values(&[r.error(), r.rule()])
            .inc();
        metrics
            .requests
            .with_label_values(&[endpoint, "would_reject"])
            .inc();
        tracing::info!(
            endpoint = endpoint,
            client_id = ctx.client_id.as_deref().unwrap_or(""),
            outcome = "would_reject",
            error = r.error(),
            rule = r.rule(),
            auth_method,
            status,
            latency_us,
            "decision"
        );
    }

    /// Answers a refusal; the upstream is never contacted.
    async fn refuse(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        rejection: Rejection,
    ) -> Result<bool> {
        respond::rejection(session, &rejection, ctx.basic_sent).await;
        ctx.outcome = Some(Err(rejection));
        Ok(true)
    }
}

/// Buffers the whole request body (also when chunked), refusing it past `max` bytes.
async fn read_body(session: &mut Session, max: usize) -> Result<Result<Bytes, Rejection>> {
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
