//! Pooled upstream connections behind an upstream that closes idle keep-alive connections
//! (Node after 5 s, gunicorn after 2 s; here 100 ms and 2 s): `upstream.idle_timeout_ms` closes
//! pooled connections first, so a valid token request, which jargate never resends (SPEC §6),
//! never meets a connection the upstream has just closed. Thousands of requests, 0 answered 502.
//!
//! Without the idle timeout (`idle_timeout_ms` above the upstream's), these runs answer 502 to
//! some requests: the upstream's close and jargate's write of the next request meet.

use crate::common::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// An HTTP/1.1 upstream that answers every request `200` with keep-alive, and closes a
/// connection that waited `idle` for its next request (dropped at once, as Node's
/// `keepAliveTimeout` does: bytes already on their way meet a reset).
struct IdleClosingUpstream {
    addr: SocketAddr,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Counts {
    answered: AtomicUsize,
    /// Requests that came on a connection that had carried one before (pooled, reused).
    reused: AtomicUsize,
    /// Connections the upstream closed itself after `idle`.
    closed_idle: AtomicUsize,
    /// Connections jargate closed while they waited for a next request.
    closed_by_proxy: AtomicUsize,
    /// Requests that arrived after the upstream closed their connection idle: how long after.
    crossed: Mutex<Vec<Duration>>,
}

/// How long a connection closed idle is still watched for a request that crossed the close.
const CROSSING_WATCH: Duration = Duration::from_millis(500);

/// A request written this soon after the upstream's close crossed it: jargate's last look (just
/// before the first byte) came before the close, and its write after, which a host starved for
/// tens of milliseconds (a loaded test machine) can stretch this far. One written later went
/// into a connection jargate should have known was closed: pauses reach twice the upstream's
/// idle timeout, so without the idle timeout and the last look many would.
const CROSSING: Duration = Duration::from_millis(100);

impl IdleClosingUpstream {
    async fn start(idle: Duration) -> IdleClosingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, idle, shared.clone()));
            }
        });
        IdleClosingUpstream { addr, counts, task }
    }
}

impl Drop for IdleClosingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, idle: Duration, counts: Arc<Counts>) {
    let mut buf = Vec::new();
    let mut served = 0usize;
    loop {
        // The keep-alive timer runs from the end of one answer to the first byte of the next
        // request (a new connection's first request has the servers' longer head timeout).
        if buf.is_empty() {
            let mut chunk = [0u8; 4096];
            let wait = if served == 0 {
                Duration::from_secs(60)
            } else {
                idle
            };
            match tokio::time::timeout(wait, stream.read(&mut chunk)).await {
                Err(_) => {
                    counts.closed_idle.fetch_add(1, Ordering::Relaxed);
                    // Close (FIN), then note a request that was already on its way: it crossed
                    // the close, and how long after the close it arrived.
                    let closed = Instant::now();
                    let _ = stream.shutdown().await;
                    let late = tokio::time::timeout(CROSSING_WATCH, stream.read(&mut chunk)).await;
                    if let Ok(Ok(1..)) = late {
                        counts.crossed.lock().expect("lock").push(closed.elapsed());
                    }
                    return;
                }
                Ok(Ok(0)) | Ok(Err(_)) => {
                    if served > 0 {
                        counts.closed_by_proxy.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let Some(len) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        buf.drain(..len);
        let body = STUB_RESPONSE.as_bytes();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if stream
            .write_all(&[head.as_bytes(), body].concat())
            .await
            .is_err()
        {
            return;
        }
        counts.answered.fetch_add(1, Ordering::Relaxed);
        if served > 0 {
            counts.reused.fetch_add(1, Ordering::Relaxed);
        }
        served += 1;
    }
}

/// Reads one request (head and `Content-Length` body) into `buf`; its length in `buf`.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            if buf.len() >= total {
                return Some(total);
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A valid token request that jargate intercepts and never resends (`app-post`, which may
/// authenticate with `client_secret_post`): no signature on either side, so that the
/// proxy's timing, not the test's crypto, sets the pace on a loaded machine.
fn token_request(addr: SocketAddr) -> Vec<u8> {
    build_request(
        addr,
        "POST",
        TOKEN,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"grant_type=client_credentials&client_id=app-post&client_secret=s",
    )
}

/// `clients` loops, each sending a valid token request then waiting a random pause of up to
/// `max_pause`, for `run`: every answer's status (0: no answer) and how often it came.
async fn drive(addr: SocketAddr, clients: usize, max_pause: Duration, run: Duration) -> Statuses {
    let statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let end = Instant::now() + run;
    let mut loops = Vec::new();
    for _ in 0..clients {
        let statuses = statuses.clone();
        loops.push(tokio::spawn(async move {
            while Instant::now() < end {
                let raw = token_request(addr);
                let status = match try_send_raw(addr, &raw, Duration::from_secs(10)).await {
                    Ok(resp) => resp.status,
                    Err(_) => 0,
                };
                *statuses.lock().expect("lock").entry(status).or_insert(0) += 1;
                tokio::time::sleep(random_pause(max_pause)).await;
            }
        }));
    }
    for l in loops {
        l.await.expect("client loop");
    }
    let statuses = statuses.lock().expect("lock").clone();
    Statuses(statuses)
}

fn random_pause(max: Duration) -> Duration {
    let r = u32::from_le_bytes(jargate::random::bytes::<4>().expect("system randomness"));
    max.mul_f64(f64::from(r) / f64::from(u32::MAX))
}

struct Statuses(BTreeMap<u16, usize>);

impl Statuses {
    fn total(&self) -> usize {
        self.0.values().sum()
    }
}

/// Behind an upstream closing idle connections after `upstream_idle`, jargate configured with
/// `idle` (`None`: the default): every request of `clients` loops over the run answered 200,
/// each received once upstream; pooled connections were reused, and jargate closed idle ones.
async fn no_502_behind(
    upstream_idle: Duration,
    idle: Option<u64>,
    clients: usize,
    pause: Duration,
) {
    let up = IdleClosingUpstream::start(upstream_idle).await;
    let config = idle.map_or(String::new(), |ms| {
        format!("[upstream]\nidle_timeout_ms = {ms}\n")
    });
    let j = Jargate::start(up.addr, &config, default_clients()).await;
    let got = drive(j.proxy_addr(), clients, pause, Duration::from_secs(14)).await;
    let text = scrape_metrics(j.admin_addr()).await;
    let stale = metric(&text, "jargate_upstream_stale_connections_total", &[])
        .expect("jargate_upstream_stale_connections_total is exported");
    let total = got.total();
    let counts = &up.counts;
    let (reused, by_proxy) = (
        counts.reused.load(Ordering::Relaxed),
        counts.closed_by_proxy.load(Ordering::Relaxed),
    );
    eprintln!(
        "{upstream_idle:?}: {:?} (status: count); upstream: {reused} on reused connections, \
         {by_proxy} closed idle by jargate, {} closed idle by itself, crossings {:?}; \
         {stale} stale pooled connections given up by jargate",
        got.0,
        counts.closed_idle.load(Ordering::Relaxed),
        counts.crossed.lock().expect("lock")
    );
    assert!(
        total >= 500,
        "{upstream_idle:?}: too few requests to judge: {:?}",
        got.0
    );
    // A 502 is only acceptable for a request that crossed the upstream's close (the upstream's
    // timer and jargate's write in the same instant: with `idle_timeout_ms` well below the
    // upstream's, only a host starved for tens of ms, as a loaded test machine is, gets there).
    let crossed = counts.crossed.lock().expect("lock").clone();
    let late: Vec<_> = crossed.iter().filter(|d| **d >= CROSSING).collect();
    assert!(
        late.is_empty(),
        "{upstream_idle:?}: requests written into a connection the upstream had closed: {late:?}"
    );
    let failed = total - got.0.get(&200).copied().unwrap_or(0);
    assert!(
        failed <= crossed.len(),
        "{upstream_idle:?}: every valid token request must be answered 200 unless it crossed the \
         upstream's close ({} did): (status: count) {:?}",
        crossed.len(),
        got.0
    );
    assert_eq!(
        counts.answered.load(Ordering::Relaxed),
        total,
        "each sent upstream once"
    );
    assert!(
        reused > 0,
        "{upstream_idle:?}: no pooled connection was reused: the test proves nothing"
    );
    assert!(
        by_proxy > 0,
        "{upstream_idle:?}: jargate never closed an idle pooled connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_closing_idle_connections_after_100_ms_never_costs_a_502() {
    // Pauses of 0-200 ms: pooled connections are reused, and reach 100 ms of idleness often.
    // jargate's idle timeout well below the upstream's: a loaded machine delays the release of
    // a connection to the pool after the upstream's answer, and the upstream's timer runs from
    // its answer.
    let (up_idle, pause) = (Duration::from_millis(100), Duration::from_millis(200));
    no_502_behind(up_idle, Some(10), 6, pause).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_closing_idle_connections_after_2_s_never_costs_a_502_with_the_default() {
    // The default idle_timeout_ms (1000) is below gunicorn's 2 s; pauses of 0-2.6 s.
    let (up_idle, pause) = (Duration::from_secs(2), Duration::from_millis(2600));
    no_502_behind(up_idle, None, 96, pause).await;
}

#[test]
fn idle_timeout_ms_must_be_a_positive_number_of_milliseconds() {
    let config = |idle: &str| {
        format!(
            "[upstream]\nurl = \"http://127.0.0.1:9\"\nidle_timeout_ms = {idle}\n\n[issuer]\n\
             identifier = \"{ISSUER}\"\n\n[clients]\nfile = \"clients.json\"\n"
        )
    };
    let clients = default_clients().to_string();
    let ok = ConfigDir::with_files(&config("1500"), &clients).check();
    assert_eq!(ok.code, 0, "{}", ok.output());
    for (idle, expected) in [
        ("0", "timeouts must be positive"),
        ("-1", "idle_timeout_ms"),
        ("\"1s\"", "idle_timeout_ms"),
    ] {
        let refused = ConfigDir::with_files(&config(idle), &clients).check();
        assert_eq!(refused.code, 1, "{idle}: {}", refused.output());
        assert!(
            refused.stderr.contains(expected),
            "{idle}: error lacks {expected:?}: {}",
            refused.stderr
        );
    }
}
