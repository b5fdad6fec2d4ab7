//! Stand-ins for the authorization server: [`StubUpstream`] records every request and answers
//! [`STUB_RESPONSE`] (or, [`StubUpstream::oidc_strict`], as an OIDC-strict server with PAR); [`SilentUpstream`] never answers; [`CannedUpstream`] answers fixed bytes (a
//! discovery document, a JWK Set); [`ClosedPort`] refuses connections.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the stub upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query exactly as they appeared in the request line.
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A recording upstream: answers every request `200 {"access_token":"stub","token_type":"Bearer"}`.
pub struct StubUpstream {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

pub const STUB_RESPONSE: &str = r#"{"access_token":"stub","token_type":"Bearer"}"#;

/// The `expires_in` of [`StubUpstream::oidc_strict`]'s PAR answers.
pub const STRICT_PAR_EXPIRES_IN: u64 = 60;

/// The OIDC-strict answers: a PAR `POST …/par` gets `201` with a fresh `urn:uuid:` request_uri
/// (as idpyoidc answers); an `/authorize` with `request_uri` but without `response_type`,
/// `scope` or `redirect_uri` next to it (OIDC Core §6.1) gets `400`. `None`: the stub answer.
fn strict_answer(method: &http::Method, uri: &http::Uri, n: usize) -> Option<(u16, String)> {
    if method == http::Method::POST && uri.path().ends_with("/par") {
        let body = serde_json::json!({
            "request_uri": format!("urn:uuid:f81d4fae-7dec-11d0-a765-{n:012x}"),
            "expires_in": STRICT_PAR_EXPIRES_IN,
        });
        return Some((201, body.to_string()));
    }
    let query = uri.query().unwrap_or_default();
    let names: Vec<&str> = query
        .split('&')
        .map(|p| p.split('=').next().unwrap_or_default())
        .collect();
    if uri.path().ends_with("/authorize") && names.contains(&"request_uri") {
        for required in ["response_type", "scope", "redirect_uri"] {
            if !names.contains(&required) {
                let body = serde_json::json!({"error": "invalid_request",
                    "error_description": format!("Missing required attribute '{required}'")});
                return Some((400, body.to_string()));
            }
        }
    }
    None
}

impl StubUpstream {
    pub async fn start() -> StubUpstream {
        StubUpstream::start_as(false).await
    }

    /// A stub that answers as an OIDC-strict server with PAR (see [`strict_answer`]).
    pub async fn oidc_strict() -> StubUpstream {
        StubUpstream::start_as(true).await
    }

    async fn start_as(strict: bool) -> StubUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stub upstream");
        let addr = listener.local_addr().expect("stub upstream addr");
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::new(Mutex::new(Vec::new()));
        let shared = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let shared = shared.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = match body.collect().await {
                                Ok(collected) => collected.to_bytes(),
                                Err(_) => Bytes::new(),
                            };
                            let path_and_query = parts
                                .uri
                                .path_and_query()
                                .map(|pq| pq.as_str().to_owned())
                                .unwrap_or_else(|| parts.uri.to_string());
                            let mut recorded = shared.lock().expect("stub lock");
                            let (status, answer) = strict
                                .then(|| strict_answer(&parts.method, &parts.uri, recorded.len()))
                                .flatten()
                                .unwrap_or((200, STUB_RESPONSE.to_owned()));
                            recorded.push(Recorded {
                                method: parts.method.to_string(),
                                path_and_query,
                                headers: parts.headers,
                                body,
                            });
                            drop(recorded);
                            let resp = hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(answer)))
                                .expect("stub response");
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StubUpstream {
            addr,
            requests,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("stub lock").clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().expect("stub lock").len()
    }
}

impl Drop for StubUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An upstream that accepts connections, reads whatever comes, and never answers.
pub struct SilentUpstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SilentUpstream {
    pub async fn start() -> SilentUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind silent upstream");
        let addr = listener.local_addr().expect("silent upstream addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                    // Hold the socket open until the peer goes away.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                });
            }
        });
        SilentUpstream { addr, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SilentUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port that refuses connections for as long as this value lives: the port is
/// bound (so no other test or process can take it) but never listened on.
pub struct ClosedPort {
    _bound: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind closed port");
        let addr = socket.local_addr().expect("closed port addr");
        ClosedPort {
            _bound: socket,
            addr,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        ClosedPort::new()
    }
}

/// A server that answers every request with the same fixed bytes (`status`, `headers`, a
/// `Content-Length`, `body`) and records each request head: a discovery document, a JWK Set.
pub struct CannedUpstream {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl CannedUpstream {
    pub async fn start(status: u16, headers: &[(&str, &str)], body: Vec<u8>) -> CannedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut response = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            response += &format!("{k}: {v}\r\n");
        }
        let mut response = (response + "\r\n").into_bytes();
        response.extend_from_slice(&body);
        let heads = Arc::new(Mutex::new(Vec::new()));
        let shared = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let response = response.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // One request per connection: read its head, answer, close.
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    shared
                        .lock()
                        .expect("lock")
                        .push(String::from_utf8_lossy(&buf).into_owned());
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        CannedUpstream { addr, heads }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }
}
