//! The admin listener's `GET /clients/{client_id}/jwks.json` (a client's current
//! private_key_jwt keys) and `/clients/{client_id}/jar-jwks.json` (its request-object keys), so
//! an authorization server in passthrough mode can be pointed at jargate's copy (Keycloak's
//! "Use JWKS URL") instead of registering every key twice. Public members only; expired
//! credentials left out; `jwks_uri` credentials contribute their keys as last fetched. The
//! admin listener stays on loopback by default, and a JWK Set is public material anyway.

use crate::app::App;
use crate::clock::unix_now;
use crate::keys::mirror::{self, Use};
use crate::keys::Credential;
use http::Response;
use std::sync::Arc;

/// Answers a `method` request for `rest`, the path after `/clients/`.
pub fn response(app: &App, method: &http::Method, rest: &str) -> Response<Vec<u8>> {
    if method != http::Method::GET && method != http::Method::HEAD {
        let body = serde_json::json!({"error": "method_not_allowed",
                                      "error_description": "only GET is served here"});
        return build(405, body.to_string(), "no-store");
    }
    let Some((id, file)) = rest.split_once('/') else {
        return not_found("no such resource");
    };
    let Some(use_) = Use::from_file(file) else {
        return not_found("no such resource");
    };
    let Ok(id) = percent_encoding::percent_decode_str(id).decode_utf8() else {
        return not_found("unknown client");
    };
    let snapshot = app.snapshot();
    let Some(client) = snapshot.registry.get(&id) else {
        return not_found("unknown client");
    };
    let (registered, uris) = match use_ {
        Use::ClientAssertion => (&client.auth_keys, &client.auth_jwks_uris),
        Use::RequestObject => (&client.jar_keys, &client.jar_jwks_uris),
    };
    let now = unix_now();
    let remote: Vec<Arc<crate::jwks::Fetched>> =
        uris.iter().filter_map(|u| app.jwks.cached(u)).collect();
    let current: Vec<&Credential> = registered
        .current(now)
        .chain(remote.iter().flat_map(|f| f.keys.current(now)))
        .collect();
    let body = mirror::jwk_set(current.iter().copied()).to_string();
    let max_age = mirror::max_age(current.iter().copied(), now);
    build(200, body, &format!("max-age={max_age}"))
}

fn not_found(description: &str) -> Response<Vec<u8>> {
    let body = serde_json::json!({"error": "not_found", "error_description": description});
    build(404, body.to_string(), "no-store")
}

fn build(status: u16, body: String, cache_control: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, cache_control)
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body.into_bytes())
        .unwrap_or_default()
}
