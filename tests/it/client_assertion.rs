//! Client assertions (RFC 7523 `private_key_jwt`) through the real `jargate` binary and a stub
//! upstream: SPEC §4 credentials (pem, pem_file, certificate, jwk, rotation, expiry, kid) and
//! the JWT rules of SPEC §5 (size and shape, header, signature, claims, time claims, audience,
//! explicit types, single-use jti) at `/oauth/token`, with one accept/refuse pair each at
//! `/oauth/par` and at a `paths.client_auth` path (`/oauth/revoke`).
//!
//! Every refusal checks status, `error`, `Content-Type: application/json`,
//! `Cache-Control: no-store` and that the upstream received nothing; every acceptance checks the
//! upstream received the path and body byte-for-byte.

use crate::common::*;
use serde_json::{json, Value};

async fn send_token(j: &Jargate, jwt: &str) -> (Response, String) {
    let body = assertion_form(jwt);
    (post_form(j.proxy_addr(), TOKEN, &body).await, body)
}

/// POST `jwt` to /oauth/token; it must reach the upstream unchanged (as request `nth`).
async fn expect_accepted_nth(up: &StubUpstream, j: &Jargate, jwt: &str, nth: usize) {
    let (resp, body) = send_token(j, jwt).await;
    assert_forwarded_nth(&resp, up, nth, "POST", TOKEN, body.as_bytes());
}

/// POST `jwt` (already form-safe) with `client_id=<client_id>` first, so the client is known even
/// when the token itself cannot be decoded: the refusal must come from the token.
async fn expect_invalid_client_for(up: &StubUpstream, j: &Jargate, client_id: &str, jwt: &str) {
    let body = format!("client_id={client_id}&{}", assertion_form(jwt));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 401, "invalid_client", up);
}

async fn expect_accepted(up: &StubUpstream, j: &Jargate, jwt: &str) {
    expect_accepted_nth(up, j, jwt, 0).await;
}

/// POST `jwt` to /oauth/token; it must be refused 401 invalid_client, nothing forwarded.
async fn expect_invalid_client(up: &StubUpstream, j: &Jargate, jwt: &str) {
    let (resp, _) = send_token(j, jwt).await;
    assert_rejected(&resp, 401, "invalid_client", up);
}

/// What the proxy does with a token request in the tables below.
#[derive(Clone, Copy)]
enum Expect {
    /// Forwarded unchanged.
    Accepted,
    /// 401 `invalid_client`, nothing forwarded.
    InvalidClient,
}
use Expect::{Accepted, InvalidClient};

async fn expect(up: &StubUpstream, j: &Jargate, jwt: &str, expect: Expect) {
    match expect {
        Accepted => expect_accepted(up, j, jwt).await,
        InvalidClient => expect_invalid_client(up, j, jwt).await,
    }
}

/// app-1 claims with `changes` merged in (`null` removes a claim).
fn app1_claims(changes: Value) -> Value {
    merged(valid_assertion_claims("app-1"), changes)
}

/// A valid app-1 assertion with `changes(now)` merged into its claims, sent to a proxy on
/// `extra_toml` and the default registry.
async fn app1_claims_case(extra_toml: &str, changes: fn(i64) -> Value, verdict: Expect) {
    let (up, j) = start_with(extra_toml, default_clients()).await;
    let jwt = app1_assertion(app1_claims(changes(now())));
    expect(&up, &j, &jwt, verdict).await;
}

// ----------------------------------------------------------------------------------------------
// Algorithms and credentials
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn rs256_assertion_is_accepted_and_forwarded_unchanged() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let (resp, body) = send_token(&j, &jwt).await;
    let fwd = assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
    assert_eq!(
        fwd.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
}

/// A valid assertion of `client` signed by its registered key, with its registered `alg`.
async fn signed_by_case(key: &str, alg: &str, client: &str) {
    let (up, j) = start_default().await;
    expect_accepted(&up, &j, &assertion_by(key, alg, client)).await;
}

cases! { signed_by_case;
    ps256_assertion_is_accepted: "rsa-c", "PS256", "app-ps";
    es256_assertion_is_accepted: "ec-a", "ES256", "app-es";
    eddsa_assertion_is_accepted: "ed-a", "EdDSA", "app-ed";
}

#[tokio::test]
async fn alg_other_than_the_credentials_alg_is_refused() {
    // rsa-a is registered for RS256; a valid RS384 (and PS256) signature by the same key is not.
    let (up, j) = start_default().await;
    let key = TestKey::load("rsa-a");
    for alg in ["RS384", "PS256"] {
        let jwt = Jwt::signed(&key, alg)
            .claims(valid_assertion_claims("app-1"))
            .build();
        expect_invalid_client(&up, &j, &jwt).await;
    }
}

#[tokio::test]
async fn credential_from_pem_file_is_accepted() {
    let clients = registry(vec![pkjwt_client(
        "app-file",
        vec![
            json!({"credential_type": "public_key", "pem_file": "keys/rsa-a.pub.pem", "alg": "RS256"}),
        ],
    )]);
    let (up, j) = start_with("", clients).await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(valid_assertion_claims("app-file"))
        .build();
    expect_accepted(&up, &j, &jwt).await;
}

#[tokio::test]
async fn credential_from_certificate_pem_is_accepted() {
    let clients = registry(vec![pkjwt_client(
        "app-cert",
        vec![
            json!({"credential_type": "public_key", "pem": key_file("rsa-a.cert.pem"), "alg": "RS256"}),
        ],
    )]);
    let (up, j) = start_with("", clients).await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(valid_assertion_claims("app-cert"))
        .build();
    expect_accepted(&up, &j, &jwt).await;
}

#[tokio::test]
async fn credential_from_jwk_is_accepted() {
    let key = TestKey::load("ec-a");
    let clients = registry(vec![pkjwt_client(
        "app-jwk",
        vec![json!({"credential_type": "public_key", "jwk": key.jwk(), "alg": "ES256"})],
    )]);
    let (up, j) = start_with("", clients).await;
    let jwt = Jwt::signed(&key, "ES256")
        .claims(valid_assertion_claims("app-jwk"))
        .build();
    expect_accepted(&up, &j, &jwt).await;
}

#[tokio::test]
async fn rotated_credentials_both_verify() {
    let clients = registry(vec![pkjwt_client(
        "app-rot",
        vec![
            pem_credential("rsa-a", "RS256"),
            pem_credential("rsa-b", "RS256"),
        ],
    )]);
    let (up, j) = start_with("", clients).await;
    let old = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(valid_assertion_claims("app-rot"))
        .build();
    expect_accepted_nth(&up, &j, &old, 0).await;
    let new = Jwt::signed(&TestKey::load("rsa-b"), "RS256")
        .claims(valid_assertion_claims("app-rot"))
        .build();
    expect_accepted_nth(&up, &j, &new, 1).await;
}

fn expiring_clients() -> Value {
    let mut expired = pem_credential("rsa-b", "RS256");
    expired["expires_at"] = json!("2020-01-01T00:00:00Z");
    expired["kid"] = json!("old-2019");
    let mut current = pem_credential("rsa-a", "RS256");
    current["expires_at"] = json!("2099-01-01T00:00:00Z");
    registry(vec![pkjwt_client("app-exp", vec![current, expired])])
}

#[tokio::test]
async fn expired_credential_is_refused() {
    let (up, j) = start_with("", expiring_clients()).await;
    let by_expired = Jwt::signed(&TestKey::load("rsa-b"), "RS256")
        .claims(valid_assertion_claims("app-exp"))
        .build();
    expect_invalid_client(&up, &j, &by_expired).await;
    // Control: the unexpired credential of the same client still works.
    let by_current = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(valid_assertion_claims("app-exp"))
        .build();
    expect_accepted(&up, &j, &by_current).await;
}

#[tokio::test]
async fn kid_naming_an_expired_credential_is_refused() {
    // Signed by the current key, but the kid names the expired one: kid must name a CURRENT
    // credential.
    let (up, j) = start_with("", expiring_clients()).await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .header("kid", json!("old-2019"))
        .claims(valid_assertion_claims("app-exp"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

fn kid_clients() -> Value {
    let mut named = pem_credential("rsa-a", "RS256");
    named["kid"] = json!("key-2026");
    // rsa-b has no kid: it is named by its RFC 7638 thumbprint.
    registry(vec![pkjwt_client(
        "app-kid",
        vec![named, pem_credential("rsa-b", "RS256")],
    )])
}

#[tokio::test]
async fn kid_naming_an_explicit_credential_kid_is_accepted() {
    let (up, j) = start_with("", kid_clients()).await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .header("kid", json!("key-2026"))
        .claims(valid_assertion_claims("app-kid"))
        .build();
    expect_accepted(&up, &j, &jwt).await;
}

#[tokio::test]
async fn kid_equal_to_the_thumbprint_of_a_kidless_credential_is_accepted() {
    let (up, j) = start_with("", kid_clients()).await;
    let key = TestKey::load("rsa-b");
    let jwt = Jwt::signed(&key, "RS256")
        .header("kid", json!(key.thumbprint()))
        .claims(valid_assertion_claims("app-kid"))
        .build();
    expect_accepted(&up, &j, &jwt).await;
}

#[tokio::test]
async fn unknown_kid_is_refused() {
    let (up, j) = start_with("", kid_clients()).await;
    // Validly signed by a registered key, but the kid names no credential.
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .header("kid", json!("key-1999"))
        .claims(valid_assertion_claims("app-kid"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

#[tokio::test]
async fn jar_credential_does_not_verify_an_assertion() {
    // app-1 lists rsa-b only under signed_request_object.credentials.
    let (up, j) = start_default().await;
    let jwt = Jwt::signed(&TestKey::load("rsa-b"), "PS256")
        .claims(valid_assertion_claims("app-1"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
    let jwt = Jwt::signed(&TestKey::load("rsa-b"), "RS256")
        .claims(valid_assertion_claims("app-1"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
    // Control: the assertion key works.
    expect_accepted(&up, &j, &app1_assertion(valid_assertion_claims("app-1"))).await;
}

#[tokio::test]
async fn assertion_for_an_unknown_client_is_refused() {
    let (up, j) = start_default().await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(valid_assertion_claims("nobody"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

#[tokio::test]
async fn assertion_naming_another_client_is_refused() {
    // iss = sub = app-ps (rsa-c, PS256), but signed PS256 with app-1's rsa-a.
    let (up, j) = start_default().await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "PS256")
        .claims(valid_assertion_claims("app-ps"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

// ----------------------------------------------------------------------------------------------
// Single use
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn replayed_assertion_is_refused_and_never_forwarded() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    expect_accepted(&up, &j, &jwt).await;
    let (resp, _) = send_token(&j, &jwt).await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(up.count(), 1, "the replay must not reach the upstream");
}

#[tokio::test]
async fn a_full_memory_store_refuses_with_503_rather_than_forget() {
    let (up, j) = start_with("[store]\nmax_entries = 2\n", default_clients()).await;
    for _ in 0..2 {
        let (resp, _) = send_token(&j, &app1_assertion(valid_assertion_claims("app-1"))).await;
        assert_eq!(resp.status, 200);
    }
    let (resp, _) = send_token(&j, &app1_assertion(valid_assertion_claims("app-1"))).await;
    assert_error(&resp, 503, "temporarily_unavailable");
    assert_eq!(
        up.count(),
        2,
        "nothing is forwarded without single use recorded"
    );
}

#[tokio::test]
async fn replay_with_the_same_jti_in_a_new_token_is_refused() {
    let (up, j) = start_default().await;
    let claims = valid_assertion_claims("app-1");
    expect_accepted(&up, &j, &app1_assertion(claims.clone())).await;
    // Same jti, different token bytes (new exp, signed again).
    let mut again = claims;
    again["exp"] = json!(now() + 90);
    let (resp, _) = send_token(&j, &app1_assertion(again)).await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(up.count(), 1, "the replay must not reach the upstream");
}

#[tokio::test]
async fn jti_single_use_is_per_client() {
    let (up, j) = start_default().await;
    let jti = random_jti();
    let mut c1 = valid_assertion_claims("app-1");
    c1["jti"] = json!(jti);
    let mut c2 = valid_assertion_claims("app-es");
    c2["jti"] = json!(jti);
    expect_accepted_nth(&up, &j, &app1_assertion(c1), 0).await;
    let jwt2 = Jwt::signed(&TestKey::load("ec-a"), "ES256")
        .claims(c2)
        .build();
    expect_accepted_nth(&up, &j, &jwt2, 1).await;
}

// ----------------------------------------------------------------------------------------------
// Time claims (default skew 10 s, assertion max lifetime 300 s). Times stay several seconds away
// from every boundary, except where the claims alone decide.
// ----------------------------------------------------------------------------------------------

cases! { app1_claims_case;
    assertion_without_exp_is_refused: "", |_| json!({"exp": null}), InvalidClient;
    expired_assertion_is_refused: "", |t| json!({"iat": t - 180, "exp": t - 120}), InvalidClient;
    exp_eleven_seconds_ago_is_beyond_the_default_skew_and_refused:
        "", |t| json!({"iat": t - 60, "exp": t - 11}), InvalidClient;
    exp_a_few_seconds_ago_is_within_the_skew_and_accepted:
        "", |t| json!({"iat": t - 60, "exp": t - 3}), Accepted;
    lifetime_over_the_maximum_is_refused: "", |t| json!({"iat": t, "exp": t + 400}), InvalidClient;
    lifetime_of_exactly_the_maximum_is_accepted:
        "", |t| json!({"iat": t, "exp": t + 300}), Accepted;
    lifetime_without_iat_or_nbf_counts_from_now:
        "", |t| json!({"iat": null, "exp": t + 400}), InvalidClient;
    assertion_without_iat_is_accepted: "", |t| json!({"iat": null, "exp": t + 60}), Accepted;
    iat_in_the_future_beyond_the_skew_is_refused:
        "", |t| json!({"iat": t + 60, "exp": t + 120}), InvalidClient;
    iat_slightly_in_the_future_within_the_skew_is_accepted:
        "", |t| json!({"iat": t + 3, "exp": t + 60}), Accepted;
    nbf_in_the_future_is_refused:
        "", |t| json!({"iat": t, "nbf": t + 60, "exp": t + 120}), InvalidClient;
    nbf_older_than_the_max_lifetime_is_refused:
        "", |t| json!({"iat": t, "nbf": t - 600, "exp": t + 60}), InvalidClient;
    recent_nbf_is_accepted: "", |t| json!({"iat": t - 30, "nbf": t - 30, "exp": t + 60}), Accepted;
    exp_as_a_string_is_refused: "", |t| json!({"exp": (t + 60).to_string()}), InvalidClient;
    iat_as_a_string_is_refused: "", |t| json!({"iat": t.to_string()}), InvalidClient;
    nbf_as_a_string_is_refused: "", |t| json!({"nbf": (t - 5).to_string()}), InvalidClient;
}

// ----------------------------------------------------------------------------------------------
// Audience
// ----------------------------------------------------------------------------------------------

const ALIAS: &str = "https://auth.example.org/";
const WITH_ALIAS: &str = "[issuer]\naliases = [\"https://auth.example.org/\"]\n";
const STRICT: &str = "[issuer]\nstrict_audience = true\n";
const STRICT_WITH_ALIAS: &str =
    "[issuer]\nstrict_audience = true\naliases = [\"https://auth.example.org/\"]\n";

cases! { app1_claims_case;
    aud_string_equal_to_the_issuer_is_accepted: "", |_| json!({"aud": ISSUER}), Accepted;
    aud_array_containing_the_issuer_is_accepted:
        "", |_| json!({"aud": ["https://other.example.net/", ISSUER]}), Accepted;
    aud_equal_to_a_configured_alias_is_accepted: WITH_ALIAS, |_| json!({"aud": ALIAS}), Accepted;
    aud_alias_without_configuration_is_refused: "", |_| json!({"aud": ALIAS}), InvalidClient;
    wrong_aud_is_refused: "", |_| json!({"aud": "https://evil.example.com/"}), InvalidClient;
    aud_array_without_the_issuer_is_refused:
        "", |_| json!({"aud": ["https://evil.example.com/", "https://login.example.com"]}),
        InvalidClient;
    missing_aud_is_refused: "", |_| json!({"aud": null}), InvalidClient;
    strict_audience_refuses_an_array_even_holding_only_the_issuer:
        STRICT, |_| json!({"aud": [ISSUER]}), InvalidClient;
    strict_audience_accepts_the_issuer_string: STRICT, |_| json!({"aud": ISSUER}), Accepted;
    strict_audience_refuses_an_alias: STRICT_WITH_ALIAS, |_| json!({"aud": ALIAS}), InvalidClient;
}

// ----------------------------------------------------------------------------------------------
// Header and signature
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn alg_none_is_refused() {
    let (up, j) = start_default().await;
    let jwt = Jwt::unsigned()
        .claims(valid_assertion_claims("app-1"))
        .build();
    assert!(jwt.ends_with('.'), "alg none has an empty signature: {jwt}");
    expect_invalid_client_for(&up, &j, "app-1", &jwt).await;
}

#[tokio::test]
async fn alg_none_with_a_signature_part_is_refused() {
    let (up, j) = start_default().await;
    let unsigned = Jwt::unsigned()
        .claims(valid_assertion_claims("app-1"))
        .build();
    // Borrow a real RS256 signature so the token is a well-formed three-part JWS.
    let signed = app1_assertion(valid_assertion_claims("app-1"));
    let jwt = format!("{unsigned}{}", parts(&signed)[2]);
    assert_eq!(jwt.split('.').count(), 3);
    expect_invalid_client_for(&up, &j, "app-1", &jwt).await;
}

#[tokio::test]
async fn hs256_signed_with_the_registered_public_key_is_refused() {
    let (up, j) = start_default().await;
    // The classic RS→HS confusion: the public key PEM text as an HMAC secret.
    let pem = TestKey::load("rsa-a").pub_pem().to_owned();
    for secret in [pem.as_str(), pem.trim_end()] {
        let jwt = Jwt::hmac(secret.as_bytes(), "HS256")
            .claims(valid_assertion_claims("app-1"))
            .build();
        expect_invalid_client(&up, &j, &jwt).await;
    }
}

#[tokio::test]
async fn tampered_signature_is_refused() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let bad = tamper_signature(&jwt);
    assert_ne!(bad, jwt);
    expect_invalid_client(&up, &j, &bad).await;
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let mut claims = decode_claims(&jwt);
    claims["exp"] = json!(now() + 120);
    let bad = replace_payload(&jwt, &claims);
    assert_ne!(bad, jwt);
    expect_invalid_client(&up, &j, &bad).await;
}

#[tokio::test]
async fn crit_header_is_refused() {
    let (up, j) = start_default().await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .header("crit", json!(["exp"]))
        .header("exp", json!(now() + 60))
        .claims(valid_assertion_claims("app-1"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

#[tokio::test]
async fn embedded_jwk_header_key_is_never_used() {
    // Signed by the attacker's rsa-c, carrying rsa-c's public key in `jwk`.
    let (up, j) = start_default().await;
    let attacker = TestKey::load("rsa-c");
    let jwt = Jwt::signed(&attacker, "RS256")
        .header("jwk", attacker.jwk())
        .claims(valid_assertion_claims("app-1"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

#[tokio::test]
async fn embedded_jwk_header_with_its_thumbprint_as_kid_is_refused() {
    let (up, j) = start_default().await;
    let attacker = TestKey::load("rsa-c");
    let jwt = Jwt::signed(&attacker, "RS256")
        .header("jwk", attacker.jwk())
        .header("kid", json!(attacker.thumbprint()))
        .claims(valid_assertion_claims("app-1"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

#[tokio::test]
async fn jku_header_is_ignored_and_the_registered_key_verifies() {
    let (up, j) = start_default().await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .header("jku", json!("http://127.0.0.1:9/attacker-jwks.json"))
        .claims(valid_assertion_claims("app-1"))
        .build();
    expect_accepted(&up, &j, &jwt).await;
}

#[tokio::test]
async fn header_that_is_not_a_json_object_is_refused() {
    let (up, j) = start_default().await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .raw_header(r#"["alg","RS256"]"#)
        .claims(valid_assertion_claims("app-1"))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

// ----------------------------------------------------------------------------------------------
// Size and compact shape
// ----------------------------------------------------------------------------------------------

/// An app-1 assertion of exactly `len` bytes. The header carries `typ:
/// client-authentication+jwt` because with it both 2048 and 2049 are reachable lengths.
fn app1_assertion_of_len(key: &TestKey, len: usize) -> String {
    let jwt = Jwt::signed(key, "RS256")
        .header("typ", json!("client-authentication+jwt"))
        .claims(valid_assertion_claims("app-1"))
        .build_with_len("pad", len);
    match jwt {
        Some(jwt) => jwt,
        None => panic!("cannot build an assertion of exactly {len} bytes"),
    }
}

#[tokio::test]
async fn assertion_of_exactly_max_assertion_bytes_is_accepted() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion_of_len(&TestKey::load("rsa-a"), 2048);
    assert_eq!(jwt.len(), 2048);
    expect_accepted(&up, &j, &jwt).await;
}

#[tokio::test]
async fn assertion_one_byte_over_max_assertion_bytes_is_refused() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion_of_len(&TestKey::load("rsa-a"), 2049);
    assert_eq!(jwt.len(), 2049);
    expect_invalid_client(&up, &j, &jwt).await;
}

#[tokio::test]
async fn jwe_shaped_assertion_is_refused() {
    let (up, j) = start_default().await;
    let jwe = jwe_shaped();
    assert_eq!(jwe.split('.').count(), 5);
    expect_invalid_client_for(&up, &j, "app-1", &jwe).await;
}

#[tokio::test]
async fn two_part_token_is_refused() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let p = parts(&jwt);
    expect_invalid_client_for(&up, &j, "app-1", &format!("{}.{}", p[0], p[1])).await;
}

#[tokio::test]
async fn base64_padding_is_refused() {
    let (up, j) = start_default().await;
    // The signature covers the padded text, so only the "no padding" rule can refuse it.
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(valid_assertion_claims("app-1"))
        .padded()
        .build();
    assert!(jwt.contains('='), "token should carry padding: {jwt}");
    // '=' is not form-safe: percent-encode it as a client would.
    expect_invalid_client_for(&up, &j, "app-1", &jwt.replace('=', "%3D")).await;
}

#[tokio::test]
async fn standard_alphabet_base64_is_refused() {
    let (up, j) = start_default().await;
    let key = TestKey::load("rsa-a");
    // Find a payload whose base64url form has '-' or '_', then send it in the standard
    // alphabet ('+' '/'), signed as sent.
    let mut found = None;
    for n in 0..64 {
        let claims = app1_claims(json!({"note": format!("{}~~~???>>>", "x".repeat(n))}));
        let url = b64url(claims.to_string().as_bytes());
        if url.contains('-') || url.contains('_') {
            found = Some(url.replace('-', "+").replace('_', "/"));
            break;
        }
    }
    let payload = match found {
        Some(p) => p,
        None => panic!("no payload with '-' or '_' found"),
    };
    let jwt = Jwt::signed(&key, "RS256").encoded_payload(&payload).build();
    let form_safe = jwt.replace('+', "%2B").replace('/', "%2F");
    expect_invalid_client_for(&up, &j, "app-1", &form_safe).await;
}

#[tokio::test]
async fn invalid_base64_character_is_refused() {
    let (up, j) = start_default().await;
    let payload = b64url(valid_assertion_claims("app-1").to_string().as_bytes());
    let bad = format!("{}!{}", &payload[..8], &payload[8..]);
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .encoded_payload(&bad)
        .build();
    expect_invalid_client_for(&up, &j, "app-1", &jwt.replace('!', "%21")).await;
}

// ----------------------------------------------------------------------------------------------
// Claims
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn duplicate_sub_member_in_claims_is_refused() {
    let (up, j) = start_default().await;
    let t = now();
    // Both values equal, so only duplicate detection can refuse it.
    let raw = format!(
        r#"{{"iss":"app-1","sub":"app-1","sub":"app-1","aud":"{ISSUER}","jti":"{}","iat":{t},"exp":{}}}"#,
        random_jti(),
        t + 60
    );
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .raw_claims(&raw)
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

#[tokio::test]
async fn duplicate_sub_with_a_second_value_is_refused() {
    let (up, j) = start_default().await;
    let t = now();
    let raw = format!(
        r#"{{"iss":"app-1","sub":"app-es","aud":"{ISSUER}","jti":"{}","iat":{t},"exp":{},"sub":"app-1"}}"#,
        random_jti(),
        t + 60
    );
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .raw_claims(&raw)
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

cases! { app1_claims_case;
    iss_different_from_sub_is_refused: "", |_| json!({"iss": "app-es"}), InvalidClient;
    missing_sub_is_refused: "", |_| json!({"sub": null}), InvalidClient;
    missing_jti_is_refused: "", |_| json!({"jti": null}), InvalidClient;
}

fn long_id(len: usize) -> String {
    format!("app-{}", "x".repeat(len - 4))
}

#[tokio::test]
async fn client_id_of_64_chars_as_iss_and_sub_is_accepted() {
    let id = long_id(64);
    let clients = registry(vec![pkjwt_client(
        &id,
        vec![pem_credential("rsa-a", "RS256")],
    )]);
    let (up, j) = start_with("", clients).await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(valid_assertion_claims(&id))
        .build();
    expect_accepted(&up, &j, &jwt).await;
}

#[tokio::test]
async fn iss_and_sub_over_64_chars_are_refused() {
    // The 65-char client is registered, so only the length rule can refuse it.
    let id = long_id(65);
    let clients = registry(vec![pkjwt_client(
        &id,
        vec![pem_credential("rsa-a", "RS256")],
    )]);
    let (up, j) = start_with("", clients).await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .claims(valid_assertion_claims(&id))
        .build();
    expect_invalid_client(&up, &j, &jwt).await;
}

#[tokio::test]
async fn jti_of_64_chars_is_accepted() {
    let (up, j) = start_default().await;
    let jti = format!("{}{}", random_jti(), random_jti());
    assert_eq!(jti.len(), 64);
    let jwt = app1_assertion(app1_claims(json!({ "jti": jti })));
    expect_accepted(&up, &j, &jwt).await;
}

#[tokio::test]
async fn jti_over_64_chars_is_refused() {
    let (up, j) = start_default().await;
    let jti = format!("{}{}x", random_jti(), random_jti());
    assert_eq!(jti.len(), 65);
    let jwt = app1_assertion(app1_claims(json!({ "jti": jti })));
    expect_invalid_client(&up, &j, &jwt).await;
}

#[tokio::test]
async fn client_id_form_field_different_from_the_assertion_is_refused() {
    // app-twin holds the same key as app-1, so the signature verifies under either id: only the
    // "client_id equals iss/sub" rule can refuse this.
    let mut clients = default_clients();
    if let Some(list) = clients["clients"].as_array_mut() {
        list.push(pkjwt_client(
            "app-twin",
            vec![pem_credential("rsa-a", "RS256")],
        ));
    }
    let (up, j) = start_with("", clients).await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let body = format!("{}&client_id=app-twin", assertion_form(&jwt));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}

#[tokio::test]
async fn client_id_form_field_equal_to_the_assertion_is_accepted() {
    let (up, j) = start_default().await;
    let jwt = app1_assertion(valid_assertion_claims("app-1"));
    let body = format!("client_id=app-1&{}", assertion_form(&jwt));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_forwarded(&resp, &up, "POST", TOKEN, body.as_bytes());
}

// ----------------------------------------------------------------------------------------------
// Explicit types
// ----------------------------------------------------------------------------------------------

/// A valid app-1 assertion typed `typ`.
async fn typed_case(typ: &str, verdict: Expect) {
    let (up, j) = start_default().await;
    let jwt = Jwt::signed(&TestKey::load("rsa-a"), "RS256")
        .header("typ", json!(typ))
        .claims(valid_assertion_claims("app-1"))
        .build();
    expect(&up, &j, &jwt, verdict).await;
}

cases! { typed_case;
    typ_oauth_authz_req_jwt_on_an_assertion_is_refused: "oauth-authz-req+jwt", InvalidClient;
    typ_client_authentication_jwt_is_accepted: "client-authentication+jwt", Accepted;
    typ_jwt_in_any_case_is_accepted: "jwt", Accepted;
    other_typ_is_refused: "at+jwt", InvalidClient;
}

// ----------------------------------------------------------------------------------------------
// Other endpoints: PAR and a paths.client_auth path
// ----------------------------------------------------------------------------------------------

fn par_body(jwt: &str) -> String {
    format!(
        "response_type=code&client_id=app-1&redirect_uri={REDIRECT_FORM}\
         &scope=openid%20profile&state=af0ifjsldkj&client_assertion_type={ASSERTION_TYPE_FORM}\
         &client_assertion={jwt}"
    )
}

#[tokio::test]
async fn par_with_a_valid_assertion_is_forwarded_unchanged() {
    let (up, j) = start_default().await;
    let body = par_body(&app1_assertion(valid_assertion_claims("app-1")));
    let resp = post_form(j.proxy_addr(), PAR, &body).await;
    assert_forwarded(&resp, &up, "POST", PAR, body.as_bytes());
}

#[tokio::test]
async fn par_with_a_tampered_assertion_is_refused() {
    let (up, j) = start_default().await;
    let jwt = tamper_signature(&app1_assertion(valid_assertion_claims("app-1")));
    let resp = post_form(j.proxy_addr(), PAR, &par_body(&jwt)).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}

fn revoke_body(jwt: &str) -> String {
    format!(
        "token=45ghiukldjahdnhzdauz&token_type_hint=refresh_token\
         &client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={jwt}"
    )
}

#[tokio::test]
async fn revoke_with_a_valid_assertion_is_forwarded_unchanged() {
    let (up, j) = start_default().await;
    let body = revoke_body(&app1_assertion(valid_assertion_claims("app-1")));
    let resp = post_form(j.proxy_addr(), REVOKE, &body).await;
    assert_forwarded(&resp, &up, "POST", REVOKE, body.as_bytes());
}

#[tokio::test]
async fn revoke_with_an_expired_assertion_is_refused() {
    let (up, j) = start_default().await;
    let t = now();
    let jwt = app1_assertion(app1_claims(json!({"iat": t - 200, "exp": t - 100})));
    let resp = post_form(j.proxy_addr(), REVOKE, &revoke_body(&jwt)).await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}
