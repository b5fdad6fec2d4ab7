//! Shared harness for jargate's integration tests.
//!
//! * [`StubUpstream`]: a recording hyper 1.x HTTP/1.1 server standing in for the authorization
//!   server; [`SilentUpstream`]: one that accepts connections and never answers.
//! * [`Jargate`]: the real `jargate` binary, started on free loopback ports with a generated
//!   `jargate.toml` / `clients.json` in a temp dir, killed on drop.
//! * A raw HTTP/1.1 client over `TcpStream` ([`send_raw`], [`post_form`], ...) that sends exact
//!   bytes, so tests can use request targets that URL libraries would rewrite.
//! * An independent JWS oracle ([`TestKey`], [`Jwt`]) built on `ring`, able to produce valid,
//!   tampered and malformed tokens, plus JWK / RFC 7638 thumbprint helpers.
//! * Assertion helpers for the error contract of SPEC §6.

#![allow(dead_code)]

mod tools;
#[allow(unused_imports)]
pub use tools::*;

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The issuer identifier every generated config uses.
pub const ISSUER: &str = "https://login.example.com/";
/// RFC 7523 client assertion type.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The same, percent-encoded as a form value.
pub const ASSERTION_TYPE_FORM: &str =
    "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
/// Timeout of every raw HTTP call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Stub upstream
// ---------------------------------------------------------------------------------------------

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

impl StubUpstream {
    pub async fn start() -> StubUpstream {
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
                            shared.lock().expect("stub lock").push(Recorded {
                                method: parts.method.to_string(),
                                path_and_query,
                                headers: parts.headers,
                                body,
                            });
                            let resp = hyper::Response::builder()
                                .status(200)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(STUB_RESPONSE.as_bytes())))
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
    socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind closed port");
        let addr = socket.local_addr().expect("closed port addr");
        ClosedPort { socket, addr }
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

/// The kernel's ephemeral port range (what `bind(…:0)` and outgoing connections use).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut it = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// A free loopback port for the proxy to bind (bound, checked, released). It is drawn from
/// below the ephemeral range, so a stub upstream binding port 0 or an outgoing connection can
/// never take it between the release and the proxy's bind (which would make the health probe
/// talk to the wrong server).
fn free_port() -> u16 {
    let (low, _) = ephemeral_range();
    if low > 12000 {
        let span = u32::from(low - 11000);
        for _ in 0..200 {
            let mut b = [0u8; 4];
            SystemRandom::new().fill(&mut b).expect("rng");
            let port = 10000 + (u32::from_le_bytes(b) % span) as u16;
            if StdTcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    let l = StdTcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// ---------------------------------------------------------------------------------------------
// The proxy under test
// ---------------------------------------------------------------------------------------------

/// A running `jargate serve` child process, killed on drop.
pub struct Jargate {
    child: Child,
    proxy: SocketAddr,
    admin: SocketAddr,
    config_path: PathBuf,
    stderr_path: PathBuf,
    /// Strings that must never appear in the proxy's stderr (see [`Jargate::forbid_in_logs`]).
    forbidden: Mutex<Vec<String>>,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    dir: tempfile::TempDir,
}

/// Path of the checked-in test keys.
pub fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("keys")
}

/// Deep-merge `extra` into `base`: tables merge recursively, other values replace.
pub fn merge_toml(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge_toml(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Jargate {
    /// Start jargate in front of `upstream`. `extra_toml` is merged into the base config (so it
    /// may re-open `[issuer]`, `[limits]`, ... without duplicating tables); `clients` is written
    /// as `clients.json`. `tests/keys/*` is copied to `<dir>/keys/` so `pem_file: "keys/x.pem"`
    /// works. Panics (with the proxy's stderr) if it is not healthy within 10 s.
    pub async fn start(upstream: SocketAddr, extra_toml: &str, clients: Value) -> Jargate {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Jargate::try_start(upstream, extra_toml, clients.clone()).await {
                Ok(j) => return j,
                // The free ports are found by bind-and-release; another process may take one
                // in between. Retry that case only.
                Err(e) if attempt < 3 && e.to_ascii_lowercase().contains("in use") => continue,
                Err(e) => panic!("jargate did not start: {e}"),
            }
        }
    }

    pub async fn try_start(
        upstream: SocketAddr,
        extra_toml: &str,
        clients: Value,
    ) -> Result<Jargate, String> {
        Jargate::try_start_with(upstream, extra_toml, clients, &[]).await
    }

    /// [`Jargate::try_start`] with extra arguments for `jargate serve` (e.g. `--log-format json`).
    pub async fn try_start_with(
        upstream: SocketAddr,
        extra_toml: &str,
        clients: Value,
        args: &[&str],
    ) -> Result<Jargate, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let keys = dir.path().join("keys");
        std::fs::create_dir_all(&keys).map_err(|e| format!("mkdir keys: {e}"))?;
        for entry in std::fs::read_dir(keys_dir()).map_err(|e| format!("read keys: {e}"))? {
            let entry = entry.map_err(|e| format!("read keys: {e}"))?;
            std::fs::copy(entry.path(), keys.join(entry.file_name()))
                .map_err(|e| format!("copy key: {e}"))?;
        }

        let proxy: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .map_err(|e| format!("{e}"))?;
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .map_err(|e| format!("{e}"))?;
        let base = format!(
            "[listen]\nproxy = \"{proxy}\"\nadmin = \"{admin}\"\n\n\
             [upstream]\nurl = \"http://{upstream}\"\n\n\
             [issuer]\nidentifier = \"{ISSUER}\"\n\n\
             [clients]\nfile = \"clients.json\"\n"
        );
        let mut table: toml::Table = base.parse().map_err(|e| format!("base toml: {e}"))?;
        let extra: toml::Table = extra_toml
            .parse()
            .map_err(|e| format!("extra toml {extra_toml:?}: {e}"))?;
        merge_toml(&mut table, extra);
        let config_text = toml::to_string(&table).map_err(|e| format!("toml: {e}"))?;
        let config_path = dir.path().join("jargate.toml");
        std::fs::write(&config_path, &config_text).map_err(|e| format!("write config: {e}"))?;
        let clients_text =
            serde_json::to_string_pretty(&clients).map_err(|e| format!("clients json: {e}"))?;
        std::fs::write(dir.path().join("clients.json"), clients_text)
            .map_err(|e| format!("write clients: {e}"))?;

        let stderr_path = dir.path().join("stderr.log");
        let stderr_file =
            std::fs::File::create(&stderr_path).map_err(|e| format!("stderr file: {e}"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_jargate"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr_file))
            .spawn()
            .map_err(|e| format!("spawn jargate: {e}"))?;

        let mut jargate = Jargate {
            child,
            proxy,
            admin,
            config_path,
            stderr_path,
            forbidden: Mutex::new(Vec::new()),
            dir,
        };

        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = jargate.child.try_wait() {
                return Err(format!(
                    "jargate exited with {status} before becoming healthy\nconfig:\n{config_text}\nstderr:\n{}",
                    jargate.stderr()
                ));
            }
            let probe =
                format!("GET /healthz HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
            if let Ok(resp) =
                try_send_raw(admin, probe.as_bytes(), Duration::from_millis(1000)).await
            {
                // Healthy, and still our child answering (not something else on that port).
                if resp.status == 200 && matches!(jargate.child.try_wait(), Ok(None)) {
                    return Ok(jargate);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "jargate not healthy within 10 s\nconfig:\n{config_text}\nstderr:\n{}",
                    jargate.stderr()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Everything the proxy wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Jargate {
    fn drop(&mut self) {
        // On failure, or always with JARGATE_TEST_LOG=1, show what the proxy logged (after a
        // moment: decisions are logged once the response is sent).
        let show = std::thread::panicking() || std::env::var_os("JARGATE_TEST_LOG").is_some();
        if show {
            std::thread::sleep(Duration::from_millis(150));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if show {
            eprintln!("---- jargate stderr ----\n{}", self.stderr());
        }
        if !std::thread::panicking() {
            self.assert_no_secret_logged();
        }
    }
}

/// Every token [`Jwt::build`] produced in this test binary: no proxy may ever log one.
static ISSUED: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl Jargate {
    /// Registers `secret` (a token, a query value, a password): the test fails if it ever
    /// appears in the proxy's stderr (checked at drop, and by [`Jargate::assert_no_secret_logged`]).
    pub fn forbid_in_logs(&self, secret: impl Into<String>) {
        let secret = secret.into();
        assert!(
            secret.len() >= 8,
            "too short to be a meaningful secret: {secret:?}"
        );
        if let Ok(mut list) = self.forbidden.lock() {
            list.push(secret);
        }
    }

    /// Panics with the offending line if stderr contains any registered secret or any token
    /// the test oracle built.
    pub fn assert_no_secret_logged(&self) {
        let stderr = self.stderr();
        let check = |secret: &str| {
            if let Some(line) = stderr.lines().find(|l| l.contains(secret)) {
                let head: String = secret.chars().take(6).collect();
                panic!("a secret ({head}…) was logged:\n{line}");
            }
        };
        let forbidden = self.forbidden.lock().map(|l| l.clone()).unwrap_or_default();
        forbidden.iter().for_each(|s| check(s));
        let issued = ISSUED.lock().map(|l| l.clone()).unwrap_or_default();
        issued.iter().for_each(|s| check(s));
    }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 client
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Assertions about the error contract (SPEC §6)
// ---------------------------------------------------------------------------------------------

/// A jargate error answer: status, `error`, JSON content type, `no-store`, a string
/// `error_description`.
pub fn assert_error(resp: &Response, status: u16, error: &str) {
    assert_eq!(
        resp.status,
        status,
        "expected {status} {error}, got {} {:?} body {}",
        resp.status,
        resp.headers,
        resp.text()
    );
    let body = resp.json();
    assert_eq!(
        body["error"].as_str(),
        Some(error),
        "wrong error code in {body}"
    );
    assert!(
        body["error_description"].is_string(),
        "error_description missing or not a string in {body}"
    );
    let ct = resp.header("content-type").unwrap_or("");
    assert!(
        ct.to_ascii_lowercase().starts_with("application/json"),
        "Content-Type must be application/json, got {ct:?}"
    );
    let cc = resp.header("cache-control").unwrap_or("");
    assert!(
        cc.to_ascii_lowercase().contains("no-store"),
        "Cache-Control must contain no-store, got {cc:?}"
    );
}

/// [`assert_error`] plus: the upstream saw nothing.
pub fn assert_rejected(resp: &Response, status: u16, error: &str, upstream: &StubUpstream) {
    assert_error(resp, status, error);
    assert_eq!(
        upstream.count(),
        0,
        "upstream must receive nothing on rejection, got {:?}",
        upstream.requests()
    );
}

/// The stub's answer came back, and the upstream received exactly one more request (the
/// `nth`, 0-based): `method path` with exactly `body`. Returns that request.
pub fn assert_forwarded_nth(
    resp: &Response,
    upstream: &StubUpstream,
    nth: usize,
    method: &str,
    path: &str,
    body: &[u8],
) -> Recorded {
    assert_eq!(
        resp.status,
        200,
        "expected the request to be forwarded, got {} {:?} body {}",
        resp.status,
        resp.headers,
        resp.text()
    );
    assert_eq!(
        resp.json(),
        serde_json::from_str::<Value>(STUB_RESPONSE).expect("stub json"),
        "the upstream's answer must be relayed"
    );
    let reqs = upstream.requests();
    assert_eq!(
        reqs.len(),
        nth + 1,
        "upstream must have received exactly {} request(s), got {reqs:?}",
        nth + 1
    );
    let r = reqs[nth].clone();
    assert_eq!(r.method, method, "forwarded method");
    assert_eq!(r.path_and_query, path, "forwarded path must be unchanged");
    assert!(
        r.body.as_ref() == body,
        "forwarded body must be byte-for-byte unchanged\n sent: {:?}\n got:  {:?}",
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&r.body)
    );
    r
}

/// [`assert_forwarded_nth`] for the first request.
pub fn assert_forwarded(
    resp: &Response,
    upstream: &StubUpstream,
    method: &str,
    path: &str,
    body: &[u8],
) -> Recorded {
    assert_forwarded_nth(resp, upstream, 0, method, path, body)
}

// ---------------------------------------------------------------------------------------------
// Time, randomness, encoding
// ---------------------------------------------------------------------------------------------

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// 32 random hex characters.
pub fn random_jti() -> String {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).expect("rng");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_padded(data: &[u8]) -> String {
    URL_SAFE.encode(data)
}

pub fn b64std(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Claims of a valid client assertion: iss = sub = `client_id`, aud = the issuer, fresh jti,
/// iat = now, exp = now + 60.
pub fn valid_assertion_claims(client_id: &str) -> Value {
    let t = now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "jti": random_jti(),
        "iat": t,
        "exp": t + 60,
    })
}

// ---------------------------------------------------------------------------------------------
// Keys and the JWS oracle
// ---------------------------------------------------------------------------------------------

fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(b64).expect("PEM base64")
}

/// Text of `tests/keys/<file>`.
pub fn key_file(file: &str) -> String {
    std::fs::read_to_string(keys_dir().join(file))
        .unwrap_or_else(|e| panic!("read tests/keys/{file}: {e}"))
}

enum Pair {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A key pair from `tests/keys/<name>.key.pem` with its `<name>.pub.pem`.
pub struct TestKey {
    pub name: String,
    pair: Pair,
    pub_pem: String,
}

impl TestKey {
    pub fn load(name: &str) -> TestKey {
        let der = pem_to_der(&key_file(&format!("{name}.key.pem")));
        let pub_pem = key_file(&format!("{name}.pub.pem"));
        let rng = SystemRandom::new();
        let pair = if let Ok(k) = RsaKeyPair::from_pkcs8(&der) {
            Pair::Rsa(k)
        } else if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
        {
            Pair::P256(k)
        } else if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &der, &rng)
        {
            Pair::P384(k)
        } else if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
            Pair::Ed25519(k)
        } else {
            panic!("tests/keys/{name}.key.pem: unsupported key");
        };
        TestKey {
            name: name.to_owned(),
            pair,
            pub_pem,
        }
    }

    /// The SPKI public key PEM text, exactly as in the file.
    pub fn pub_pem(&self) -> &str {
        &self.pub_pem
    }

    /// Length in bytes of a JWS signature by this key with `alg`.
    pub fn signature_len(&self, alg: &str) -> usize {
        match (&self.pair, alg) {
            (Pair::Rsa(k), _) => k.public().modulus_len(),
            (Pair::P256(_), _) => 64,
            (Pair::P384(_), _) => 96,
            (Pair::Ed25519(_), _) => 64,
        }
    }

    /// JWS signature over `msg`. Panics when `alg` does not fit the key.
    pub fn sign(&self, alg: &str, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("{other} is not an RSA JWS alg"),
                };
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(padding, &rng, msg, &mut sig).expect("RSA sign");
                sig
            }
            Pair::P256(k) => {
                assert_eq!(alg, "ES256", "{} is a P-256 key", self.name);
                k.sign(&rng, msg).expect("ES256 sign").as_ref().to_vec()
            }
            Pair::P384(k) => {
                assert_eq!(alg, "ES384", "{} is a P-384 key", self.name);
                k.sign(&rng, msg).expect("ES384 sign").as_ref().to_vec()
            }
            Pair::Ed25519(k) => {
                assert!(
                    alg == "EdDSA" || alg == "Ed25519",
                    "{} is an Ed25519 key",
                    self.name
                );
                k.sign(msg).as_ref().to_vec()
            }
        }
    }

    /// The public key as a JWK (required members only).
    pub fn jwk(&self) -> Value {
        match &self.pair {
            Pair::Rsa(k) => {
                let c: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                json!({"kty": "RSA", "n": b64url(&c.n), "e": b64url(&c.e)})
            }
            Pair::P256(k) => {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64url(&p[1..33]), "y": b64url(&p[33..65])})
            }
            Pair::P384(k) => {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-384", "x": b64url(&p[1..49]), "y": b64url(&p[49..97])})
            }
            Pair::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(k.public_key().as_ref())})
            }
        }
    }

    /// RFC 7638 thumbprint (SHA-256, base64url) of this key.
    pub fn thumbprint(&self) -> String {
        jwk_thumbprint(&self.jwk())
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the required members, sorted, no whitespace.
pub fn jwk_thumbprint(jwk: &Value) -> String {
    let kty = jwk["kty"].as_str().expect("jwk kty");
    let mut members: Vec<&str> = match kty {
        "RSA" => vec!["e", "kty", "n"],
        "EC" => vec!["crv", "kty", "x", "y"],
        "OKP" => vec!["crv", "kty", "x"],
        other => panic!("unsupported kty {other}"),
    };
    members.sort_unstable();
    let body: Vec<String> = members
        .iter()
        .map(|m| {
            let v = jwk[*m]
                .as_str()
                .unwrap_or_else(|| panic!("jwk member {m} missing"));
            format!(
                "{}:{}",
                serde_json::to_string(m).expect("json"),
                serde_json::to_string(v).expect("json")
            )
        })
        .collect();
    let canonical = format!("{{{}}}", body.join(","));
    b64url(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

enum Signer<'a> {
    Key(&'a TestKey),
    Hmac(Vec<u8>),
    Empty,
}

/// Compact JWS builder. The header starts as `{"alg": alg}`; claims start empty.
pub struct Jwt<'a> {
    signer: Signer<'a>,
    alg: String,
    header: Map<String, Value>,
    raw_header: Option<String>,
    claims: Value,
    raw_claims: Option<String>,
    encoded_header: Option<String>,
    encoded_payload: Option<String>,
    padded: bool,
}

impl<'a> Jwt<'a> {
    fn with_signer(signer: Signer<'a>, alg: &str) -> Jwt<'a> {
        let mut header = Map::new();
        header.insert("alg".into(), Value::String(alg.to_owned()));
        Jwt {
            signer,
            alg: alg.to_owned(),
            header,
            raw_header: None,
            claims: json!({}),
            raw_claims: None,
            encoded_header: None,
            encoded_payload: None,
            padded: false,
        }
    }

    /// Signed by `key` with `alg` (the header's `alg` too).
    pub fn signed(key: &'a TestKey, alg: &str) -> Jwt<'a> {
        Jwt::with_signer(Signer::Key(key), alg)
    }

    /// HMAC-signed (`HS256`/`HS384`/`HS512`) with `secret`.
    pub fn hmac(secret: &[u8], alg: &str) -> Jwt<'a> {
        Jwt::with_signer(Signer::Hmac(secret.to_vec()), alg)
    }

    /// `alg: none`, empty signature part.
    pub fn unsigned() -> Jwt<'a> {
        Jwt::with_signer(Signer::Empty, "none")
    }

    /// Set (or replace) a header member.
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.to_owned(), value);
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Use this exact header JSON text.
    pub fn raw_header(mut self, json: &str) -> Self {
        self.raw_header = Some(json.to_owned());
        self
    }

    pub fn claims(mut self, claims: Value) -> Self {
        self.claims = claims;
        self
    }

    pub fn claim(mut self, name: &str, value: Value) -> Self {
        if let Value::Object(m) = &mut self.claims {
            m.insert(name.to_owned(), value);
        }
        self
    }

    pub fn without_claim(mut self, name: &str) -> Self {
        if let Value::Object(m) = &mut self.claims {
            m.remove(name);
        }
        self
    }

    /// Use this exact claims JSON text (duplicate members, odd types...).
    pub fn raw_claims(mut self, json: &str) -> Self {
        self.raw_claims = Some(json.to_owned());
        self
    }

    /// Use this exact first segment (signed as is).
    pub fn encoded_header(mut self, segment: &str) -> Self {
        self.encoded_header = Some(segment.to_owned());
        self
    }

    /// Use this exact second segment (signed as is).
    pub fn encoded_payload(mut self, segment: &str) -> Self {
        self.encoded_payload = Some(segment.to_owned());
        self
    }

    /// Base64url WITH `=` padding in every part; the signature covers the padded text.
    pub fn padded(mut self) -> Self {
        self.padded = true;
        self
    }

    pub fn header_json(&self) -> String {
        self.raw_header
            .clone()
            .unwrap_or_else(|| Value::Object(self.header.clone()).to_string())
    }

    pub fn claims_json(&self) -> String {
        self.raw_claims
            .clone()
            .unwrap_or_else(|| self.claims.to_string())
    }

    fn enc(&self, data: &[u8]) -> String {
        if self.padded {
            b64url_padded(data)
        } else {
            b64url(data)
        }
    }

    fn signature_len(&self) -> usize {
        match &self.signer {
            Signer::Key(k) => k.signature_len(&self.alg),
            Signer::Hmac(_) => match self.alg.as_str() {
                "HS384" => 48,
                "HS512" => 64,
                _ => 32,
            },
            Signer::Empty => 0,
        }
    }

    fn encoded_len(&self, bytes: usize) -> usize {
        if self.padded {
            bytes.div_ceil(3) * 4
        } else {
            (bytes * 4).div_ceil(3)
        }
    }

    /// Length of the compact form `build()` would produce.
    pub fn predicted_len(&self) -> usize {
        let h = self
            .encoded_header
            .as_ref()
            .map(String::len)
            .unwrap_or_else(|| self.encoded_len(self.header_json().len()));
        let p = self
            .encoded_payload
            .as_ref()
            .map(String::len)
            .unwrap_or_else(|| self.encoded_len(self.claims_json().len()));
        h + p + self.encoded_len(self.signature_len()) + 2
    }

    /// The compact serialization.
    pub fn build(&self) -> String {
        let h = self
            .encoded_header
            .clone()
            .unwrap_or_else(|| self.enc(self.header_json().as_bytes()));
        let p = self
            .encoded_payload
            .clone()
            .unwrap_or_else(|| self.enc(self.claims_json().as_bytes()));
        let input = format!("{h}.{p}");
        let sig = match &self.signer {
            Signer::Key(k) => k.sign(&self.alg, input.as_bytes()),
            Signer::Hmac(secret) => {
                let alg = match self.alg.as_str() {
                    "HS384" => ring::hmac::HMAC_SHA384,
                    "HS512" => ring::hmac::HMAC_SHA512,
                    _ => ring::hmac::HMAC_SHA256,
                };
                let key = ring::hmac::Key::new(alg, secret);
                ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
            }
            Signer::Empty => Vec::new(),
        };
        let token = format!("{input}.{}", self.enc(&sig));
        if let Ok(mut issued) = ISSUED.lock() {
            issued.push(token.clone());
        }
        token
    }

    /// Set claim `pad_claim` to a run of `x` so that the token is exactly `target` bytes long;
    /// `None` when no padding length hits it (base64 lengths skip some values).
    pub fn build_with_len(mut self, pad_claim: &str, target: usize) -> Option<String> {
        for n in 0..target {
            self = self.claim(pad_claim, Value::String("x".repeat(n)));
            let len = self.predicted_len();
            if len == target {
                let token = self.build();
                assert_eq!(token.len(), target, "length prediction is wrong");
                return Some(token);
            }
            if len > target {
                return None;
            }
        }
        None
    }
}

/// Split a compact JWT into its parts.
pub fn parts(jwt: &str) -> Vec<String> {
    jwt.split('.').map(str::to_owned).collect()
}

/// Change one character in the middle of the signature part (still valid base64url).
pub fn tamper_signature(jwt: &str) -> String {
    let mut p = parts(jwt);
    let sig = &mut p[2];
    let mid = sig.len() / 2;
    let old = sig.as_bytes()[mid];
    let new = if old == b'A' { 'B' } else { 'A' };
    sig.replace_range(mid..mid + 1, &new.to_string());
    p.join(".")
}

/// Replace the payload with `claims`, keeping header and signature.
pub fn replace_payload(jwt: &str, claims: &Value) -> String {
    let mut p = parts(jwt);
    p[1] = b64url(claims.to_string().as_bytes());
    p.join(".")
}

/// Decode the claims of a compact JWT (test-side, no verification).
pub fn decode_claims(jwt: &str) -> Value {
    let p = parts(jwt);
    let bytes = URL_SAFE_NO_PAD.decode(&p[1]).expect("payload base64url");
    serde_json::from_slice(&bytes).expect("payload json")
}

/// A five-part, JWE-shaped compact token (all parts valid base64url).
pub fn jwe_shaped() -> String {
    let header = b64url(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT"}"#);
    let mut rnd = [0u8; 256];
    SystemRandom::new().fill(&mut rnd).expect("rng");
    format!(
        "{header}.{}.{}.{}.{}",
        b64url(&rnd[..]),
        b64url(&rnd[..12]),
        b64url(&rnd[12..140]),
        b64url(&rnd[140..156])
    )
}

// ---------------------------------------------------------------------------------------------
// Registry helpers
// ---------------------------------------------------------------------------------------------

/// `{"credential_type":"public_key","pem":<tests/keys/<key>.pub.pem>,"alg":alg}`.
pub fn pem_credential(key: &str, alg: &str) -> Value {
    json!({"credential_type": "public_key", "pem": key_file(&format!("{key}.pub.pem")), "alg": alg})
}

/// A client whose `token_endpoint_auth_method` is `private_key_jwt`, with these assertion
/// credentials.
pub fn pkjwt_client(client_id: &str, credentials: Vec<Value>) -> Value {
    json!({
        "client_id": client_id,
        "token_endpoint_auth_method": "private_key_jwt",
        "client_authentication_methods": {"private_key_jwt": {"credentials": credentials}},
    })
}

/// `{"clients": [...]}`.
pub fn registry(clients: Vec<Value>) -> Value {
    json!({ "clients": clients })
}

/// A token-endpoint form carrying `assertion` (client_credentials grant).
pub fn assertion_form(assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={assertion}"
    )
}

/// The registry most tests run against:
/// * `app-1`: private_key_jwt, assertion key rsa-a (RS256); JAR key rsa-b (PS256) only.
/// * `app-ps`: private_key_jwt, rsa-c (PS256).
/// * `app-es`: private_key_jwt, ec-a (ES256).
/// * `app-ed`: private_key_jwt, ed-a (EdDSA).
/// * `app-post`: `client_secret_post`, with an assertion key ec-b (ES256) all the same.
pub fn default_clients() -> Value {
    let mut app1 = pkjwt_client("app-1", vec![pem_credential("rsa-a", "RS256")]);
    app1["signed_request_object"] = json!({"credentials": [pem_credential("rsa-b", "PS256")]});
    let mut post = pkjwt_client("app-post", vec![pem_credential("ec-b", "ES256")]);
    post["token_endpoint_auth_method"] = json!("client_secret_post");
    registry(vec![
        app1,
        pkjwt_client("app-ps", vec![pem_credential("rsa-c", "PS256")]),
        pkjwt_client("app-es", vec![pem_credential("ec-a", "ES256")]),
        pkjwt_client("app-ed", vec![pem_credential("ed-a", "EdDSA")]),
        post,
    ])
}

/// A stub upstream and a jargate in front of it.
pub async fn start_with(extra_toml: &str, clients: Value) -> (StubUpstream, Jargate) {
    let upstream = StubUpstream::start().await;
    let jargate = Jargate::start(upstream.addr(), extra_toml, clients).await;
    (upstream, jargate)
}

/// [`start_with`] the default config and [`default_clients`].
pub async fn start_default() -> (StubUpstream, Jargate) {
    start_with("", default_clients()).await
}

/// A valid `app-1` assertion (rsa-a, RS256) with these claims.
pub fn app1_assertion(claims: Value) -> String {
    Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(claims)
        .build()
}

// ---------------------------------------------------------------------------------------------
// Process control and /metrics (used by the reload, jwks and metrics suites)
// ---------------------------------------------------------------------------------------------

impl Jargate {
    /// Process id of the `jargate` child, e.g. to send it `SIGHUP`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's exit status if it has exited, `None` while it runs.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// A free loopback port (see [`free_port`]), for tests that start the binary themselves.
pub fn free_loopback_port() -> u16 {
    free_port()
}

/// The Prometheus text of `GET /metrics` on the admin listener `admin` (asserts 200).
pub async fn scrape_metrics(admin: SocketAddr) -> String {
    let resp = get(admin, "/metrics").await;
    assert_eq!(
        resp.status,
        200,
        "/metrics answered {}: {}",
        resp.status,
        resp.text()
    );
    resp.text()
}

/// The value of the sample `name` whose label set is exactly `labels` (in any order), from a
/// Prometheus text exposition; `None` when there is no such sample.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (sample, mut found) = match series.split_once('{') {
                Some((n, rest)) => {
                    let inner = rest.strip_suffix('}')?;
                    let pairs: Option<Vec<(String, String)>> = inner
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once('=')?;
                            Some((k.to_owned(), v.trim_matches('"').to_owned()))
                        })
                        .collect();
                    (n, pairs?)
                }
                None => (series, Vec::new()),
            };
            found.sort();
            (sample == name && found == wanted)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
}

/// [`metric`], absent counted as 0 (label values of a vector appear at their first use).
pub fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric(text, name, labels).unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------------
// Canned upstream (discovery documents, JWK Sets)
// ---------------------------------------------------------------------------------------------

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
