//! The last look at a pooled upstream connection before it carries a request (SPEC §3, §6).
//!
//! Pingora 0.9 checks a pooled connection when it takes it from the pool, through tokio's
//! readiness: on a busy runtime the upstream's FIN may have arrived without tokio having seen it
//! yet, and the request is then written into a connection the upstream has closed. An
//! intercepted request is never resent once a byte of it was written (§6), so that costs the
//! client a 502. Here the socket itself is asked, with a non-blocking `recv(MSG_PEEK)`, just
//! before the first byte is written (`connected_to_upstream`): a connection the upstream has
//! closed (end of stream, or reset) is dropped and the request goes out on another one. That is
//! a retry before any byte was sent, which §6 allows. Only requests that are never resent after
//! a failure take that look (intercepted ones, and passthrough requests with a method that is
//! not idempotent): Pingora resends the others itself on a reused connection that failed, and
//! they are spared the system call.
//!
//! Bytes waiting on an idle connection are left to Pingora's own check (which reads them through
//! TLS): on a TLS connection they may be a session ticket, not a sign of death.

use pingora::prelude::*;
use std::os::unix::io::RawFd;

/// Whether the upstream has closed (or reset) the connection on `fd`: a non-blocking peek of
/// one byte that sees the end of the stream or an error other than "nothing to read yet".
pub fn peer_closed(fd: RawFd) -> bool {
    use nix::errno::Errno;
    use nix::sys::socket::{recv, MsgFlags};
    let mut byte = [0u8; 1];
    match recv(fd, &mut byte, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT) {
        Ok(0) => true,
        Ok(_) => false,
        Err(Errno::EAGAIN | Errno::EINTR) => false,
        Err(_) => true,
    }
}

/// What `connected_to_upstream` fails a request with when its pooled connection is closed: no
/// byte was written, so it is retried on another connection (see `is_stale`).
const STALE: &str = "pooled upstream connection closed by the upstream";

pub fn stale_error() -> Box<Error> {
    let mut e = Error::explain(ErrorType::ConnectionClosed, STALE);
    e.set_retry(true);
    e
}

/// Whether `e` is [`stale_error`]: its retry stands whatever the request (nothing was sent).
pub fn is_stale(e: &Error) -> bool {
    e.etype == ErrorType::ConnectionClosed
        && e.context.as_ref().is_some_and(|c| c.as_str() == STALE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::io::AsRawFd;

    #[test]
    fn an_open_idle_connection_is_not_closed_and_a_closed_one_is() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        assert!(!peer_closed(client.as_raw_fd()), "open and idle");
        // Unread bytes are not a close: Pingora's own check judges them.
        server.write_all(b"x").expect("write");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!peer_closed(client.as_raw_fd()), "bytes waiting");
        drop(server);
        std::thread::sleep(std::time::Duration::from_millis(20));
        // The byte is still there, then the end: a peek sees the byte first.
        let mut buf = [0u8; 1];
        std::io::Read::read(&mut &client, &mut buf).expect("read the byte");
        assert!(peer_closed(client.as_raw_fd()), "closed by the peer");
    }

    #[test]
    fn the_stale_error_is_recognised_and_retryable() {
        let e = stale_error();
        assert!(is_stale(&e) && e.retry());
        assert!(!is_stale(&Error::explain(
            ErrorType::ConnectionClosed,
            "other"
        )));
    }
}
