//! The Pingora glue: route each request, buffer and decide intercepted ones (`gate`), answer
//! refusals, forward the rest. Hooks stay short; every decision lives in `gate` and `rules`.
//! `request_filter` runs the steps of `intercept` (route → precheck → read body → decide →
//! apply); `outcome` says what became of a decided request in the decision line and metrics;
//! `par_answer` reads the upstream's answer to a forwarded push (passthrough PAR memory).
//! `pooled` takes a last look at a pooled upstream connection before it carries a request.

mod canonical;
mod client_cert;
mod dpop;
mod forwarded;
mod head_deadline;
mod interaction_id;
mod intercept;
mod outcome;
mod par_answer;
mod pooled;
mod request_id;
mod respond;
mod response_iss;
mod rewrite;
#[cfg(test)]
mod sizes;
mod upstream_failure;

use crate::app::App;
use crate::config::Snapshot;
use crate::gate::discovery::{self, DocumentBuffer};
use crate::gate::{self, Forward};
use crate::lifecycle::{lifecycle, InFlight};
use crate::request::{AuthMethod, Endpoint};
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::Arc;
use std::time::Instant;

pub use head_deadline::HeadDeadline;
use outcome::Outcome;

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
    /// What became of the request once decided; `None` for passthrough (and until decided).
    outcome: Option<Outcome>,
    /// Counts the request as in flight until the context is dropped (exit when idle).
    _in_flight: InFlight,
    /// Who is asking, for every log line about the request (SPEC §8).
    trace: Trace,
    /// The token the decision checked last, for the decision line (boxed: intercepted
    /// requests only).
    token: Option<Box<gate::TokenFacts>>,
    /// How the client authenticated (token, PAR, client-auth paths), once the body was read.
    auth_method: Option<AuthMethod>,
    /// A discovery document request in legacy mode (`legacy.discovery`).
    discovery: bool,
    /// The discovery document being buffered for rewriting (boxed: rare, and `Ctx` is moved
    /// with every request's state).
    document: Option<Box<DocumentBuffer>>,
    /// The upstream's answer to a forwarded push, copied to remember the push.
    par_answer: Option<Box<par_answer::ParAnswer>>,
    /// The request's client certificate (SPEC §10), read once before anything else.
    client_cert: Option<Arc<crate::mtls::ClientCert>>,
    /// Why the certificate `mtls.from_header` carried cannot be used: refused first.
    cert_fault: Option<Box<crate::reject::RequestFault>>,
    /// jargate authenticated the client of a forwarded client-authentication request.
    client_authenticated: bool,
    /// The thumbprint of the request's valid DPoP proof, for the decision line.
    dpop_jkt: Option<String>,
    /// The `DPoP-Nonce` every answer to this request carries (`dpop.nonce = "jargate"`).
    dpop_nonce: Option<String>,
}

/// What identifies a request in the logs.
#[derive(Default)]
struct Trace {
    request_id: String,
    traceparent: Option<String>,
    /// The TCP peer (also what `X-Forwarded-For` gets).
    peer: Option<std::net::IpAddr>,
    /// `x-fapi-interaction-id` (`compliance.interaction_id`, SPEC §8).
    interaction_id: Option<String>,
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
            _in_flight: lifecycle().begin(),
            trace: Trace::default(),
            token: None,
            auth_method: None,
            discovery: false,
            document: None,
            par_answer: None,
            client_cert: None,
            cert_fault: None,
            client_authenticated: false,
            dpop_jkt: None,
            dpop_nonce: None,
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
        if ctx.snapshot.settings.compliance.interaction_id {
            let req = session.req_header();
            let sent = req.headers.get_all(interaction_id::HEADER);
            let id = interaction_id::accept_or_generate(sent.iter().map(|v| v.as_bytes()));
            let req = session.req_header_mut();
            req.insert_header(interaction_id::HEADER, id.as_str())?;
            req.extensions_mut()
                .insert(interaction_id::InteractionId(id.clone()));
            ctx.trace.interaction_id = Some(id);
        }
        let now = crate::clock::unix_now();
        match client_cert::of_request(session, &ctx.snapshot, ctx.trace.peer, now) {
            Ok(cert) => ctx.client_cert = cert,
            Err(fault) => ctx.cert_fault = Some(Box::new(fault)),
        }
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
        if let Some(id) = &ctx.trace.interaction_id {
            if !upstream.headers.contains_key(interaction_id::HEADER) {
                upstream.insert_header(interaction_id::HEADER, id.as_str())?;
            }
        }
        if upstream.status.is_redirection() && !ctx.snapshot.response_iss.is_empty() {
            response_iss::apply(&self.app.metrics, upstream, ctx)?;
        }
        dpop::response(upstream, ctx, &self.app.metrics)?;
        let encoding = upstream.headers.get(http::header::CONTENT_ENCODING);
        if ctx.discovery
            && discovery::rewritable(upstream.status.as_u16(), encoding.map(|v| v.as_bytes()))
        {
            // The header leaves before the body is read: the new length is not known yet, so
            // the document goes out chunked and the upstream's length and validator are dropped.
            upstream.remove_header(&http::header::CONTENT_LENGTH);
            upstream.remove_header(&http::header::ETAG);
            upstream.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
            ctx.document = Some(Box::default());
        }
        ctx.par_answer =
            par_answer::ParAnswer::watch(upstream, ctx.forward.push.take()).map(Box::new);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let cert = ctx.client_cert.as_deref();
        if let Some(fault) = ctx
            .cert_fault
            .take()
            .map(|fault| Err(*fault))
            .unwrap_or_else(|| client_cert::precheck(&ctx.snapshot, cert))
            .err()
        {
            // Rare: boxed, so that this hook's future stays small (`sizes`).
            let stop = intercept::Stop::Always(fault.into());
            return Box::pin(intercept::stop(session, ctx, stop)).await;
        }
        let routed = match intercept::route(session, ctx) {
            Ok(Some(routed)) => Ok(routed),
            Ok(None) => return Ok(false),
            Err(stop) => Err(stop),
        };
        // The decision's state (body, verification, store calls: 4 KiB) lives in a future of
        // its own: this hook's future is boxed and moved for every request, passthrough too
        // (`async_trait`), and stays small (`sizes`).
        Box::pin(self.intercept(session, ctx, routed)).await
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let up = &ctx.snapshot.upstream;
        let mut peer = HttpPeer::new(up.addr, up.tls, up.host.clone());
        peer.options.connection_timeout = Some(up.connect_timeout);
        peer.options.total_connection_timeout = Some(up.connect_timeout);
        peer.options.read_timeout = Some(up.read_timeout);
        peer.options.write_timeout = Some(up.read_timeout);
        // Pooled connections idle this long are closed (SPEC §3), before the upstream's own
        // keep-alive timeout can close one under a request that must not be resent (§6). When
        // taking a pooled connection, Pingora also checks that it is still open (a
        // non-blocking read that sees the upstream's FIN or data): see `upstream_failure`.
        peer.options.idle_timeout = Some(up.idle_timeout);
        Ok(Box::new(peer))
    }

    async fn connected_to_upstream(
        &self,
        session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        fd: std::os::unix::io::RawFd,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Nothing of the request was written yet: a pooled connection the upstream has closed
        // is given up here, and the request taken to another one (`pooled`). Only for requests
        // never resent after a failure (intercepted, or not idempotent): Pingora resends the
        // others itself, and they are spared the system call.
        let sent_once = ctx.endpoint.is_some() || !session.req_header().method.is_idempotent();
        if reused && sent_once && pooled::peer_closed(fd) {
            self.app.metrics.upstream_stale_connections.inc();
            return Err(pooled::stale_error());
        }
        Ok(())
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
        let self_signed_ok =
            ctx.client_authenticated && matches!(ctx.outcome, Some(Outcome::Forwarded));
        client_cert::upstream_headers(
            upstream,
            &ctx.snapshot,
            ctx.client_cert.as_deref(),
            self_signed_ok,
        )?;
        rewrite::head(upstream, &ctx.forward, &ctx.snapshot.upstream.base_path)?;
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
                out = out.or_else(|| document.finish(&discovery::Advertised::of(&ctx.snapshot)));
            }
            *body = Some(out.unwrap_or_default());
        }
        if let Some(answer) = ctx.par_answer.as_mut() {
            answer.copy(body.as_ref());
            if end_of_stream {
                if let Some(answer) = ctx.par_answer.take() {
                    answer.finish(self.app.store.clone());
                }
            }
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
        rewrite::body(&mut ctx.forward, body);
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
        if pooled::is_stale(&e) {
            // Given up before a byte was written: retried on another connection, whatever the
            // request (SPEC §6 forbids resending what was sent, and nothing was).
            return e;
        }
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
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let endpoint = match (ctx.endpoint, &ctx.outcome) {
            (Some(endpoint), _) => endpoint.name(),
            // Refused (or reported) before routing: a target that is no plain path.
            (None, Some(_)) => "ambiguous_path",
            (None, None) => {
                self.app.metrics.passthrough_answered(status);
                return self.access_log(session, ctx);
            }
        };
        outcome::record(&self.app.metrics, ctx, endpoint, status);
    }
}

impl Gateway {
    /// An intercepted request, routed (or refused by routing): precheck → read body → decide →
    /// apply.
    async fn intercept(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        routed: std::result::Result<intercept::Routed, intercept::Stop>,
    ) -> Result<bool> {
        let routed = match routed {
            Ok(routed) => routed,
            Err(stop) => return intercept::stop(session, ctx, stop).await,
        };
        if let Err(stop) = intercept::precheck(session, ctx, &routed) {
            return intercept::stop(session, ctx, stop).await;
        }
        let body = match self.read_body(session, ctx).await? {
            Ok(body) => body,
            Err(stop) => return intercept::stop(session, ctx, stop).await,
        };
        let verdict = self.decide(session.req_header(), ctx, &routed, &body).await;
        intercept::apply(session, ctx, verdict).await
    }

    #[cfg(test)]
    fn intercept_for_sizes<'a>(
        &'a self,
        session: &'a mut Session,
        ctx: &'a mut Ctx,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool>> + 'a>> {
        Box::pin(self.intercept(
            session,
            ctx,
            Err(intercept::Stop::Always(
                crate::reject::Rejection::BodyTimeout,
            )),
        ))
    }

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
            interaction_id = ctx.trace.interaction_id,
            method = %req.method,
            path = req.uri.path(),
            status = session.response_written().map_or(0, |r| r.status.as_u16()),
            latency_us = ctx.started.elapsed().as_micros() as u64,
            "access"
        );
    }
}

/// During a drain or an upgrade, every answer closes its connection (`Connection: close`), so
/// that keep-alive clients reconnect rather than send into a connection about to close.
pub(crate) fn close_if_draining(session: &mut Session) {
    if lifecycle().is_closing() {
        session.set_keepalive(None);
    }
}
