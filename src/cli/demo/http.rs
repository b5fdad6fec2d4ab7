//! The demo's HTTP/1.1 client (hyper 1, one connection per request, bounded in time): just
//! enough to send a form POST or a GET to jargate and read the answer.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    /// A member of a JSON body, as a string.
    pub fn json_str(&self, name: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        value.get(name)?.as_str().map(str::to_owned)
    }
}

async fn send<B>(addr: SocketAddr, req: hyper::Request<B>) -> Result<Response, String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let call = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        tokio::spawn(conn);
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{addr}: {e}"))?
            .to_bytes();
        Ok(Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(TIMEOUT, call)
        .await
        .map_err(|_| format!("{addr}: no answer within {} s", TIMEOUT.as_secs()))?
}

/// `GET path_and_query`.
pub async fn get(addr: SocketAddr, path_and_query: &str) -> Result<Response, String> {
    let req = hyper::Request::get(path_and_query)
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    send(addr, req).await
}

/// `POST path` with a form body.
pub async fn post_form(
    addr: SocketAddr,
    path: &str,
    form: &[(&str, &str)],
) -> Result<Response, String> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let req = hyper::Request::post(path)
        .header(http::header::HOST, addr.to_string())
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    send(addr, req).await
}
