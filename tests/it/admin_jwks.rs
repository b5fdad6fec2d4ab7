//! The clients' JWK Sets on the admin listener (docs/client-keys.md):
//! `GET /clients/{client_id}/jwks.json` (private_key_jwt keys) and `/jar-jwks.json`
//! (request-object keys), through the real `jargate` binary. Public members only, current
//! credentials only, `kid` = the registered kid or the RFC 7638 thumbprint, `alg` and
//! `use: "sig"`, a short `Cache-Control: max-age`; `jwks_uri` credentials contribute their keys
//! as last fetched; an unknown client or file is a JSON 404.

use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `jwk` (required members) plus `kid`, `use`, `alg`: what the admin listener serves.
fn served(key: &TestKey, kid: &str, alg: &str) -> Value {
    let mut jwk = key.jwk();
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(alg);
    jwk
}

async fn fetch(j: &Jargate, path: &str) -> Response {
    get(j.admin_addr(), path).await
}

#[tokio::test]
async fn each_use_has_its_own_set_of_current_public_keys() {
    let mut app1 = pkjwt_client(
        "app-1",
        vec![
            pem_credential("rsa-a", "RS256"),
            // Rotated out: expired, so no longer served.
            json!({"credential_type": "public_key", "pem": key_file("ec-a.pub.pem"),
                   "alg": "ES256", "expires_at": rfc3339(now() - 60)}),
            json!({"credential_type": "public_key", "pem": key_file("ed-a.pub.pem"),
                   "alg": "EdDSA", "kid": "ed-2026", "expires_at": rfc3339(now() + 30)}),
        ],
    );
    app1["signed_request_object"] = json!({"credentials": [pem_credential("rsa-b", "PS256")]});
    let (_up, j) = start_with("", registry(vec![app1])).await;

    let resp = fetch(&j, "/clients/app-1/jwks.json").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let rsa = TestKey::load("rsa-a");
    let ed = TestKey::load("ed-a");
    assert_eq!(
        resp.json(),
        json!({"keys": [served(&rsa, &rsa.thumbprint(), "RS256"), served(&ed, "ed-2026", "EdDSA")]})
    );
    // Cached no longer than until the first credential expires.
    let cache = resp.header("cache-control").expect("cache-control");
    let age: i64 = cache
        .strip_prefix("max-age=")
        .and_then(|s| s.parse().ok())
        .expect(cache);
    assert!((1..=30).contains(&age), "{cache}");

    let resp = fetch(&j, "/clients/app-1/jar-jwks.json").await;
    assert_eq!(resp.status, 200);
    let jar = TestKey::load("rsa-b");
    assert_eq!(
        resp.json(),
        json!({"keys": [served(&jar, &jar.thumbprint(), "PS256")]})
    );
    assert_eq!(resp.header("cache-control"), Some("max-age=60"));
    // A client without request-object keys has an empty set, not an error.
    let (_up, j) = start_default().await;
    let resp = fetch(&j, "/clients/app-es/jar-jwks.json").await;
    assert_eq!((resp.status, resp.json()), (200, json!({"keys": []})));
}

#[tokio::test]
async fn no_private_member_is_ever_served() {
    let (_up, j) = start_default().await;
    for client in ["app-1", "app-ps", "app-es", "app-ed", "app-post"] {
        for file in ["jwks.json", "jar-jwks.json"] {
            let resp = fetch(&j, &format!("/clients/{client}/{file}")).await;
            assert_eq!(resp.status, 200, "{client}/{file}");
            for key in resp.json()["keys"].as_array().expect("keys") {
                for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                    assert!(key.get(private).is_none(), "{private} in {key}");
                }
            }
        }
    }
}

#[tokio::test]
async fn unknown_clients_and_files_are_json_404s() {
    let odd = pkjwt_client("svc:1 x", vec![pem_credential("ed-a", "EdDSA")]);
    let (_up, j) = start_with("", registry(vec![odd])).await;
    for path in [
        "/clients/nobody/jwks.json",
        "/clients/svc:1 x/private.pem",
        "/clients/svc%3A1%20x",
        "/clients/%FF/jwks.json",
        "/clients/",
    ] {
        let resp = fetch(&j, &path.replace(' ', "%20")).await;
        assert_eq!(resp.status, 404, "{path}");
        assert_eq!(resp.json()["error"], "not_found", "{path}");
        assert_eq!(resp.header("content-type"), Some("application/json"));
    }
    let resp = post_form(j.admin_addr(), "/clients/svc%3A1%20x/jwks.json", "").await;
    assert_eq!(resp.status, 405);
    // The client id is percent-decoded.
    let resp = fetch(&j, "/clients/svc%3A1%20x/jwks.json").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["keys"][0]["alg"], "EdDSA");
}

#[tokio::test]
async fn jwks_uri_keys_are_served_as_last_fetched() {
    let remote = TestKey::load("ec-b");
    let mut remote_jwk = remote.jwk();
    remote_jwk["kid"] = json!("remote-1");
    remote_jwk["alg"] = json!("ES256");
    let set = json!({"keys": [remote_jwk]}).to_string().into_bytes();
    let server = CannedUpstream::start(200, &[("Content-Type", "application/json")], set).await;
    let client = pkjwt_client(
        "app-remote",
        vec![
            pem_credential("rsa-a", "RS256"),
            json!({"credential_type": "jwks_uri",
                   "uri": format!("http://{}/jwks.json", server.addr())}),
        ],
    );
    let (_up, j) = start_with("", registry(vec![client])).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let rsa = TestKey::load("rsa-a");
    loop {
        let keys = fetch(&j, "/clients/app-remote/jwks.json").await.json()["keys"].clone();
        if keys.as_array().is_some_and(|k| k.len() == 2) {
            assert_eq!(keys[0], served(&rsa, &rsa.thumbprint(), "RS256"));
            assert_eq!(keys[1], served(&remote, "remote-1", "ES256"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the remote set was never served: {keys}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
