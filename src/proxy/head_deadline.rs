//! `listen.header_timeout_ms`: the whole request head must arrive within this much time of
//! its first byte, however slowly the client trickles it (Pingora only bounds each read, so a
//! byte a minute keeps a connection forever).
//!
//! Pingora 0.9 reads the request head before any `ProxyHttp` hook runs and offers no deadline
//! for it, so the bound is kept one layer down: every accepted HTTP/1 connection's stream is
//! wrapped ([`HeadDeadline`] is the `ServerApp` that wraps it, then hands the connection to
//! Pingora's proxy unchanged). The wrapper watches the bytes it passes through:
//! * idle (connection start, or after a response was written): no deadline of its own (the
//!   keep-alive and read timeouts of Pingora apply);
//! * the first byte of a request arms the deadline, which holds until the end of the head (an
//!   empty line) has been read;
//! * past the deadline the read fails: jargate writes `408 Request Timeout` when the socket
//!   takes it at once, and Pingora closes the connection. Counted in
//!   `jargate_client_timeouts_total{phase="header"}`.
//!
//! HTTP/2 connections (ALPN `h2`) are not wrapped: their frames are not request heads.

use crate::app::App;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType, ALPN,
};
use pingora::server::ShutdownWatch;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\
                                 Connection: close\r\n\r\n";

/// Wraps each accepted connection of `inner` (Pingora's HTTP proxy) in a [`DeadlineStream`].
pub struct HeadDeadline<A> {
    inner: Arc<A>,
    app: Arc<App>,
}

impl<A> HeadDeadline<A> {
    pub fn new(inner: A, app: Arc<App>) -> HeadDeadline<A> {
        HeadDeadline {
            inner: Arc::new(inner),
            app,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for HeadDeadline<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return self.inner.process_new(stream, shutdown).await;
        }
        // Read per connection, so that a reload changes it for new connections.
        let ms = self.app.snapshot().settings.listen.header_timeout_ms;
        let wrapped = DeadlineStream::new(stream, Duration::from_millis(ms), self.app.clone());
        self.inner.process_new(Box::new(wrapped), shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: no deadline here.
    Idle,
    /// Inside a request head; `tail` holds its last two bytes (an end split across reads).
    Head { tail: [u8; 2] },
    /// The head is complete; the body (if any) and the response follow.
    Done,
    /// The deadline passed: every further read fails.
    Expired,
}

/// A stream that fails reads once a request head takes longer than `limit`.
pub struct DeadlineStream {
    inner: Stream,
    limit: Duration,
    phase: Phase,
    sleep: Pin<Box<Sleep>>,
    app: Arc<App>,
}

impl std::fmt::Debug for DeadlineStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineStream")
            .field("inner", &self.inner)
            .field("phase", &self.phase)
            .finish()
    }
}

impl DeadlineStream {
    fn new(inner: Stream, limit: Duration, app: Arc<App>) -> DeadlineStream {
        DeadlineStream {
            inner,
            limit,
            phase: Phase::Idle,
            sleep: Box::pin(tokio::time::sleep(limit)),
            app,
        }
    }

    /// Follows the head through the bytes just read.
    fn observe(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.phase == Phase::Idle {
            self.sleep.as_mut().reset(Instant::now() + self.limit);
            self.phase = Phase::Head { tail: [0, 0] };
        }
        if let Phase::Head { tail } = self.phase {
            self.phase = match head_end(tail, bytes) {
                true => Phase::Done,
                false => Phase::Head {
                    tail: last_two(tail, bytes),
                },
            };
        }
    }

    /// The deadline passed: a best-effort 408 (one non-blocking write), counted once.
    fn expire(&mut self, cx: &mut Context<'_>) -> io::Error {
        self.phase = Phase::Expired;
        self.app
            .metrics
            .client_timeouts
            .with_label_values(&["header"])
            .inc();
        tracing::info!(phase = "header", "client too slow: request head timed out");
        let inner = Pin::new(&mut self.inner);
        if let Poll::Ready(Ok(n)) = inner.poll_write(cx, REQUEST_TIMEOUT) {
            if n == REQUEST_TIMEOUT.len() {
                let _ = Pin::new(&mut self.inner).poll_flush(cx);
            }
        }
        timed_out()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "request head timed out")
}

/// Whether the end of a head (a line feed, an optional carriage return, a line feed) is in
/// `bytes`, given the two bytes that came before them.
fn head_end(tail: [u8; 2], bytes: &[u8]) -> bool {
    let mut prev = tail;
    for &b in bytes {
        if b == b'\n' && (prev[1] == b'\n' || (prev[1] == b'\r' && prev[0] == b'\n')) {
            return true;
        }
        prev = [prev[1], b];
    }
    false
}

fn last_two(tail: [u8; 2], bytes: &[u8]) -> [u8; 2] {
    match bytes {
        [.., a, b] => [*a, *b],
        [b] => [tail[1], *b],
        [] => tail,
    }
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.phase {
            Phase::Expired => return Poll::Ready(Err(timed_out())),
            // Polling the timer also registers this task to be woken at the deadline, should
            // the read below be pending.
            Phase::Head { .. } if this.sleep.as_mut().poll(cx).is_ready() => {
                return Poll::Ready(Err(this.expire(cx)));
            }
            _ => {}
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let filled = buf.filled();
            this.observe(&filled[before..]);
        }
        polled
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        // A response being written ends the request (an interim 1xx does not): the next byte
        // read starts a new head.
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0)
            && !buf.starts_with(b"HTTP/1.1 1")
            && this.phase != Phase::Expired
        {
            this.phase = Phase::Idle;
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty()).map(|b| &b[..]);
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        let interim = first.is_some_and(|b| b.starts_with(b"HTTP/1.1 1"));
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) && !interim && self.phase != Phase::Expired
        {
            self.phase = Phase::Idle;
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

// Everything else Pingora asks of a stream is the wrapped stream's.

#[async_trait]
impl Shutdown for DeadlineStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for DeadlineStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for DeadlineStream {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for DeadlineStream {
    fn get_timing_digest(&self) -> Vec<Option<pingora::protocols::TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for DeadlineStream {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: pingora::protocols::raw_connect::ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for DeadlineStream {
    fn get_socket_digest(&self) -> Option<Arc<pingora::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: pingora::protocols::SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for DeadlineStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_is_found_across_reads_and_line_endings() {
        assert!(head_end([0, 0], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(head_end([0, 0], b"GET / HTTP/1.1\nHost: a\n\n"));
        assert!(!head_end([0, 0], b"GET / HTTP/1.1\r\nHost: a\r\n"));
        assert!(head_end(*b"\r\n", b"\r\n"));
        assert!(head_end([b'\r', b'\n'], b"\r\nbody"));
        assert!(head_end([b'\n', b'\r'], b"\n"));
        assert_eq!(last_two([1, 2], b"x"), [2, b'x']);
        assert_eq!(last_two([1, 2], b"xyz"), [b'y', b'z']);
    }
}
