//! The admin listener: `/healthz` (the proxy listener serves a loaded configuration), `/readyz`
//! (ready for traffic), `/readyz?store` (also: the store answers) and `/metrics` (Prometheus
//! text). Kept off the proxy port so probes and scrapes never mix with traffic.
//! `/clients/{id}/jwks.json` and `/jar-jwks.json`: see `admin_jwks`.
//!
//! `/readyz` does not ask the store: one shared Redis down would make every replica unready at
//! once and take passthrough traffic (discovery, JWKS, login pages) down with the intercepted
//! endpoints, which answer 503 by themselves then (`store.on_error`).

use crate::app::App;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

pub struct Admin {
    app: Arc<App>,
}

impl Admin {
    pub fn new(app: Arc<App>) -> Admin {
        Admin { app }
    }

    async fn ready(&self, with_store: bool) -> Result<(), String> {
        if !self.app.is_serving() {
            return Err("proxy listener not serving yet".into());
        }
        if crate::lifecycle::lifecycle().is_terminating() {
            return Err("draining (SIGTERM)".into());
        }
        if !with_store {
            return Ok(());
        }
        self.app.store.ping().await.map_err(|e| e.to_string())
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        if let Some(rest) = req.uri.path().strip_prefix("/clients/") {
            return crate::admin_jwks::response(&self.app, &req.method, rest);
        }
        let mut content_type = "text/plain; charset=utf-8";
        let (status, body) = match session.req_header().uri.path() {
            "/metrics" => {
                content_type = "text/plain; version=0.0.4; charset=utf-8";
                (200, self.app.metrics.render())
            }
            "/healthz" if self.app.is_serving() => (200, "ok\n".to_string()),
            "/healthz" => (503, "starting\n".to_string()),
            "/readyz" => match self
                .ready(session.req_header().uri.query() == Some("store"))
                .await
            {
                Ok(()) => (200, "ready\n".to_string()),
                Err(e) => (503, format!("not ready: {e}\n")),
            },
            _ => (404, "not found\n".to_string()),
        };
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body.into_bytes())
            .unwrap_or_default()
    }
}
