//! The request target (RFC 9112 §3.2) as jargate classifies it. Only origin form (`/path?q`)
//! and absolute form (`http(s)://authority/path?q`) are accepted; every other spelling
//! (`foo:/oauth/token`, `oauth/token`, `*` outside OPTIONS) is read as a path by some server
//! stack (Go's `ParseRequestURI`, gunicorn, Puma, Werkzeug) while an HTTP library reads it as
//! something else, so it is refused on every path. An absolute-form target goes upstream in
//! origin form: the upstream routes on exactly the path that was classified.

use crate::reject::RequestFault;
use http::Method;

/// A request target that every server reads the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The path, as sent (`*` for the asterisk form).
    pub path: &'a str,
    /// The query string without `?`, when there is one.
    pub query: Option<&'a str>,
    /// Path and query in origin form, when the client sent another form (absolute form).
    pub rewritten: Option<&'a str>,
}

impl Target<'_> {
    /// `OPTIONS *`: names the server, not a resource.
    pub fn is_asterisk(&self) -> bool {
        self.path == "*"
    }
}

/// Reads a raw request target (the bytes of the request line).
pub fn parse<'a>(raw: &'a [u8], method: &Method) -> Result<Target<'a>, RequestFault> {
    // RFC 9112 §3.2: visible ASCII only; a fragment is never part of a target.
    if raw.is_empty() || raw.iter().any(|b| !b.is_ascii_graphic() || *b == b'#') {
        return Err(RequestFault::RequestTarget);
    }
    let text = std::str::from_utf8(raw).map_err(|_| RequestFault::RequestTarget)?;
    if text == "*" {
        return if method == Method::OPTIONS {
            Ok(Target {
                path: text,
                query: None,
                rewritten: None,
            })
        } else {
            Err(RequestFault::RequestTarget)
        };
    }
    if text.starts_with('/') {
        let (path, query) = split_query(text);
        return Ok(Target {
            path,
            query,
            rewritten: None,
        });
    }
    let rest = strip_prefix_ignore_case(text, "http://")
        .or_else(|| strip_prefix_ignore_case(text, "https://"))
        .ok_or(RequestFault::RequestTarget)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, origin) = rest.split_at(end);
    // No user info: servers disagree on where an authority with `@` ends.
    if authority.is_empty() || authority.contains('@') || !origin.starts_with('/') {
        return Err(RequestFault::RequestTarget);
    }
    let (path, query) = split_query(origin);
    Ok(Target {
        path,
        query,
        rewritten: Some(origin),
    })
}

fn split_query(text: &str) -> (&str, Option<&str>) {
    match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (text, None),
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_and_absolute_forms_are_read() {
        let t = parse(b"/oauth/token?a=1", &Method::POST).unwrap();
        assert_eq!(
            (t.path, t.query, t.rewritten),
            ("/oauth/token", Some("a=1"), None)
        );
        let t = parse(b"HTTP://as.example/oauth/token?x", &Method::POST).unwrap();
        assert_eq!(
            (t.path, t.query, t.rewritten),
            ("/oauth/token", Some("x"), Some("/oauth/token?x"))
        );
        assert!(parse(b"*", &Method::OPTIONS).unwrap().is_asterisk());
    }

    #[test]
    fn every_other_form_is_refused() {
        for raw in [
            &b"foo:/oauth/token"[..],
            b"oauth/token",
            b"*",
            b"http:/oauth/token",
            b"http://",
            b"http://as.example",
            b"http://as.example?x=1",
            b"http://user@as.example/oauth/token",
            b"ftp://as.example/oauth/token",
            b"/oauth/token#frag",
            b"/oauth/\xfftoken",
            b"",
        ] {
            assert_eq!(
                parse(raw, &Method::POST),
                Err(RequestFault::RequestTarget),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
