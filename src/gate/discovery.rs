//! Discovery for a legacy IdP (SPEC §1 `discovery`): the upstream's
//! `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server` gain what
//! jargate provides in front of it (PAR, request objects, private_key_jwt and their algorithms),
//! so a stock client library discovers it. Only a `200` whose body is a JSON object with a
//! string `issuer` is rewritten; anything else (compressed, not JSON, duplicate members, too
//! large) is forwarded unchanged. Every other member keeps its place and its exact text.
//! Plain functions and a body buffer; the Pingora hooks only call them.

use crate::config::{Mode, Snapshot};
use crate::keys::Alg;
use bytes::{Bytes, BytesMut};
use http::Method;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;

/// The two metadata documents (OpenID Connect Discovery 1.0, RFC 8414).
pub const PATHS: [&str; 2] = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
];

/// Largest document rewritten; a bigger one is streamed on unchanged (real ones are a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Members jargate sets; the rest of the document is the upstream's own.
const PAR_ENDPOINT: &str = "pushed_authorization_request_endpoint";
const REQUEST_SUPPORTED: &str = "request_parameter_supported";
const REQUEST_ALGS: &str = "request_object_signing_alg_values_supported";
const AUTH_ALGS: &str = "token_endpoint_auth_signing_alg_values_supported";
const AUTH_METHODS: &str = "token_endpoint_auth_methods_supported";
const REQUIRE_PAR: &str = "require_pushed_authorization_requests";

/// Whether this request's answer is a discovery document to augment.
pub fn applies(snapshot: &Snapshot, method: &Method, path: &str) -> bool {
    let settings = &snapshot.settings;
    settings.upstream.mode == Mode::Legacy
        && settings.legacy.discovery
        && method == Method::GET
        && PATHS.contains(&path)
}

/// Whether the upstream's answer may be rewritten: `200`, and not compressed (jargate asks
/// for `identity`, but a server may ignore that).
pub fn rewritable(status: u16, content_encoding: Option<&[u8]>) -> bool {
    status == 200
        && content_encoding.is_none_or(|e| e.trim_ascii().eq_ignore_ascii_case(b"identity"))
}

/// What jargate adds to the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provided {
    /// `paths.par`, appended to the document's `issuer`.
    pub par_path: String,
    /// `par.require_par`.
    pub require_par: bool,
}

impl Provided {
    pub fn of(snapshot: &Snapshot) -> Provided {
        Provided {
            par_path: snapshot.settings.paths.par.clone(),
            require_par: snapshot.settings.par.require_par,
        }
    }
}

/// The augmented document, or `None` when `doc` is not one to rewrite (then it is forwarded
/// as it came).
pub fn augment(doc: &[u8], provided: &Provided) -> Option<Vec<u8>> {
    let members = parse_members(doc)?;
    let issuer: String = serde_json::from_str(members_get(&members, "issuer")?.get()).ok()?;
    let methods = match members_get(&members, AUTH_METHODS) {
        // RFC 8414 §2: absent means client_secret_basic only.
        None => vec![Value::from("client_secret_basic")],
        Some(raw) => serde_json::from_str::<Vec<Value>>(raw.get()).ok()?,
    };
    let mut methods = methods;
    if !methods.iter().any(|m| m == "private_key_jwt") {
        methods.push(Value::from("private_key_jwt"));
    }
    let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.name()).collect();
    let mut set: Vec<(&str, Value)> = vec![
        (
            PAR_ENDPOINT,
            Value::from(format!(
                "{}{}",
                issuer.trim_end_matches('/'),
                provided.par_path
            )),
        ),
        (REQUEST_SUPPORTED, Value::Bool(true)),
        (REQUEST_ALGS, Value::from(algs.clone())),
        (AUTH_ALGS, Value::from(algs)),
        (AUTH_METHODS, Value::Array(methods)),
    ];
    if provided.require_par {
        set.push((REQUIRE_PAR, Value::Bool(true)));
    }
    let mut out = Vec::with_capacity(doc.len() + 512);
    out.push(b'{');
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, name: &str, value: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(Value::from(name).to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
    };
    for (name, raw) in &members {
        match set.iter().position(|(n, _)| n == name) {
            Some(i) => {
                let (n, v) = set.remove(i);
                member(&mut out, n, &v.to_string());
            }
            None => member(&mut out, name, raw.get()),
        }
    }
    for (name, value) in set {
        member(&mut out, name, &value.to_string());
    }
    out.push(b'}');
    Some(out)
}

fn members_get<'a>(members: &'a [(String, Box<RawValue>)], name: &str) -> Option<&'a RawValue> {
    members
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_ref())
}

/// The top-level members of a JSON object, in document order, each value's text as sent.
/// A duplicate member name makes the document one not to rewrite.
fn parse_members(doc: &[u8]) -> Option<Vec<(String, Box<RawValue>)>> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, Box<RawValue>)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out: Vec<(String, Box<RawValue>)> = Vec::new();
            while let Some((name, value)) = map.next_entry::<String, Box<RawValue>>()? {
                out.push((name, value));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(doc);
    let members = de.deserialize_map(Members).ok()?;
    de.end().ok()?;
    let mut names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    Some(members)
}

/// Buffers a discovery document up to [`MAX_DOCUMENT_BYTES`], then hands back what to send.
#[derive(Debug, Default)]
pub struct DocumentBuffer {
    data: BytesMut,
    /// Past the cap: what was buffered went out unchanged, the rest streams through.
    streaming: bool,
}

impl DocumentBuffer {
    /// Takes one chunk of the upstream body; returns what to send downstream now.
    pub fn push(&mut self, chunk: Bytes) -> Option<Bytes> {
        if self.streaming {
            return Some(chunk);
        }
        if self.data.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            self.streaming = true;
            self.data.extend_from_slice(&chunk);
            return Some(std::mem::take(&mut self.data).freeze());
        }
        self.data.extend_from_slice(&chunk);
        None
    }

    /// At the end of the body: the augmented document, or the buffered bytes unchanged.
    pub fn finish(&mut self, provided: &Provided) -> Option<Bytes> {
        if self.streaming {
            return None;
        }
        let doc = std::mem::take(&mut self.data);
        Some(match augment(&doc, provided) {
            Some(new) => Bytes::from(new),
            None => doc.freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provided(require_par: bool) -> Provided {
        Provided {
            par_path: "/oauth/par".into(),
            require_par,
        }
    }

    fn augmented(doc: &str, require_par: bool) -> String {
        String::from_utf8(augment(doc.as_bytes(), &provided(require_par)).expect("rewritten"))
            .expect("utf-8")
    }

    const ALGS: &str =
        r#"["RS256","RS384","RS512","PS256","PS384","PS512","ES256","ES384","EdDSA"]"#;

    #[test]
    fn a_legacy_document_gains_what_jargate_provides_and_keeps_the_rest_in_place() {
        let doc = r#"{ "issuer": "https://idp.example/", "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "claims": {"b": 1, "a": [1.50, "x"]}, "zeta": null }"#;
        let out = augmented(doc, false);
        assert_eq!(
            out,
            format!(
                r#"{{"issuer":"https://idp.example/","token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt"],"claims":{{"b": 1, "a": [1.50, "x"]}},"zeta":null,"pushed_authorization_request_endpoint":"https://idp.example/oauth/par","request_parameter_supported":true,"request_object_signing_alg_values_supported":{ALGS},"token_endpoint_auth_signing_alg_values_supported":{ALGS}}}"#
            )
        );
        let v: Value = serde_json::from_str(&out).expect("json");
        assert!(v.get(REQUIRE_PAR).is_none(), "left as the upstream sent it");
    }

    #[test]
    fn members_jargate_sets_are_replaced_where_they_stand() {
        let doc = r#"{"request_parameter_supported":false,"issuer":"https://idp.example/t",
            "require_pushed_authorization_requests":false,
            "token_endpoint_auth_methods_supported":["private_key_jwt","none"]}"#;
        let out = augmented(doc, true);
        assert!(
            out.starts_with(r#"{"request_parameter_supported":true,"issuer":"#),
            "{out}"
        );
        assert!(
            out.contains(r#""require_pushed_authorization_requests":true,"#),
            "{out}"
        );
        assert!(
            out.contains(r#""token_endpoint_auth_methods_supported":["private_key_jwt","none"]"#),
            "{out}"
        );
        assert!(
            out.contains(
                r#""pushed_authorization_request_endpoint":"https://idp.example/t/oauth/par""#
            ),
            "{out}"
        );
        assert_eq!(out.matches(REQUIRE_PAR).count(), 1, "{out}");
    }

    #[test]
    fn absent_auth_methods_mean_client_secret_basic() {
        let out = augmented(r#"{"issuer":"https://idp.example"}"#, true);
        let v: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(
            v[AUTH_METHODS],
            serde_json::json!(["client_secret_basic", "private_key_jwt"])
        );
        assert_eq!(v[PAR_ENDPOINT], "https://idp.example/oauth/par");
        assert_eq!(v[REQUIRE_PAR], true);
    }

    #[test]
    fn documents_that_are_not_rewritable_are_left_alone() {
        for doc in [
            "",
            "[]",
            "null",
            "not json",
            r#"{"issuer":"x"} trailing"#,
            r#"{"jwks_uri":"https://idp.example/jwks"}"#,
            r#"{"issuer":42}"#,
            r#"{"issuer":"https://a/","issuer":"https://b/"}"#,
            r#"{"issuer":"https://a/","token_endpoint_auth_methods_supported":"private_key_jwt"}"#,
            "\u{1f}\u{8b}\u{8}\u{0}",
        ] {
            assert_eq!(augment(doc.as_bytes(), &provided(false)), None, "{doc:?}");
        }
    }

    #[test]
    fn only_uncompressed_successes_are_rewritten() {
        assert!(rewritable(200, None));
        assert!(rewritable(200, Some(b"Identity")));
        assert!(!rewritable(200, Some(b"gzip")));
        assert!(!rewritable(304, None));
        assert!(!rewritable(404, None));
    }

    #[test]
    fn the_buffer_rewrites_at_the_end_and_streams_past_the_cap() {
        let mut buf = DocumentBuffer::default();
        assert_eq!(buf.push(Bytes::from_static(br#"{"issuer":"#)), None);
        assert_eq!(buf.push(Bytes::from_static(br#""https://i/"}"#)), None);
        let out = buf.finish(&provided(false)).expect("document");
        assert!(out.starts_with(br#"{"issuer":"https://i/","pushed"#));

        let mut buf = DocumentBuffer::default();
        let big = Bytes::from(vec![b' '; MAX_DOCUMENT_BYTES]);
        assert_eq!(buf.push(Bytes::from_static(b"{")), None);
        assert_eq!(
            buf.push(big.clone()).map(|b| b.len()),
            Some(MAX_DOCUMENT_BYTES + 1)
        );
        assert_eq!(
            buf.push(Bytes::from_static(b"}")),
            Some(Bytes::from_static(b"}"))
        );
        assert_eq!(buf.finish(&provided(false)), None);

        let mut buf = DocumentBuffer::default();
        buf.push(Bytes::from_static(b"<html>"));
        assert_eq!(
            buf.finish(&provided(false)),
            Some(Bytes::from_static(b"<html>"))
        );
    }
}
