//! Behaviour under faults, through the real binary over real sockets: an upstream that breaks
//! mid-answer or under a reused connection, slow and huge clients, signals under load, a store
//! outage. Every case is bounded in time and in connection count.
//!
//! * an upstream failure after a response started closes the client connection: the client
//!   sees a truncated answer, never the upstream's status followed by jargate's error body;
//! * an intercepted request reaches the upstream at most once, whatever its method, even when
//!   the pooled connection it was written to dies (Pingora would retry an idempotent one);
//! * upstream failures are counted in `jargate_upstream_errors_total{endpoint,kind}`, never as
//!   refusals.

mod upstream;

use crate::common::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use upstream::{contains, Fault, FaultyUpstream, PARTIAL_BODY};

/// One valid request on an intercepted endpoint: its name, raw bytes, and the signed token
/// whose arrival at the upstream the test counts.
struct Signed {
    name: &'static str,
    raw: Vec<u8>,
    token: String,
}

/// A valid request for every intercepted endpoint kind and method that forwards.
fn signed_requests(addr: SocketAddr) -> Vec<Signed> {
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let post = |path: &str, body: String| build_request(addr, "POST", path, &form, body.as_bytes());
    let mut out = Vec::new();
    let object = app1_object();
    out.push(Signed {
        name: "GET /authorize",
        raw: build_request(
            addr,
            "GET",
            &format!("/authorize?client_id=app-1&request={object}"),
            &[],
            b"",
        ),
        token: object,
    });
    let object = app1_object();
    out.push(Signed {
        name: "POST /authorize",
        raw: post("/authorize", format!("client_id=app-1&request={object}")),
        token: object,
    });
    let (object, a) = (
        app1_object(),
        app1_assertion(valid_assertion_claims("app-1")),
    );
    out.push(Signed {
        name: "POST /oauth/par",
        raw: post(
            "/oauth/par",
            format!(
                "client_id=app-1&request={object}&client_assertion_type={ASSERTION_TYPE_FORM}\
                 &client_assertion={a}"
            ),
        ),
        token: a,
    });
    let a = app1_assertion(valid_assertion_claims("app-1"));
    out.push(Signed {
        name: "POST /oauth/token",
        raw: post(TOKEN, assertion_form(&a)),
        token: a,
    });
    let a = app1_assertion(valid_assertion_claims("app-1"));
    out.push(Signed {
        name: "POST /oauth/revoke",
        raw: post(
            "/oauth/revoke",
            format!("token=t&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={a}"),
        ),
        token: a,
    });
    out
}

/// What a client read from one request until the connection ended (or `limit` passed).
struct Received {
    bytes: Vec<u8>,
    /// The connection ended (EOF or reset) within the limit.
    closed: bool,
}

async fn send_and_read_all(addr: SocketAddr, raw: &[u8], limit: Duration) -> Received {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw).await.expect("write request");
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Received {
                    bytes,
                    closed: true,
                }
            }
            Ok(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
            Err(_) => {
                return Received {
                    bytes,
                    closed: false,
                }
            }
        }
    }
}

/// The answer was cut: the connection closed, jargate's error body is nowhere, and a started
/// response never reached the length it announced.
fn assert_truncated_not_forged(what: &str, got: &Received) {
    let text = String::from_utf8_lossy(&got.bytes);
    assert!(
        got.closed,
        "{what}: the client connection must be closed, got {text:?}"
    );
    assert!(
        !contains(&got.bytes, b"temporarily_unavailable"),
        "{what}: jargate's error body must never follow a started response: {text:?}"
    );
    if let Some(head_end) = text.find("\r\n\r\n") {
        let head = text[..head_end].to_ascii_lowercase();
        let announced = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .expect("the upstream's Content-Length is relayed");
        assert!(
            got.bytes.len() - (head_end + 4) < announced,
            "{what}: the body must stay short of its Content-Length: {text:?}"
        );
    }
}

async fn start_faulty(fault: Fault, extra_toml: &str) -> (FaultyUpstream, Jargate) {
    let up = FaultyUpstream::start(fault).await;
    let j = Jargate::start(up.addr(), extra_toml, default_clients()).await;
    (up, j)
}

// ---------------------------------------------------------------------------------------------
// Never forge an answer
// ---------------------------------------------------------------------------------------------

async fn expect_cut_after_partial_answer(fault: Fault) {
    let (up, j) = start_faulty(fault, "").await;
    let addr = j.proxy_addr();
    let token = build_request(
        addr,
        "POST",
        TOKEN,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Connection", "keep-alive"),
        ],
        assertion_form(&app1_assertion(valid_assertion_claims("app-1"))).as_bytes(),
    );
    let passthrough = build_request(
        addr,
        "GET",
        "/userinfo",
        &[("Connection", "keep-alive")],
        b"",
    );
    for (what, raw) in [("token", token), ("passthrough", passthrough)] {
        let got = send_and_read_all(addr, &raw, Duration::from_secs(8)).await;
        assert_truncated_not_forged(what, &got);
    }
    assert_eq!(
        up.requests().len(),
        2,
        "each request reached the upstream once"
    );
}

#[tokio::test]
async fn reset_after_part_of_a_body_closes_the_client_connection() {
    expect_cut_after_partial_answer(Fault::ResetMidBody).await;
}

#[tokio::test]
async fn fin_before_content_length_closes_the_client_connection() {
    expect_cut_after_partial_answer(Fault::FinBeforeLength).await;
}

#[tokio::test]
async fn partial_body_is_relayed_as_received_up_to_the_cut() {
    let (_up, j) = start_faulty(Fault::ResetMidBody, "").await;
    let raw = build_request(j.proxy_addr(), "GET", "/userinfo", &[], b"");
    let got = send_and_read_all(j.proxy_addr(), &raw, Duration::from_secs(8)).await;
    assert_truncated_not_forged("passthrough", &got);
    let text = String::from_utf8_lossy(&got.bytes);
    // Whatever the upstream sent before the reset may arrive; nothing else after it.
    if let Some(head_end) = text.find("\r\n\r\n") {
        assert!(
            PARTIAL_BODY.starts_with(&text[head_end + 4..]),
            "only the upstream's own bytes may follow the head: {text:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Never send a signed request twice
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn intercepted_request_on_a_dying_reused_connection_is_sent_once_and_answered_502() {
    let (up, j) = start_faulty(Fault::DieOnReuse, "").await;
    let addr = j.proxy_addr();
    for signed in signed_requests(addr) {
        // A passthrough request leaves one idle pooled connection to the upstream; the signed
        // request is written to it, and the upstream dies after reading it.
        let warm = get_keep_alive(addr, "/warm").await;
        assert_eq!(warm.status, 200, "{}: warm-up", signed.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let resp = send_raw(addr, &signed.raw).await;
        assert_eq!(
            up.count_containing(&signed.token),
            1,
            "{}: the upstream must see the signed request exactly once",
            signed.name
        );
        assert_error(&resp, 502, "temporarily_unavailable");
    }
}

async fn get_keep_alive(addr: SocketAddr, target: &str) -> Response {
    request(addr, "GET", target, &[("Connection", "keep-alive")], b"").await
}

// ---------------------------------------------------------------------------------------------
// Upstream failures are counted by endpoint and kind, never as refusals
// ---------------------------------------------------------------------------------------------

/// `jargate_upstream_errors_total{endpoint,kind}` and the sum of `jargate_rejections_total`.
async fn upstream_errors(j: &Jargate, endpoint: &str, kind: &str) -> (f64, f64) {
    let text = scrape_metrics(j.admin_addr()).await;
    let errors = metric(
        &text,
        "jargate_upstream_errors_total",
        &[("endpoint", endpoint), ("kind", kind)],
    )
    .expect("every endpoint and kind is exported from the start");
    let rejections = text
        .lines()
        .filter(|l| l.starts_with("jargate_rejections_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    (errors, rejections)
}

fn token_request(addr: SocketAddr) -> Vec<u8> {
    build_request(
        addr,
        "POST",
        TOKEN,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        assertion_form(&app1_assertion(valid_assertion_claims("app-1"))).as_bytes(),
    )
}

/// A token request and a passthrough request against an upstream failing as `kind` says:
/// answered `status` (or cut when `status` is 0), counted per endpoint, logged with the
/// endpoint, never a refusal.
async fn expect_counted(j: &Jargate, kind: &str, status: u16) {
    let addr = j.proxy_addr();
    for (endpoint, raw) in [
        ("token", token_request(addr)),
        (
            "passthrough",
            build_request(addr, "GET", "/userinfo", &[], b""),
        ),
    ] {
        let (before, _) = upstream_errors(j, endpoint, kind).await;
        if status == 0 {
            let got = send_and_read_all(addr, &raw, Duration::from_secs(8)).await;
            assert_truncated_not_forged(endpoint, &got);
        } else {
            let resp = try_send_raw(addr, &raw, Duration::from_secs(8))
                .await
                .expect("an answer");
            assert_error(&resp, status, "temporarily_unavailable");
        }
        let (after, rejections) = upstream_errors(j, endpoint, kind).await;
        assert_eq!(after - before, 1.0, "{endpoint} {kind}: counted once");
        assert_eq!(rejections, 0.0, "an upstream failure is not a refusal");
    }
    let logged = |log: &str, endpoint: &str| {
        log.lines().any(|l| {
            l.contains("upstream failure")
                && l.contains(&format!("endpoint=\"{endpoint}\""))
                && l.contains(&format!("kind=\"{kind}\""))
        })
    };
    let log = j
        .stderr_once(|log| logged(log, "token") && logged(log, "passthrough"))
        .await;
    for endpoint in ["token", "passthrough"] {
        assert!(
            logged(&log, endpoint),
            "logged with the endpoint {endpoint}: {log}"
        );
    }
    assert!(!log.contains("ambiguous_path"), "{log}");
}

#[tokio::test]
async fn refused_connection_counts_as_connect() {
    let closed = ClosedPort::new();
    let j = Jargate::start(closed.addr(), "", default_clients()).await;
    expect_counted(&j, "connect", 502).await;
}

#[tokio::test]
async fn silent_upstream_counts_as_timeout() {
    let silent = SilentUpstream::start().await;
    let j = Jargate::start(
        silent.addr(),
        "[upstream]\nread_timeout_ms = 300\n",
        default_clients(),
    )
    .await;
    expect_counted(&j, "timeout", 504).await;
}

#[tokio::test]
async fn garbage_answer_counts_as_protocol() {
    let (_up, j) = start_faulty(Fault::Garbage, "").await;
    expect_counted(&j, "protocol", 502).await;
}

#[tokio::test]
async fn reset_mid_body_counts_as_reset() {
    let (_up, j) = start_faulty(Fault::ResetMidBody, "").await;
    expect_counted(&j, "reset", 0).await;
}

// ---------------------------------------------------------------------------------------------
// Slow clients: a deadline for the whole head and for a buffered body
// ---------------------------------------------------------------------------------------------

/// Sends `prefix`, then `trickle` one byte every 100 ms (never all of it within the test's
/// deadlines), and reads what comes back until the connection ends.
async fn slow_client(addr: SocketAddr, prefix: &[u8], trickle: &[u8]) -> (Received, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(prefix).await.expect("write");
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut pending = trickle.iter();
    loop {
        tokio::select! {
            read = stream.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return (Received { bytes, closed: true }, started.elapsed()),
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if started.elapsed() > Duration::from_secs(10) {
                    return (Received { bytes, closed: false }, started.elapsed());
                }
                if let Some(b) = pending.next() {
                    // The server may have closed already; the read above will tell.
                    let _ = stream.write_all(std::slice::from_ref(b)).await;
                }
            }
        }
    }
}

async fn client_timeouts(j: &Jargate, phase: &str) -> f64 {
    let text = scrape_metrics(j.admin_addr()).await;
    metric(&text, "jargate_client_timeouts_total", &[("phase", phase)])
        .expect("exported from the start")
}

#[tokio::test]
async fn slow_request_head_is_cut_at_the_header_timeout() {
    let (up, j) = start_with("[listen]\nheader_timeout_ms = 600\n", default_clients()).await;
    let addr = j.proxy_addr();
    let head = format!("GET /userinfo HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
    let (got, took) = slow_client(addr, head.as_bytes(), &[b'a'; 200]).await;
    assert!(
        got.closed,
        "the connection must be closed, still open after {took:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "closed at the deadline, took {took:?}"
    );
    let text = String::from_utf8_lossy(&got.bytes);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert_eq!(client_timeouts(&j, "header").await, 1.0);
    assert_eq!(up.count(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn idle_keep_alive_connection_is_not_cut_by_the_header_timeout() {
    let (up, j) = start_with("[listen]\nheader_timeout_ms = 300\n", default_clients()).await;
    let addr = j.proxy_addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let one = format!("GET /a HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    for _ in 0..2 {
        stream.write_all(one.as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(CALL_TIMEOUT, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
        // Idle between requests for longer than the head deadline.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(up.count(), 2);
    assert_eq!(client_timeouts(&j, "header").await, 0.0);
}

#[tokio::test]
async fn slow_body_on_an_intercepted_endpoint_is_408_at_the_body_timeout() {
    let (up, j) = start_with("[listen]\nbody_timeout_ms = 600\n", default_clients()).await;
    let addr = j.proxy_addr();
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 300\r\n\r\ngrant_type="
    );
    let (got, took) = slow_client(addr, head.as_bytes(), &[b'a'; 200]).await;
    assert!(
        got.closed,
        "closed after the answer, still open after {took:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "answered at the deadline, took {took:?}"
    );
    let text = String::from_utf8_lossy(&got.bytes);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(text.contains("\"error\":\"invalid_request\""), "{text:?}");
    assert_eq!(client_timeouts(&j, "body").await, 1.0);
    assert_eq!(up.count(), 0, "nothing reached the upstream");
}

// ---------------------------------------------------------------------------------------------
// A busy unrelated file in the configuration directory costs nothing
// ---------------------------------------------------------------------------------------------

async fn reload_count(j: &Jargate) -> (f64, f64) {
    let text = scrape_metrics(j.admin_addr()).await;
    let n = |result| counter(&text, "jargate_reloads_total", &[("result", result)]);
    (n("ok"), n("failed"))
}

#[tokio::test]
async fn busy_unrelated_file_never_reloads_nor_delays_a_real_change() {
    let (_up, j) = start_default().await;
    let log = j.dir().join("access.log");
    let writer = tokio::spawn(async move {
        use std::io::Write;
        let mut file = std::fs::File::create(&log).expect("log file");
        for i in 0..600 {
            let _ = writeln!(file, "line {i}");
            let _ = file.flush();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        reload_count(&j).await,
        (0.0, 0.0),
        "an unrelated file reloaded"
    );
    // A real change while the log keeps being written is reloaded after the debounce's quiet
    // time (150 ms), not at its 600 ms cap: the log's events do not restart the debounce.
    let clients = j.dir().join("clients.json");
    let text = std::fs::read(&clients).expect("read clients.json");
    let changed = Instant::now();
    std::fs::write(&clients, text).expect("rewrite clients.json");
    loop {
        if reload_count(&j).await.0 >= 1.0 {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_millis(550),
            "no reload within 550 ms of the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.await.expect("writer");
    assert_eq!(
        reload_count(&j).await,
        (1.0, 0.0),
        "exactly the one real change"
    );
}

// ---------------------------------------------------------------------------------------------
// What held before, kept holding
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn slowloris_connections_do_not_disturb_normal_clients() {
    let (up, j) = start_default().await;
    let addr = j.proxy_addr();
    // 300 connections that each send part of a head, then nothing.
    let mut idle = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("write");
        idle.push(s);
    }
    for i in 0..20 {
        let started = Instant::now();
        let resp = post_form(
            addr,
            TOKEN,
            &assertion_form(&app1_assertion(valid_assertion_claims("app-1"))),
        )
        .await;
        assert_eq!(resp.status, 200, "request {i}: {}", resp.text());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "request {i} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(up.count(), 20);
    drop(idle);
}

#[tokio::test]
async fn sigint_under_saturation_exits_within_a_few_seconds() {
    let (_up, mut j) = start_default().await;
    let addr = j.proxy_addr();
    let load: Vec<_> = (0..32)
        .map(|_| {
            tokio::spawn(async move {
                let raw = build_request(addr, "GET", "/userinfo", &[], b"");
                for _ in 0..10_000 {
                    if try_send_raw(addr, &raw, Duration::from_secs(2))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &j.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    loop {
        if j.exit_status().is_some() {
            break;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(3),
            "still running 3 s after SIGINT"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in load {
        task.abort();
    }
}

#[tokio::test]
async fn huge_inputs_are_refused_at_once_and_never_forwarded() {
    let (up, j) = start_default().await;
    let addr = j.proxy_addr();
    // A declared 100 MiB body: refused on its head, nothing of it read.
    let started = Instant::now();
    let head = build_request(
        addr,
        "POST",
        TOKEN,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "104857600"),
        ],
        b"",
    );
    let resp = send_raw(addr, &head).await;
    assert_rejected(&resp, 413, "invalid_request", &up);
    // A chunked body that never ends: refused once past the limit.
    let mut raw = build_request(
        addr,
        "POST",
        TOKEN,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Transfer-Encoding", "chunked"),
        ],
        b"",
    );
    raw.extend(chunked(&vec![b'a'; 200 * 1024], 8192));
    let resp = send_raw(addr, &raw).await;
    assert_rejected(&resp, 413, "invalid_request", &up);
    // A 100 KiB request head.
    let long = format!("/authorize?client_id=app-1&x={}", "a".repeat(100 * 1024));
    let resp = try_send_raw(
        addr,
        &build_request(addr, "GET", &long, &[], b""),
        CALL_TIMEOUT,
    )
    .await;
    if let Ok(resp) = resp {
        assert!(
            resp.status >= 400,
            "a 100 KiB head must be refused: {}",
            resp.status
        );
    }
    assert_eq!(up.count(), 0, "nothing forwarded");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused at once, took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unreachable_redis_answers_503_and_forwards_nothing() {
    // A frozen or killed Redis, and recovery, are in tests/it/redis_store.rs; here the store is
    // down from the start.
    let closed = ClosedPort::new();
    let toml = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"redis://{}/0\"\n",
        closed.addr()
    );
    let (up, j) = start_with(&toml, default_clients()).await;
    for _ in 0..3 {
        let resp = post_form(
            j.proxy_addr(),
            TOKEN,
            &assertion_form(&app1_assertion(valid_assertion_claims("app-1"))),
        )
        .await;
        assert_rejected(&resp, 503, "temporarily_unavailable", &up);
    }
}
