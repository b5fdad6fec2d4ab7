//! `htu` (RFC 9449 §4.3 check 9): the proof names this endpoint at an origin jargate is
//! configured with, compared after RFC 3986 §6.2.2–6.2.3 normalisation: scheme and host case,
//! the default port, percent-encoding of unreserved characters and hex case, dot segments, an
//! empty path; query and fragment are ignored. The origin never comes from the request's
//! `Host` or `X-Forwarded-*` headers (a client controls those).

use crate::config::dpop::HtuOrigin;
use std::borrow::Cow;

/// Whether `htu` names `path` at one of `origins`.
pub fn matches(htu: &str, origins: &[HtuOrigin], path: &str) -> bool {
    let Ok(url) = url::Url::parse(htu) else {
        return false;
    };
    // A user name or password in htu is no URI a client reaches this endpoint by.
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let origin_ok = origins
        .iter()
        .any(|o| o.scheme == url.scheme() && o.port == port && o.host.eq_ignore_ascii_case(host));
    origin_ok && normal_path(url.path()) == normal_path(path)
}

/// Percent-encoding normalisation (RFC 3986 §6.2.2.1–6.2.2.2): escapes of unreserved
/// characters decoded, the others' hex digits in upper case.
fn normal_path(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escape = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h << 4) | l),
            _ => None,
        };
        match escape {
            Some(c) if c.is_ascii_alphanumeric() || b"-._~".contains(&c) => {
                out.push(char::from(c));
                i += 3;
            }
            Some(c) => {
                out.push_str(&format!("%{c:02X}"));
                i += 3;
            }
            None => {
                // `path` is a str and `b` an ASCII byte or part of a UTF-8 sequence copied whole.
                let len = utf8_len(b);
                out.push_str(path.get(i..i + len).unwrap_or_default());
                i += len;
            }
        }
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> Vec<HtuOrigin> {
        vec![HtuOrigin::parse("https://login.example.com/").unwrap()]
    }

    #[test]
    fn accepted_forms_of_the_same_uri() {
        for htu in [
            "https://login.example.com/oauth/token",
            "HTTPS://LOGIN.Example.COM/oauth/token",
            "https://login.example.com:443/oauth/token",
            "https://login.example.com/oauth/token?x=1",
            "https://login.example.com/oauth/token#frag",
            "https://login.example.com/oauth/%74oken",
            "https://login.example.com/oauth/./token",
        ] {
            assert!(matches(htu, &origins(), "/oauth/token"), "{htu}");
        }
    }

    #[test]
    fn other_uris_are_refused() {
        for htu in [
            "http://login.example.com/oauth/token",
            "https://login.example.com:8443/oauth/token",
            "https://evil.example.com/oauth/token",
            "https://login.example.com/oauth/par",
            "https://login.example.com/oauth/token/",
            "https://login.example.com/OAUTH/token",
            "https://user@login.example.com/oauth/token",
            "/oauth/token",
            "not a url",
            "",
        ] {
            assert!(!matches(htu, &origins(), "/oauth/token"), "{htu}");
        }
    }

    #[test]
    fn percent_escapes_of_reserved_characters_keep_their_meaning() {
        assert_eq!(normal_path("/a%2fb"), "/a%2Fb");
        assert_eq!(normal_path("/%7e%41"), "/~A");
        assert_eq!(normal_path("/é%zz"), "/é%zz");
    }
}
