//! Header rules on intercepted endpoints (SPEC §5 "No parser differential"). Where a header
//! appears twice, one server reads the first and another the last; a `Connection` header that
//! names another header makes a proxy drop that one after jargate decided; `Upgrade` turns the
//! connection into a tunnel that jargate no longer sees. All refused before the body is read.

use crate::reject::RequestFault;
use http::header::{self, HeaderMap, HeaderName};

/// Headers that decide how the body or the client is read: at most one of each.
const SINGLE: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::TRANSFER_ENCODING,
    header::AUTHORIZATION,
];

pub fn check(headers: &HeaderMap) -> Result<(), RequestFault> {
    for name in &SINGLE {
        if headers.get_all(name).iter().nth(1).is_some() {
            return Err(RequestFault::DuplicateHeader(name.as_str()));
        }
    }
    // The body is read after de-chunking only; any other coding would be read by jargate as
    // bytes it never decoded.
    if let Some(te) = headers.get(header::TRANSFER_ENCODING) {
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Err(RequestFault::FramingConflict);
        }
        if !te.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(RequestFault::ContentEncoding);
        }
    }
    for value in headers.get_all(header::CONNECTION) {
        let options = value.as_bytes().split(|b| *b == b',');
        for option in options.map(<[u8]>::trim_ascii) {
            if !(option.is_empty()
                || option.eq_ignore_ascii_case(b"close")
                || option.eq_ignore_ascii_case(b"keep-alive"))
            {
                return Err(RequestFault::ConnectionOption);
            }
        }
    }
    if headers.contains_key(header::UPGRADE) {
        return Err(RequestFault::Upgrade);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn ordinary_headers_pass() {
        let m = map(&[
            ("content-type", "application/x-www-form-urlencoded"),
            ("connection", "Keep-Alive"),
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
        ]);
        assert_eq!(check(&m), Ok(()));
    }

    #[test]
    fn repeats_nominations_and_upgrades_are_refused() {
        let cases = [
            (
                map(&[("content-type", "a/b"), ("content-type", "c/d")]),
                RequestFault::DuplicateHeader("content-type"),
            ),
            (
                map(&[("authorization", "Basic x"), ("authorization", "Basic y")]),
                RequestFault::DuplicateHeader("authorization"),
            ),
            (
                map(&[("connection", "keep-alive, Content-Type")]),
                RequestFault::ConnectionOption,
            ),
            (map(&[("upgrade", "websocket")]), RequestFault::Upgrade),
            (
                map(&[("transfer-encoding", "gzip, chunked")]),
                RequestFault::ContentEncoding,
            ),
            (
                map(&[("transfer-encoding", "chunked"), ("content-length", "4")]),
                RequestFault::FramingConflict,
            ),
        ];
        for (m, fault) in cases {
            assert_eq!(check(&m), Err(fault));
        }
    }
}
