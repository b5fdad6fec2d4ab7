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
    let mut pieces = text.split(';');
    let essence = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
    let kind = match essence.as_str() {
        "application/x-www-form-urlencoded" => BodyKind::Form,
        "application/json" => BodyKind::Json,
        _ => return Err(RequestFault::UnsupportedMediaType),
    };
    for parameter in pieces {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let value = value.trim().trim_matches('"');
            if !value.eq_ignore_ascii_case("utf-8") {
                return Err(RequestFault::UnsupportedCharset);
            }
        }
    }
    Ok(kind)
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
}
