//! A raw HTTP/1.1 client over `TcpStream` ([`send_raw`], [`post_form`], ...): it sends exact
//! bytes, so tests can use request targets and framings that URL libraries would rewrite.

use super::CALL_TIMEOUT;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed HTTP response. Header names are lower-cased.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        match serde_json::from_slice(&self.body) {
            Ok(v) => v,
            Err(e) => panic!(
                "response body is not JSON ({e}): status {} headers {:?} body {:?}",
                self.status,
                self.headers,
                self.text()
            ),
        }
    }
}

fn find_subslice(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decode a chunked body; `None` while incomplete.
fn decode_chunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find_subslice(data, b"\r\n")?;
        let line = std::str::from_utf8(&data[..line_end]).ok()?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            // Trailers until an empty line.
            loop {
                let end = find_subslice(data, b"\r\n")?;
                if end == 0 {
                    return Some(out);
                }
                data = &data[end + 2..];
            }
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Parse `buf` as a response; `None` while incomplete (with `eof`, take what is there).
pub fn parse_response(buf: &[u8], eof: bool) -> Option<Result<Response, String>> {
    let head_end = find_subslice(buf, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let status = match parts.next().and_then(|s| s.parse::<u16>().ok()) {
        Some(s) => s,
        None => return Some(Err(format!("bad status line {status_line:?}"))),
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let rest = &buf[head_end + 4..];
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let no_body = status / 100 == 1 || status == 204 || status == 304;
    let body = if no_body {
        Vec::new()
    } else if get("transfer-encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false)
    {
        match decode_chunked(rest) {
            Some(b) => b,
            None if eof => return Some(Err("truncated chunked body".into())),
            None => return None,
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = match len.parse() {
            Ok(l) => l,
            Err(_) => return Some(Err(format!("bad content-length {len:?}"))),
        };
        if rest.len() < len {
            if eof {
                return Some(Err(format!(
                    "body truncated: {} of {len} bytes",
                    rest.len()
                )));
            }
            return None;
        }
        rest[..len].to_vec()
    } else if eof {
        rest.to_vec()
    } else {
        return None;
    };
    Some(Ok(Response {
        status,
        headers,
        body,
    }))
}

/// Send exact bytes and read one response, with a time limit.
pub async fn try_send_raw(
    addr: SocketAddr,
    raw: &[u8],
    limit: Duration,
) -> Result<Response, String> {
    let fut = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        // The server may answer (and close) before reading everything: ignore write errors and
        // read whatever response is there.
        let _ = stream.write_all(raw).await;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(parsed) = parse_response(&buf, false) {
                return parsed;
            }
            match stream.read(&mut chunk).await {
                Ok(0) => {
                    return parse_response(&buf, true).unwrap_or_else(|| {
                        Err(format!(
                            "connection closed before a full response: {:?}",
                            String::from_utf8_lossy(&buf)
                        ))
                    })
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    if let Some(parsed) = parse_response(&buf, true) {
                        return parsed;
                    }
                    return Err(format!("read error: {e}"));
                }
            }
        }
    };
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("no response within {limit:?}")),
    }
}

/// Send exact bytes, panic on failure or after 5 s.
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> Response {
    match try_send_raw(addr, raw, CALL_TIMEOUT).await {
        Ok(r) => r,
        Err(e) => panic!(
            "raw request to {addr} failed: {e}\nrequest: {:?}",
            String::from_utf8_lossy(raw)
        ),
    }
}

/// Build request bytes. `Host`, `Content-Length` (when there is a body or the method is POST and
/// no Transfer-Encoding is given) and `Connection: close` are added unless present in `headers`.
pub fn build_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    if !has("host") {
        out.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has("content-length") && !has("transfer-encoding") && (!body.is_empty() || method == "POST")
    {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if !has("connection") {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    send_raw(addr, &build_request(addr, method, target, headers, body)).await
}

pub async fn post_form(addr: SocketAddr, path: &str, body: &str) -> Response {
    post_with_type(addr, path, "application/x-www-form-urlencoded", body).await
}

pub async fn post_form_with(
    addr: SocketAddr,
    path: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra_headers);
    request(addr, "POST", path, &headers, body.as_bytes()).await
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &str) -> Response {
    post_with_type(addr, path, "application/json", body).await
}

pub async fn post_with_type(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: &str,
) -> Response {
    request(
        addr,
        "POST",
        path,
        &[("Content-Type", content_type)],
        body.as_bytes(),
    )
    .await
}

pub async fn get(addr: SocketAddr, path_and_query: &str) -> Response {
    request(addr, "GET", path_and_query, &[], b"").await
}

/// Encode `body` as HTTP/1.1 chunks of at most `chunk` bytes, with the final zero chunk.
pub fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
