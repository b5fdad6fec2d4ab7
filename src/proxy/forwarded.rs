//! `X-Forwarded-For`, `-Proto` and `-Host` towards the upstream (`listen.forwarded_for`,
//! SPEC §8): `append` adds the peer to `X-Forwarded-For` and sets the other two when the client
//! sent none; `replace` drops all three as sent first; `off` leaves them untouched.

use crate::config::settings::ForwardedFor;
use pingora::http::RequestHeader;
use std::net::IpAddr;

const FOR: &str = "x-forwarded-for";
const PROTO: &str = "x-forwarded-proto";
const HOST: &str = "x-forwarded-host";

/// Rewrites the forwarded headers of the upstream request.
pub fn apply(
    policy: ForwardedFor,
    upstream: &mut RequestHeader,
    peer: Option<IpAddr>,
    https: bool,
) -> pingora::Result<()> {
    if policy == ForwardedFor::Off {
        return Ok(());
    }
    if policy == ForwardedFor::Replace {
        for name in [FOR, PROTO, HOST] {
            upstream.remove_header(name);
        }
    }
    let host = upstream
        .headers
        .get(http::header::HOST)
        .cloned()
        .or_else(|| {
            let authority = upstream.uri.authority()?;
            http::HeaderValue::from_str(authority.as_str()).ok()
        });
    if let Some(peer) = peer {
        // The values as sent, joined, then the peer: one header line.
        let mut value = Vec::with_capacity(48);
        for sent in upstream.headers.get_all(FOR) {
            value.extend_from_slice(sent.as_bytes());
            value.extend_from_slice(b", ");
        }
        // Writing into a Vec cannot fail.
        let _ = std::io::Write::write_fmt(&mut value, format_args!("{peer}"));
        upstream.insert_header(FOR, value)?;
    }
    if !upstream.headers.contains_key(PROTO) {
        upstream.insert_header(PROTO, if https { "https" } else { "http" })?;
    }
    if let Some(host) = host {
        if !upstream.headers.contains_key(HOST) {
            upstream.insert_header(HOST, host)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/userinfo", None).expect("request");
        req.insert_header("host", "login.example.com")
            .expect("host");
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).expect("header");
        }
        req
    }

    fn values(req: &RequestHeader, name: &str) -> Vec<String> {
        req.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    const PEER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    #[test]
    fn append_adds_the_peer_and_keeps_what_was_sent() {
        let mut req = request(&[(FOR, "203.0.113.1"), (FOR, "10.0.0.1"), (PROTO, "https")]);
        apply(ForwardedFor::Append, &mut req, PEER, false).expect("apply");
        assert_eq!(values(&req, FOR), ["203.0.113.1, 10.0.0.1, 192.0.2.7"]);
        assert_eq!(values(&req, PROTO), ["https"]);
        assert_eq!(values(&req, HOST), ["login.example.com"]);
    }

    #[test]
    fn replace_drops_what_was_sent() {
        let mut req = request(&[(FOR, "203.0.113.1"), (PROTO, "https"), (HOST, "evil")]);
        apply(ForwardedFor::Replace, &mut req, PEER, false).expect("apply");
        assert_eq!(values(&req, FOR), ["192.0.2.7"]);
        assert_eq!(values(&req, PROTO), ["http"]);
        assert_eq!(values(&req, HOST), ["login.example.com"]);
    }

    #[test]
    fn off_leaves_them_alone() {
        let mut req = request(&[(FOR, "203.0.113.1")]);
        apply(ForwardedFor::Off, &mut req, PEER, true).expect("apply");
        assert_eq!(values(&req, FOR), ["203.0.113.1"]);
        assert!(values(&req, PROTO).is_empty());
        assert!(values(&req, HOST).is_empty());
    }
}
