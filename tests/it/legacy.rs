//! `upstream.mode = "legacy"` (SPEC §1, docs/legacy.md), through the
//! real `jargate` binary and a recording stub upstream. Every accepted request checks exactly
//! what the upstream received: method, path and query byte for byte, body byte for byte,
//! `Content-Length` equal to the body length, no `Transfer-Encoding`, the `Authorization`
//! header. Every refusal checks status, `error`, the §6 headers and that the upstream received
//! nothing (or nothing more). Expected query strings and bodies are computed here with an
//! independent `application/x-www-form-urlencoded` serializer ([`form`]).
//!
//! Legacy rules of SPEC §1 and the tests covering them:
//! 1. `/authorize` with `request`: the upstream receives a GET whose query is rebuilt from the
//!    object's claims only (outside parameters ignored), minus `iss aud exp iat nbf jti`; strings
//!    as they are, numbers and booleans as JSON text, objects and arrays as compact JSON;
//!    `client_id` kept (first):
//!    [`authorize_get_by_value_is_rebuilt_from_the_claims_only`],
//!    [`authorize_post_by_value_becomes_a_get_without_a_body`].
//! 2. `/oauth/par` answered by jargate: `201 {"request_uri":"urn:…:<≥128 bits>","expires_in":N}`,
//!    nothing upstream; `/authorize?client_id=…&request_uri=…` expands once to the stored
//!    (translated) parameters; bound to the pushing client; unknown / expired / reused →
//!    `invalid_request_uri`:
//!    [`par_is_answered_by_jargate_and_redeemed_once`],
//!    [`par_request_uris_are_random_and_bound_to_their_client`],
//!    [`par_request_uri_expires_after_its_ttl`],
//!    [`par_redeemed_by_a_post_authorize_becomes_a_get`],
//!    [`par_without_a_request_object_stores_the_pushed_parameters`],
//!    [`par_without_a_request_object_keeps_the_pushed_values`];
//!    refusals at PAR ([`par_by_a_client_without_an_assertion_is_invalid_client`],
//!    [`par_with_request_uri_in_the_body_is_invalid_request`],
//!    [`par_with_a_bad_request_object_is_refused_and_stores_nothing`]).
//! 3. Client-authentication endpoints: `client_assertion` and `client_assertion_type` removed,
//!    the client authenticates upstream with its `upstream_client_secret`, `client_secret_post`
//!    ([`token_post_replaces_the_assertion_with_the_secret`],
//!    [`token_post_appends_client_id_when_the_request_has_none`],
//!    [`client_auth_path_post_replaces_the_assertion`],
//!    [`token_post_chunked_upload_gets_a_content_length`],
//!    [`token_post_json_body_carries_client_id_and_secret`]) or `client_secret_basic` with
//!    `upstream.client_auth = "basic"`
//!    ([`token_basic_sets_the_authorization_header_and_drops_client_id`],
//!    [`client_auth_path_basic_form_encodes_id_and_secret`],
//!    [`token_basic_json_body_drops_client_id_and_assertion`]); Content-Length recomputed (all of
//!    them). A client not using an assertion is forwarded untouched
//!    ([`client_with_its_own_secret_is_forwarded_untouched`],
//!    [`client_with_its_own_basic_header_is_forwarded_untouched`]).
//!
//! Also: refusals still never reach the upstream in legacy mode
//! ([`replayed_assertion_at_token_is_refused_in_legacy_mode`],
//! [`tampered_or_replayed_request_object_is_refused_in_legacy_mode`]); a legacy configuration
//! with a client lacking `upstream_client_secret` is refused
//! ([`legacy_config_without_an_upstream_secret_is_refused`]); the secret never appears in
//! jargate's log ([`upstream_secret_never_appears_in_the_log`]).

use crate::common::*;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// `app-1`'s upstream secret: every character that needs form encoding.
const SECRET: &str = "s3cr+t/=:&%";
/// [`SECRET`] form-encoded, written out by hand (checked against [`form`] too).
const SECRET_FORM: &str = "s3cr%2Bt%2F%3D%3A%26%25";
/// A client id that needs form encoding (Basic credentials).
const ODD_ID: &str = "svc:1 x";
const ODD_ID_FORM: &str = "svc%3A1+x";
const APP2_SECRET: &str = "app-2 upstream secret";
const POST_UPSTREAM_SECRET: &str = "app-post upstream secret";

const LEGACY_BASIC: &str = "[upstream]\nmode = \"legacy\"\nclient_auth = \"basic\"\n";

/// The `claims` request parameter of OIDC, keys already sorted so its compact JSON text is the
/// same whichever member order a serializer keeps.
const CLAIMS_JSON: &str = r#"{"id_token":{"acr":{"essential":true,"values":["urn:mace:incommon:iap:silver"]},"email":null},"userinfo":{"given_name":{"essential":true}}}"#;
/// RFC 9396 `authorization_details`, keys sorted likewise.
const DETAILS_JSON: &str = r#"[{"actions":["initiate","status"],"instructedAmount":{"amount":"123.50","currency":"EUR"},"locations":["https://example.com/payments"],"type":"payment_initiation"}]"#;

/// The registry of this file (every client has an `upstream_client_secret`):
/// * `app-1`: private_key_jwt, assertion key rsa-a (RS256); JAR key rsa-b (PS256).
/// * `app-2`: private_key_jwt, assertion key rsa-c (PS256); JAR key ec-a (ES256).
/// * `svc:1 x`: private_key_jwt, assertion key ed-a (EdDSA).
/// * `app-post`: `client_secret_post`, assertion key ec-b (ES256).
fn clients() -> Value {
    let mut app1 = pkjwt_client("app-1", vec![pem_credential("rsa-a", "RS256")]);
    app1["signed_request_object"] = json!({"credentials": [pem_credential("rsa-b", "PS256")]});
    app1["upstream_client_secret"] = json!(SECRET);
    let mut app2 = pkjwt_client("app-2", vec![pem_credential("rsa-c", "PS256")]);
    app2["signed_request_object"] = json!({"credentials": [pem_credential("ec-a", "ES256")]});
    app2["upstream_client_secret"] = json!(APP2_SECRET);
    let mut odd = pkjwt_client(ODD_ID, vec![pem_credential("ed-a", "EdDSA")]);
    odd["upstream_client_secret"] = json!(SECRET);
    let mut post = pkjwt_client("app-post", vec![pem_credential("ec-b", "ES256")]);
    post["token_endpoint_auth_method"] = json!("client_secret_post");
    post["upstream_client_secret"] = json!(POST_UPSTREAM_SECRET);
    registry(vec![app1, app2, odd, post])
}

async fn start(extra_toml: &str) -> (StubUpstream, Jargate) {
    start_with(extra_toml, clients()).await
}

// ---------------------------------------------------------------------------------------------
// Independent encoding helpers
// ---------------------------------------------------------------------------------------------

/// `name=value&…`, each name and value form-encoded.
fn form_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", form_encode(n), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The inverse of [`form`]: `+` is a space, `%XX` a byte.
fn unform(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).expect("utf-8")
}

/// The decoded pairs of a query or form, in order.
fn decode_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (unform(n), unform(v)),
            None => (unform(p), String::new()),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// The assertion key and alg of `client` in [`clients`], then its JAR key and alg.
fn keys(client: &str) -> [(&'static str, &'static str); 2] {
    match client {
        "app-2" => [("rsa-c", "PS256"), ("ec-a", "ES256")],
        ODD_ID => [("ed-a", "EdDSA"), ("rsa-b", "PS256")],
        "app-post" => [("ec-b", "ES256"), ("rsa-b", "PS256")],
        _ => [("rsa-a", "RS256"), ("rsa-b", "PS256")],
    }
}

/// A valid client assertion of `client` (aud = the issuer, fresh jti).
fn assertion(client: &str) -> String {
    let [(key, alg), _] = keys(client);
    assertion_by(key, alg, client)
}

/// `client_assertion_type=…&client_assertion=<a fresh assertion of client>`.
fn assertion_params(client: &str) -> String {
    format!(
        "client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}",
        assertion(client)
    )
}

/// The claims of a rich, valid request object of `client`: the JWT claims, plain strings
/// (some needing encoding), a number, a boolean, an object and an array.
fn rich_claims(client: &str) -> Value {
    let t = now();
    json!({
        "iss": client,
        "aud": ISSUER,
        "jti": random_jti(),
        "iat": t,
        "nbf": t,
        "exp": t + 300,
        "client_id": client,
        "response_type": "code",
        "redirect_uri": "https://app.example.com/cb?x=1&y=a b",
        "scope": "openid email profile",
        "state": "af0ifjsldkj",
        "nonce": "n-0S6_WzA2Mj",
        "max_age": 300,
        "flag": true,
        "login_hint": "jöhn+doe@example.com",
        "ui_locales": "fr-CA fr en",
        "claims": serde_json::from_str::<Value>(CLAIMS_JSON).expect("claims json"),
        "authorization_details": serde_json::from_str::<Value>(DETAILS_JSON).expect("details json"),
    })
}

/// The query the upstream must receive for [`rich_claims`] of `client`: `client_id` first, then
/// every other claim but `iss aud exp iat nbf jti`, sorted by name, each value's text written
/// out here by hand.
fn rich_query(client: &str, claims: &Value) -> String {
    let state = claims["state"].as_str().expect("state");
    let expected: Vec<(&str, &str)> = vec![
        ("client_id", client),
        ("authorization_details", DETAILS_JSON),
        ("claims", CLAIMS_JSON),
        ("flag", "true"),
        ("login_hint", "jöhn+doe@example.com"),
        ("max_age", "300"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("redirect_uri", "https://app.example.com/cb?x=1&y=a b"),
        ("response_type", "code"),
        ("scope", "openid email profile"),
        ("state", state),
        ("ui_locales", "fr-CA fr en"),
    ];
    let names: Vec<&str> = expected[1..].iter().map(|(n, _)| *n).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "the expected claims must be listed sorted");
    // Every claim of the object is accounted for: listed above, or a JWT claim.
    let jwt_claims = ["iss", "aud", "exp", "iat", "nbf", "jti"];
    for name in claims.as_object().expect("claims object").keys() {
        assert!(
            jwt_claims.contains(&name.as_str()) || expected.iter().any(|(n, _)| n == name),
            "claim {name} not accounted for"
        );
    }
    form_pairs(&expected)
}

/// A request object of `client` signed with its JAR key.
fn object(client: &str, claims: &Value) -> String {
    let [_, (key, alg)] = keys(client);
    object_by(key, alg, claims.clone())
}

// ---------------------------------------------------------------------------------------------
// What the upstream received
// ---------------------------------------------------------------------------------------------

/// Method, path and query, body byte for byte, Content-Length = body length (absent or `0`
/// for an empty body), no Transfer-Encoding, and exactly this `Authorization` header (or none).
fn assert_upstream(
    rec: &Recorded,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    authorization: Option<&str>,
) {
    assert_eq!(rec.method, method, "upstream method; request {rec:#?}");
    assert_eq!(
        rec.path_and_query, path_and_query,
        "upstream path and query, byte for byte"
    );
    assert!(
        rec.body.as_ref() == body,
        "upstream body, byte for byte\n want: {:?}\n got:  {:?}",
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&rec.body)
    );
    assert_content_length(rec);
    assert_eq!(
        rec.header("authorization").as_deref(),
        authorization,
        "upstream Authorization header"
    );
}

/// Content-Length equals the received body's length (absent or `0` when empty); no
/// Transfer-Encoding.
fn assert_content_length(rec: &Recorded) {
    assert_eq!(
        rec.header("transfer-encoding"),
        None,
        "no Transfer-Encoding upstream (a rewritten body has a Content-Length, a GET none); \
         request {rec:#?}"
    );
    let cl = rec.header("content-length");
    if rec.body.is_empty() {
        assert!(
            cl.is_none() || cl.as_deref() == Some("0"),
            "an empty body needs no Content-Length or `Content-Length: 0`, got {cl:?}"
        );
    } else {
        assert_eq!(
            cl,
            Some(rec.body.len().to_string()),
            "Content-Length must be the length of the forwarded body"
        );
    }
}

/// A legacy `/authorize` forward: a GET to `/authorize?<query>`, no body, no Content-Type, no
/// Authorization.
fn assert_authorize_get(rec: &Recorded, query: &str) {
    assert_upstream(rec, "GET", &format!("{AUTHORIZE}?{query}"), b"", None);
    assert_eq!(
        rec.header("content-type"),
        None,
        "a GET carries no Content-Type"
    );
    let pairs = decode_pairs(query);
    let got = decode_pairs(rec.path_and_query.split_once('?').map_or("", |(_, q)| q));
    assert_eq!(got, pairs, "decoded upstream parameters");
    for gone in [
        "request",
        "request_uri",
        "iss",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
    ] {
        assert!(
            got.iter().all(|(n, _)| n != gone),
            "{gone} must not reach a legacy upstream"
        );
    }
}

/// A legacy token / client-auth forward: a POST to `path` with exactly `body`.
fn assert_post(rec: &Recorded, path: &str, body: &str, authorization: Option<&str>) {
    assert_upstream(rec, "POST", path, body.as_bytes(), authorization);
    for gone in ["client_assertion", "client_assertion_type"] {
        assert!(
            !rec.body_str().contains(gone),
            "{gone} must not reach a legacy upstream"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// PAR helpers
// ---------------------------------------------------------------------------------------------

/// Checks a legacy PAR answer: 201, JSON, `no-store`, exactly `request_uri` (the URN prefix and
/// 22 base64url characters = 128 bits) and `expires_in = ttl`. Returns the request_uri.
fn assert_pushed(resp: &Response, ttl: u64) -> String {
    assert_eq!(
        resp.status,
        201,
        "PAR must be answered 201 by jargate, got {} {:?} {}",
        resp.status,
        resp.headers,
        resp.text()
    );
    let ct = resp.header("content-type").unwrap_or("");
    assert!(
        ct.to_ascii_lowercase().starts_with("application/json"),
        "PAR answer Content-Type: {ct:?}"
    );
    let cc = resp.header("cache-control").unwrap_or("");
    assert!(
        cc.to_ascii_lowercase().contains("no-store"),
        "PAR answer Cache-Control: {cc:?}"
    );
    let body = resp.json();
    let object = body.as_object().expect("PAR answer is a JSON object");
    let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["expires_in", "request_uri"], "PAR answer {body}");
    assert_eq!(body["expires_in"], json!(ttl), "expires_in in {body}");
    let uri = body["request_uri"].as_str().expect("request_uri string");
    let random = uri
        .strip_prefix(PAR_URN)
        .unwrap_or_else(|| panic!("request_uri {uri:?} must start with {PAR_URN}"));
    assert_eq!(random.len(), 22, "22 base64url characters: {uri}");
    assert!(
        random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "base64url alphabet only: {uri}"
    );
    uri.to_owned()
}

/// A PAR body pushing `jwt` for `client`, authenticated by a fresh assertion.
fn par_body(client: &str, jwt: &str) -> String {
    format!(
        "client_id={}&{}&request={jwt}",
        form_encode(client),
        assertion_params(client)
    )
}

async fn push(j: &Jargate, body: &str) -> Response {
    post_form(j.proxy_addr(), PAR, body).await
}

/// `/authorize?client_id=<client>&request_uri=<uri>` plus `extra`.
fn redeem_target(client: &str, uri: &str, extra: &str) -> String {
    format!(
        "{AUTHORIZE}?client_id={}&request_uri={}{extra}",
        form_encode(client),
        form_encode(uri)
    )
}

// ---------------------------------------------------------------------------------------------
// /authorize with a request object by value
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn authorize_get_by_value_is_rebuilt_from_the_claims_only() {
    assert_eq!(form_encode(SECRET), SECRET_FORM, "the test's own encoder");
    let (up, j) = start(LEGACY).await;
    let claims = rich_claims("app-1");
    let jwt = object("app-1", &claims);
    // Outside parameters (one differing, one not in the object) are ignored.
    let resp = get(
        j.proxy_addr(),
        &format!("{AUTHORIZE}?client_id=app-1&request={jwt}&state=evil&prompt=none"),
    )
    .await;
    let rec = relayed_nth(&resp, &up, 0);
    let expected = rich_query("app-1", &claims);
    assert_authorize_get(&rec, &expected);
    assert!(!rec.path_and_query.contains("evil"));
    assert!(!rec.path_and_query.contains("prompt"));
    // Spot checks of the value rules on the decoded query.
    let got: Map<String, Value> = decode_pairs(&expected)
        .into_iter()
        .map(|(n, v)| (n, Value::String(v)))
        .collect();
    assert_eq!(got["max_age"], json!("300"));
    assert_eq!(got["flag"], json!("true"));
    assert_eq!(
        serde_json::from_str::<Value>(got["claims"].as_str().unwrap()).unwrap(),
        claims["claims"]
    );

    // A second client, an ES256 object with few claims: client_id first, then sorted.
    let t = now();
    let small = json!({
        "scope": "openid", "response_type": "code", "client_id": "app-2", "iss": "app-2",
        "aud": [ISSUER, "https://other.example/"], "exp": t + 60, "nonce": "abc",
    });
    let resp = get(
        j.proxy_addr(),
        &format!(
            "{AUTHORIZE}?request={}&client_id=app-2",
            object("app-2", &small)
        ),
    )
    .await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_authorize_get(
        &rec,
        "client_id=app-2&nonce=abc&response_type=code&scope=openid",
    );
}

/// The claims become upstream parameters under the rules of parsed ones (SPEC §5 "No parser
/// differential"): a claim name another stack rewrites or reads case-insensitively
/// (`Client_Id`: ASP.NET would see a second `client_id`), or a NUL in a value, is refused, the
/// object's `jti` is not spent, and the upstream receives nothing, by value and by PAR.
#[tokio::test]
async fn claims_that_would_not_be_read_alike_upstream_are_refused() {
    let (up, j) = start(LEGACY).await;
    let cases = [
        ("Client_Id", json!("app-2"), "case_variant_parameter"),
        (
            "redirect_u/ri",
            json!("https://app.example.com/cb"),
            "parameter_name",
        ),
        ("ext.flag", json!("1"), "parameter_name"),
        ("", json!(1799999990), "parameter_name"),
        ("Scope", json!("openid admin"), "case_variant_parameter"),
        ("state", json!("a\u{0}b"), "nul_in_value"),
    ];
    let mut jti = Value::Null;
    for (name, value, rule) in cases {
        let mut claims = rich_claims("app-1");
        claims[name] = value;
        jti = claims["jti"].clone();
        let jwt = object("app-1", &claims);
        let resp = get(
            j.proxy_addr(),
            &format!("{AUTHORIZE}?client_id=app-1&request={jwt}"),
        )
        .await;
        assert_rejected(&resp, 400, "invalid_request", &up);
        let pushed = push(&j, &par_body("app-1", &jwt)).await;
        assert_rejected(&pushed, 400, "invalid_request", &up);
        // Counted as the answer is logged, just after it is written: wait for it.
        let since = std::time::Instant::now();
        loop {
            let text = scrape_metrics(j.admin_addr()).await;
            let labels = [("error", "invalid_request"), ("rule", rule)];
            let refused = counter(&text, "jargate_rejections_total", &labels);
            if refused >= 2.0 {
                break;
            }
            assert!(
                since.elapsed() < std::time::Duration::from_secs(3),
                "{name}: {rule} counted {refused}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    // Not spent: an object with the last refused one's jti, without the offending claim, is
    // forwarded.
    let mut claims = rich_claims("app-1");
    claims["jti"] = jti;
    let jwt = object("app-1", &claims);
    let resp = get(
        j.proxy_addr(),
        &format!("{AUTHORIZE}?client_id=app-1&request={jwt}"),
    )
    .await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_authorize_get(&rec, &rich_query("app-1", &claims));
}

#[tokio::test]
async fn authorize_post_by_value_becomes_a_get_without_a_body() {
    let (up, j) = start(LEGACY).await;
    let claims = rich_claims("app-1");
    let body = format!(
        "client_id=app-1&request={}&state=evil",
        object("app-1", &claims)
    );
    let resp = post_form(j.proxy_addr(), AUTHORIZE, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_authorize_get(&rec, &rich_query("app-1", &claims));
    assert!(rec.body.is_empty(), "no body upstream");

    // Query and form together: never both (SPEC §5), in legacy mode too.
    let claims = rich_claims("app-1");
    let resp = request(
        j.proxy_addr(),
        "POST",
        &format!("{AUTHORIZE}?client_id=app-1&login_hint=mallory"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("request={}&scope=admin", object("app-1", &claims)).as_bytes(),
    )
    .await;
    assert_error(&resp, 400, "invalid_request");
    assert_eq!(up.count(), 1, "the upstream received nothing more");
}

// ---------------------------------------------------------------------------------------------
// PAR emulation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn par_is_answered_by_jargate_and_redeemed_once() {
    let (up, j) = start(LEGACY).await;
    let claims = rich_claims("app-1");
    // An outside parameter in the PAR body is not stored either.
    let body = format!(
        "{}&state=evil",
        par_body("app-1", &object("app-1", &claims))
    );
    let resp = push(&j, &body).await;
    let uri = assert_pushed(&resp, 30);
    assert_eq!(up.count(), 0, "a legacy PAR never reaches the upstream");

    // Redeemed once: the translated claims, outside parameters ignored.
    let resp = get(j.proxy_addr(), &redeem_target("app-1", &uri, "&state=evil")).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_authorize_get(&rec, &rich_query("app-1", &claims));

    // Again: used.
    let resp = get(j.proxy_addr(), &redeem_target("app-1", &uri, "")).await;
    assert_error(&resp, 400, "invalid_request_uri");
    assert_eq!(up.count(), 1, "a used request_uri forwards nothing");

    // The URN unencoded in the query is the same reference.
    let claims = rich_claims("app-1");
    let uri = assert_pushed(
        &push(&j, &par_body("app-1", &object("app-1", &claims))).await,
        30,
    );
    let resp = get(
        j.proxy_addr(),
        &format!("{AUTHORIZE}?request_uri={uri}&client_id=app-1"),
    )
    .await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_authorize_get(&rec, &rich_query("app-1", &claims));

    // Unknown, well-formed URN.
    let unknown = format!("{PAR_URN}AAAAAAAAAAAAAAAAAAAAAA");
    let resp = get(j.proxy_addr(), &redeem_target("app-1", &unknown, "")).await;
    assert_error(&resp, 400, "invalid_request_uri");
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn par_reject_policy_compares_repeated_parameters_with_the_stored_request() {
    // OIDC clients repeat response_type, scope and redirect_uri next to request_uri: identical
    // to what was pushed, they pass `reject`; a different one is refused without spending the
    // request_uri.
    let (up, j) = start(&format!("{LEGACY}[jar]\noutside_parameters = \"reject\"\n")).await;
    let claims = rich_claims("app-1");
    let uri = assert_pushed(
        &push(&j, &par_body("app-1", &object("app-1", &claims))).await,
        30,
    );
    let repeated = "&response_type=code&scope=openid+email+profile&max_age=300";
    let resp = get(
        j.proxy_addr(),
        &redeem_target("app-1", &uri, &format!("{repeated}&state=evil")),
    )
    .await;
    assert_error(&resp, 400, "invalid_request");
    assert_eq!(up.count(), 0, "the upstream received nothing");
    let resp = get(j.proxy_addr(), &redeem_target("app-1", &uri, repeated)).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_authorize_get(&rec, &rich_query("app-1", &claims));
}

#[tokio::test]
async fn par_request_uris_are_random_and_bound_to_their_client() {
    let (up, j) = start(LEGACY).await;
    let a = assert_pushed(
        &push(
            &j,
            &par_body("app-1", &object("app-1", &rich_claims("app-1"))),
        )
        .await,
        30,
    );
    let b = assert_pushed(
        &push(
            &j,
            &par_body("app-1", &object("app-1", &rich_claims("app-1"))),
        )
        .await,
        30,
    );
    assert_ne!(a, b, "every push gets its own request_uri");
    for uri in [&a, &b] {
        let bits = b64url_decode(&uri[PAR_URN.len()..]);
        assert!(bits.len() * 8 >= 128, "at least 128 random bits in {uri}");
    }

    // Another (registered) client's id: refused, nothing forwarded.
    let resp = get(j.proxy_addr(), &redeem_target("app-2", &a, "")).await;
    assert_error(&resp, 400, "invalid_request_uri");
    // An unregistered client id: refused too.
    let resp = get(j.proxy_addr(), &redeem_target("nobody", &b, "")).await;
    assert_error(&resp, 400, "invalid_request_uri");
    // Without client_id: a malformed request.
    let resp = get(
        j.proxy_addr(),
        &format!("{AUTHORIZE}?request_uri={}", form_encode(&a)),
    )
    .await;
    assert_error(&resp, 400, "invalid_request");
    assert_eq!(
        up.count(),
        0,
        "nothing reached the upstream: {:?}",
        up.requests()
    );

    // docs/legacy.md: a request_uri tried by another client is consumed by that attempt.
    let resp = get(j.proxy_addr(), &redeem_target("app-1", &a, "")).await;
    assert_error(&resp, 400, "invalid_request_uri");
    assert_eq!(up.count(), 0);

    // app-2 pushes its own (ES256 object) and redeems it.
    let t = now();
    let claims = json!({
        "iss": "app-2", "aud": ISSUER, "exp": t + 60, "iat": t, "client_id": "app-2",
        "response_type": "code", "redirect_uri": "https://two.example/cb", "code_challenge_method": "S256",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    });
    let uri = assert_pushed(
        &push(&j, &par_body("app-2", &object("app-2", &claims))).await,
        30,
    );
    let resp = get(j.proxy_addr(), &redeem_target("app-2", &uri, "")).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_authorize_get(
        &rec,
        &form_pairs(&[
            ("client_id", "app-2"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("redirect_uri", "https://two.example/cb"),
            ("response_type", "code"),
        ]),
    );
}

fn b64url_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_else(|e| panic!("{text:?} is not base64url: {e}"))
}

#[tokio::test]
async fn par_request_uri_expires_after_its_ttl() {
    let (up, j) = start(&format!("{LEGACY}[par]\nrequest_uri_ttl_secs = 1\n")).await;
    let uri = assert_pushed(
        &push(
            &j,
            &par_body("app-1", &object("app-1", &rich_claims("app-1"))),
        )
        .await,
        1,
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let resp = get(j.proxy_addr(), &redeem_target("app-1", &uri, "")).await;
    assert_rejected(&resp, 400, "invalid_request_uri", &up);
}

#[tokio::test]
async fn par_redeemed_by_a_post_authorize_becomes_a_get() {
    let (up, j) = start(LEGACY).await;
    let claims = rich_claims("app-1");
    let uri = assert_pushed(
        &push(&j, &par_body("app-1", &object("app-1", &claims))).await,
        30,
    );
    let body = format!(
        "client_id=app-1&request_uri={}&nonce=other",
        form_encode(&uri)
    );
    let resp = post_form(j.proxy_addr(), AUTHORIZE, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_authorize_get(&rec, &rich_query("app-1", &claims));
}

#[tokio::test]
async fn par_without_a_request_object_stores_the_pushed_parameters() {
    let (up, j) = start(LEGACY).await;
    // Canonically encoded values: the redeemed query is client_id, then the pushed
    // parameters in their order, minus client authentication.
    let body = format!(
        "response_type=code&client_id=app-1&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb\
         &scope=openid+email&{}&state=xyz&max_age=60",
        assertion_params("app-1")
    );
    let uri = assert_pushed(&push(&j, &body).await, 30);
    assert_eq!(up.count(), 0);
    let resp = get(j.proxy_addr(), &redeem_target("app-1", &uri, "")).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_authorize_get(
        &rec,
        "client_id=app-1&response_type=code&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb\
         &scope=openid+email&state=xyz&max_age=60",
    );
    let resp = get(j.proxy_addr(), &redeem_target("app-1", &uri, "")).await;
    assert_error(&resp, 400, "invalid_request_uri");
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn par_without_a_request_object_keeps_the_pushed_values() {
    let (up, j) = start(LEGACY).await;
    // Non-canonical encodings and no client_id field (the assertion names the client): the
    // redeemed query carries client_id first and the same decoded values, in order.
    let body = format!(
        "{}&scope=openid%20email&redirect_uri=https%3a%2f%2fapp.example.com%2fcb\
         &login_hint=j%C3%B6hn%2Bdoe%40example.com&response_type=code",
        assertion_params(ODD_ID)
    );
    let uri = assert_pushed(&push(&j, &body).await, 30);
    let resp = get(j.proxy_addr(), &redeem_target(ODD_ID, &uri, "")).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_eq!(rec.method, "GET");
    assert!(rec.body.is_empty(), "no body upstream");
    assert_content_length(&rec);
    assert_eq!(rec.header("content-type"), None);
    assert_eq!(rec.header("authorization"), None);
    let query = rec
        .path_and_query
        .strip_prefix("/authorize?")
        .unwrap_or_else(|| panic!("upstream target {:?}", rec.path_and_query));
    let got = decode_pairs(query);
    let want: Vec<(String, String)> = [
        ("client_id", ODD_ID),
        ("scope", "openid email"),
        ("redirect_uri", "https://app.example.com/cb"),
        ("login_hint", "jöhn+doe@example.com"),
        ("response_type", "code"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(got, want, "redeemed parameters of {query:?}");
    assert!(
        query.starts_with(&format!("client_id={ODD_ID_FORM}&")),
        "client_id first, form-encoded: {query:?}"
    );
}

#[tokio::test]
async fn par_by_a_client_without_an_assertion_is_invalid_client() {
    let (up, j) = start(LEGACY).await;
    // app-post may use client_secret_post elsewhere, but jargate cannot verify a secret.
    let resp = push(
        &j,
        "response_type=code&client_id=app-post&client_secret=own-secret&scope=openid",
    )
    .await;
    assert_rejected(&resp, 401, "invalid_client", &up);
    // The same with a request object.
    let t = now();
    let claims =
        json!({"client_id": "app-post", "response_type": "code", "aud": ISSUER, "exp": t + 60});
    let resp = push(
        &j,
        &format!(
            "client_id=app-post&client_secret=own-secret&request={}",
            object("app-1", &claims)
        ),
    )
    .await;
    assert_rejected(&resp, 401, "invalid_client", &up);
    // A private_key_jwt client sending nothing but its id.
    let resp = push(&j, "response_type=code&client_id=app-1").await;
    assert_rejected(&resp, 401, "invalid_client", &up);
}

#[tokio::test]
async fn par_with_request_uri_in_the_body_is_invalid_request() {
    let (up, j) = start(LEGACY).await;
    let body = format!(
        "client_id=app-1&{}&request_uri={}",
        assertion_params("app-1"),
        form_encode(&format!("{PAR_URN}AAAAAAAAAAAAAAAAAAAAAA"))
    );
    let resp = push(&j, &body).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn par_with_a_bad_request_object_is_refused_and_stores_nothing() {
    let (up, j) = start(LEGACY).await;
    let assertion_a = assertion("app-1");
    let jwt = object("app-1", &rich_claims("app-1"));
    let body = format!(
        "client_id=app-1&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={assertion_a}\
         &request={}",
        tamper_signature(&jwt)
    );
    let resp = push(&j, &body).await;
    assert_rejected(&resp, 400, "invalid_request_object", &up);
    // An object without response_type.
    let mut claims = rich_claims("app-1");
    claims.as_object_mut().unwrap().remove("response_type");
    let resp = push(&j, &par_body("app-1", &object("app-1", &claims))).await;
    assert_rejected(&resp, 400, "invalid_request_object", &up);
    // Single use is recorded last: the refused PAR did not burn its assertion's jti, and the
    // good object is then pushed normally.
    let body = format!(
        "client_id=app-1&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={assertion_a}\
         &request={jwt}"
    );
    assert_pushed(&push(&j, &body).await, 30);
    assert_eq!(up.count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Token and client-authentication endpoints, client_secret_post
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_post_replaces_the_assertion_with_the_secret() {
    let (up, j) = start(LEGACY).await;
    // The kept pairs keep their own bytes (lower-case escapes included).
    let kept = "grant_type=authorization_code&code=abc\
                &redirect_uri=https%3a%2f%2fapp.example.com%2Fcb%3Fa%3D1&client_id=app-1";
    let body = format!("{kept}&{}", assertion_params("app-1"));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    let want = format!("{kept}&client_secret={SECRET_FORM}");
    assert_post(&rec, TOKEN, &want, None);
    assert_eq!(
        rec.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        decode_pairs(&rec.body_str()).last().unwrap(),
        &("client_secret".to_owned(), SECRET.to_owned())
    );

    // Assertion parameters first and in the middle: the others keep their order.
    let assertion_a = assertion("app-1");
    let body = format!(
        "client_assertion_type={ASSERTION_TYPE_FORM}&grant_type=refresh_token\
         &client_assertion={assertion_a}&refresh_token=rt%2F1+x&client_id=app-1"
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_post(
        &rec,
        TOKEN,
        &format!("grant_type=refresh_token&refresh_token=rt%2F1+x&client_id=app-1&client_secret={SECRET_FORM}"),
        None,
    );
}

#[tokio::test]
async fn token_post_appends_client_id_when_the_request_has_none() {
    let (up, j) = start(LEGACY).await;
    let body = format!(
        "grant_type=client_credentials&{}&scope=read%20write&audience=https://api.example.com/",
        assertion_params("app-1")
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_post(
        &rec,
        TOKEN,
        &format!(
            "grant_type=client_credentials&scope=read%20write&audience=https://api.example.com/\
             &client_id=app-1&client_secret={SECRET_FORM}"
        ),
        None,
    );

    // A client id that needs encoding is appended form-encoded.
    let body = format!("grant_type=client_credentials&{}", assertion_params(ODD_ID));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_post(
        &rec,
        TOKEN,
        &format!(
            "grant_type=client_credentials&client_id={ODD_ID_FORM}&client_secret={SECRET_FORM}"
        ),
        None,
    );
    // ... and kept in its own bytes when the request carries it.
    let body = format!(
        "client_id=svc%3a1%20x&grant_type=client_credentials&{}",
        assertion_params(ODD_ID)
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 2);
    assert_post(
        &rec,
        TOKEN,
        &format!("client_id=svc%3a1%20x&grant_type=client_credentials&client_secret={SECRET_FORM}"),
        None,
    );
}

#[tokio::test]
async fn client_auth_path_post_replaces_the_assertion() {
    let (up, j) = start(LEGACY).await;
    let body = format!(
        "token=rt-123&token_type_hint=refresh_token&client_id=app-2&{}",
        assertion_params("app-2")
    );
    let resp = post_form(j.proxy_addr(), REVOKE, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_post(
        &rec,
        REVOKE,
        &format!(
            "token=rt-123&token_type_hint=refresh_token&client_id=app-2&client_secret={}",
            form_encode(APP2_SECRET)
        ),
        None,
    );
    assert_eq!(form_encode(APP2_SECRET), "app-2+upstream+secret");

    // Without client_id.
    let body = format!("{}&token=at-9", assertion_params("app-1"));
    let resp = post_form(j.proxy_addr(), REVOKE, &body).await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_post(
        &rec,
        REVOKE,
        &format!("token=at-9&client_id=app-1&client_secret={SECRET_FORM}"),
        None,
    );
}

#[tokio::test]
async fn token_post_chunked_upload_gets_a_content_length() {
    let (up, j) = start(LEGACY).await;
    let kept = "grant_type=authorization_code&code=abc&client_id=app-1";
    let body = format!("{kept}&{}", assertion_params("app-1"));
    let resp = request(
        j.proxy_addr(),
        "POST",
        TOKEN,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(body.as_bytes(), 100),
    )
    .await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_post(
        &rec,
        TOKEN,
        &format!("{kept}&client_secret={SECRET_FORM}"),
        None,
    );
    assert!(rec.header("content-length").is_some());
}

#[tokio::test]
async fn token_post_json_body_carries_client_id_and_secret() {
    let (up, j) = start(LEGACY).await;
    let body = json!({
        "grant_type": "client_credentials",
        "audience": "https://api.example.com/",
        "client_id": "app-1",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion("app-1"),
    })
    .to_string();
    let resp = post_json(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_json_forward(
        &rec,
        TOKEN,
        json!({
            "grant_type": "client_credentials",
            "audience": "https://api.example.com/",
            "client_id": "app-1",
            "client_secret": SECRET,
        }),
        None,
    );

    // Without client_id: added.
    let body = json!({
        "client_assertion": assertion("app-2"),
        "client_assertion_type": ASSERTION_TYPE,
        "grant_type": "client_credentials",
    })
    .to_string();
    let resp = post_json(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_json_forward(
        &rec,
        TOKEN,
        json!({
            "grant_type": "client_credentials",
            "client_id": "app-2",
            "client_secret": APP2_SECRET,
        }),
        None,
    );
}

/// A JSON forward: POST to `path`, a JSON object equal to `want`, JSON content type,
/// Content-Length right, no Transfer-Encoding, this Authorization.
fn assert_json_forward(rec: &Recorded, path: &str, want: Value, authorization: Option<&str>) {
    let body = rec.body.clone();
    assert_upstream(rec, "POST", path, &body, authorization);
    let got: Value = serde_json::from_slice(&rec.body)
        .unwrap_or_else(|e| panic!("upstream body is not JSON ({e}): {:?}", rec.body_str()));
    assert_eq!(got, want, "upstream JSON body");
    let ct = rec.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "upstream Content-Type {ct:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// client_secret_basic
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_basic_sets_the_authorization_header_and_drops_client_id() {
    assert_eq!(
        basic("app-1", SECRET),
        format!("Basic {}", b64std(b"app-1:s3cr%2Bt%2F%3D%3A%26%25"))
    );
    let (up, j) = start(LEGACY_BASIC).await;
    let body = format!(
        "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb\
         &client_id=app-1&{}",
        assertion_params("app-1")
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    let auth = basic("app-1", SECRET);
    assert_post(
        &rec,
        TOKEN,
        "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb",
        Some(&auth),
    );
    assert!(!rec.body_str().contains("client_id"));
    assert!(!rec.body_str().contains("client_secret"));

    // Without client_id in the request: the same.
    let body = format!(
        "{}&grant_type=client_credentials",
        assertion_params("app-1")
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_post(&rec, TOKEN, "grant_type=client_credentials", Some(&auth));
}

#[tokio::test]
async fn client_auth_path_basic_form_encodes_id_and_secret() {
    let auth = basic(ODD_ID, SECRET);
    assert_eq!(
        auth,
        format!("Basic {}", b64std(b"svc%3A1+x:s3cr%2Bt%2F%3D%3A%26%25"))
    );
    let (up, j) = start(LEGACY_BASIC).await;
    let body = format!(
        "token=rt-123&client_id={ODD_ID_FORM}&{}&token_type_hint=refresh_token",
        assertion_params(ODD_ID)
    );
    let resp = post_form(j.proxy_addr(), REVOKE, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_post(
        &rec,
        REVOKE,
        "token=rt-123&token_type_hint=refresh_token",
        Some(&auth),
    );

    let body = format!("token=x&{}", assertion_params("app-2"));
    let resp = post_form(j.proxy_addr(), REVOKE, &body).await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_post(&rec, REVOKE, "token=x", Some(&basic("app-2", APP2_SECRET)));
}

#[tokio::test]
async fn token_basic_json_body_drops_client_id_and_assertion() {
    let (up, j) = start(LEGACY_BASIC).await;
    let body = json!({
        "grant_type": "client_credentials",
        "client_id": "app-1",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion("app-1"),
        "scope": "read write",
    })
    .to_string();
    let resp = post_json(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_json_forward(
        &rec,
        TOKEN,
        json!({"grant_type": "client_credentials", "scope": "read write"}),
        Some(&basic("app-1", SECRET)),
    );
}

// ---------------------------------------------------------------------------------------------
// Clients that do not use an assertion
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn client_with_its_own_secret_is_forwarded_untouched() {
    let (up, j) = start(LEGACY).await;
    let body = "grant_type=client_credentials&client_id=app-post&client_secret=own%2Bsecret%20x";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_post(&rec, TOKEN, body, None);

    let body = "client_secret=own&token=abc&client_id=app-post";
    let resp = post_form(j.proxy_addr(), REVOKE, body).await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_post(&rec, REVOKE, body, None);

    let body =
        r#"{"client_id":"app-post","client_secret":"own","grant_type":"client_credentials"}"#;
    let resp = post_json(j.proxy_addr(), TOKEN, body).await;
    let rec = relayed_nth(&resp, &up, 2);
    assert_upstream(&rec, "POST", TOKEN, body.as_bytes(), None);
    assert!(!rec.body_str().contains(POST_UPSTREAM_SECRET));
}

#[tokio::test]
async fn client_with_its_own_basic_header_is_forwarded_untouched() {
    let (up, j) = start(LEGACY_BASIC).await;
    let own = format!("Basic {}", b64std(b"app-post:own%20secret"));
    let body = "grant_type=client_credentials&scope=a";
    let resp = post_form_with(j.proxy_addr(), TOKEN, &[("Authorization", &own)], body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_post(&rec, TOKEN, body, Some(&own));

    // client_secret_post by the same client in basic mode: untouched too.
    let body = "grant_type=client_credentials&client_id=app-post&client_secret=own";
    let resp = post_form(j.proxy_addr(), TOKEN, body).await;
    let rec = relayed_nth(&resp, &up, 1);
    assert_post(&rec, TOKEN, body, None);
}

// ---------------------------------------------------------------------------------------------
// Refusals in legacy mode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn replayed_assertion_at_token_is_refused_in_legacy_mode() {
    let (up, j) = start(LEGACY).await;
    let body = format!(
        "grant_type=client_credentials&client_id=app-1&{}",
        assertion_params("app-1")
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    let rec = relayed_nth(&resp, &up, 0);
    assert_post(
        &rec,
        TOKEN,
        &format!("grant_type=client_credentials&client_id=app-1&client_secret={SECRET_FORM}"),
        None,
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(up.count(), 1, "the replay must not reach the upstream");

    // A private_key_jwt client without an assertion, and an assertion with a client secret.
    let resp = post_form(
        j.proxy_addr(),
        TOKEN,
        "grant_type=client_credentials&client_id=app-1&client_secret=guess",
    )
    .await;
    assert_error(&resp, 401, "invalid_client");
    let body = format!(
        "grant_type=client_credentials&client_secret=x&{}",
        assertion_params("app-1")
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_error(&resp, 400, "invalid_request");
    // A tampered assertion.
    let body = format!(
        "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE_FORM}\
         &client_assertion={}",
        tamper_signature(&assertion("app-1"))
    );
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(up.count(), 1, "refusals reach nothing: {:?}", up.requests());
}

#[tokio::test]
async fn tampered_or_replayed_request_object_is_refused_in_legacy_mode() {
    let (up, j) = start(LEGACY).await;
    let claims = rich_claims("app-1");
    let jwt = object("app-1", &claims);
    let resp = get(
        j.proxy_addr(),
        &format!(
            "{AUTHORIZE}?client_id=app-1&request={}",
            tamper_signature(&jwt)
        ),
    )
    .await;
    assert_rejected(&resp, 400, "invalid_request_object", &up);
    let resp = post_form(
        j.proxy_addr(),
        AUTHORIZE,
        &format!("client_id=app-1&request={}", tamper_signature(&jwt)),
    )
    .await;
    assert_rejected(&resp, 400, "invalid_request_object", &up);

    let target = format!("{AUTHORIZE}?client_id=app-1&request={jwt}");
    let rec = relayed_nth(&get(j.proxy_addr(), &target).await, &up, 0);
    assert_authorize_get(&rec, &rich_query("app-1", &claims));
    let resp = get(j.proxy_addr(), &target).await;
    assert_error(&resp, 400, "invalid_request_object");
    assert_eq!(
        up.count(),
        1,
        "the replayed object must not reach the upstream"
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration and logs
// ---------------------------------------------------------------------------------------------

/// `jargate check` on a legacy configuration and `clients`.
fn check(clients: &Value) -> Ran {
    let config = "[upstream]\nurl = \"http://127.0.0.1:3000\"\nmode = \"legacy\"\n\n\
                  [clients]\nfile = \"clients.json\"\n";
    ConfigDir::with_files(config, &clients.to_string()).check()
}

#[tokio::test]
async fn legacy_config_without_an_upstream_secret_is_refused() {
    let mut with_secrets = clients();
    let Ran {
        code,
        stdout,
        stderr,
    } = check(&with_secrets);
    assert_eq!(
        code, 0,
        "a legacy registry with secrets passes: {stdout}{stderr}"
    );
    for text in [&stdout, &stderr] {
        assert!(!text.contains(SECRET), "check printed the secret: {text}");
        assert!(
            !text.contains(APP2_SECRET),
            "check printed a secret: {text}"
        );
    }

    with_secrets["clients"][1]
        .as_object_mut()
        .unwrap()
        .remove("upstream_client_secret");
    let Ran {
        code,
        stdout,
        stderr,
    } = check(&with_secrets);
    assert_eq!(
        code, 1,
        "a client without a secret: exit 1\n{stdout}{stderr}"
    );
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("app-2") && all.contains("upstream_client_secret"),
        "the reason names the client and the field: {all}"
    );

    // `serve` refuses to start with it too.
    let up = StubUpstream::start().await;
    let err = match Jargate::try_start(up.addr(), LEGACY, with_secrets).await {
        Ok(_) => panic!("jargate started in legacy mode with a client lacking its secret"),
        Err(e) => e,
    };
    assert!(
        err.contains("app-2"),
        "startup error names the client: {err}"
    );
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn upstream_secret_never_appears_in_the_log() {
    let basic_auth = basic("app-1", SECRET);
    let basic_b64 = basic_auth.trim_start_matches("Basic ").to_owned();
    let mut logs = String::new();
    for (mode, n) in [(LEGACY, 0), (LEGACY_BASIC, 1)] {
        let (up, j) = start(mode).await;
        let body = format!(
            "grant_type=client_credentials&client_id=app-1&{}",
            assertion_params("app-1")
        );
        let rec = relayed_nth(&post_form(j.proxy_addr(), TOKEN, &body).await, &up, 0);
        if n == 0 {
            assert!(rec.body_str().ends_with(SECRET_FORM));
        } else {
            assert_eq!(rec.header("authorization"), Some(basic_auth.clone()));
        }
        let json_body = json!({
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion("app-1"),
        })
        .to_string();
        relayed_nth(&post_json(j.proxy_addr(), TOKEN, &json_body).await, &up, 1);
        let uri = assert_pushed(
            &push(
                &j,
                &par_body("app-1", &object("app-1", &rich_claims("app-1"))),
            )
            .await,
            30,
        );
        relayed_nth(
            &get(j.proxy_addr(), &redeem_target("app-1", &uri, "")).await,
            &up,
            2,
        );
        // A refusal too (replayed assertion).
        let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
        assert_error(&resp, 401, "invalid_client");
        // Decisions are logged once the response is sent.
        tokio::time::sleep(Duration::from_millis(300)).await;
        logs.push_str(&j.stderr());
    }
    assert!(
        logs.matches("decision").count() >= 8,
        "the log must hold the decisions: {logs}"
    );
    for needle in [SECRET, SECRET_FORM, "s3cr+t", "s3cr%2B", basic_b64.as_str()] {
        assert!(
            !logs.contains(needle),
            "the upstream secret ({needle:?}) appears in jargate's log:\n{logs}"
        );
    }
}
