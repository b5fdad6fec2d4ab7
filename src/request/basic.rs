//! `Authorization: Basic` (RFC 7617, with RFC 6749 §2.3.1's form-encoded id and secret), read
//! once for the whole program. The scheme is matched case-insensitively and may be followed by
//! any whitespace, as servers accept it; the credentials must be strict padded base64 of
//! `id:secret`, so that jargate never misses or misreads the client a Basic-first server
//! authenticates.

use super::params::form_decode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The header's scheme is Basic, whatever its credentials.
pub fn is_basic(header: &[u8]) -> bool {
    header
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"basic"))
        && header.get(5).is_none_or(|b| is_space(*b))
}

/// The client id of a Basic header: `Ok(None)` for another scheme, `Err` when the
/// credentials do not decode.
pub fn client_id(header: &[u8]) -> Result<Option<String>, MalformedBasic> {
    if !is_basic(header) {
        return Ok(None);
    }
    let credentials = header.get(5..).unwrap_or_default();
    let credentials = credentials.trim_ascii_start();
    let credentials = credentials.trim_ascii_end();
    let decoded = STANDARD.decode(credentials).map_err(|_| MalformedBasic)?;
    let colon = decoded
        .iter()
        .position(|b| *b == b':')
        .ok_or(MalformedBasic)?;
    let (id, secret) = decoded.split_at(colon);
    let id = form_decode(id).map_err(|_| MalformedBasic)?;
    form_decode(&secret[1..]).map_err(|_| MalformedBasic)?;
    if id.is_empty() {
        return Err(MalformedBasic);
    }
    Ok(Some(id))
}

/// Basic credentials that are not base64 of `id:secret` (answered `invalid_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedBasic;

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(scheme: &str, text: &str) -> Vec<u8> {
        format!("{scheme}{}", STANDARD.encode(text)).into_bytes()
    }

    #[test]
    fn basic_headers_name_their_client() {
        assert_eq!(
            client_id(&basic("Basic ", "app%2D1:s")),
            Ok(Some("app-1".into()))
        );
        assert_eq!(
            client_id(&basic("bAsIc\t", "app-1:s")),
            Ok(Some("app-1".into()))
        );
        assert_eq!(
            client_id(&basic("Basic   ", "app-1:")),
            Ok(Some("app-1".into()))
        );
        // `+` is a space before `%` escapes are decoded: `%2B` stays a plus.
        assert_eq!(
            client_id(&basic("Basic ", "a+b%2Bc:s")),
            Ok(Some("a b+c".into()))
        );
        assert_eq!(client_id(b"Bearer x"), Ok(None));
        assert_eq!(client_id(b"Basically x"), Ok(None));
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let unpadded = STANDARD.encode("app-1:se").trim_end_matches('=').to_owned();
        for header in [
            b"Basic !!!".to_vec(),
            b"Basic".to_vec(),
            b"Basic ".to_vec(),
            format!("Basic {unpadded}").into_bytes(),
            basic("Basic ", "no-colon"),
            basic("Basic ", ":secret"),
            basic("Basic ", "app%zz:secret"),
            basic("Basic ", "app:%zz"),
        ] {
            assert_eq!(
                client_id(&header),
                Err(MalformedBasic),
                "{}",
                String::from_utf8_lossy(&header)
            );
        }
    }
}
