//! Pushed authorization requests (RFC 9126) at `/oauth/par` in `passthrough` mode, through the
//! real `jargate` binary and a recording stub upstream: client authentication as at the token
//! endpoint (a `private_key_jwt` assertion with `aud` = the issuer), then the request object
//! rules of SPEC §5, single use of both JWTs, `signed_request_object.required`, and
//! `jar.outside_parameters` on a PAR form body (the client-authentication parameters are always
//! kept).
//!
//! Every refusal checks status, `error`, the §6 error headers and that the upstream received
//! nothing; every acceptance checks the exact body the upstream received.

use crate::common::*;
use serde_json::{json, Value};

/// The registry of this file:
/// * `app-1`: assertion key rsa-a (RS256); JAR key rsa-b (PS256).
/// * `jar-req`: assertion key rsa-c (PS256); JAR key ec-a (ES256);
///   `signed_request_object.required = true`.
fn clients() -> Value {
    let mut app1 = pkjwt_client("app-1", vec![pem_credential("rsa-a", "RS256")]);
    app1["signed_request_object"] = json!({"credentials": [pem_credential("rsa-b", "PS256")]});
    let mut req = pkjwt_client("jar-req", vec![pem_credential("rsa-c", "PS256")]);
    req["signed_request_object"] =
        json!({"required": true, "credentials": [pem_credential("ec-a", "ES256")]});
    registry(vec![app1, req])
}

async fn start(extra_toml: &str) -> (StubUpstream, Jargate) {
    start_with(extra_toml, clients()).await
}

/// The assertion key and alg of `client` in [`clients`], then its JAR key and alg.
fn keys(client: &str) -> [(&'static str, &'static str); 2] {
    match client {
        "jar-req" => [("rsa-c", "PS256"), ("ec-a", "ES256")],
        _ => [("rsa-a", "RS256"), ("rsa-b", "PS256")],
    }
}

/// A valid client assertion of `client` (aud = the issuer, fresh jti).
fn assertion(client: &str) -> String {
    assertion_with(client, valid_assertion_claims(client))
}

fn assertion_with(client: &str, claims: Value) -> String {
    let [(key, alg), _] = keys(client);
    Jwt::signed(&TestKey::load(key), alg).claims(claims).build()
}

/// A valid request object of `client` with `changes`, signed with its JAR key.
fn object_with(client: &str, changes: Value) -> String {
    let [_, (key, alg)] = keys(client);
    object_by(key, alg, object_claims(client, changes))
}

/// `client_id`, `request` and the client-authentication parameters.
fn par_body(client: &str, request_object: &str, client_assertion: &str) -> String {
    format!(
        "client_id={client}&request={request_object}\
         &client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={client_assertion}"
    )
}

/// A valid PAR body of `client`: fresh assertion, fresh object with `changes`.
fn valid_body(client: &str, changes: Value) -> String {
    par_body(client, &object_with(client, changes), &assertion(client))
}

/// `body` must reach the upstream as exactly `expected`, as its `nth` request.
async fn expect_pushed_as(up: &StubUpstream, j: &Jargate, body: &str, expected: &str) {
    let nth = up.count();
    let resp = post_form(j.proxy_addr(), PAR, body).await;
    let fwd = assert_forwarded_nth(&resp, up, nth, "POST", PAR, expected.as_bytes());
    assert_eq!(
        fwd.header("content-length"),
        Some(expected.len().to_string()),
        "Content-Length must match the forwarded body"
    );
}

async fn expect_pushed(up: &StubUpstream, j: &Jargate, body: &str) {
    expect_pushed_as(up, j, body, body).await;
}

async fn expect_refused(up: &StubUpstream, j: &Jargate, body: &str, status: u16, error: &str) {
    let resp = post_form(j.proxy_addr(), PAR, body).await;
    assert_rejected(&resp, status, error, up);
}

// ----------------------------------------------------------------------------------------------
// Accepted pushes
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn valid_assertion_and_object_are_forwarded_unchanged() {
    let (up, j) = start("").await;
    expect_pushed(&up, &j, &valid_body("app-1", json!({}))).await;
    // With outside parameters identical to the object there is nothing to strip either.
    let body = format!(
        "response_type=code&redirect_uri={REDIRECT_FORM}&scope=openid%20email&{}",
        valid_body("app-1", json!({}))
    );
    expect_pushed(&up, &j, &body).await;
}

#[tokio::test]
async fn es256_object_with_a_ps256_assertion_is_forwarded_unchanged() {
    let (up, j) = start("").await;
    expect_pushed(&up, &j, &valid_body("jar-req", json!({}))).await;
}

#[tokio::test]
async fn client_assertion_parameters_first_are_forwarded_unchanged() {
    let (up, j) = start("").await;
    let body = format!(
        "client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}\
         &client_id=app-1&request={}",
        assertion("app-1"),
        object_with("app-1", json!({}))
    );
    expect_pushed(&up, &j, &body).await;
}

#[tokio::test]
async fn require_par_does_not_affect_the_par_endpoint() {
    let (up, j) = start("[par]\nrequire_par = true\n").await;
    expect_pushed(&up, &j, &valid_body("app-1", json!({}))).await;
}

// ----------------------------------------------------------------------------------------------
// request_uri, request object rules
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn request_uri_in_the_par_body_is_invalid_request() {
    let (up, j) = start("").await;
    let body = format!(
        "request_uri={PAR_URI_FORM}&{}",
        valid_body("app-1", json!({}))
    );
    expect_refused(&up, &j, &body, 400, "invalid_request").await;
    // Also without a request object beside it.
    let body = format!(
        "client_id=app-1&request_uri={PAR_URI_FORM}&client_assertion_type={ASSERTION_TYPE_FORM}\
         &client_assertion={}",
        assertion("app-1")
    );
    expect_refused(&up, &j, &body, 400, "invalid_request").await;
}

#[tokio::test]
async fn object_containing_request_uri_is_invalid_request_object() {
    // OIDF par-authorization-request-containing-request_uri.
    let (up, j) = start("").await;
    let body = valid_body(
        "app-1",
        json!({"request_uri": "urn:ietf:params:oauth:request_uri:abc"}),
    );
    expect_refused(&up, &j, &body, 400, "invalid_request_object").await;
}

#[tokio::test]
async fn object_client_id_other_than_the_authenticated_client_is_refused() {
    let (up, j) = start("").await;
    // app-1's key, jar-req's client_id claim.
    let jwt = object_with("app-1", json!({"client_id": "jar-req", "iss": "jar-req"}));
    let body = par_body("app-1", &jwt, &assertion("app-1"));
    expect_refused(&up, &j, &body, 400, "invalid_request_object").await;
    // A genuine jar-req object pushed by app-1.
    let body = par_body(
        "app-1",
        &object_with("jar-req", json!({})),
        &assertion("app-1"),
    );
    expect_refused(&up, &j, &body, 400, "invalid_request_object").await;
}

#[tokio::test]
async fn invalid_objects_are_invalid_request_object() {
    let (up, j) = start("").await;
    let t = now();
    let bad = [
        tamper_signature(&object_with("app-1", json!({}))),
        object_with("app-1", json!({"exp": null})),
        object_with(
            "app-1",
            json!({"iat": t - 3900, "nbf": t - 3900, "exp": t - 3600}),
        ),
        object_with("app-1", json!({"aud": "https://other.example/"})),
        // OIDF par-pushed-authorization-url-as-audience-in-request-object.
        object_with("app-1", json!({"aud": format!("{ISSUER}oauth/par")})),
        object_with("app-1", json!({"response_type": null})),
        object_with("app-1", json!({"sub": "app-1"})),
        Jwt::unsigned()
            .claims(object_claims("app-1", json!({})))
            .build(),
    ];
    for jwt in bad {
        let body = par_body("app-1", &jwt, &assertion("app-1"));
        expect_refused(&up, &j, &body, 400, "invalid_request_object").await;
    }
}

#[tokio::test]
async fn object_without_the_client_id_parameter_is_invalid_request() {
    // SPEC §5: for `request` in paths.par bodies too, "`client_id` request parameter required
    // (missing → `invalid_request`)".
    let (up, j) = start("").await;
    let body = format!(
        "request={}&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}",
        object_with("app-1", json!({})),
        assertion("app-1")
    );
    expect_refused(&up, &j, &body, 400, "invalid_request").await;
}

// ----------------------------------------------------------------------------------------------
// Client authentication
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_assertion_is_invalid_client() {
    let (up, j) = start("").await;
    let object = object_with("app-1", json!({}));
    let tampered = par_body("app-1", &object, &tamper_signature(&assertion("app-1")));
    expect_refused(&up, &j, &tampered, 401, "invalid_client").await;
    // An assertion addressed to another server.
    let mut claims = valid_assertion_claims("app-1");
    claims["aud"] = json!("https://other.example/");
    let wrong_aud = par_body("app-1", &object, &assertion_with("app-1", claims));
    expect_refused(&up, &j, &wrong_aud, 401, "invalid_client").await;
    // The JAR key does not authenticate the client.
    let jar_signed = Jwt::signed(&TestKey::load("rsa-b"), "PS256")
        .claims(valid_assertion_claims("app-1"))
        .build();
    let body = par_body("app-1", &object, &jar_signed);
    expect_refused(&up, &j, &body, 401, "invalid_client").await;
}

#[tokio::test]
async fn missing_assertion_for_a_private_key_jwt_client_is_invalid_client() {
    let (up, j) = start("").await;
    let body = format!(
        "client_id=app-1&request={}",
        object_with("app-1", json!({}))
    );
    expect_refused(&up, &j, &body, 401, "invalid_client").await;
}

#[tokio::test]
async fn unknown_client_is_invalid_client() {
    let (up, j) = start("").await;
    let claims = valid_assertion_claims("nobody");
    let body = par_body(
        "nobody",
        &object_with("app-1", json!({"client_id": "nobody", "iss": "nobody"})),
        &assertion_with("app-1", claims),
    );
    expect_refused(&up, &j, &body, 401, "invalid_client").await;
}

#[tokio::test]
async fn replayed_assertion_is_invalid_client() {
    let (up, j) = start("").await;
    let client_assertion = assertion("app-1");
    let body = par_body("app-1", &object_with("app-1", json!({})), &client_assertion);
    expect_pushed(&up, &j, &body).await;
    // The same push again, then the same assertion with a fresh request object.
    let fresh = par_body("app-1", &object_with("app-1", json!({})), &client_assertion);
    for replay in [body, fresh] {
        let resp = post_form(j.proxy_addr(), PAR, &replay).await;
        assert_error(&resp, 401, "invalid_client");
    }
    assert_eq!(up.count(), 1, "replays must not reach the upstream");
}

// ----------------------------------------------------------------------------------------------
// Single use of the request object
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn replayed_request_object_is_invalid_request_object() {
    let (up, j) = start("").await;
    let jwt = object_with("app-1", json!({}));
    expect_pushed(&up, &j, &par_body("app-1", &jwt, &assertion("app-1"))).await;
    let resp = post_form(
        j.proxy_addr(),
        PAR,
        &par_body("app-1", &jwt, &assertion("app-1")),
    )
    .await;
    assert_error(&resp, 400, "invalid_request_object");
    assert_eq!(resp.json()["error_description"], "jti already used");
    assert_eq!(up.count(), 1, "the replay must not reach the upstream");
}

#[tokio::test]
async fn pushed_object_cannot_be_replayed_at_authorize() {
    let (up, j) = start("").await;
    let jwt = object_with("app-1", json!({}));
    expect_pushed(&up, &j, &par_body("app-1", &jwt, &assertion("app-1"))).await;
    let resp = get(
        j.proxy_addr(),
        &format!("/authorize?client_id=app-1&request={jwt}"),
    )
    .await;
    assert_error(&resp, 400, "invalid_request_object");
    assert_eq!(up.count(), 1, "the replay must not reach the upstream");
}

// ----------------------------------------------------------------------------------------------
// signed_request_object.required
// ----------------------------------------------------------------------------------------------

fn plain_body(client: &str) -> String {
    format!(
        "response_type=code&client_id={client}&redirect_uri={REDIRECT_FORM}\
         &scope=openid%20email&state=af0ifjsldkj&client_assertion_type={ASSERTION_TYPE_FORM}\
         &client_assertion={}",
        assertion(client)
    )
}

#[tokio::test]
async fn client_requiring_jar_pushing_plain_parameters_is_invalid_request() {
    let (up, j) = start("").await;
    expect_refused(&up, &j, &plain_body("jar-req"), 400, "invalid_request").await;
}

#[tokio::test]
async fn client_not_requiring_jar_may_push_plain_parameters() {
    let (up, j) = start("").await;
    expect_pushed(&up, &j, &plain_body("app-1")).await;
}

// ----------------------------------------------------------------------------------------------
// Parameters outside the object
// ----------------------------------------------------------------------------------------------

/// Identical `response_type`, `redirect_uri`, `scope`; differing `state`; `prompt` absent from
/// the object; `client_id`, `request` and the client-authentication parameters.
fn with_outside(jwt: &str, client_assertion: &str) -> String {
    format!(
        "response_type=code&redirect_uri={REDIRECT_FORM}&state=evil&scope=openid%20email\
         &client_assertion_type={ASSERTION_TYPE_FORM}&prompt=login&client_id=app-1\
         &request={jwt}&client_assertion={client_assertion}"
    )
}

#[tokio::test]
async fn strip_drops_outside_parameters_and_keeps_client_authentication() {
    let (up, j) = start("").await;
    let jwt = object_with("app-1", json!({}));
    let client_assertion = assertion("app-1");
    let expected = format!(
        "response_type=code&redirect_uri={REDIRECT_FORM}&scope=openid%20email\
         &client_assertion_type={ASSERTION_TYPE_FORM}&client_id=app-1\
         &request={jwt}&client_assertion={client_assertion}"
    );
    expect_pushed_as(&up, &j, &with_outside(&jwt, &client_assertion), &expected).await;
}

#[tokio::test]
async fn reject_refuses_a_differing_outside_parameter() {
    let (up, j) = start("[jar]\noutside_parameters = \"reject\"\n").await;
    let body = with_outside(&object_with("app-1", json!({})), &assertion("app-1"));
    expect_refused(&up, &j, &body, 400, "invalid_request").await;
}

#[tokio::test]
async fn reject_accepts_identical_outside_parameters_and_client_authentication() {
    let (up, j) = start("[jar]\noutside_parameters = \"reject\"\n").await;
    let body = format!(
        "response_type=code&scope=openid%20email&{}",
        valid_body("app-1", json!({}))
    );
    expect_pushed(&up, &j, &body).await;
}

#[tokio::test]
async fn allow_forwards_every_outside_parameter() {
    let (up, j) = start("[jar]\noutside_parameters = \"allow\"\n").await;
    let body = with_outside(&object_with("app-1", json!({})), &assertion("app-1"));
    expect_pushed(&up, &j, &body).await;
}

// ----------------------------------------------------------------------------------------------
// Pushed requests remembered in passthrough mode (SPEC §5 `strip` for a PAR request_uri)
// ----------------------------------------------------------------------------------------------

/// An OIDC-strict upstream with PAR behind a passthrough jargate.
async fn start_strict(extra_toml: &str) -> (StubUpstream, Jargate) {
    let up = StubUpstream::oidc_strict().await;
    let j = Jargate::start(up.addr(), extra_toml, clients()).await;
    (up, j)
}

/// Pushes `body`; the upstream's `201` reaches the client unchanged. Returns its request_uri.
async fn push(up: &StubUpstream, j: &Jargate, body: &str) -> String {
    let nth = up.count();
    let resp = post_form(j.proxy_addr(), PAR, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(up.count(), nth + 1);
    let answer: Value = serde_json::from_slice(&resp.body).expect("a JSON answer");
    assert_eq!(answer["expires_in"], STRICT_PAR_EXPIRES_IN);
    let request_uri = answer["request_uri"].as_str().expect("request_uri");
    assert!(request_uri.starts_with("urn:uuid:"), "{request_uri}");
    request_uri.to_owned()
}

fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `GET /authorize?client_id=…&request_uri=…&extra`; returns the answer and the query the
/// upstream received (nothing refused).
async fn authorize_with(
    up: &StubUpstream,
    j: &Jargate,
    client: &str,
    request_uri: &str,
    extra: &str,
) -> (Response, String) {
    let nth = up.count();
    let target = format!(
        "/authorize?client_id={client}&request_uri={}{extra}",
        form_encode(request_uri)
    );
    let resp = get(j.proxy_addr(), &target).await;
    assert_eq!(up.count(), nth + 1, "forwarded: {}", resp.text());
    let got = up.requests()[nth].path_and_query.clone();
    (resp, got)
}

/// What an OIDC client library repeats next to `request_uri`, plus two parameters the pushed
/// object does not hold (`state` differs, `prompt` is absent).
const REPEATED: &str =
    "&response_type=code&scope=openid%20email&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb";
const FOREIGN: &str = "&state=evil&prompt=none";

#[tokio::test]
async fn an_oidc_strict_upstream_receives_the_repeated_parameters_after_par() {
    let (up, j) = start_strict("").await;
    let request_uri = push(&up, &j, &valid_body("app-1", json!({}))).await;
    let kept = format!(
        "/authorize?client_id=app-1&request_uri={}{REPEATED}",
        form_encode(&request_uri)
    );
    let (resp, got) = authorize_with(
        &up,
        &j,
        "app-1",
        &request_uri,
        &format!("{REPEATED}{FOREIGN}"),
    )
    .await;
    assert_eq!(got, kept, "identical parameters kept, others dropped");
    assert_eq!(
        resp.status,
        200,
        "the strict upstream accepted: {}",
        resp.text()
    );
    // Read, not consumed: a second /authorize with the same request_uri (a reload) too.
    let (resp, got) = authorize_with(&up, &j, "app-1", &request_uri, REPEATED).await;
    assert_eq!((resp.status, got), (200, kept));
}

#[tokio::test]
async fn a_plain_push_is_remembered_by_its_parameters() {
    let (up, j) = start_strict("").await;
    let body = format!(
        "client_id=app-1&response_type=code&scope=openid%20email&redirect_uri={REDIRECT_FORM}\
         &client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}",
        assertion("app-1")
    );
    let request_uri = push(&up, &j, &body).await;
    let (resp, got) = authorize_with(
        &up,
        &j,
        "app-1",
        &request_uri,
        &format!("{REPEATED}&scope2=x"),
    )
    .await;
    assert_eq!(
        got,
        format!(
            "/authorize?client_id=app-1&request_uri={}{REPEATED}",
            form_encode(&request_uri)
        )
    );
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn a_request_uri_not_pushed_through_jargate_keeps_only_client_id_and_request_uri() {
    let (up, j) = start_strict("").await;
    let request_uri = "urn:uuid:0b7d6a1e-0000-4000-8000-000000000000";
    let (resp, got) = authorize_with(&up, &j, "app-1", request_uri, REPEATED).await;
    assert_eq!(
        got,
        format!(
            "/authorize?client_id=app-1&request_uri={}",
            form_encode(request_uri)
        )
    );
    // The strict upstream refuses it: nothing to compare, nothing repeated.
    assert_eq!(resp.status, 400);
}

#[tokio::test]
async fn another_client_does_not_use_the_pushed_request() {
    let (up, j) = start_strict("").await;
    let request_uri = push(&up, &j, &valid_body("app-1", json!({}))).await;
    let (_, got) = authorize_with(&up, &j, "jar-req", &request_uri, REPEATED).await;
    assert_eq!(
        got,
        format!(
            "/authorize?client_id=jar-req&request_uri={}",
            form_encode(&request_uri)
        )
    );
}

#[tokio::test]
async fn reject_compares_outside_parameters_with_the_pushed_request() {
    let (up, j) = start_strict("[jar]\noutside_parameters = \"reject\"\n").await;
    let request_uri = push(&up, &j, &valid_body("app-1", json!({}))).await;
    let (resp, got) = authorize_with(&up, &j, "app-1", &request_uri, REPEATED).await;
    assert_eq!(resp.status, 200);
    assert!(got.ends_with(REPEATED), "forwarded as received: {got}");
    let target = format!(
        "/authorize?client_id=app-1&request_uri={}{REPEATED}&state=evil",
        form_encode(&request_uri)
    );
    let nth = up.count();
    let resp = get(j.proxy_addr(), &target).await;
    assert_error(&resp, 400, "invalid_request");
    assert_eq!(up.count(), nth, "the upstream received nothing");
}

#[tokio::test]
async fn an_answer_other_than_201_is_forwarded_and_nothing_remembered() {
    // The plain stub answers a push 200 with a token-like body: nothing to remember, and the
    // answer reaches the client unchanged.
    let (up, j) = start("").await;
    let resp = post_form(j.proxy_addr(), PAR, &valid_body("app-1", json!({}))).await;
    assert_eq!((resp.status, resp.text()), (200, STUB_RESPONSE.to_owned()));
    assert_eq!(
        up.requests()[0].header("accept-encoding").as_deref(),
        Some("identity"),
        "the answer to a push is asked uncompressed"
    );
}

#[tokio::test]
async fn any_urn_is_a_request_uri_in_passthrough_and_nothing_else() {
    let (up, j) = start("").await;
    for uri in [
        "urn%3Auuid%3Af81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        PAR_URI_FORM,
        "URN%3Aexample%3Aa%2Fb",
    ] {
        let nth = up.count();
        let target = format!("/authorize?client_id=app-1&request_uri={uri}");
        let resp = get(j.proxy_addr(), &target).await;
        assert_forwarded_nth(&resp, &up, nth, "GET", &target, b"");
    }
    let long = format!("urn:uuid:{}", "a".repeat(504));
    for uri in [
        "urn%3Aa%3Ax",
        "urn%3Auuid%3A",
        "urn%3Auuid%3Aa%20b",
        "https%3A%2F%2Fapp.example.com%2Fro.jwt",
        long.as_str(),
    ] {
        let resp = get(
            j.proxy_addr(),
            &format!("/authorize?client_id=app-1&request_uri={uri}"),
        )
        .await;
        assert_error(&resp, 400, "request_uri_not_supported");
        assert_eq!(up.count(), 3, "the upstream received nothing more");
    }
}

#[tokio::test]
async fn legacy_mode_accepts_only_its_own_request_uris() {
    let mut registry = clients();
    for client in registry["clients"].as_array_mut().expect("clients") {
        client["upstream_client_secret"] = json!("s");
    }
    let (up, j) = start_with("[upstream]\nmode = \"legacy\"\n", registry).await;
    let resp = get(
        j.proxy_addr(),
        "/authorize?client_id=app-1&request_uri=urn%3Auuid%3Af81d4fae-7dec-11d0-a765-00a0c91e6bf6",
    )
    .await;
    assert_rejected(&resp, 400, "request_uri_not_supported", &up);
}
