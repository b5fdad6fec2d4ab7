//! Request objects (JAR, RFC 9101) at `/authorize` in `passthrough` mode, through the real
//! `jargate` binary and a recording stub upstream: GET query and POST form, the request-object
//! rules of SPEC §5, `jar.*` and `par.require_par` of SPEC §3, and the OIDF conformance-suite
//! cases on request objects (STANDARDS.md (b)).
//!
//! Every refusal checks status, `error`, the §6 error headers and that the upstream received
//! nothing; every acceptance checks exactly what the upstream received (path and query for GET,
//! body for POST), after `jar.outside_parameters`.
//!
//! # SPEC §5 request-object rules → tests
//!
//! | SPEC §5 rule | tests |
//! |---|---|
//! | JWT step 1, size ≤ `max_request_object_bytes` | `object_of_exactly_max_request_object_bytes_is_accepted_and_one_byte_more_refused` |
//! | JWT step 2, `alg` in the credential's `alg`; `none` never | `rs256_object_where_the_credential_says_ps256_is_refused`, `alg_none_object_is_refused` |
//! | JWT step 3, signature by a registered credential of this client and use | `ps256_object_at_get_authorize_is_forwarded_unchanged`, `es256_object_is_accepted`, `eddsa_object_is_accepted`, `object_with_an_invalid_signature_is_refused`, `object_signed_by_another_clients_jar_key_is_refused`, `object_signed_with_the_clients_private_key_jwt_key_is_refused` |
//! | JWT step 5, `exp` required (unless `jar.require_exp = false`), expiry, lifetime, `nbf` | `object_without_exp_is_refused`, `expired_object_is_refused`, `object_with_exp_70_minutes_after_nbf_is_refused`, `object_with_nbf_70_minutes_old_is_refused`, `object_with_nbf_8_seconds_in_the_future_is_accepted`, `require_exp_false_accepts_an_object_without_exp` |
//! | JWT step 6, `aud` string or array naming the issuer | `object_with_a_bad_aud_is_refused`, `object_with_multiple_aud_including_the_issuer_is_accepted` |
//! | JWT step 7 / `typ` rules, `jar.require_typ` | `typ_oauth_authz_req_jwt_is_accepted`, `typ_jwt_is_accepted`, `typ_client_authentication_jwt_is_refused`, `require_typ_refuses_a_missing_typ_and_plain_jwt`, `require_typ_accepts_oauth_authz_req_jwt` |
//! | error codes: outer parameters → `invalid_request`, the object → `invalid_request_object` | every refusal below asserts its code |
//! | `client_id` parameter required (missing → `invalid_request`) | `missing_client_id_parameter_is_invalid_request` |
//! | `client_id` parameter equal to the object's `client_id` claim (also required) | `client_id_parameter_differing_from_the_claim_is_refused`, `object_without_client_id_claim_is_refused` |
//! | `iss`, when present, equal to the client id | `object_with_iss_other_than_the_client_is_refused`, `object_without_iss_is_accepted` |
//! | `request` with `request_uri` → `invalid_request` | `request_with_request_uri_is_invalid_request` |
//! | object must not contain `request` / `request_uri` | `object_containing_request_is_refused`, `object_containing_request_uri_is_refused` |
//! | object must contain `response_type` | `object_without_response_type_is_refused` |
//! | object must not carry `sub` = client id | `object_with_sub_equal_to_the_client_id_is_refused`, `object_with_another_sub_is_accepted` |
//! | `nbf` required with `jar.require_nbf` | `require_nbf_refuses_an_object_without_nbf`, `require_nbf_accepts_an_object_with_nbf` |
//! | outside parameters: `strip` | `strip_drops_a_differing_state_and_keeps_identical_parameters_as_sent`, `strip_drops_outside_parameters_from_a_post_form_body`, `a_post_with_a_query_is_refused_rather_than_stripped`, `strip_with_request_uri_forwards_only_client_id_and_request_uri`, `nothing_outside_is_forwarded_unchanged` |
//! | outside parameters: `reject` | `reject_refuses_a_differing_outside_parameter`, `reject_refuses_a_parameter_absent_from_the_object`, `reject_accepts_identical_outside_parameters`, `reject_with_request_uri_refuses_any_other_parameter` |
//! | outside parameters: `allow` | `allow_forwards_every_outside_parameter`, `allow_with_request_uri_forwards_every_parameter` |
//! | `jti`, when present, single use | `replayed_object_is_refused_and_forwarded_once`, `new_object_reusing_a_jti_is_refused` |
//! | signature with the client's JAR credentials only | `object_signed_with_the_clients_private_key_jwt_key_is_refused` |
//! | `signed_request_object.required`: no object and no PAR `request_uri` → `invalid_request` | `client_requiring_jar_sending_a_plain_request_is_refused`, `client_requiring_jar_with_a_par_request_uri_is_forwarded`, `client_requiring_jar_with_an_object_is_forwarded`, `client_not_requiring_jar_may_send_a_plain_request` |
//! | non-PAR `request_uri` → `request_uri_not_supported`, never fetched, before the `required` check | `https_request_uri_is_not_supported_and_never_fetched`, `non_par_request_uri_is_decided_before_the_required_check` |
//! | request shape before the client lookup | `repeated_parameter_is_decided_before_anything_else` |
//! | forwarded requests keep the original bytes | `strip_drops_a_differing_state_and_keeps_identical_parameters_as_sent`, every acceptance |
//! | repeated parameter → `invalid_request` | `repeated_parameter_is_invalid_request`, `parameter_in_both_query_and_form_is_repeated`, `repeated_parameter_is_decided_before_anything_else` |
//! | (§3) `par.require_par` | `require_par_refuses_a_request_by_value`, `require_par_refuses_a_plain_request`, `require_par_forwards_a_par_request_uri` |
//! | (§6) unknown client | `unknown_client_with_a_request_object_is_invalid_request`, `unknown_client_with_a_request_uri_is_invalid_request` |
//!
//! OIDF conformance suite: `ensure-request-object-without-exp-fails`,
//! `ensure-expired-request-object-fails`, `-with-exp-over-60-fails`, `-with-nbf-over-60-fails`,
//! `-with-nbf-8-seconds-in-the-future-is-accepted`, `-with-bad-aud-fails`,
//! `-with-multiple-aud-succeeds`, `-signature-algorithm-is-not-none`,
//! `-with-invalid-signature-fails`, `ensure-signed-request-object-with-RS256-fails`,
//! `ensure-matching-key-in-authorization-request`, and `/authorize` with only `client_id` +
//! `request_uri` (`authorize_with_only_client_id_and_request_uri_is_forwarded`).

use crate::common::*;
use serde_json::{json, Value};

/// The registry of this file:
/// * `app-1`: assertion key rsa-a (RS256); JAR key rsa-b (PS256).
/// * `jar-es`: assertion key ec-b (ES256); JAR key ec-a (ES256): same alg for both uses.
/// * `jar-ed`: assertion key ec384-a (ES384); JAR key ed-a (EdDSA).
/// * `jar-req`: `signed_request_object.required = true`, JAR key rsa-c (PS256).
fn clients() -> Value {
    let jar = |client_id: &str, auth: Value, jar: Value| {
        let mut c = pkjwt_client(client_id, vec![auth]);
        c["signed_request_object"] = json!({ "credentials": [jar] });
        c
    };
    registry(vec![
        jar(
            "app-1",
            pem_credential("rsa-a", "RS256"),
            pem_credential("rsa-b", "PS256"),
        ),
        jar(
            "jar-es",
            pem_credential("ec-b", "ES256"),
            pem_credential("ec-a", "ES256"),
        ),
        jar(
            "jar-ed",
            pem_credential("ec384-a", "ES384"),
            pem_credential("ed-a", "EdDSA"),
        ),
        json!({
            "client_id": "jar-req",
            "signed_request_object": {
                "required": true,
                "credentials": [pem_credential("rsa-c", "PS256")],
            },
        }),
    ])
}

async fn start(extra_toml: &str) -> (StubUpstream, Jargate) {
    start_with(extra_toml, clients()).await
}

/// The registered JAR key and alg of `client`.
fn jar_key(client: &str) -> (&'static str, &'static str) {
    match client {
        "jar-es" => ("ec-a", "ES256"),
        "jar-ed" => ("ed-a", "EdDSA"),
        "jar-req" => ("rsa-c", "PS256"),
        _ => ("rsa-b", "PS256"),
    }
}

/// A valid request object of `client` with `changes`, signed with its JAR key.
fn object_with(client: &str, changes: Value) -> String {
    let (key, alg) = jar_key(client);
    object_by(key, alg, object_claims(client, changes))
}

/// `client_id=<client>&request=<jwt>`.
fn by_value(client: &str, jwt: &str) -> String {
    format!("client_id={client}&request={jwt}")
}

fn target(params: &str) -> String {
    format!("{AUTHORIZE}?{params}")
}

async fn get_authorize(j: &Jargate, params: &str) -> Response {
    get(j.proxy_addr(), &target(params)).await
}

async fn post_authorize(j: &Jargate, params: &str) -> Response {
    post_form(j.proxy_addr(), AUTHORIZE, params).await
}

/// GET `/authorize?<params>` must reach the upstream as exactly `/authorize?<expected>`.
async fn expect_get_forwarded_as(up: &StubUpstream, j: &Jargate, params: &str, expected: &str) {
    let nth = up.count();
    let resp = get_authorize(j, params).await;
    assert_forwarded_nth(&resp, up, nth, "GET", &target(expected), b"");
}

/// GET `/authorize?<params>` must reach the upstream unchanged.
async fn expect_get_forwarded(up: &StubUpstream, j: &Jargate, params: &str) {
    expect_get_forwarded_as(up, j, params, params).await;
}

/// POST `/authorize` with form `params` must reach the upstream with exactly `expected` as body.
async fn expect_post_forwarded_as(up: &StubUpstream, j: &Jargate, params: &str, expected: &str) {
    let nth = up.count();
    let resp = post_authorize(j, params).await;
    let fwd = assert_forwarded_nth(&resp, up, nth, "POST", AUTHORIZE, expected.as_bytes());
    assert_eq!(
        fwd.header("content-length"),
        Some(expected.len().to_string()),
        "Content-Length must match the forwarded body"
    );
}

/// The request is refused both as a GET query and as a POST form, nothing forwarded.
async fn expect_refused(up: &StubUpstream, j: &Jargate, params: &str, status: u16, error: &str) {
    let resp = get_authorize(j, params).await;
    assert_rejected(&resp, status, error, up);
    let resp = post_authorize(j, params).await;
    assert_rejected(&resp, status, error, up);
}

/// `app-1` sends `jwt` by value (GET and POST); 400 `invalid_request_object`, nothing forwarded.
async fn expect_object_refused(extra_toml: &str, client: &str, jwt: &str) {
    let (up, j) = start(extra_toml).await;
    expect_refused(
        &up,
        &j,
        &by_value(client, jwt),
        400,
        "invalid_request_object",
    )
    .await;
}

/// Objects made by `make` (called once per request, so each has its own jti) are accepted by
/// value at GET and at POST and forwarded unchanged.
async fn expect_object_accepted(extra_toml: &str, client: &str, make: impl Fn() -> String) {
    let (up, j) = start(extra_toml).await;
    expect_get_forwarded(&up, &j, &by_value(client, &make())).await;
    let params = by_value(client, &make());
    expect_post_forwarded_as(&up, &j, &params, &params).await;
}

/// What becomes of a by-value request object in the tables below.
#[derive(Clone, Copy)]
enum Expect {
    /// Forwarded unchanged, at GET and at POST.
    Accepted,
    /// 400 `invalid_request_object` at GET and at POST, nothing forwarded.
    Refused,
}
use Expect::{Accepted, Refused};

/// A by-value request object of `client` (signed with its JAR key) with `changes(now)` merged
/// into valid claims, on a proxy with `extra_toml`.
async fn claims_case(extra_toml: &str, client: &str, changes: fn(i64) -> Value, verdict: Expect) {
    let make = || object_with(client, changes(now()));
    match verdict {
        Accepted => expect_object_accepted(extra_toml, client, make).await,
        Refused => expect_object_refused(extra_toml, client, &make()).await,
    }
}

// ----------------------------------------------------------------------------------------------
// Accepted objects: algorithms, GET and POST
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn ps256_object_at_get_authorize_is_forwarded_unchanged() {
    let (up, j) = start("").await;
    let params = by_value("app-1", &object_with("app-1", json!({})));
    expect_get_forwarded(&up, &j, &params).await;
}

#[tokio::test]
async fn ps256_object_in_a_post_form_is_forwarded_unchanged() {
    let (up, j) = start("").await;
    let params = by_value("app-1", &object_with("app-1", json!({})));
    expect_post_forwarded_as(&up, &j, &params, &params).await;
    let fwd = &up.requests()[0];
    assert_eq!(
        fwd.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
}

cases! { claims_case;
    es256_object_is_accepted: "", "jar-es", |_| json!({}), Accepted;
    eddsa_object_is_accepted: "", "jar-ed", |_| json!({}), Accepted;
    object_without_iss_is_accepted: "", "app-1", |_| json!({"iss": null}), Accepted;
    object_with_another_sub_is_accepted:
        "", "app-1", |_| json!({"sub": "user-248289761001"}), Accepted;
}

// ----------------------------------------------------------------------------------------------
// Outer parameters
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn missing_client_id_parameter_is_invalid_request() {
    let (up, j) = start("").await;
    let params = format!("request={}", object_with("app-1", json!({})));
    expect_refused(&up, &j, &params, 400, "invalid_request").await;
}

#[tokio::test]
async fn client_id_parameter_differing_from_the_claim_is_refused() {
    // The object is app-1's (claim and signature); the parameter names another registered client.
    let (up, j) = start("").await;
    let jwt = object_with("app-1", json!({}));
    expect_refused(
        &up,
        &j,
        &by_value("jar-es", &jwt),
        400,
        "invalid_request_object",
    )
    .await;
    // The other way round: app-1's key and parameter, another client's claim.
    let jwt = object_with("app-1", json!({"client_id": "jar-es"}));
    expect_refused(
        &up,
        &j,
        &by_value("app-1", &jwt),
        400,
        "invalid_request_object",
    )
    .await;
}

#[tokio::test]
async fn request_with_request_uri_is_invalid_request() {
    let (up, j) = start("").await;
    let params = format!(
        "{}&request_uri={PAR_URI_FORM}",
        by_value("app-1", &object_with("app-1", json!({})))
    );
    expect_refused(&up, &j, &params, 400, "invalid_request").await;
}

cases! { claims_case;
    object_without_client_id_claim_is_refused: "", "app-1", |_| json!({"client_id": null}), Refused;
    object_with_iss_other_than_the_client_is_refused:
        "", "app-1", |_| json!({"iss": "jar-es"}), Refused;
    object_containing_request_is_refused:
        "", "app-1", |_| json!({"request": object_with("app-1", json!({}))}), Refused;
    object_containing_request_uri_is_refused:
        "", "app-1", |_| json!({"request_uri": PAR_URI}), Refused;
    object_without_response_type_is_refused:
        "", "app-1", |_| json!({"response_type": null}), Refused;
    object_with_sub_equal_to_the_client_id_is_refused:
        "", "app-1", |_| json!({"sub": "app-1"}), Refused;
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let (up, j) = start("").await;
    let jwt = object_with("app-1", json!({}));
    let twice_client = format!("client_id=app-1&{}", by_value("app-1", &jwt));
    expect_refused(&up, &j, &twice_client, 400, "invalid_request").await;
    let twice_state = format!("state=a&{}&state=a", by_value("app-1", &jwt));
    expect_refused(&up, &j, &twice_state, 400, "invalid_request").await;
    let twice_request = format!("{}&request={jwt}", by_value("app-1", &jwt));
    expect_refused(&up, &j, &twice_request, 400, "invalid_request").await;
}

#[tokio::test]
async fn parameter_in_both_query_and_form_is_repeated() {
    // GET query or POST form, never both (SPEC §5): refused whatever the query repeats.
    let (up, j) = start("").await;
    let form = by_value("app-1", &object_with("app-1", json!({})));
    let resp = request(
        j.proxy_addr(),
        "POST",
        "/authorize?client_id=app-1",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn repeated_parameter_is_decided_before_anything_else() {
    // Unrepeated, this would be request_uri_not_supported (and the client is unknown).
    let (up, j) = start("").await;
    let params = "client_id=nobody&request_uri=https%3A%2F%2Fevil.example%2Fro\
                  &request_uri=https%3A%2F%2Fevil.example%2Fro";
    expect_refused(&up, &j, params, 400, "invalid_request").await;
}

#[tokio::test]
async fn unknown_client_with_a_request_object_is_invalid_request() {
    let (up, j) = start("").await;
    let (key, alg) = jar_key("app-1");
    let jwt = Jwt::signed(&TestKey::load(key), alg)
        .claims(object_claims("nobody", json!({})))
        .build();
    expect_refused(&up, &j, &by_value("nobody", &jwt), 400, "invalid_request").await;
}

#[tokio::test]
async fn unknown_client_with_a_request_uri_is_invalid_request() {
    let (up, j) = start("").await;
    let params = format!("client_id=nobody&request_uri={PAR_URI_FORM}");
    expect_refused(&up, &j, &params, 400, "invalid_request").await;
}

// ----------------------------------------------------------------------------------------------
// Single use, keys
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn replayed_object_is_refused_and_forwarded_once() {
    let (up, j) = start("").await;
    let params = by_value("app-1", &object_with("app-1", json!({})));
    expect_get_forwarded(&up, &j, &params).await;
    for resp in [
        get_authorize(&j, &params).await,
        post_authorize(&j, &params).await,
    ] {
        assert_error(&resp, 400, "invalid_request_object");
        assert_eq!(
            resp.json()["error_description"],
            "jti already used",
            "SPEC §6 example description"
        );
    }
    assert_eq!(up.count(), 1, "the replays must not reach the upstream");
}

#[tokio::test]
async fn new_object_reusing_a_jti_is_refused() {
    let (up, j) = start("").await;
    let first = object_with("app-1", json!({"jti": "one-time-42"}));
    let second = object_with("app-1", json!({"jti": "one-time-42", "state": "other"}));
    assert_ne!(first, second);
    expect_post_forwarded_as(
        &up,
        &j,
        &by_value("app-1", &first),
        &by_value("app-1", &first),
    )
    .await;
    let resp = get_authorize(&j, &by_value("app-1", &second)).await;
    assert_error(&resp, 400, "invalid_request_object");
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn object_signed_with_the_clients_private_key_jwt_key_is_refused() {
    // jar-es authenticates with ec-b (ES256) and signs request objects with ec-a (ES256): a
    // request object signed with ec-b verifies with no JAR credential.
    let key = TestKey::load("ec-b");
    let jwt = Jwt::signed(&key, "ES256")
        .header("typ", json!("oauth-authz-req+jwt"))
        .claims(object_claims("jar-es", json!({})))
        .build();
    expect_object_refused("", "jar-es", &jwt).await;
    // Likewise app-1's assertion key rsa-a, with the alg of its JAR credential or of its assertion
    // credential.
    let key = TestKey::load("rsa-a");
    for alg in ["PS256", "RS256"] {
        let jwt = Jwt::signed(&key, alg)
            .claims(object_claims("app-1", json!({})))
            .build();
        expect_object_refused("", "app-1", &jwt).await;
    }
}

#[tokio::test]
async fn object_signed_by_another_clients_jar_key_is_refused() {
    // OIDF ensure-matching-key-in-authorization-request: app-1's object signed with jar-req's
    // JAR key (rsa-c, PS256 like app-1's own).
    let jwt = Jwt::signed(&TestKey::load("rsa-c"), "PS256")
        .header("typ", json!("oauth-authz-req+jwt"))
        .claims(object_claims("app-1", json!({})))
        .build();
    expect_object_refused("", "app-1", &jwt).await;
}

#[tokio::test]
async fn object_of_exactly_max_request_object_bytes_is_accepted_and_one_byte_more_refused() {
    // Some lengths are unreachable in base64url; take the first limit where both are reachable.
    let (key, alg) = jar_key("app-1");
    let key = TestKey::load(key);
    let sized = |len: usize| {
        Jwt::signed(&key, alg)
            .header("typ", json!("oauth-authz-req+jwt"))
            .claims(object_claims("app-1", json!({})))
            .build_with_len("x_pad", len)
    };
    let (limit, at, over) = (1500..1510)
        .find_map(|limit| Some((limit, sized(limit)?, sized(limit + 1)?)))
        .expect("a reachable limit");
    let (up, j) = start(&format!("[limits]\nmax_request_object_bytes = {limit}\n")).await;
    expect_refused(
        &up,
        &j,
        &by_value("app-1", &over),
        400,
        "invalid_request_object",
    )
    .await;
    expect_get_forwarded(&up, &j, &by_value("app-1", &at)).await;
}

// ----------------------------------------------------------------------------------------------
// typ, require_nbf, require_exp
// ----------------------------------------------------------------------------------------------

fn typed(typ: Option<&str>) -> String {
    let (key, alg) = jar_key("app-1");
    let key = TestKey::load(key);
    let jwt = Jwt::signed(&key, alg).claims(object_claims("app-1", json!({})));
    match typ {
        Some(t) => jwt.header("typ", json!(t)).build(),
        None => jwt.build(),
    }
}

/// An `app-1` object typed `typ` (or untyped), on a proxy with `extra_toml`.
async fn typed_case(extra_toml: &str, typ: Option<&str>, verdict: Expect) {
    match verdict {
        Accepted => expect_object_accepted(extra_toml, "app-1", || typed(typ)).await,
        Refused => expect_object_refused(extra_toml, "app-1", &typed(typ)).await,
    }
}

cases! { typed_case;
    typ_oauth_authz_req_jwt_is_accepted: "", Some("oauth-authz-req+jwt"), Accepted;
    typ_jwt_is_accepted: "", Some("JWT"), Accepted;
    missing_typ_is_accepted_by_default: "", None, Accepted;
    typ_client_authentication_jwt_is_refused: "", Some("client-authentication+jwt"), Refused;
    require_typ_accepts_oauth_authz_req_jwt: REQUIRE_TYP, Some("oauth-authz-req+jwt"), Accepted;
}

const REQUIRE_TYP: &str = "[jar]\nrequire_typ = true\n";

#[tokio::test]
async fn require_typ_refuses_a_missing_typ_and_plain_jwt() {
    let (up, j) = start(REQUIRE_TYP).await;
    for jwt in [typed(None), typed(Some("JWT"))] {
        expect_refused(
            &up,
            &j,
            &by_value("app-1", &jwt),
            400,
            "invalid_request_object",
        )
        .await;
    }
}

const REQUIRE_NBF: &str = "[jar]\nrequire_nbf = true\n";
const NO_REQUIRE_EXP: &str = "[jar]\nrequire_exp = false\n";

cases! { claims_case;
    require_nbf_refuses_an_object_without_nbf:
        REQUIRE_NBF, "app-1", |_| json!({"nbf": null}), Refused;
    require_nbf_accepts_an_object_with_nbf: REQUIRE_NBF, "app-1", |_| json!({}), Accepted;
    require_exp_false_accepts_an_object_without_exp:
        NO_REQUIRE_EXP, "app-1", |_| json!({"exp": null}), Accepted;
}

// ----------------------------------------------------------------------------------------------
// OIDF conformance-suite cases
// ----------------------------------------------------------------------------------------------

cases! { claims_case;
    object_without_exp_is_refused: "", "app-1", |_| json!({"exp": null}), Refused;
    expired_object_is_refused:
        "", "app-1", |t| json!({"iat": t - 3900, "nbf": t - 3900, "exp": t - 3600}), Refused;
    object_with_exp_70_minutes_after_nbf_is_refused:
        "", "app-1", |t| json!({"iat": t, "nbf": t, "exp": t + 70 * 60}), Refused;
    // iat = now keeps the lifetime (exp − max(iat, nbf)) short: only the nbf age rule applies.
    object_with_nbf_70_minutes_old_is_refused:
        "", "app-1", |t| json!({"iat": t, "nbf": t - 70 * 60, "exp": t + 300}), Refused;
    object_with_nbf_8_seconds_in_the_future_is_accepted:
        "", "app-1", |t| json!({"iat": t, "nbf": t + 8, "exp": t + 300}), Accepted;
    object_with_a_bad_aud_is_refused:
        "", "app-1", |_| json!({"aud": "https://other.example/"}), Refused;
    object_with_multiple_aud_including_the_issuer_is_accepted:
        "", "app-1", |_| json!({"aud": [ISSUER, "https://other.example/", "invalid"]}), Accepted;
}

#[tokio::test]
async fn alg_none_object_is_refused() {
    let jwt = Jwt::unsigned()
        .claims(object_claims("app-1", json!({})))
        .build();
    expect_object_refused("", "app-1", &jwt).await;
}

#[tokio::test]
async fn object_with_an_invalid_signature_is_refused() {
    let jwt = tamper_signature(&object_with("app-1", json!({})));
    expect_object_refused("", "app-1", &jwt).await;
}

#[tokio::test]
async fn rs256_object_where_the_credential_says_ps256_is_refused() {
    // Same RSA key (rsa-b) as app-1's PS256 JAR credential, other padding.
    let (key, _) = jar_key("app-1");
    let jwt = Jwt::signed(&TestKey::load(key), "RS256")
        .header("typ", json!("oauth-authz-req+jwt"))
        .claims(object_claims("app-1", json!({})))
        .build();
    expect_object_refused("", "app-1", &jwt).await;
}

#[tokio::test]
async fn authorize_with_only_client_id_and_request_uri_is_forwarded() {
    let (up, j) = start("").await;
    expect_get_forwarded(&up, &j, &format!("client_id=app-1&request_uri={PAR_URI}")).await;
    let params = format!("client_id=app-1&request_uri={PAR_URI_FORM}");
    expect_get_forwarded(&up, &j, &params).await;
    expect_post_forwarded_as(&up, &j, &params, &params).await;
}

// ----------------------------------------------------------------------------------------------
// request_uri, signed_request_object.required, par.require_par
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn https_request_uri_is_not_supported_and_never_fetched() {
    // The URL names the stub upstream itself: a fetch would show up in its record.
    let (up, j) = start("").await;
    let url = format!("http://{}/request.jwt", up.addr());
    let encoded: String = url
        .bytes()
        .map(|b| match b {
            b':' => "%3A".to_owned(),
            b'/' => "%2F".to_owned(),
            b => (b as char).to_string(),
        })
        .collect();
    for value in [url.clone(), encoded] {
        let params = format!("client_id=app-1&request_uri={value}");
        expect_refused(&up, &j, &params, 400, "request_uri_not_supported").await;
    }
    let params = "client_id=app-1&request_uri=https%3A%2F%2Fapp.example.com%2Fro.jwt";
    expect_refused(&up, &j, params, 400, "request_uri_not_supported").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(up.count(), 0, "jargate must never fetch a request_uri");
}

#[tokio::test]
async fn non_par_request_uri_is_decided_before_the_required_check() {
    let (up, j) = start("").await;
    let params = "client_id=jar-req&request_uri=https%3A%2F%2Fapp.example.com%2Fro.jwt";
    expect_refused(&up, &j, params, 400, "request_uri_not_supported").await;
}

fn plain_params(client: &str) -> String {
    format!(
        "response_type=code&client_id={client}&redirect_uri={REDIRECT_FORM}\
         &scope=openid%20email&state=af0ifjsldkj"
    )
}

#[tokio::test]
async fn client_requiring_jar_sending_a_plain_request_is_refused() {
    let (up, j) = start("").await;
    expect_refused(&up, &j, &plain_params("jar-req"), 400, "invalid_request").await;
}

#[tokio::test]
async fn client_requiring_jar_with_a_par_request_uri_is_forwarded() {
    let (up, j) = start("").await;
    let params = format!("client_id=jar-req&request_uri={PAR_URI_FORM}");
    expect_get_forwarded(&up, &j, &params).await;
    expect_post_forwarded_as(&up, &j, &params, &params).await;
}

#[tokio::test]
async fn client_requiring_jar_with_an_object_is_forwarded() {
    expect_object_accepted("", "jar-req", || object_with("jar-req", json!({}))).await;
}

#[tokio::test]
async fn client_not_requiring_jar_may_send_a_plain_request() {
    let (up, j) = start("").await;
    expect_get_forwarded(&up, &j, &plain_params("app-1")).await;
}

const REQUIRE_PAR: &str = "[par]\nrequire_par = true\n";

#[tokio::test]
async fn require_par_refuses_a_request_by_value() {
    let jwt = object_with("app-1", json!({}));
    let (up, j) = start(REQUIRE_PAR).await;
    expect_refused(&up, &j, &by_value("app-1", &jwt), 400, "invalid_request").await;
}

#[tokio::test]
async fn require_par_refuses_a_plain_request() {
    let (up, j) = start(REQUIRE_PAR).await;
    expect_refused(&up, &j, &plain_params("app-1"), 400, "invalid_request").await;
}

#[tokio::test]
async fn require_par_forwards_a_par_request_uri() {
    let (up, j) = start(REQUIRE_PAR).await;
    let params = format!("client_id=app-1&request_uri={PAR_URI_FORM}");
    expect_get_forwarded(&up, &j, &params).await;
    expect_post_forwarded_as(&up, &j, &params, &params).await;
}

// ----------------------------------------------------------------------------------------------
// Parameters outside the object
// ----------------------------------------------------------------------------------------------

/// `response_type`, `redirect_uri` and `scope` identical to the object (in their own encodings),
/// `state` different, `prompt` absent from the object, then `client_id` and `request`.
fn with_outside(jwt: &str) -> String {
    format!(
        "response_type=code&redirect_uri={REDIRECT_FORM}&scope=openid%20email&state=evil\
         &prompt=none&client_id=app-1&request={jwt}"
    )
}

/// What `strip` must keep of [`with_outside`]: the original bytes of the kept parameters.
fn stripped(jwt: &str) -> String {
    format!(
        "response_type=code&redirect_uri={REDIRECT_FORM}&scope=openid%20email\
         &client_id=app-1&request={jwt}"
    )
}

#[tokio::test]
async fn strip_drops_a_differing_state_and_keeps_identical_parameters_as_sent() {
    let (up, j) = start("").await;
    let jwt = object_with("app-1", json!({}));
    expect_get_forwarded_as(&up, &j, &with_outside(&jwt), &stripped(&jwt)).await;
    // `+` for a space is kept as sent, too.
    let jwt = object_with("app-1", json!({}));
    let params = format!("scope=openid+email&state=evil&{}", by_value("app-1", &jwt));
    let expected = format!("scope=openid+email&{}", by_value("app-1", &jwt));
    expect_get_forwarded_as(&up, &j, &params, &expected).await;
}

#[tokio::test]
async fn strip_drops_outside_parameters_from_a_post_form_body() {
    let (up, j) = start("[jar]\noutside_parameters = \"strip\"\n").await;
    let jwt = object_with("app-1", json!({}));
    expect_post_forwarded_as(&up, &j, &with_outside(&jwt), &stripped(&jwt)).await;
}

#[tokio::test]
async fn a_post_with_a_query_is_refused_rather_than_stripped() {
    // GET query or POST form, never both (SPEC §5): a stack reading a POST's body only would
    // process another request than the one validated.
    let (up, j) = start("").await;
    let form = by_value("app-1", &object_with("app-1", json!({})));
    let resp = request(
        j.proxy_addr(),
        "POST",
        "/authorize?state=evil",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .await;
    assert_rejected(&resp, 400, "invalid_request", &up);
}

#[tokio::test]
async fn nothing_outside_is_forwarded_unchanged() {
    // Identical outside parameters only: nothing to strip.
    let (up, j) = start("").await;
    let jwt = object_with("app-1", json!({}));
    let params = stripped(&jwt);
    expect_get_forwarded(&up, &j, &params).await;
}

#[tokio::test]
async fn strip_with_request_uri_forwards_only_client_id_and_request_uri() {
    let (up, j) = start("").await;
    let params = format!(
        "response_type=code&client_id=app-1&scope=openid&state=xyz&request_uri={PAR_URI_FORM}"
    );
    let expected = format!("client_id=app-1&request_uri={PAR_URI_FORM}");
    expect_get_forwarded_as(&up, &j, &params, &expected).await;
    expect_post_forwarded_as(&up, &j, &params, &expected).await;
}

const REJECT: &str = "[jar]\noutside_parameters = \"reject\"\n";

#[tokio::test]
async fn reject_refuses_a_differing_outside_parameter() {
    let (up, j) = start(REJECT).await;
    let jwt = object_with("app-1", json!({}));
    let params = format!("state=evil&{}", by_value("app-1", &jwt));
    expect_refused(&up, &j, &params, 400, "invalid_request").await;
}

#[tokio::test]
async fn reject_refuses_a_parameter_absent_from_the_object() {
    let (up, j) = start(REJECT).await;
    let jwt = object_with("app-1", json!({}));
    let params = format!("prompt=none&{}", by_value("app-1", &jwt));
    expect_refused(&up, &j, &params, 400, "invalid_request").await;
}

#[tokio::test]
async fn reject_accepts_identical_outside_parameters() {
    let (up, j) = start(REJECT).await;
    expect_get_forwarded(&up, &j, &stripped(&object_with("app-1", json!({})))).await;
    let params = stripped(&object_with("app-1", json!({})));
    expect_post_forwarded_as(&up, &j, &params, &params).await;
}

#[tokio::test]
async fn reject_with_request_uri_refuses_any_other_parameter() {
    let (up, j) = start(REJECT).await;
    let params = format!("client_id=app-1&request_uri={PAR_URI_FORM}&state=xyz");
    expect_refused(&up, &j, &params, 400, "invalid_request").await;
}

const ALLOW: &str = "[jar]\noutside_parameters = \"allow\"\n";

#[tokio::test]
async fn allow_forwards_every_outside_parameter() {
    let (up, j) = start(ALLOW).await;
    expect_get_forwarded(&up, &j, &with_outside(&object_with("app-1", json!({})))).await;
    let params = with_outside(&object_with("app-1", json!({})));
    expect_post_forwarded_as(&up, &j, &params, &params).await;
}

#[tokio::test]
async fn allow_with_request_uri_forwards_every_parameter() {
    let (up, j) = start(ALLOW).await;
    let params = format!("client_id=app-1&request_uri={PAR_URI_FORM}&state=xyz&prompt=none");
    expect_get_forwarded(&up, &j, &params).await;
}
