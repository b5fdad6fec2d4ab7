//! Compliance levels (SPEC §9) through the real proxy, read like the OIDF FAPI 2.0 module list:
//! the valid FAPI 2.0 flow (PAR + PKCE S256 + a PS256 request object, strict `aud`, a
//! registered `redirect_uri`) forwarded byte for byte, and each rule of §9's table refused with
//! its §6 status and error while the upstream sees nothing; a level overriding the global one in
//! both directions; report mode; single use left unspent by a refused request; the load-time
//! checks naming client, level and rule.

use crate::common::*;
use serde_json::{json, Value};

/// S256 of the RFC 7636 appendix B verifier.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const DPOP_LEVEL: &str = "fapi2_sp_pkj_dpop";
const PASSWORD_REALM: &str = "http%3A%2F%2Fauth0.com%2Foauth%2Fgrant-type%2Fpassword-realm";

/// A client at `level`: assertions with ec-a (ES256), request objects with rsa-b (PS256), the
/// callback every request object names, and an upstream secret for legacy mode.
fn fapi_client(id: &str, level: Value) -> Value {
    let mut client = pkjwt_client(id, vec![pem_credential("ec-a", "ES256")]);
    client["signed_request_object"] = json!({"credentials": [pem_credential("rsa-b", "PS256")]});
    client["callbacks"] = json!([REDIRECT, "http://127.0.0.1/cb"]);
    client["upstream_client_secret"] = json!("s3cret");
    if !level.is_null() {
        client["compliance_level"] = level;
    }
    client
}

/// `fapi`: fapi2_sp_pkj_dpop by its own `compliance_level`; `inherits`: no `compliance_level`
/// (the global level); `optout`: `compliance_level: "none"`; `fapi1`: fapi1_adv_pkj_par.
fn clients() -> Value {
    registry(vec![
        fapi_client("fapi", json!(DPOP_LEVEL)),
        fapi_client("inherits", Value::Null),
        fapi_client("optout", json!("none")),
        fapi_client("fapi1", json!("fapi1_adv_pkj_par")),
    ])
}

/// A client-certificate source, which the mtls sender-constraining of `fapi1` needs (a load
/// error otherwise): the sidecar header, trusted from loopback.
const CERT_SOURCE: &str =
    "[mtls]\nfrom_header = \"client-cert\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n";

async fn start(extra_toml: &str) -> (StubUpstream, Jargate) {
    start_with(&format!("{CERT_SOURCE}{extra_toml}"), clients()).await
}

/// `client-cert: :<base64 DER>:` (RFC 9440) of a self-signed certificate in tests/keys.
fn client_cert_header() -> String {
    let pem = key_file("tls-ca.cert.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    format!(":{body}:")
}

fn assertion(client: &str, changes: Value) -> String {
    let claims = merged(valid_assertion_claims(client), changes);
    Jwt::signed(&TestKey::load("ec-a"), "ES256")
        .claims(claims)
        .build()
}

/// A valid FAPI 2.0 request object of `client` with `changes`: PKCE S256, `code`, the
/// registered callback, `nbf` and `exp` 5 minutes apart, PS256.
fn fapi_object(client: &str, changes: Value) -> String {
    let pkce = json!({"code_challenge": CHALLENGE, "code_challenge_method": "S256"});
    let claims = merged(object_claims(client, pkce), changes);
    object_by("rsa-b", "PS256", claims)
}

fn par_body(client: &str, object: &str, assertion: &str) -> String {
    format!(
        "client_id={client}&request={object}\
         &client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={assertion}"
    )
}

fn valid_par(client: &str) -> String {
    par_body(
        client,
        &fapi_object(client, json!({})),
        &assertion(client, json!({})),
    )
}

#[tokio::test]
async fn fapi2_par_with_pkce_and_a_ps256_object_is_forwarded_byte_for_byte() {
    let (up, j) = start("").await;
    let body = valid_par("fapi");
    let resp = post_form(j.proxy_addr(), PAR, &body).await;
    assert_forwarded(&resp, &up, "POST", PAR, body.as_bytes());
    // Without a request object (JAR is optional at fapi2), the parameters are read instead.
    let plain = format!(
        "client_id=fapi&response_type=code&redirect_uri={REDIRECT_FORM}\
         &code_challenge={CHALLENGE}&code_challenge_method=S256\
         &client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}",
        assertion("fapi", json!({}))
    );
    let resp = post_form(j.proxy_addr(), PAR, &plain).await;
    assert_forwarded_nth(&resp, &up, 1, "POST", PAR, plain.as_bytes());
}

/// Each rule of SPEC §9's table at PAR, one request breaking it, refused before the upstream.
#[tokio::test]
async fn every_par_rule_of_the_level_refuses_with_its_error_and_forwards_nothing() {
    let (up, j) = start("").await;
    let object = |changes: Value| fapi_object("fapi", changes);
    let unsigned_alg = object_by("rsa-b", "RS256", object_claims("fapi", json!({})));
    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        (
            "PKCE missing",
            object(json!({"code_challenge": null, "code_challenge_method": null})),
            assertion("fapi", json!({})),
            400,
            "invalid_request",
        ),
        (
            "PKCE plain",
            object(json!({"code_challenge_method": "plain"})),
            assertion("fapi", json!({})),
            400,
            "invalid_request",
        ),
        (
            "PKCE challenge too short",
            object(json!({"code_challenge": "abc"})),
            assertion("fapi", json!({})),
            400,
            "invalid_request",
        ),
        (
            "response_type token",
            object(json!({"response_type": "token"})),
            assertion("fapi", json!({})),
            400,
            "unsupported_response_type",
        ),
        (
            "response_type code id_token at fapi2",
            object(json!({"response_type": "code id_token"})),
            assertion("fapi", json!({})),
            400,
            "unsupported_response_type",
        ),
        (
            "response_mode fragment",
            object(json!({"response_mode": "fragment"})),
            assertion("fapi", json!({})),
            400,
            "invalid_request",
        ),
        (
            "redirect_uri missing",
            object(json!({"redirect_uri": null})),
            assertion("fapi", json!({})),
            400,
            "invalid_request",
        ),
        (
            "redirect_uri not registered",
            object(json!({"redirect_uri": "https://app.example.com/other"})),
            assertion("fapi", json!({})),
            400,
            "invalid_request",
        ),
        (
            "request object without nbf",
            object(json!({"nbf": null})),
            assertion("fapi", json!({})),
            400,
            "invalid_request_object",
        ),
        (
            "request object living more than 60 minutes",
            object(json!({"exp": now() + 3700})),
            assertion("fapi", json!({})),
            400,
            "invalid_request_object",
        ),
        (
            "request object RS256",
            unsigned_alg,
            assertion("fapi", json!({})),
            400,
            "invalid_request_object",
        ),
        (
            "assertion aud as an array (fapi2: one string, also at PAR)",
            object(json!({})),
            assertion("fapi", json!({"aud": [ISSUER]})),
            401,
            "invalid_client",
        ),
    ];
    for (case, object, assertion, status, error) in cases {
        let resp = post_form(j.proxy_addr(), PAR, &par_body("fapi", &object, &assertion)).await;
        assert_error(&resp, status, error);
        assert_eq!(up.count(), 0, "{case}: the upstream must see nothing");
    }
}

#[tokio::test]
async fn fapi1_requires_a_signed_request_object_and_a_hybrid_or_jarm_response_type() {
    let (up, j) = start("").await;
    let plain = format!(
        "client_id=fapi1&response_type=code+id_token&code_challenge={CHALLENGE}\
         &code_challenge_method=S256&client_assertion_type={ASSERTION_TYPE_FORM}\
         &client_assertion={}",
        assertion("fapi1", json!({}))
    );
    let resp = post_form(j.proxy_addr(), PAR, &plain).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
    let code_only = par_body(
        "fapi1",
        &fapi_object("fapi1", json!({})),
        &assertion("fapi1", json!({})),
    );
    let resp = post_form(j.proxy_addr(), PAR, &code_only).await;
    assert_rejected(&resp, 400, "unsupported_response_type", &up);
    let hybrid = par_body(
        "fapi1",
        &fapi_object("fapi1", json!({"response_type": "code id_token"})),
        &assertion("fapi1", json!({})),
    );
    let resp = post_form(j.proxy_addr(), PAR, &hybrid).await;
    assert_forwarded(&resp, &up, "POST", PAR, hybrid.as_bytes());
}

#[tokio::test]
async fn a_par_refused_by_the_level_leaves_its_assertion_unspent() {
    let (up, j) = start("").await;
    let assertion = assertion("fapi", json!({}));
    let no_pkce = fapi_object("fapi", json!({"code_challenge": null}));
    let resp = post_form(j.proxy_addr(), PAR, &par_body("fapi", &no_pkce, &assertion)).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
    // The same assertion again, now with a valid object: single use was never recorded.
    let body = par_body("fapi", &fapi_object("fapi", json!({})), &assertion);
    let resp = post_form(j.proxy_addr(), PAR, &body).await;
    assert_forwarded(&resp, &up, "POST", PAR, body.as_bytes());
}

#[tokio::test]
async fn authorize_without_a_pushed_request_is_refused_in_auth0s_words() {
    let (up, j) = start("").await;
    for query in [
        format!("client_id=fapi&request={}", fapi_object("fapi", json!({}))),
        format!("client_id=fapi&response_type=code&redirect_uri={REDIRECT_FORM}"),
    ] {
        let resp = get(j.proxy_addr(), &format!("{AUTHORIZE}?{query}")).await;
        assert_rejected(&resp, 400, "invalid_request", &up);
        assert_eq!(
            resp.json()["error_description"],
            "Pushed Authorization Requests are required by the configured compliance level"
        );
    }
    // A `request_uri` jargate never saw pushed is refused under a level (SPEC §9).
    let query = format!("client_id=fapi&request_uri={PAR_URI_FORM}");
    let resp = get(j.proxy_addr(), &format!("{AUTHORIZE}?{query}")).await;
    assert_rejected(&resp, 400, "invalid_request_uri", &up);
    // One pushed through jargate is forwarded in passthrough (the upstream holds it).
    let strict = StubUpstream::oidc_strict().await;
    let j = Jargate::start(strict.addr(), CERT_SOURCE, clients()).await;
    let resp = post_form(j.proxy_addr(), PAR, &valid_par("fapi")).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let uri = resp.json()["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_string();
    let query = format!("client_id=fapi&request_uri={}", form_encode(&uri));
    get(j.proxy_addr(), &format!("{AUTHORIZE}?{query}")).await;
    let seen = strict.requests();
    assert_eq!(seen.len(), 2, "the push and the authorization request");
    assert_eq!(seen[1].path_and_query, format!("{AUTHORIZE}?{query}"));
}

#[tokio::test]
async fn token_requests_follow_the_levels_method_grant_and_sender_constraining() {
    let (up, j) = start("").await;
    let cases = [
        (
            "client_secret_post at a private_key_jwt level",
            "grant_type=client_credentials&client_id=fapi&client_secret=s3cret".to_string(),
            401,
            "invalid_client",
        ),
        (
            "password grant",
            format!(
                "grant_type=password&username=u&password=p&client_assertion_type=\
                 {ASSERTION_TYPE_FORM}&client_assertion={}",
                assertion("fapi", json!({}))
            ),
            400,
            "unauthorized_client",
        ),
        (
            "Auth0's password-realm grant",
            format!(
                "grant_type={PASSWORD_REALM}&username=u&password=p&realm=r\
                 &client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}",
                assertion("fapi", json!({}))
            ),
            400,
            "unauthorized_client",
        ),
        (
            "no DPoP proof at a dpop level",
            assertion_form(&assertion("fapi", json!({}))),
            400,
            "invalid_dpop_proof",
        ),
    ];
    for (case, body, status, error) in cases {
        let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
        assert_error(&resp, status, error);
        assert_eq!(up.count(), 0, "{case}: the upstream must see nothing");
    }
    // mtls sender-constraining (fapi1_adv_pkj_par): no certificate, refused; with one, forwarded.
    let body = assertion_form(&assertion("fapi1", json!({})));
    let resp = post_form(j.proxy_addr(), TOKEN, &body).await;
    assert_error(&resp, 400, "invalid_request");
    assert_eq!(
        up.count(),
        0,
        "no certificate: the upstream must see nothing"
    );
    let cert = client_cert_header();
    let body = assertion_form(&assertion("fapi1", json!({})));
    let resp = post_form_with(j.proxy_addr(), TOKEN, &[("client-cert", &cert)], &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let forwarded = up.requests();
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].body_str(), body, "forwarded byte for byte");
    assert_eq!(
        forwarded[0].header("client-cert").as_deref(),
        Some(cert.as_str())
    );
}

#[tokio::test]
async fn a_client_level_overrides_the_global_one_in_both_directions() {
    let (up, j) = start("[compliance]\nlevel = \"fapi2_sp_pkj_mtls\"\n").await;
    // `inherits` takes the global level: PAR is required.
    let query = format!("client_id=inherits&response_type=code&redirect_uri={REDIRECT_FORM}");
    let resp = get(j.proxy_addr(), &format!("{AUTHORIZE}?{query}")).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
    // `optout` says "none": the same request is forwarded as sent.
    let query = format!("client_id=optout&response_type=code&redirect_uri={REDIRECT_FORM}");
    let path = format!("{AUTHORIZE}?{query}");
    let resp = get(j.proxy_addr(), &path).await;
    let fwd = relayed_nth(&resp, &up, 0);
    assert_eq!(fwd.path_and_query, path);
    // `fapi` keeps its own level (a dpop one) under the global mtls one.
    let resp = post_token(j.proxy_addr(), &assertion("fapi", json!({}))).await;
    assert_error(&resp, 400, "invalid_dpop_proof");
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn legacy_mode_enforces_the_level_at_its_own_par() {
    let (up, j) = start(LEGACY).await;
    let no_pkce = par_body(
        "fapi",
        &fapi_object("fapi", json!({"code_challenge": null})),
        &assertion("fapi", json!({})),
    );
    let resp = post_form(j.proxy_addr(), PAR, &no_pkce).await;
    assert_rejected(&resp, 400, "invalid_request", &up);
    let resp = post_form(j.proxy_addr(), PAR, &valid_par("fapi")).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(up.count(), 0, "legacy PAR is answered by jargate");
    let uri = resp.json()["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_string();
    let query = format!("client_id=fapi&request_uri={}", form_encode(&uri));
    let resp = get(j.proxy_addr(), &format!("{AUTHORIZE}?{query}")).await;
    let fwd = relayed_nth(&resp, &up, 0);
    assert!(
        fwd.path_and_query
            .contains(&format!("code_challenge={CHALLENGE}")),
        "{}",
        fwd.path_and_query
    );
    // A request_uri jargate never pushed is refused.
    let query = format!("client_id=fapi&request_uri={PAR_URI_FORM}");
    let resp = get(j.proxy_addr(), &format!("{AUTHORIZE}?{query}")).await;
    assert_error(&resp, 400, "invalid_request_uri");
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn report_mode_forwards_what_the_level_would_refuse() {
    let mut clients = clients();
    clients["clients"][0]["client_metadata"] = json!({"jargate_enforcement": "report"});
    let (up, j) = start_with(CERT_SOURCE, clients).await;
    let body = par_body(
        "fapi",
        &fapi_object("fapi", json!({"code_challenge": null})),
        &assertion("fapi", json!({})),
    );
    let resp = post_form(j.proxy_addr(), PAR, &body).await;
    assert_forwarded(&resp, &up, "POST", PAR, body.as_bytes());
}

#[test]
fn a_client_that_cannot_meet_its_level_is_a_load_error_naming_client_level_and_rule() {
    let level = json!(DPOP_LEVEL);
    let mut no_callbacks = fapi_client("cb-less", level.clone());
    no_callbacks["callbacks"] = json!([]);
    let mut wildcard = fapi_client("wild", level.clone());
    wildcard["callbacks"] = json!(["https://*.example.com/cb"]);
    let mut rs256 = fapi_client("rsa", level.clone());
    rs256["signed_request_object"] = json!({"credentials": [pem_credential("rsa-b", "RS256")]});
    let mut public = fapi_client("public", level.clone());
    public["token_endpoint_auth_method"] = json!("none");
    let cases = [
        ("", no_callbacks, "redirect_uri"),
        ("", wildcard, "redirect_uri"),
        ("", rs256, "algorithms"),
        ("", public, "confidential client"),
        (
            "[jar]\noutside_parameters = \"allow\"\n",
            fapi_client("allow", level.clone()),
            "outside parameters",
        ),
        (
            "[limits]\nclock_skew_secs = 5\n",
            fapi_client("skew", level.clone()),
            "time claims",
        ),
    ];
    for (toml, client, rule) in cases {
        let id = client["client_id"].as_str().unwrap_or_default().to_string();
        let dir = ConfigDir::new(toml, &registry(vec![client]));
        let ran = dir.check();
        let out = ran.output();
        assert_ne!(ran.code, 0, "{id}: {out}");
        let named = format!("client {id:?} at compliance level {DPOP_LEVEL}: {rule}");
        assert!(out.contains(&named), "{id}: expected {named:?} in {out}");
    }
}

#[test]
fn check_prints_each_clients_level_its_rules_and_the_upstreams_duties() {
    let mut export = clients();
    // An Auth0 export: a bare array of client objects.
    export = export["clients"].clone();
    let toml = format!("{CERT_SOURCE}[compliance]\nlevel = \"fapi2_sp_pkj_mtls\"\n");
    let dir = ConfigDir::new(&toml, &export);
    let ran = dir.check();
    let out = ran.output();
    assert_eq!(ran.code, 0, "{out}");
    for want in [
        "compliance fapi2_sp_pkj_mtls (clients without compliance_level)",
        "compliance level: fapi2_sp_pkj_dpop (its compliance_level)",
        "compliance level: fapi2_sp_pkj_mtls (compliance.level)",
        "compliance level: none (compliance_level \"none\": opts out of the global level)",
        "rule: PAR: code_challenge with code_challenge_method S256",
        "rule: token: a valid DPoP proof is required, alg PS256, ES256, EdDSA",
        "rule: token: a client certificate is required",
        "left to the upstream: authorization codes valid at most 60 s; single-use codes; \
         the PKCE code_verifier check; binding tokens with cnf",
        "warning: client \"optout\": compliance_level \"none\" opts out of the global level",
    ] {
        assert!(out.contains(want), "expected {want:?} in {out}");
    }
}

/// A request's extra headers.
type Headers<'a> = [(&'a str, &'a str)];

#[tokio::test]
async fn userinfo_refuses_an_access_token_outside_the_authorization_header_under_a_global_level() {
    let (up, j) = start("[compliance]\nlevel = \"fapi2_sp_pkj_dpop\"\n").await;
    let addr = j.proxy_addr();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let gzip = [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")];
    let cases: Vec<(&str, &str, &Headers, &str)> = vec![
        ("GET", "/userinfo?access_token=at-1", &[], ""),
        ("GET", "/userinfo?ACCESS_TOKEN=at-1", &[], ""),
        ("GET", "/userinfo?%61ccess_token=at-1", &[], ""),
        ("POST", "/userinfo", &form, "access_token=at-1"),
        (
            "POST",
            "/userinfo",
            &[("Content-Type", "application/json")],
            "{\"x\":\"&access_token=at-1\"}",
        ),
        ("POST", "/userinfo", &gzip, "anything"),
    ];
    for (method, target, headers, body) in cases {
        let resp = request(addr, method, target, headers, body.as_bytes()).await;
        assert_error(&resp, 400, "invalid_request");
        assert_eq!(
            up.count(),
            0,
            "{method} {target} {body}: the upstream must see nothing"
        );
    }
    let bearer = [("Authorization", "Bearer at-1")];
    let resp = request(addr, "GET", "/userinfo?schema=openid", &bearer, b"").await;
    let fwd = relayed_nth(&resp, &up, 0);
    assert_eq!(fwd.path_and_query, "/userinfo?schema=openid");
    assert_eq!(fwd.header("authorization").as_deref(), Some("Bearer at-1"));
}

#[tokio::test]
async fn userinfo_is_not_intercepted_without_a_global_level() {
    let (up, j) = start("").await;
    let resp = get(j.proxy_addr(), "/userinfo?access_token=at-1").await;
    let fwd = relayed_nth(&resp, &up, 0);
    assert_eq!(fwd.path_and_query, "/userinfo?access_token=at-1");
}
