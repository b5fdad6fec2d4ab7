//! Process lifecycle (SPEC §8): `SIGTERM` stops accepting, lets the request in flight finish,
//! and exits 0.

mod common;

use common::*;
use std::net::SocketAddr;
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
    // The drain lasts `read_timeout_ms` + 1 s: keep it short for the test.
    let config = "[upstream]\nread_timeout_ms = 2000\n";
    let mut jargate = Jargate::start(upstream, config, default_clients()).await;
    let proxy = jargate.proxy_addr();
    let in_flight = tokio::spawn(async move { get(proxy, "/userinfo").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &jargate.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    // New connections are no longer accepted...
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(proxy).await.is_err(),
        "the proxy still accepts connections after SIGTERM"
    );
    // ...while the one in flight is answered.
    let response = in_flight.await.expect("request task");
    assert_eq!(response.status, 200, "the request in flight was cut off");

    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = jargate.exit_status() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "jargate did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}
