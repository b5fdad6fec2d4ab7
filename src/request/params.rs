//! Request parameters from a query string, a form body or a JSON body, as one set. Each
//! parameter remembers where its raw bytes are, so a forwarded request keeps the client's own
//! encoding of every parameter it keeps.

use crate::jose::json::{self, StrictJsonError};
use crate::reject::RequestFault;
use percent_encoding::percent_decode;
use serde_json::Value;
use std::ops::Range;

/// Where a parameter came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Query,
    Form,
    Json,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub value: String,
    pub origin: Origin,
    /// Byte range of `name=value` in the query or form it came from (empty for JSON).
    pub raw: Range<usize>,
}

/// The parameters of one request. Names are unique: a repeated name is refused at parse time.
#[derive(Debug, Clone, Default)]
pub struct Params {
    list: Vec<Param>,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.list.iter().any(|p| p.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn push(&mut self, param: Param) -> Result<(), RequestFault> {
        if self.contains(&param.name) {
            return Err(RequestFault::RepeatedParameter(param.name));
        }
        self.list.push(param);
        Ok(())
    }

    /// Adds the pairs of an `application/x-www-form-urlencoded` text (a query string or a body).
    pub fn add_form(&mut self, text: &[u8], origin: Origin) -> Result<(), RequestFault> {
        let mut start = 0;
        for piece in text.split(|b| *b == b'&') {
            let range = start..start + piece.len();
            start = range.end + 1;
            if piece.is_empty() {
                continue;
            }
            let (name, value) = match piece.iter().position(|b| *b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, &b""[..]),
            };
            let name = form_decode(name)?;
            if name.is_empty() {
                return Err(RequestFault::MalformedBody);
            }
            let value = form_decode(value)?;
            self.push(Param {
                name,
                value,
                origin,
                raw: range,
            })?;
        }
        Ok(())
    }

    /// Adds the members of a JSON object of strings (Auth0's API accepts JSON bodies).
    pub fn add_json(&mut self, body: &[u8]) -> Result<(), RequestFault> {
        let object = match json::parse_object(body) {
            Ok(object) => object,
            Err(StrictJsonError::Duplicate(name)) => {
                return Err(RequestFault::RepeatedParameter(name))
            }
            Err(_) => return Err(RequestFault::MalformedBody),
        };
        for (name, value) in object {
            let Value::String(value) = value else {
                return Err(RequestFault::MalformedBody);
            };
            self.push(Param {
                name,
                value,
                origin: Origin::Json,
                raw: 0..0,
            })?;
        }
        Ok(())
    }
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn form_decode(raw: &[u8]) -> Result<String, RequestFault> {
    if raw.contains(&b'%') && !percent_escapes_are_complete(raw) {
        return Err(RequestFault::MalformedBody);
    }
    let plus_free: Vec<u8>;
    let bytes = if raw.contains(&b'+') {
        plus_free = raw
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        &plus_free[..]
    } else {
        raw
    };
    percent_decode(bytes)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| RequestFault::MalformedBody)
}

fn percent_escapes_are_complete(raw: &[u8]) -> bool {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_decode_and_remember_their_raw_bytes() {
        let text = b"grant_type=client_credentials&scope=a+b%20c&empty=&flag";
        let mut params = Params::default();
        params.add_form(text, Origin::Form).unwrap();
        assert_eq!(params.get("scope"), Some("a b c"));
        assert_eq!(params.get("empty"), Some(""));
        assert_eq!(params.get("flag"), Some(""));
        let scope = params.iter().find(|p| p.name == "scope").unwrap();
        assert_eq!(&text[scope.raw.clone()], b"scope=a+b%20c");
    }

    #[test]
    fn repeated_names_are_refused_across_query_and_body() {
        let mut params = Params::default();
        params.add_form(b"a=1", Origin::Query).unwrap();
        assert_eq!(
            params.add_form(b"b=2&a=3", Origin::Form),
            Err(RequestFault::RepeatedParameter("a".into()))
        );
        let mut params = Params::default();
        assert_eq!(
            params.add_form(b"x=1&x=1", Origin::Form),
            Err(RequestFault::RepeatedParameter("x".into()))
        );
        // Different raw spellings of one name are the same parameter.
        let mut params = Params::default();
        assert!(params
            .add_form(b"client_id=a&client%5Fid=b", Origin::Form)
            .is_err());
    }

    #[test]
    fn malformed_encodings_are_refused() {
        for text in [&b"a=%zz"[..], b"a=%4", b"a=%ff", b"=v"] {
            let mut params = Params::default();
            assert_eq!(
                params.add_form(text, Origin::Form),
                Err(RequestFault::MalformedBody)
            );
        }
    }

    #[test]
    fn json_bodies_are_objects_of_strings() {
        let mut params = Params::default();
        params
            .add_json(br#"{"client_id":"a","scope":"x"}"#)
            .unwrap();
        assert_eq!(params.get("client_id"), Some("a"));
        let mut params = Params::default();
        assert_eq!(
            params.add_json(br#"{"n":1}"#),
            Err(RequestFault::MalformedBody)
        );
        let mut params = Params::default();
        assert_eq!(
            params.add_json(br#"{"sub":"a","sub":"b"}"#),
            Err(RequestFault::RepeatedParameter("sub".into()))
        );
    }
}
