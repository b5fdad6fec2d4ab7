//! A fault-injecting upstream over raw TCP: it reads each request whole, records its bytes,
//! then answers, or breaks the connection in the way a [`Fault`] names.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the upstream misbehaves.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// `200` with `Content-Length: 200`, 24 bytes of body, then a TCP reset.
    ResetMidBody,
    /// `200` with `Content-Length: 100`, 10 bytes of body, then a clean close (FIN).
    FinBeforeLength,
    /// The first request of each connection is answered (keep-alive); the second is read in
    /// full, then the connection is closed without an answer: a pooled connection that dies
    /// under the request it was reused for.
    DieOnReuse,
    /// Bytes that are not an HTTP response, then a close.
    Garbage,
}

/// The partial answer of [`Fault::ResetMidBody`] (the issue's example).
pub const PARTIAL_BODY: &str = r#"{"access_token":"partial"#;

pub struct FaultyUpstream {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl FaultyUpstream {
    pub async fn start(fault: Fault) -> FaultyUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let shared = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, fault, shared.clone()));
            }
        });
        FaultyUpstream {
            addr,
            requests,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, head and body, as sent.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().expect("lock").clone()
    }

    /// How many received requests contain `needle` (e.g. a signed token).
    pub fn count_containing(&self, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| contains(r, needle.as_bytes()))
            .count()
    }
}

impl Drop for FaultyUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

async fn serve(mut stream: TcpStream, fault: Fault, requests: Arc<Mutex<Vec<Vec<u8>>>>) {
    let mut served = 0usize;
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buf).await {
        requests.lock().expect("lock").push(request);
        served += 1;
        let done = match fault {
            Fault::ResetMidBody => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Content-Length: 200\r\n\r\n";
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(PARTIAL_BODY.as_bytes()).await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                // SO_LINGER 0: close sends RST instead of FIN (and, at zero, never blocks).
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                true
            }
            Fault::FinBeforeLength => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Content-Length: 100\r\n\r\n0123456789";
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                true
            }
            Fault::DieOnReuse if served == 1 => {
                let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                              Content-Length: 2\r\n\r\n{}";
                stream.write_all(answer.as_bytes()).await.is_err()
            }
            Fault::DieOnReuse => true,
            Fault::Garbage => {
                let _ = stream.write_all(b"HELLO THERE\r\n\r\n").await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                true
            }
        };
        if done {
            return;
        }
    }
}

/// Reads one request (head, then a `Content-Length` body) into its raw bytes; `None` at EOF.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf.drain(..head_end + length).collect())
}
