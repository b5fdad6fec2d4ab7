//! Legacy mode (SPEC §1): the upstream knows nothing of JAR, PAR or private_key_jwt, so a
//! validated request is translated into the plain OAuth it does know: parameters from the
//! request object's claims, pushed requests kept by jargate, and the client's upstream secret
//! in place of its assertion. The secret appears only in the forwarded request, never in logs.

use super::Forward;
use crate::config::{Client, Snapshot, UpstreamAuth};
use crate::reject::{Rejection, RequestFault};
use crate::request::params::{json_body, Origin, Params, CLIENT_AUTH};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// JWT claims that describe the object itself, not the authorization request (SPEC §1).
pub(super) const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

/// The authorization request carried by a request object, as a query string: every claim but
/// the JWT ones; strings as they are, numbers and booleans as JSON text, objects and arrays as
/// compact JSON; `client_id` first. The claims become parameters under the rules of parsed ones
/// (SPEC §5 "No parser differential"): a claim name another parser would rewrite (`a.b`,
/// `Client_Id`), two names equal ignoring case, or a NUL in a value is refused rather than
/// forwarded.
pub fn query_from_claims(
    client_id: &str,
    claims: &Map<String, Value>,
) -> Result<String, RequestFault> {
    let mut params = Params::default();
    params.add_decoded("client_id".into(), client_id.into())?;
    for (name, value) in claims {
        if name == "client_id" || JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        params.add_decoded(name.clone(), text)?;
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for p in params.iter() {
        query.append_pair(&p.name, &p.value);
    }
    Ok(query.finish())
}

/// The parameters of a plain (unsigned) pushed request: everything but client authentication.
pub fn query_from_params(client_id: &str, params: &Params) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", client_id);
    for p in params.iter() {
        if p.name != "client_id" && !CLIENT_AUTH.contains(&p.name.as_str()) {
            query.append_pair(&p.name, &p.value);
        }
    }
    query.finish()
}

/// An `/authorize` request for the upstream: a GET carrying `query`, whatever the client used.
pub fn authorize_with(query: String) -> Forward {
    Forward {
        query: Some(query),
        as_get: true,
        ..Forward::default()
    }
}

/// What a pushed request stores until it is redeemed.
#[derive(Serialize, Deserialize)]
pub struct PushedRequest {
    pub client_id: String,
    pub query: String,
    /// When it was pushed (Unix seconds), for the fapi2 age rule (SPEC §9); absent in entries
    /// an older version wrote.
    #[serde(default)]
    pub pushed_at: Option<i64>,
}

pub fn pushed_key(request_uri: &str) -> String {
    format!("par:{request_uri}")
}

/// A fresh `request_uri` with 128 random bits (RFC 9126 §2.2).
pub fn new_request_uri() -> Result<String, Rejection> {
    let bytes = crate::random::bytes::<16>().map_err(|_| Rejection::StoreUnavailable)?;
    Ok(format!(
        "{}{}",
        crate::rules::PAR_URN_PREFIX,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Replaces the client assertion of a token or client-authentication request with the client's
/// upstream secret (`client_secret_post`, or Basic per RFC 6749 §2.3.1).
pub fn client_secret(
    snapshot: &Snapshot,
    client: &Client,
    params: &Params,
    body: &[u8],
) -> Result<Forward, Rejection> {
    // `Snapshot::build` refuses a legacy configuration with a client lacking a secret.
    let secret = client.upstream_client_secret.as_deref().unwrap_or_default();
    let basic = snapshot.settings.upstream.client_auth == UpstreamAuth::Basic;
    let keep = |name: &str| match name {
        "client_assertion" | "client_assertion_type" => false,
        "client_id" => !basic,
        _ => true,
    };
    let json = params.iter().any(|p| p.origin == Origin::Json);
    let body = if json {
        let mut object = json_body(params.iter().filter(|p| keep(&p.name)));
        if !basic {
            object.insert("client_id".into(), Value::String(client.id.clone()));
            object.insert("client_secret".into(), Value::String(secret.to_owned()));
        }
        Value::Object(object).to_string()
    } else {
        // Rebuilt from the canonical parameters, never from raw pieces of the client's form.
        let mut pieces: Vec<std::borrow::Cow<'_, str>> = params
            .iter()
            .filter(|p| p.origin == Origin::Form && keep(&p.name))
            .map(|p| p.canonical_text(body))
            .collect();
        let mut extra = form_urlencoded::Serializer::new(String::new());
        if !basic {
            if !params.contains("client_id") {
                extra.append_pair("client_id", &client.id);
            }
            extra.append_pair("client_secret", secret);
        }
        let extra = extra.finish();
        if !extra.is_empty() {
            pieces.push(extra.into());
        }
        pieces.join("&")
    };
    let authorization = basic.then(|| {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", encode(&client.id), encode(secret)))
        )
    });
    Ok(Forward {
        body: Some(Bytes::from(body.into_bytes())),
        // In post mode the secret travels in the body: whatever `Authorization` the client
        // sent must not reach the upstream next to it.
        drop_authorization: authorization.is_none(),
        authorization,
        ..Forward::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_become_parameters_with_their_json_text() {
        let claims = json!({
            "iss": "app", "aud": "https://as/", "exp": 1, "iat": 1, "nbf": 1, "jti": "j",
            "client_id": "app", "response_type": "code", "max_age": 300, "flag": true,
            "claims": {"id_token": {"email": null}}, "scope": "openid email"
        });
        let query = query_from_claims("app", claims.as_object().unwrap()).unwrap();
        assert_eq!(
            query,
            "client_id=app&claims=%7B%22id_token%22%3A%7B%22email%22%3Anull%7D%7D&flag=true\
             &max_age=300&response_type=code&scope=openid+email"
        );
    }

    #[test]
    fn request_uris_are_unpredictable_and_well_formed() {
        let a = new_request_uri().unwrap();
        let b = new_request_uri().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("urn:ietf:params:oauth:request_uri:"));
        assert_eq!(a.len(), "urn:ietf:params:oauth:request_uri:".len() + 22);
    }
}
