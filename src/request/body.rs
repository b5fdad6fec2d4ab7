//! The body's media type on intercepted endpoints: form or JSON, UTF-8, not content-encoded.

use crate::reject::RequestFault;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Form,
    Json,
    /// No `Content-Type` and an empty body.
    None,
}

/// Decides how to read a body from its `Content-Type` and `Content-Encoding` headers.
pub fn body_kind(
    content_type: Option<&[u8]>,
    content_encoding: Option<&[u8]>,
    body_is_empty: bool,
) -> Result<BodyKind, RequestFault> {
    if content_encoding.is_some_and(|e| !e.trim_ascii().eq_ignore_ascii_case(b"identity")) {
        return Err(RequestFault::ContentEncoding);
    }
    let Some(content_type) = content_type else {
        return if body_is_empty {
            Ok(BodyKind::None)
        } else {
            Err(RequestFault::UnsupportedMediaType)
        };
    };
    let text = std::str::from_utf8(content_type).map_err(|_| RequestFault::UnsupportedMediaType)?;
    let (essence, parameters) = text.split_once(';').unwrap_or((text, ""));
    let kind = match essence
        .trim_matches([' ', '\t'])
        .to_ascii_lowercase()
        .as_str()
    {
        "application/x-www-form-urlencoded" => BodyKind::Form,
        "application/json" => BodyKind::Json,
        _ => return Err(RequestFault::UnsupportedMediaType),
    };
    let mut charset_seen = false;
    for (name, value) in media_parameters(parameters)? {
        // `charset*` (RFC 2231) and every other parameter may mean something to another parser
        // (Django maps `charset*` to the charset): only one plain `charset` is allowed.
        if !name.eq_ignore_ascii_case("charset") || charset_seen {
            return Err(RequestFault::MediaTypeParameter);
        }
        charset_seen = true;
        if !value.eq_ignore_ascii_case("utf-8") {
            return Err(RequestFault::UnsupportedCharset);
        }
    }
    Ok(kind)
}

/// The `name=value` parameters after the first `;` of a media type, as RFC 9110 §5.6.6 says:
/// `*( OWS ";" OWS [ token "=" ( token / quoted-string ) ] )`; quoted values are unescaped.
fn media_parameters(text: &str) -> Result<Vec<(&str, String)>, RequestFault> {
    let bad = RequestFault::MediaTypeParameter;
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return Ok(out);
        }
        if let Some(after) = rest.strip_prefix(';') {
            rest = after;
            continue;
        }
        let name_end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        let after = after.strip_prefix('=').ok_or(bad.clone())?;
        if name.is_empty() {
            return Err(bad);
        }
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            unquote(quoted).ok_or(bad.clone())?
        } else {
            let end = after.find(|c: char| !is_tchar(c)).unwrap_or(after.len());
            if end == 0 {
                return Err(bad);
            }
            (after[..end].to_owned(), &after[end..])
        };
        out.push((name, value));
        rest = after.trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with(';')) {
            return Err(bad);
        }
    }
}

/// A quoted-string body after its opening quote: the value and what follows the closing quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c if c == '\t' || (' '..='~').contains(&c) => value.push(c),
            _ => return None,
        }
    }
    None
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_matched_case_insensitively_with_parameters() {
        for ct in [
            &b"application/x-www-form-urlencoded"[..],
            b"Application/X-WWW-Form-Urlencoded",
            b"application/x-www-form-urlencoded;charset=UTF-8",
            b"application/x-www-form-urlencoded; charset=\"utf-8\"",
        ] {
            assert_eq!(body_kind(Some(ct), None, false), Ok(BodyKind::Form));
        }
        assert_eq!(
            body_kind(Some(b"application/json; charset=utf-8"), None, false),
            Ok(BodyKind::Json)
        );
    }

    #[test]
    fn other_types_charsets_and_encodings_are_refused() {
        assert_eq!(
            body_kind(Some(b"text/plain"), None, false),
            Err(RequestFault::UnsupportedMediaType)
        );
        assert_eq!(
            body_kind(
                Some(b"application/x-www-form-urlencoded;charset=ISO-8859-1"),
                None,
                false
            ),
            Err(RequestFault::UnsupportedCharset)
        );
        assert_eq!(
            body_kind(Some(b"application/json"), Some(b"gzip"), false),
            Err(RequestFault::ContentEncoding)
        );
        assert_eq!(
            body_kind(None, None, false),
            Err(RequestFault::UnsupportedMediaType)
        );
        assert_eq!(body_kind(None, None, true), Ok(BodyKind::None));
    }

    #[test]
    fn media_type_parameters_follow_rfc_9110() {
        for ct in [
            &b"application/x-www-form-urlencoded ; charset=utf-8"[..],
            b"application/x-www-form-urlencoded;charset=\"UTF\\-8\"",
            b"application/x-www-form-urlencoded;",
        ] {
            assert_eq!(
                body_kind(Some(ct), None, false),
                Ok(BodyKind::Form),
                "{ct:?}"
            );
        }
        for ct in [
            &b"application/x-www-form-urlencoded;charset*=utf-7''x"[..],
            b"application/x-www-form-urlencoded;charset=utf-8;charset=utf-7",
            b"application/x-www-form-urlencoded;boundary=x",
            b"application/x-www-form-urlencoded;charset",
            b"application/x-www-form-urlencoded;charset=\"utf-8",
            b"application/x-www-form-urlencoded;charset=utf-8 x",
        ] {
            assert_eq!(
                body_kind(Some(ct), None, false),
                Err(RequestFault::MediaTypeParameter),
                "{}",
                String::from_utf8_lossy(ct)
            );
        }
    }
}
