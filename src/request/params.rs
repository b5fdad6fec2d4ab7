//! Request parameters from a query string, a form body or a JSON body, as one set. Each
//! parameter remembers where its raw bytes are, so a forwarded request keeps the client's own
//! encoding of every parameter it keeps.
//!
//! Only canonical parameters are admitted (SPEC §5 "No parser differential"): a name is ASCII
//! letters, digits, `_` and `-`; no two names are equal ignoring case; a name equal ignoring
//! case to one jargate interprets is spelled exactly as that one; there is no raw `;`, no
//! byte-order mark and no NUL. Whatever another server's parser (PHP, Rack, qs, ASP.NET, old Go
//! or Python) would rewrite, split or merge differently is refused here, so every server reads
//! the same names as jargate. Reading is linear: a map beside the list finds repeats, and
//! `max_parameters` stops a body of many names early.

use crate::jose::json::{self, StrictJsonError};
use crate::reject::RequestFault;
use percent_encoding::percent_decode;
use serde_json::{Map, Value};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ops::Range;

/// The client-authentication parameters (RFC 6749 §2.3.1, RFC 7521 §4.2).
pub const CLIENT_AUTH: [&str; 3] = ["client_assertion", "client_assertion_type", "client_secret"];

/// The names jargate gives a meaning to: the client, its authentication and the request object
/// carriers. Another spelling of one of them (`Client_Assertion`) could be read as it by a
/// case-insensitive server while jargate ignores it.
pub const INTERPRETED: [&str; 6] = [
    "client_id",
    CLIENT_AUTH[0],
    CLIENT_AUTH[1],
    CLIENT_AUTH[2],
    "request",
    "request_uri",
];

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

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

impl Param {
    /// `name=value` as it goes into a rewritten query or form: the client's own bytes from
    /// `source` when they hold only characters every parser reads alike, else re-encoded from
    /// the decoded name and value. Either way a rewrite carries canonical parameters only.
    pub fn canonical_text<'s>(&self, source: &'s [u8]) -> std::borrow::Cow<'s, str> {
        let raw = source.get(self.raw.clone()).unwrap_or_default();
        let plain = |b: &u8| b.is_ascii_alphanumeric() || b"-._~%+=:/?@!$'()*,".contains(b);
        match std::str::from_utf8(raw) {
            Ok(text) if self.origin != Origin::Json && !raw.is_empty() && raw.iter().all(plain) => {
                std::borrow::Cow::Borrowed(text)
            }
            _ => std::borrow::Cow::Owned(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair(&self.name, &self.value)
                    .finish(),
            ),
        }
    }
}

/// The parameters of one request. Names are unique, also ignoring case: a repeated name is
/// refused at parse time.
#[derive(Debug, Clone)]
pub struct Params {
    list: Vec<Param>,
    /// Lower-cased name → position in `list`.
    index: HashMap<String, usize>,
    /// Most parameters accepted (`limits.max_parameters`).
    max: usize,
}

impl Default for Params {
    /// No limit on the number of parameters (the gate always sets one).
    fn default() -> Self {
        Params::with_limit(usize::MAX)
    }
}

impl Params {
    /// An empty set that refuses more than `max` parameters.
    pub fn with_limit(max: usize) -> Params {
        Params {
            list: Vec::new(),
            index: HashMap::new(),
            max,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).map(|p| p.value.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn find(&self, name: &str) -> Option<&Param> {
        let i = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            *self.index.get(&name.to_ascii_lowercase())?
        } else {
            *self.index.get(name)?
        };
        self.list.get(i).filter(|p| p.name == name)
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
        if self.list.len() >= self.max {
            return Err(RequestFault::TooManyParameters);
        }
        check_name(&param.name)?;
        if param.value.contains('\0') {
            return Err(RequestFault::NulInValue);
        }
        let folded = param.name.to_ascii_lowercase();
        let next = self.list.len();
        match self.index.entry(folded) {
            Entry::Occupied(first) => {
                let first = self.list.get(*first.get()).map(|p| p.name.as_str());
                Err(if first == Some(param.name.as_str()) {
                    RequestFault::RepeatedParameter(param.name)
                } else {
                    RequestFault::CaseVariantParameter(param.name)
                })
            }
            Entry::Vacant(slot) => {
                slot.insert(next);
                self.list.push(param);
                Ok(())
            }
        }
    }

    /// Adds a pair jargate builds itself (legacy mode: a request object's claims), under the
    /// same name, value and duplicate rules as a parsed one, so that what is forwarded is what
    /// every parser reads alike.
    pub fn add_decoded(&mut self, name: String, value: String) -> Result<(), RequestFault> {
        self.push(Param {
            name,
            value,
            origin: Origin::Query,
            raw: 0..0,
        })
    }

    /// Room for the pairs of `text`, up to the limit, so that neither the list nor the map
    /// grows (and rehashes) while a large form is read.
    fn reserve_for(&mut self, text: &[u8]) {
        let room = self.max.saturating_sub(self.list.len());
        let pairs = text.iter().filter(|b| **b == b'&').count() + 1;
        let n = pairs.min(room);
        self.list.reserve(n);
        self.index.reserve(n);
    }

    /// Adds the pairs of an `application/x-www-form-urlencoded` text (a query string or a body).
    pub fn add_form(&mut self, text: &[u8], origin: Origin) -> Result<(), RequestFault> {
        if text.starts_with(BOM) {
            return Err(RequestFault::ByteOrderMark);
        }
        // Go before 1.17 and Python before 3.9.2 split on `;` too.
        if text.contains(&b';') {
            return Err(RequestFault::Semicolon);
        }
        self.reserve_for(text);
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
        if body.starts_with(BOM) {
            return Err(RequestFault::ByteOrderMark);
        }
        let object = match json::parse_object(body) {
            Ok(object) => object,
            Err(StrictJsonError::Duplicate(name)) => {
                return Err(RequestFault::RepeatedParameter(name))
            }
            Err(_) => return Err(RequestFault::MalformedBody),
        };
        if object.len() > self.max.saturating_sub(self.list.len()) {
            return Err(RequestFault::TooManyParameters);
        }
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

/// A JSON body rebuilt from the `kept` parameters, every value the string it was received as.
pub fn json_body<'p>(kept: impl IntoIterator<Item = &'p Param>) -> Map<String, Value> {
    kept.into_iter()
        .map(|p| (p.name.clone(), Value::String(p.value.clone())))
        .collect()
}

/// A decoded name every server reads the same way: ASCII letters, digits, `_`, `-`; and not a
/// case variant of a name jargate interprets.
fn check_name(name: &str) -> Result<(), RequestFault> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(RequestFault::ParameterName);
    }
    if INTERPRETED
        .iter()
        .any(|known| name.eq_ignore_ascii_case(known) && name != *known)
    {
        return Err(RequestFault::CaseVariantParameter(name.to_owned()));
    }
    Ok(())
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
/// `+` is replaced before the escapes are decoded, so `%2B` stays a plus sign.
pub fn form_decode(raw: &[u8]) -> Result<String, RequestFault> {
    let escaped = raw.contains(&b'%');
    if !escaped && !raw.contains(&b'+') {
        // The common case (a JWT, a client_id): nothing to decode, one UTF-8 check and a copy
        // instead of percent_encoding's byte-by-byte pass.
        return std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| RequestFault::MalformedBody);
    }
    if escaped && !percent_escapes_are_complete(raw) {
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

    #[test]
    fn names_other_servers_rewrite_are_refused() {
        for text in [
            &b"client.assertion=x"[..],
            b"client+assertion=x",
            b"client%20assertion=x",
            b"client[assertion=x",
            b"client_assertion[]=x",
            b"%5Bclient_assertion%5D=x",
            b"client_assertion%00=x",
            b"+client_assertion=x",
            b"%EF%BB%BFclient_id=x",
        ] {
            let mut params = Params::default();
            assert_eq!(
                params.add_form(text, Origin::Form),
                Err(RequestFault::ParameterName),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn case_variants_semicolons_boms_and_nul_are_refused() {
        let cases: [(&[u8], RequestFault); 6] = [
            (
                b"Client_Assertion=x",
                RequestFault::CaseVariantParameter("Client_Assertion".into()),
            ),
            (
                b"scope=a&Scope=b",
                RequestFault::CaseVariantParameter("Scope".into()),
            ),
            (b"scope=a;client_id=b", RequestFault::Semicolon),
            (b"\xEF\xBB\xBFa=b", RequestFault::ByteOrderMark),
            (b"a=b%00c", RequestFault::NulInValue),
            (b"a=1&a=1", RequestFault::RepeatedParameter("a".into())),
        ];
        for (text, fault) in cases {
            let mut params = Params::default();
            assert_eq!(params.add_form(text, Origin::Form), Err(fault));
        }
        let mut params = Params::default();
        assert_eq!(
            params.add_json(br#"{"client_id":"a","Client_ID":"b"}"#),
            Err(RequestFault::CaseVariantParameter("Client_ID".into()))
        );
    }

    #[test]
    fn legitimate_names_and_values_are_read() {
        let mut params = Params::default();
        params
            .add_form(
                b"ext-foo=1&Custom_Param=a+b&scope=openid%20email&x=%2B",
                Origin::Form,
            )
            .unwrap();
        assert_eq!(params.get("ext-foo"), Some("1"));
        assert_eq!(params.get("Custom_Param"), Some("a b"));
        assert_eq!(params.get("custom_param"), None);
        assert_eq!(params.get("x"), Some("+"));
    }

    #[test]
    fn rewrites_keep_plain_bytes_and_re_encode_the_rest() {
        let text = br#"a=x%3ay+z&b="q"&c=[1]"#;
        let mut params = Params::default();
        params.add_form(text, Origin::Form).unwrap();
        let pieces: Vec<String> = params
            .iter()
            .map(|p| p.canonical_text(text).into_owned())
            .collect();
        assert_eq!(pieces, ["a=x%3ay+z", "b=%22q%22", "c=%5B1%5D"]);
    }

    #[test]
    fn the_parameter_limit_stops_reading_early() {
        let mut params = Params::with_limit(3);
        assert_eq!(
            params.add_form(b"a=1&b=2&c=3&d=4&e=5", Origin::Form),
            Err(RequestFault::TooManyParameters)
        );
        assert_eq!(params.len(), 3);
        let mut params = Params::with_limit(3);
        params.add_form(b"a=1&b=2", Origin::Query).unwrap();
        assert_eq!(
            params.add_json(br#"{"c":"3","d":"4"}"#),
            Err(RequestFault::TooManyParameters)
        );
    }
}
