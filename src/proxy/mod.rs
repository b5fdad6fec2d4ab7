//! The Pingora glue: route each request, buffer and decide intercepted ones (`gate`), answer
//! refusals, forward the rest. Hooks stay short; every decision lives in `gate` and `rules`.

mod canonical;
mod forwarded;
mod head_deadline;
mod request_id;
mod respond;
mod upstream_failure;

use crate::app::App;
use crate::clock::unix_now;
use crate::config::Snapshot;
use crate::gate::discovery::{self, DocumentBuffer};
use crate::gate::{self, Action, Forward, Incoming};
use crate::lifecycle::{lifecycle, InFlight};
use crate::reject::{Rejection, RequestFault};
use crate::request::{basic, headers, Endpoint, Route};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use head_deadline::HeadDeadline;

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
    /// The origin-form target to send upstream when the client used the absolute form.
    origin_target: Option<String>,
    /// The request's path may relay an upstream's `101 Switching Protocols` (`paths.upgrade`).
    upgrade_allowed: bool,
    started: Instant,
    outcome: Option<Result<(), Rejection>>,
    /// jargate answered a valid request itself (legacy PAR).
    answered: bool,
    /// Counts the request as in flight until the context is dropped (exit when idle).
    _in_flight: InFlight,
    /// Who is asking, for every log line about the request (SPEC §8).
    trace: Trace,
    /// The token the decision checked last, for the decision line.
    token: Option<gate::TokenFacts>,
    /// Report mode: the refusal this request would have had; it is forwarded as received.
    would_reject: Option<Rejection>,
    /// How the client authenticated (token, PAR, client-auth paths), once the body was read.
    auth_method: Option<crate::request::AuthMethod>,
    /// A discovery document request in legacy mode (`legacy.discovery`).
    discovery: bool,
    /// The discovery document being buffered for rewriting.
    document: Option<DocumentBuffer>,
}

/// What identifies a request in the logs.
#[derive(Default)]
struct Trace {
    request_id: String,
    traceparent: Option<String>,
    /// The TCP peer (also what `X-Forwarded-For` gets).
    peer: Option<std::net::IpAddr>,
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
            origin_target: None,
            upgrade_allowed: false,
            started: Instant::now(),
            outcome: None,
            answered: false,
            _in_flight: lifecycle().begin(),
            trace: Trace::default(),
            token: None,
            would_reject: None,
            auth_method: None,
            discovery: false,
            document: None,
        }
    }

    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        close_if_draining(session);
        let req = session.req_header();
        let sent = req.headers.get_all(request_id::X_REQUEST_ID);
        let id = request_id::accept_or_generate(sent.iter().map(|v| v.as_bytes()));
        ctx.trace.traceparent = req
            .headers
            .get("traceparent")
            .and_then(|v| request_id::loggable_traceparent(v.as_bytes()));
        ctx.trace.peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        // On the request itself: forwarded upstream, echoed by every answer jargate writes.
        session
            .req_header_mut()
            .insert_header(request_id::X_REQUEST_ID, id.as_str())?;
        ctx.trace.request_id = id;
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        close_if_draining(session);
        if !upstream.headers.contains_key(request_id::X_REQUEST_ID) {
            upstream.insert_header(request_id::X_REQUEST_ID, ctx.trace.request_id.as_str())?;
        }
        let encoding = upstream.headers.get(http::header::CONTENT_ENCODING);
        if ctx.discovery
            && discovery::rewritable(upstream.status.as_u16(), encoding.map(|v| v.as_bytes()))
        {
            // The header leaves before the body is read: the new length is not known yet, so
            // the document goes out chunked and the upstream's length and validator are dropped.
            upstream.remove_header(&http::header::CONTENT_LENGTH);
            upstream.remove_header(&http::header::ETAG);
            upstream.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
            ctx.document = Some(DocumentBuffer::default());
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let (route, query) = match canonical::classify(session.req_header(), &ctx.snapshot) {
            Ok(classified) => {
                ctx.origin_target = classified.origin_target;
                ctx.upgrade_allowed = classified.upgrade_allowed;
                (classified.route, classified.query)
            }
            Err(fault) => return self.refuse_or_report(session, ctx, fault.into()).await,
        };
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
            Route::Suffixed => {
                return self
                    .refuse_or_report(session, ctx, RequestFault::PathSuffix.into())
                    .await
            }
            Route::Intercept(endpoint) => endpoint,
        };
        ctx.endpoint = Some(endpoint);
        let req = session.req_header();
        ctx.basic_sent = req
            .headers
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| basic::is_basic(v.as_bytes()));
        if let Err(fault) = headers::check(&req.headers) {
            return self.refuse(session, ctx, fault.into()).await;
        }
        let content_length = req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if let Err(rejection) = gate::precheck(
            &ctx.snapshot,
            endpoint,
            &req.method,
            query.is_some(),
            content_length,
        ) {
            // Report mode forwards before the body is read: Pingora streams it on unchanged.
            return self.refuse_or_report(session, ctx, rejection).await;
        }
        let limits = &ctx.snapshot.settings;
        let (max, within) = (
            limits.limits.max_body_bytes,
            Duration::from_millis(limits.listen.body_timeout_ms),
        );
        let body = match tokio::time::timeout(within, read_body(session, max)).await {
            Ok(read) => read?,
            Err(_) => {
                self.app
                    .metrics
                    .client_timeouts
                    .with_label_values(&["body"])
                    .inc();
                Err(Rejection::BodyTimeout)
            }
        };
        let body = match body {
            Ok(body) => body,
            // Refused in report mode too: the part already read cannot be replayed whole.
            Err(rejection) => return self.refuse(session, ctx, rejection).await,
        };
        let req = session.req_header();
        let header = |name: http::header::HeaderName| req.headers.get(name).map(|v| v.as_bytes());
        let incoming = Incoming {
            endpoint,
            method: &req.method,
            query: query.as_deref().map(str::as_bytes),
            content_type: header(http::header::CONTENT_TYPE),
            content_encoding: header(http::header::CONTENT_ENCODING),
            authorization: header(http::header::AUTHORIZATION),
            body: &body,
        };
        let app = &self.app;
        let decision = gate::decide(
            app.store.as_ref(),
            &app.jwks,
            &ctx.snapshot,
            incoming,
            unix_now(),
        );
        let verdict = crate::logs::with_request_id(ctx.trace.request_id.clone(), decision).await;
        let metrics = &self.app.metrics;
        metrics
            .validation_seconds
            .observe(ctx.started.elapsed().as_secs_f64());
        if verdict.store_error.is_some() {
            metrics.store_bypassed.inc();
        }
        ctx.client_id = verdict.client_id;
        ctx.token = verdict.token;
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
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // The upstream routes on exactly the target jargate classified.
        canonical::sanitize_upstream(upstream, ctx.origin_target.as_deref())?;
        let https = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let policy = ctx.snapshot.settings.listen.forwarded_for;
        forwarded::apply(policy, upstream, ctx.trace.peer, https)?;
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
        if ctx.forward.drop_authorization {
            upstream.remove_header(&http::header::AUTHORIZATION);
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

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        canonical::check_switching_protocols(upstream.status, ctx.upgrade_allowed, ctx.endpoint)
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

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        e: Box<Error>,
    ) -> Box<Error> {
        upstream_failure::no_retry_if_intercepted(ctx.endpoint.is_some(), e)
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        // Pingora's policy first (retry idempotent requests on a reused connection), then ours.
        let mut e = e.more_context(format!("Peer: {peer}"));
        if !session.req_header().method.is_idempotent() || session.retry_buffer_truncated() {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        upstream_failure::no_retry_if_intercepted(ctx.endpoint.is_some(), e)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let kind = upstream_failure::classify(e);
        let started = session.response_written().is_some();
        if let Some(kind) = kind {
            upstream_failure::record(&self.app.metrics, ctx.endpoint, kind, started);
        }
        if started {
            // A response has started: an error body now would be read as part of it. Cut the
            // connection so that the client sees a truncated answer, never a forged one.
            session.set_keepalive(None);
            session.shutdown().await;
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        // Not a refusal (the request was forwarded): answered, but never in `ctx.outcome`.
        let code = match kind.map(upstream_failure::Kind::rejection) {
            Some(r) => {
                respond::rejection(session, &r, false).await;
                r.status()
            }
            None => 0,
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// What Pingora appends to its own error lines: method and path only (SPEC §8: never the
    /// query string, a header or the body).
    fn request_summary(&self, session: &Session, ctx: &Ctx) -> String {
        let req = session.req_header();
        format!(
            "{} {} request_id={}",
            req.method,
            req.uri.path(),
            ctx.trace.request_id
        )
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        let endpoint = match (ctx.endpoint, &ctx.outcome) {
            (Some(endpoint), _) => endpoint.name(),
            (None, Some(_)) => "ambiguous_path",
            (None, None) if ctx.would_reject.is_some() => "ambiguous_path",
            (None, None) => {
                let status = session.response_written().map_or(0, |r| r.status.as_u16());
                self.app.metrics.passthrough_answered(status);
                return self.access_log(session, ctx);
            }
        };
        let token = ctx.token.as_ref();
        let latency_us = ctx.started.elapsed().as_micros() as u64;
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let metrics = &self.app.metrics;
        let auth_method = ctx.auth_method.map_or("", crate::request::AuthMethod::name);
        if !matches!(ctx.outcome, Some(Err(_))) && !auth_method.is_empty() {
            metrics.client_auth.with_label_values(&[auth_method]).inc();
        }
        // The decision was would_reject even when the upstream then failed (status says so):
        // an upstream failure is no refusal.
        let (outcome, refusal) = match (&ctx.would_reject, &ctx.outcome) {
            (Some(r), _) => {
                metrics
                    .would_reject
                    .with_label_values(&[r.error(), r.rule()])
                    .inc();
                ("would_reject", Some(r))
            }
            (None, Some(Err(r))) => {
                metrics
                    .rejections
                    .with_label_values(&[r.error(), r.rule()])
                    .inc();
                ("rejected", Some(r))
            }
            _ if ctx.answered => ("answered", None),
            _ => ("forwarded", None),
        };
        metrics
            .requests
            .with_label_values(&[endpoint, outcome])
            .inc();
        tracing::info!(
            request_id = ctx.trace.request_id,
            peer = ctx.trace.peer.map(tracing::field::display),
            traceparent = ctx.trace.traceparent,
            kid = token.and_then(|t| t.kid.as_deref()),
            alg = token.and_then(|t| t.alg.as_deref()),
            exp_in_secs = token.and_then(|t| t.exp_in),
            endpoint,
            client_id = ctx.client_id.as_deref().unwrap_or(""),
            outcome,
            error = refusal.map(Rejection::error),
            rule = refusal.map(Rejection::rule),
            auth_method,
            status,
            latency_us,
            "decision"
        );
    }
}

impl Gateway {
    /// The optional line of a passthrough request (`listen.access_log`): method and path only.
    fn access_log(&self, session: &Session, ctx: &Ctx) {
        if !ctx.snapshot.settings.listen.access_log {
            return;
        }
        let req = session.req_header();
        tracing::info!(
            request_id = ctx.trace.request_id,
            peer = ctx.trace.peer.map(tracing::field::display),
            traceparent = ctx.trace.traceparent,
            method = %req.method,
            path = req.uri.path(),
            status = session.response_written().map_or(0, |r| r.status.as_u16()),
            latency_us = ctx.started.elapsed().as_micros() as u64,
            "access"
        );
    }

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

/// During a drain or an upgrade, every answer closes its connection (`Connection: close`), so
/// that keep-alive clients reconnect rather than send into a connection about to close.
pub(crate) fn close_if_draining(session: &mut Session) {
    if lifecycle().is_closing() {
        session.set_keepalive(None);
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
