//! Assertions about what a client sees (SPEC §6 error answers) and what the upstream received.

use super::{Recorded, Response, StubUpstream, STUB_RESPONSE};
use serde_json::Value;

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

/// The stub's answer came back, and the upstream has received exactly `nth + 1` requests;
/// returns the `nth` (0-based), whatever it became on the way.
pub fn relayed_nth(resp: &Response, upstream: &StubUpstream, nth: usize) -> Recorded {
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
        "upstream must have received exactly {} request(s), got {reqs:#?}",
        nth + 1
    );
    reqs[nth].clone()
}

/// [`relayed_nth`], and that request is `method path` with exactly `body`. Returns it.
pub fn assert_forwarded_nth(
    resp: &Response,
    upstream: &StubUpstream,
    nth: usize,
    method: &str,
    path: &str,
    body: &[u8],
) -> Recorded {
    let r = relayed_nth(resp, upstream, nth);
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
