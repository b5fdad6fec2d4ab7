//! Discovery documents (SPEC §1, §9): the upstream's `/.well-known/openid-configuration` and
//! `/.well-known/oauth-authorization-server` (also at the issuer-path forms, §9) gain what
//! jargate provides in front of it ([`Advertised`]: PAR, request objects and private_key_jwt for
//! a legacy IdP; mTLS and DPoP capabilities; a global level's restrictions), so a stock client
//! library discovers it. Only a `200` whose body is a JSON object with a string `issuer` is
//! rewritten; anything else (compressed, not JSON, duplicate members, too large) is forwarded
//! unchanged. Every other member keeps its place and its exact text. One rewriter for every
//! mode; plain functions and a body buffer; the Pingora hooks only call them.

mod advertise;
mod members;

pub use advertise::{Advertised, LegacyAdditions, Restrictions};

use crate::config::Snapshot;
use crate::keys::Alg;
use bytes::{Bytes, BytesMut};
use http::Method;
use members::Edits;
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
/// Other client-authentication endpoints whose assertions follow the assertion algorithms.
const OTHER_AUTH_ALGS: [&str; 2] = [
    "revocation_endpoint_auth_signing_alg_values_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
];
const AUTH_METHODS: &str = "token_endpoint_auth_methods_supported";
const REQUIRE_PAR: &str = "require_pushed_authorization_requests";
const PKCE_METHODS: &str = "code_challenge_methods_supported";
const RESPONSE_TYPES: &str = "response_types_supported";
const DPOP_ALGS: &str = "dpop_signing_alg_values_supported";
const BOUND_TOKENS: &str = "tls_client_certificate_bound_access_tokens";
const MTLS_ALIASES: &str = "mtls_endpoint_aliases";
const RESPONSE_ISS: &str = "authorization_response_iss_parameter_supported";
/// Endpoints whose mTLS alias is always advertised (SPEC §9); the `paths.client_auth` ones are
/// found by their path.
const ALIASED_ENDPOINTS: [&str; 3] = ["token_endpoint", PAR_ENDPOINT, "userinfo_endpoint"];

/// Whether this request's answer is a discovery document to augment. Cheap for every other
/// request: a method and a substring test come first.
pub fn applies(snapshot: &Snapshot, method: &Method, path: &str) -> bool {
    method == Method::GET
        && path.contains("/.well-known/")
        && is_document_path(&snapshot.settings.issuer.identifier, path)
        && Advertised::of(snapshot).adds_anything()
}

/// The two documents at the root, and, when the issuer identifier has a path (`/realms/x`),
/// at `/realms/x/.well-known/openid-configuration` (Keycloak) and RFC 8414's
/// `/.well-known/oauth-authorization-server/realms/x`.
pub fn is_document_path(identifier: &str, path: &str) -> bool {
    if PATHS.contains(&path) {
        return true;
    }
    let issuer_path = issuer_path(identifier);
    if issuer_path.is_empty() {
        return false;
    }
    path.strip_prefix(issuer_path) == Some(PATHS[0])
        || path.strip_prefix(PATHS[1]) == Some(issuer_path)
}

/// The path of an issuer identifier without its trailing `/` (`""` for a bare origin).
fn issuer_path(identifier: &str) -> &str {
    let after_scheme = identifier
        .split_once("://")
        .map_or(identifier, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.trim_end_matches('/')
}

/// Whether the upstream's answer may be rewritten: `200`, and not compressed (jargate asks
/// for `identity`, but a server may ignore that).
pub fn rewritable(status: u16, content_encoding: Option<&[u8]>) -> bool {
    status == 200
        && content_encoding.is_none_or(|e| e.trim_ascii().eq_ignore_ascii_case(b"identity"))
}

/// The augmented document, or `None` when `doc` is not one to rewrite (then it is forwarded
/// as it came).
pub fn augment(doc: &[u8], advertised: &Advertised) -> Option<Vec<u8>> {
    let members = parse_members(doc)?;
    let mut edits = Edits::new(&members);
    let issuer: String = serde_json::from_value(edits.get("issuer")?).ok()?;
    if let Some(legacy) = &advertised.legacy {
        let all: Vec<&str> = Alg::ALL.iter().map(|a| a.name()).collect();
        let endpoint = format!("{}{}", issuer.trim_end_matches('/'), legacy.par_path);
        edits.put(PAR_ENDPOINT, Value::from(endpoint));
        edits.put(REQUEST_SUPPORTED, Value::Bool(true));
        edits.put(REQUEST_ALGS, Value::from(all.clone()));
        edits.put(AUTH_ALGS, Value::from(all));
        edits.add_to_list(AUTH_METHODS, &["private_key_jwt"])?;
        if legacy.require_par {
            edits.put(REQUIRE_PAR, Value::Bool(true));
        }
    }
    edits.add_to_list(AUTH_METHODS, &advertised.auth_methods)?;
    if advertised.bound_tokens {
        edits.put(BOUND_TOKENS, Value::Bool(true));
    }
    if !advertised.dpop_algs.is_empty() {
        edits.add_to_list(DPOP_ALGS, &names(&advertised.dpop_algs))?;
    }
    if let Some(base) = &advertised.mtls_alias_base {
        edits.add_aliases(MTLS_ALIASES, base, |name, path| {
            ALIASED_ENDPOINTS.contains(&name)
                || (name.ends_with("_endpoint")
                    && advertised.client_auth_paths.iter().any(|p| p == path))
        })?;
    }
    if let Some(r) = &advertised.restrictions {
        restrict(&mut edits, r)?;
    }
    Some(edits.render())
}

/// A global level's narrowing (SPEC §9 "Restrictions").
fn restrict(edits: &mut Edits, r: &Restrictions) -> Option<()> {
    if r.par_and_pkce {
        edits.put(REQUIRE_PAR, Value::Bool(true));
        edits.put(PKCE_METHODS, Value::from(vec!["S256"]));
    }
    if let Some(types) = &r.response_types {
        edits.keep_in_list(RESPONSE_TYPES, types)?;
    }
    if let Some(methods) = &r.auth_methods {
        edits.keep_in_list(AUTH_METHODS, methods)?;
    }
    if let Some(algs) = &r.request_object_algs {
        edits.keep_in_list(REQUEST_ALGS, &names(algs))?;
    }
    if let Some(algs) = &r.assertion_algs {
        for member in std::iter::once(AUTH_ALGS).chain(OTHER_AUTH_ALGS) {
            edits.keep_in_list(member, &names(algs))?;
        }
    }
    if let Some(algs) = &r.dpop_algs {
        edits.keep_in_list(DPOP_ALGS, &names(algs))?;
    }
    if r.response_iss {
        edits.put(RESPONSE_ISS, Value::Bool(true));
    }
    Some(())
}

fn names(algs: &[Alg]) -> Vec<&'static str> {
    algs.iter().map(|a| a.name()).collect()
}

/// The top-level members of a JSON object, in document order, each value's text as sent.
/// A duplicate member name makes the document one not to rewrite.
pub(crate) fn parse_members(doc: &[u8]) -> Option<Vec<(String, Box<RawValue>)>> {
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
    pub fn finish(&mut self, advertised: &Advertised) -> Option<Bytes> {
        if self.streaming {
            return None;
        }
        let doc = std::mem::take(&mut self.data);
        Some(match augment(&doc, advertised) {
            Some(new) => Bytes::from(new),
            None => doc.freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provided(require_par: bool) -> Advertised {
        Advertised {
            legacy: Some(LegacyAdditions {
                par_path: "/oauth/par".into(),
                require_par,
            }),
            ..Advertised::default()
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

    fn fapi2_restrictions() -> Restrictions {
        Restrictions {
            par_and_pkce: true,
            response_types: Some(vec!["code"]),
            auth_methods: Some(vec!["private_key_jwt"]),
            request_object_algs: Some(vec![Alg::PS256, Alg::ES256, Alg::EdDSA]),
            assertion_algs: Some(vec![Alg::PS256, Alg::ES256, Alg::EdDSA]),
            dpop_algs: Some(vec![Alg::PS256, Alg::ES256, Alg::EdDSA]),
            response_iss: true,
        }
    }

    #[test]
    fn a_global_level_narrows_lists_the_upstream_sent_and_never_invents_one() {
        let doc = r#"{"issuer":"https://idp.example/","response_types_supported":["code","code id_token","token"],
            "token_endpoint_auth_methods_supported":["client_secret_basic","private_key_jwt"],
            "request_object_signing_alg_values_supported":["RS256","PS256","none"],
            "introspection_endpoint_auth_signing_alg_values_supported":["HS256","ES256"],
            "code_challenge_methods_supported":["plain","S256"]}"#;
        let advertised = Advertised {
            restrictions: Some(fapi2_restrictions()),
            ..Advertised::default()
        };
        let out = augment(doc.as_bytes(), &advertised).expect("rewritten");
        let v: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v[RESPONSE_TYPES], serde_json::json!(["code"]));
        assert_eq!(v[AUTH_METHODS], serde_json::json!(["private_key_jwt"]));
        assert_eq!(v[REQUEST_ALGS], serde_json::json!(["PS256"]));
        assert_eq!(v[OTHER_AUTH_ALGS[1]], serde_json::json!(["ES256"]));
        assert_eq!(v[PKCE_METHODS], serde_json::json!(["S256"]));
        assert_eq!(v[REQUIRE_PAR], true);
        assert_eq!(v[RESPONSE_ISS], true);
        assert!(v.get(AUTH_ALGS).is_none(), "absent lists stay absent: {v}");
        assert!(v.get(DPOP_ALGS).is_none(), "{v}");
    }

    #[test]
    fn an_opted_out_client_keeps_par_and_pkce_unadvertised() {
        let mut r = fapi2_restrictions();
        r.par_and_pkce = false;
        r.response_iss = false;
        let advertised = Advertised {
            restrictions: Some(r),
            ..Advertised::default()
        };
        let out = augment(br#"{"issuer":"https://i/"}"#, &advertised).expect("rewritten");
        assert_eq!(out, br#"{"issuer":"https://i/"}"#.to_vec());
    }

    #[test]
    fn capabilities_are_added_to_what_the_upstream_sent() {
        let doc = r#"{"issuer":"https://idp.example/t","token_endpoint":"https://idp.example/t/token",
            "userinfo_endpoint":"https://idp.example/t/me?x=1","revocation_endpoint":"https://idp.example/oauth/revoke",
            "jwks_uri":"https://idp.example/t/jwks","end_session_endpoint":"https://idp.example/t/logout",
            "dpop_signing_alg_values_supported":["RS256"],
            "mtls_endpoint_aliases":{"token_endpoint":"https://own.example/token"}}"#;
        let advertised = Advertised {
            legacy: Some(LegacyAdditions {
                par_path: "/par".into(),
                require_par: false,
            }),
            auth_methods: vec!["tls_client_auth"],
            mtls_alias_base: Some("https://mtls.example/".into()),
            client_auth_paths: vec!["/oauth/revoke".into()],
            bound_tokens: true,
            dpop_algs: vec![Alg::ES256],
            restrictions: None,
        };
        let out = augment(doc.as_bytes(), &advertised).expect("rewritten");
        let v: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(
            v[AUTH_METHODS],
            serde_json::json!(["client_secret_basic", "private_key_jwt", "tls_client_auth"])
        );
        assert_eq!(v[BOUND_TOKENS], true);
        assert_eq!(v[DPOP_ALGS], serde_json::json!(["RS256", "ES256"]));
        assert_eq!(
            v[MTLS_ALIASES],
            serde_json::json!({
                "token_endpoint": "https://own.example/token",
                "userinfo_endpoint": "https://mtls.example/t/me?x=1",
                "revocation_endpoint": "https://mtls.example/oauth/revoke",
                "pushed_authorization_request_endpoint": "https://mtls.example/t/par",
            })
        );
    }

    #[test]
    fn documents_are_found_at_the_issuer_path_forms_too() {
        let keycloak = "https://sso.example/realms/x/";
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
            "/realms/x/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/realms/x",
        ] {
            assert!(is_document_path(keycloak, path), "{path}");
        }
        for path in [
            "/realms/y/.well-known/openid-configuration",
            "/realms/x/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration/realms/x",
            "/.well-known/oauth-authorization-server/realms/x/",
        ] {
            assert!(!is_document_path(keycloak, path), "{path}");
        }
        assert!(!is_document_path(
            "https://idp.example",
            "/.well-known/oauth-authorization-server/"
        ));
        assert_eq!(issuer_path("https://idp.example"), "");
        assert_eq!(issuer_path("https://idp.example/"), "");
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
