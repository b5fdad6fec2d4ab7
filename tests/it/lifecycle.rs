//! Process lifecycle (SPEC §8) through the real process and real signals: `SIGTERM` fails
//! readiness at once, keeps serving for `listen.drain_delay_secs` with `Connection: close`,
//! then stops accepting, lets the requests in flight finish and exits 0 as soon as idle;
//! `SIGINT` exits at once under load; `SIGQUIT` hands the sockets to `serve --upgrade`.

use crate::common::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An upstream that answers every request after `delay`.
async fn slow_upstream(delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let body = "{\"ok\":true}";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_zero() {
    let upstream = slow_upstream(Duration::from_millis(1500)).await;
    // No drain delay: the listeners close at once; in flight gets `read_timeout_ms` + 1 s.
    let config = "[listen]\ndrain_delay_secs = 0\n[upstream]\nread_timeout_ms = 2000\n";
    let mut jargate = Jargate::start(upstream, config, default_clients()).await;
    let proxy = jargate.proxy_addr();
    let in_flight = tokio::spawn(async move { get(proxy, "/userinfo").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(jargate.pid(), "TERM");
    // New connections are no longer accepted...
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(proxy).await.is_err(),
        "the proxy still accepts connections after SIGTERM"
    );
    // ...while the one in flight is answered.
    let response = in_flight.await.expect("request task");
    assert_eq!(response.status, 200, "the request in flight was cut off");

    let exit = wait_exit(&mut jargate, Duration::from_secs(15)).await;
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

/// Waits for the process to exit; panics after `limit`.
async fn wait_exit(jargate: &mut Jargate, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(exit) = jargate.exit_status() {
            return exit;
        }
        assert!(
            Instant::now() < deadline,
            "jargate did not exit within {limit:?}:\n{}",
            jargate.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sigterm_fails_readiness_at_once_serves_with_connection_close_and_exits_when_idle() {
    let (_upstream, mut jargate) =
        start_with("[listen]\ndrain_delay_secs = 2\n", default_clients()).await;
    let (proxy, admin) = (jargate.proxy_addr(), jargate.admin_addr());
    assert_eq!(get(admin, "/readyz").await.status, 200);
    let before = get(proxy, "/userinfo").await;
    assert_eq!(before.status, 200);

    let sent = Instant::now();
    signal(jargate.pid(), "TERM");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let ready = get(admin, "/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(
        get(admin, "/healthz").await.status,
        200,
        "liveness must hold"
    );
    // Still served, both forwarded and refused answers, each closing its connection.
    let keep_alive = [("Connection", "keep-alive")];
    let forwarded = request(proxy, "GET", "/userinfo", &keep_alive, b"").await;
    assert_eq!(forwarded.status, 200);
    assert_eq!(forwarded.header("connection"), Some("close"));
    let refused = request(proxy, "GET", "/oauth/token", &keep_alive, b"").await;
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("connection"), Some("close"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        get(proxy, "/userinfo").await.status,
        200,
        "served during the drain"
    );

    let exit = wait_exit(&mut jargate, Duration::from_secs(10)).await;
    let took = sent.elapsed();
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    // Drain delay + a moment: not Pingora's whole grace period (read_timeout_ms + 1 s).
    assert!(took < Duration::from_millis(3500), "exit took {took:?}");
    assert!(
        took >= Duration::from_secs(2),
        "exited before the drain ended: {took:?}"
    );
}

/// One keep-alive client sending `GET /userinfo` back to back until `stop`; it reconnects
/// whenever an answer says `Connection: close`, until `reconnect_until` (the end of the drain:
/// by then a load balancer has stopped sending it here, SPEC §8). Returns (answered, lost): a
/// request written on an open connection, or on one opened during the drain, that got no
/// complete answer is lost.
async fn keep_alive_client(
    proxy: SocketAddr,
    stop: Instant,
    reconnect_until: Arc<std::sync::Mutex<Option<Instant>>>,
) -> (usize, Vec<String>) {
    let raw = format!("GET /userinfo HTTP/1.1\r\nHost: {proxy}\r\n\r\n");
    let (mut answered, mut lost) = (0, Vec::new());
    let may_reconnect = || {
        let until = *reconnect_until.lock().expect("lock");
        until.is_none_or(|t| Instant::now() < t)
    };
    'connections: while Instant::now() < stop && may_reconnect() {
        let mut stream = match tokio::net::TcpStream::connect(proxy).await {
            Ok(stream) => stream,
            Err(e) => {
                lost.push(format!("connect: {e}"));
                break;
            }
        };
        let mut served = 0;
        loop {
            if Instant::now() >= stop {
                break 'connections;
            }
            if let Err(e) = stream.write_all(raw.as_bytes()).await {
                lost.push(format!("write: {e}"));
                continue 'connections;
            }
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let response = loop {
                if let Some(parsed) = parse_response(&buf, false) {
                    break parsed;
                }
                match tokio::time::timeout(CALL_TIMEOUT, stream.read(&mut chunk)).await {
                    Ok(Ok(0)) => break Err("EOF before an answer".to_string()),
                    Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                    Ok(Err(e)) => break Err(format!("read: {e}")),
                    Err(_) => break Err("no answer".to_string()),
                }
            };
            match response {
                Ok(r) if r.status == 200 => {
                    answered += 1;
                    served += 1;
                    if r.header("connection") == Some("close") {
                        continue 'connections;
                    }
                }
                Ok(r) => {
                    lost.push(format!("status {}", r.status));
                    continue 'connections;
                }
                Err(e) => {
                    lost.push(format!("{e} (after {served} answers on this connection)"));
                    continue 'connections;
                }
            }
        }
    }
    (answered, lost)
}

#[tokio::test]
async fn keep_alive_clients_sending_through_sigterm_lose_no_request() {
    let (_upstream, mut jargate) =
        start_with("[listen]\ndrain_delay_secs = 2\n", default_clients()).await;
    let proxy = jargate.proxy_addr();
    let stop = Instant::now() + Duration::from_secs(5);
    let reconnect_until = Arc::new(std::sync::Mutex::new(None));
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(keep_alive_client(proxy, stop, reconnect_until.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(jargate.pid(), "TERM");
    // The clients stop opening connections a little before the drain ends; the connections
    // they have keep sending until their answer says `Connection: close`.
    *reconnect_until.lock().expect("lock") = Some(Instant::now() + Duration::from_millis(1800));
    let mut answered = 0;
    let mut lost = Vec::new();
    for client in clients {
        let (a, l) = client.await.expect("client task");
        answered += a;
        lost.extend(l);
    }
    assert!(answered > 20, "only {answered} answers");
    assert!(
        lost.is_empty(),
        "{} lost of {answered}: {lost:?}",
        lost.len()
    );
    let exit = wait_exit(&mut jargate, Duration::from_secs(10)).await;
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

#[tokio::test]
async fn sigint_under_load_exits_at_once() {
    let upstream = slow_upstream(Duration::from_secs(30)).await;
    let mut jargate = Jargate::start(
        upstream,
        "[upstream]\nread_timeout_ms = 30000\n",
        default_clients(),
    )
    .await;
    let proxy = jargate.proxy_addr();
    let load: Vec<_> = (0..64)
        .map(|_| {
            tokio::spawn(async move {
                try_send_raw(
                    proxy,
                    b"GET /userinfo HTTP/1.1\r\nHost: x\r\n\r\n",
                    Duration::from_secs(20),
                )
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = Instant::now();
    signal(jargate.pid(), "INT");
    let exit = wait_exit(&mut jargate, Duration::from_secs(3)).await;
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    for task in load {
        task.abort();
    }
    let stderr = jargate.stderr();
    assert!(
        !stderr.contains("Accept() failed"),
        "an accept loop spun after shutdown:\n{stderr}"
    );
}

/// Kills the upgrading process at the end of the test, whatever happens.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn graceful_upgrade_hands_the_sockets_over_without_refusing_a_connection() {
    let upstream = StubUpstream::start().await;
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let sock = sock_dir.path().join("upgrade.sock");
    let sock = sock.to_str().expect("utf-8 path");
    let mut old = Jargate::try_start_with(
        upstream.addr(),
        "",
        default_clients(),
        &["--upgrade-sock", sock],
    )
    .await
    .expect("start");
    let proxy = old.proxy_addr();

    // A client opening a new connection per request, all along the hand-over.
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let hammer = {
        let running = running.clone();
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0usize, Vec::new());
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                match try_send_raw(
                    proxy,
                    b"GET /userinfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    CALL_TIMEOUT,
                )
                .await
                {
                    Ok(r) if r.status == 200 => ok += 1,
                    Ok(r) => failed.push(format!("status {}", r.status)),
                    Err(e) => failed.push(e),
                }
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let new_stderr = std::fs::File::create(old.dir().join("new.stderr")).expect("stderr file");
    let _new = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_jargate"))
            .args(["serve", "--upgrade", "--upgrade-sock", sock, "--config"])
            .arg(old.config_path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(new_stderr)
            .spawn()
            .expect("spawn the new process"),
    );
    // The new process waits for the sockets on `sock`.
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(old.pid(), "QUIT");
    // The old process keeps accepting 5 s (Pingora's close timeout), then exits once idle.
    let exit = wait_exit(&mut old, Duration::from_secs(15)).await;
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = hammer.await.expect("hammer");
    let new_log = std::fs::read_to_string(old.dir().join("new.stderr")).unwrap_or_default();
    assert!(
        failed.is_empty(),
        "{} failed of {ok}: {failed:?}\nnew process:\n{new_log}",
        failed.len()
    );
    assert!(ok > 50, "only {ok} answers");
    // Served by the new process alone now.
    assert_eq!(get(proxy, "/userinfo").await.status, 200, "{new_log}");
}

#[tokio::test]
async fn an_upgrade_with_no_process_to_take_over_from_fails_loudly() {
    let upstream = StubUpstream::start().await;
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let sock = sock_dir.path().join("upgrade.sock");
    let err = Jargate::try_start_with(
        upstream.addr(),
        "",
        default_clients(),
        &[
            "--upgrade",
            "--upgrade-sock",
            sock.to_str().expect("utf-8 path"),
        ],
    )
    .await
    .err()
    .expect("an upgrade without an old process started");
    assert!(err.contains("exited with exit status: 1"), "{err}");
    // Written before the process ended, not left in the log buffer.
    assert!(err.contains("Bootstrap failed"), "{err}");
}
