//! OAuth test data: the endpoints, the registry most tests run against ([`default_clients`]),
//! the claims of valid tokens, the forms and headers that carry them.

use super::{b64std, key_file, post_form, Jwt, Response, TestKey, ASSERTION_TYPE_FORM, ISSUER};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The token endpoint.
pub const TOKEN: &str = "/oauth/token";
/// The pushed authorization request endpoint.
pub const PAR: &str = "/oauth/par";
/// The authorization endpoint.
pub const AUTHORIZE: &str = "/authorize";
/// The revocation endpoint, one of the default `paths.client_auth`.
pub const REVOKE: &str = "/oauth/revoke";
/// The prefix of every PAR `request_uri` (RFC 9126 §2.2).
pub const PAR_URN: &str = "urn:ietf:params:oauth:request_uri:";
/// A well-formed PAR `request_uri` that jargate never issued, and the same as a form value.
pub const PAR_URI: &str = "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c";
pub const PAR_URI_FORM: &str =
    "urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A6esc_11ACC5bwc014ltc14eY22c";
/// The redirect URI of every request object, and the same as a form value.
pub const REDIRECT: &str = "https://app.example.com/cb";
pub const REDIRECT_FORM: &str = "https%3A%2F%2Fapp.example.com%2Fcb";
/// The configuration of legacy mode (SPEC §1), to merge into a test's config.
pub const LEGACY: &str = "[upstream]\nmode = \"legacy\"\n";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// 32 random hex characters.
pub fn random_jti() -> String {
    jargate::random::hex(&jargate::random::bytes::<16>().expect("system randomness"))
}

/// `base` with `changes` merged in: each member of `changes` replaces or adds one, `null` removes
/// one.
pub fn merged(mut base: Value, changes: Value) -> Value {
    if let (Value::Object(base), Value::Object(changes)) = (&mut base, changes) {
        for (name, value) in changes {
            if value.is_null() {
                base.remove(&name);
            } else {
                base.insert(name, value);
            }
        }
    }
    base
}

/// Claims of a valid client assertion: iss = sub = `client_id`, aud = the issuer, fresh jti,
/// iat = now, exp = now + 60.
pub fn valid_assertion_claims(client_id: &str) -> Value {
    let t = now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "jti": random_jti(),
        "iat": t,
        "exp": t + 60,
    })
}

/// A fresh, valid client assertion of `client`, signed by `tests/keys/<key>` with `alg`.
pub fn assertion_by(key: &str, alg: &str, client: &str) -> String {
    Jwt::signed(&TestKey::load(key), alg)
        .claims(valid_assertion_claims(client))
        .build()
}

/// A valid `app-1` assertion (rsa-a, RS256) with these claims.
pub fn app1_assertion(claims: Value) -> String {
    Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(claims)
        .build()
}

/// Claims of a valid request object of `client` (`REDIRECT`, `openid email`, a state and a
/// nonce, fresh jti, iat = nbf = now, exp = now + 300) with `changes` [`merged`] in.
pub fn object_claims(client: &str, changes: Value) -> Value {
    let t = now();
    let claims = json!({
        "iss": client,
        "aud": ISSUER,
        "client_id": client,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "af0ifjsldkj",
        "nonce": "n-0S6_WzA2Mj",
        "jti": random_jti(),
        "iat": t,
        "nbf": t,
        "exp": t + 300,
    });
    merged(claims, changes)
}

/// A request object: `claims` signed by `tests/keys/<key>` with `alg`, typed
/// `oauth-authz-req+jwt`.
pub fn object_by(key: &str, alg: &str, claims: Value) -> String {
    Jwt::signed(&TestKey::load(key), alg)
        .header("typ", json!("oauth-authz-req+jwt"))
        .claims(claims)
        .build()
}

/// A valid request object of `app-1` (its JAR key rsa-b, PS256).
pub fn app1_object() -> String {
    object_by("rsa-b", "PS256", object_claims("app-1", json!({})))
}

/// A token-endpoint form carrying `assertion` (client_credentials grant).
pub fn assertion_form(assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={assertion}"
    )
}

/// POSTs [`assertion_form`] of `assertion` to the token endpoint of the proxy at `addr`.
pub async fn post_token(addr: SocketAddr, assertion: &str) -> Response {
    post_form(addr, TOKEN, &assertion_form(assertion)).await
}

/// The `application/x-www-form-urlencoded` byte serializer (WHATWG URL §5.2), written out here
/// independently of jargate's: ASCII alphanumerics and `*-._` as they are, space as `+`, every
/// other byte as `%XX`.
pub fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `Basic base64(form(id) ":" form(secret))` (RFC 6749 §2.3.1).
pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        b64std(format!("{}:{}", form_encode(id), form_encode(secret)).as_bytes())
    )
}

/// `unix` as an RFC 3339 date-time, the form of the registry's `expires_at`.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .expect("timestamp")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// `{"credential_type":"public_key","pem":<tests/keys/<key>.pub.pem>,"alg":alg}`.
pub fn pem_credential(key: &str, alg: &str) -> Value {
    json!({"credential_type": "public_key", "pem": key_file(&format!("{key}.pub.pem")), "alg": alg})
}

/// A client whose `token_endpoint_auth_method` is `private_key_jwt`, with these assertion
/// credentials.
pub fn pkjwt_client(client_id: &str, credentials: Vec<Value>) -> Value {
    json!({
        "client_id": client_id,
        "token_endpoint_auth_method": "private_key_jwt",
        "client_authentication_methods": {"private_key_jwt": {"credentials": credentials}},
    })
}

/// `{"clients": [...]}`.
pub fn registry(clients: Vec<Value>) -> Value {
    json!({ "clients": clients })
}

/// The registry most tests run against:
/// * `app-1`: private_key_jwt, assertion key rsa-a (RS256); JAR key rsa-b (PS256) only.
/// * `app-ps`: private_key_jwt, rsa-c (PS256).
/// * `app-es`: private_key_jwt, ec-a (ES256).
/// * `app-ed`: private_key_jwt, ed-a (EdDSA).
/// * `app-post`: `client_secret_post`, with an assertion key ec-b (ES256) all the same.
pub fn default_clients() -> Value {
    let mut app1 = pkjwt_client("app-1", vec![pem_credential("rsa-a", "RS256")]);
    app1["signed_request_object"] = json!({"credentials": [pem_credential("rsa-b", "PS256")]});
    let mut post = pkjwt_client("app-post", vec![pem_credential("ec-b", "ES256")]);
    post["token_endpoint_auth_method"] = json!("client_secret_post");
    registry(vec![
        app1,
        pkjwt_client("app-ps", vec![pem_credential("rsa-c", "PS256")]),
        pkjwt_client("app-es", vec![pem_credential("ec-a", "ES256")]),
        pkjwt_client("app-ed", vec![pem_credential("ed-a", "EdDSA")]),
        post,
    ])
}
