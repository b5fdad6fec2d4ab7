//! The demo's stand-in authorization server: a hyper 1 HTTP/1.1 server on a loopback port that
//! answers every request `200` with a token-like JSON body and records what it received, so the
//! demo can show what reached the upstream (and that refused requests never did).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the stub received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub body: String,
}

pub struct StubServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

const BODY: &str = r#"{"access_token":"demo-token","token_type":"Bearer","expires_in":60}"#;

impl StubServer {
    pub async fn start() -> Result<StubServer, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("stub upstream: bind: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("stub upstream: {e}"))?;
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let shared = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let shared = shared.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let path_and_query = parts
                                .uri
                                .path_and_query()
                                .map_or_else(|| parts.uri.to_string(), |p| p.to_string());
                            shared.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
                                method: parts.method.to_string(),
                                path_and_query,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            });
                            let mut resp = hyper::Response::new(Full::new(Bytes::from(BODY)));
                            resp.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(StubServer { addr, seen, task })
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
