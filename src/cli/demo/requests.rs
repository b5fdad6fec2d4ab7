//! The demo's requests and what the upstream must have seen of them: form bodies and queries,
//! a tampered request object, and the checks on recorded upstream requests.

use super::setup::{CLIENT_ID, UPSTREAM_SECRET};
use super::upstream::Seen;
use crate::rules::JWT_BEARER;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::Value;

pub fn token_request(assertion: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", CLIENT_ID.into()),
        ("client_assertion_type", JWT_BEARER.into()),
        ("client_assertion", assertion.into()),
    ]
}

pub fn pairs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

pub fn authorize_query(extra: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", CLIENT_ID)
        .extend_pairs(extra)
        .finish();
    format!("/authorize?{query}")
}

/// The same object with one claim changed after signing.
pub fn tamper(token: &str) -> Result<String, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("signed token is not three parts".into());
    };
    let payload = B64.decode(p).map_err(|e| e.to_string())?;
    let mut claims: Value = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
    claims["redirect_uri"] = Value::from("https://attacker.example/cb");
    Ok(format!("{h}.{}.{s}", B64.encode(claims.to_string())))
}

fn form_has(seen: &Seen, name: &str) -> bool {
    form_urlencoded::parse(seen.body.as_bytes()).any(|(k, _)| k == name)
}

pub fn has_assertion(seen: &Seen) -> bool {
    form_has(seen, "client_assertion") && !form_has(seen, "client_secret")
}

pub fn has_request(seen: &Seen) -> bool {
    seen.path_and_query.contains("request=")
}

pub fn has_secret(seen: &Seen) -> bool {
    !form_has(seen, "client_assertion")
        && form_urlencoded::parse(seen.body.as_bytes())
            .any(|(k, v)| k == "client_secret" && v == UPSTREAM_SECRET)
}

pub fn is_translated(seen: &Seen) -> bool {
    let query = seen.path_and_query.split_once('?').map_or("", |(_, q)| q);
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    seen.method == "GET"
        && get("client_id") == Some(CLIENT_ID)
        && get("response_type") == Some("code")
        && get("redirect_uri") == Some("https://app.example/cb")
        && get("request_uri").is_none()
        && get("request").is_none()
}
