//! DPoP proofs (RFC 9449, SPEC §11) at the token and PAR endpoints, through the real `jargate`
//! binary and a recording stub upstream:
//!
//! * a valid proof is forwarded with its `DPoP` header unchanged, whatever the header name's
//!   case, with the accepted variants of the OIDF `dpop-negative-tests` list (`htu` host case
//!   and default port, a query in `htu`, extra claims);
//! * every check of §11 refused with 400 `invalid_dpop_proof`, nothing forwarded;
//! * `htu` is never built from `Host` or `X-Forwarded-Host`;
//! * a replayed proof is refused, and the assertion of the refused request stays usable
//!   (single use is decided last, with rollback); across two replicas sharing `redis-server`;
//! * `dpop_bound_access_tokens` requires a proof at the token endpoint; `dpop_jkt` at PAR must
//!   name the proof's key; legacy PAR carries the thumbprint to `/authorize` as `dpop_jkt`;
//! * nonces: `"jargate"` answers `use_dpop_nonce` with a `DPoP-Nonce` header, accepts its own
//!   nonce (from another replica too, with a shared `nonce_key`), puts a fresh one on answers
//!   and removes the upstream's; `"upstream"` relays the upstream's untouched;
//! * `jargate_dpop_proofs_total{result}` and the decision line's `dpop_jkt`.

use crate::common::*;
use serde_json::{json, Value};

/// The proof key of every test but where another is named.
const PROOF_KEY: &str = "ec-b";
const TOKEN_HTU: &str = "https://login.example.com/oauth/token";
const PAR_HTU: &str = "https://login.example.com/oauth/par";

fn clients() -> Value {
    let mut clients = default_clients();
    let mut bound = pkjwt_client("app-bound", vec![pem_credential("ec-a", "ES256")]);
    bound["dpop_bound_access_tokens"] = json!(true);
    bound["upstream_client_secret"] = json!("bound-secret");
    if let Some(list) = clients["clients"].as_array_mut() {
        list.push(bound);
        for c in list.iter_mut() {
            c["upstream_client_secret"] = json!("s3cret-upstream");
        }
    }
    clients
}

async fn start(extra_toml: &str) -> (StubUpstream, Jargate) {
    let upstream = StubUpstream::start().await;
    let jargate = Jargate::start(upstream.addr(), extra_toml, clients()).await;
    (upstream, jargate)
}

fn proof_claims(htu: &str) -> Value {
    json!({"jti": random_jti(), "htm": "POST", "htu": htu, "iat": now()})
}

/// A proof by `key` (ES256 unless RSA or Ed25519) with `claims`, header changed by `header`.
fn proof_by(key: &str, header: Value, claims: Value) -> String {
    let test_key = TestKey::load(key);
    let alg = match key {
        k if k.starts_with("rsa") => "PS256",
        k if k.starts_with("ed") => "EdDSA",
        _ => "ES256",
    };
    let mut jwt = Jwt::signed(&test_key, alg)
        .header("typ", json!("dpop+jwt"))
        .header("jwk", test_key.jwk());
    for (k, v) in header.as_object().expect("header object") {
        jwt = jwt.header(k, v.clone());
    }
    jwt.claims(claims).build()
}

fn proof(htu: &str) -> String {
    proof_by(PROOF_KEY, json!({}), proof_claims(htu))
}

/// An `app-es` token request (a fresh assertion) with `headers`.
async fn token_with(j: &Jargate, headers: &[(&str, &str)]) -> (Response, String) {
    token_as(j, "app-es", headers).await
}

async fn token_as(j: &Jargate, client: &str, headers: &[(&str, &str)]) -> (Response, String) {
    let body = assertion_form(&assertion_by("ec-a", "ES256", client));
    (
        post_form_with(j.proxy_addr(), TOKEN, headers, &body).await,
        body,
    )
}

#[tokio::test]
async fn a_valid_proof_is_forwarded_with_its_header_unchanged_whatever_the_name_case() {
    let (upstream, j) = start("").await;
    for (nth, name) in ["DPoP", "dpop", "DPOP"].into_iter().enumerate() {
        let p = proof(TOKEN_HTU);
        let (resp, body) = token_with(&j, &[(name, &p)]).await;
        let got = relayed_nth(&resp, &upstream, nth);
        assert_eq!(got.body_str(), body);
        assert_eq!(got.header("dpop").as_deref(), Some(p.as_str()), "{name}");
        assert_eq!(
            resp.header("dpop-nonce"),
            None,
            "upstream mode issues no nonce"
        );
    }
}

#[tokio::test]
async fn accepted_variants_of_the_negative_test_list_are_forwarded() {
    let (upstream, j) = start("").await;
    let variants = [
        json!({"htu": "HTTPS://LOGIN.EXAMPLE.COM/oauth/token"}),
        json!({"htu": "https://login.example.com:443/oauth/token"}),
        json!({"htu": "https://login.example.com/oauth/token?x=1#f"}),
        json!({"extra": "claim", "nonce": "someone-elses", "ath": "abc"}),
    ];
    for (nth, changes) in variants.into_iter().enumerate() {
        let p = proof_by(
            PROOF_KEY,
            json!({}),
            merged(proof_claims(TOKEN_HTU), changes),
        );
        let (resp, _) = token_with(&j, &[("DPoP", &p)]).await;
        relayed_nth(&resp, &upstream, nth);
    }
    for (nth, key) in ["rsa-c", "ed-a"].into_iter().enumerate() {
        let p = proof_by(key, json!({}), proof_claims(TOKEN_HTU));
        let (resp, _) = token_with(&j, &[("DPoP", &p)]).await;
        relayed_nth(&resp, &upstream, 4 + nth);
    }
}

fn private_jwk() -> Value {
    let mut jwk = TestKey::load(PROOF_KEY).jwk();
    jwk["d"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    jwk
}

/// One check of SPEC §11 fails: 400 `invalid_dpop_proof`, counted under its rule, nothing
/// forwarded.
async fn refused(header: Value, claims: Value, rule: &str) {
    let (upstream, j) = start("").await;
    let p = proof_by(PROOF_KEY, header, merged(proof_claims(TOKEN_HTU), claims));
    let (resp, _) = token_with(&j, &[("DPoP", &p)]).await;
    assert_rejected(&resp, 400, "invalid_dpop_proof", &upstream);
    let labels = [("error", "invalid_dpop_proof"), ("rule", rule)];
    let invalid = [("result", "invalid")];
    scrape_until(j.admin_addr(), rule, |text| {
        counter(text, "jargate_rejections_total", &labels) == 1.0
            && counter(text, "jargate_dpop_proofs_total", &invalid) == 1.0
    })
    .await;
}

cases! {
    refused;
    typ_jwt: json!({"typ": "JWT"}), json!({}), "dpop_typ";
    alg_es384_not_configured: json!({"alg": "ES384"}), json!({}), "dpop_alg_not_allowed";
    alg_none: json!({"alg": "none"}), json!({}), "dpop_alg_not_allowed";
    crit: json!({"crit": ["b64"]}), json!({}), "dpop_crit";
    no_jwk: json!({"jwk": null}), json!({}), "dpop_jwk";
    jwk_with_d: json!({"jwk": private_jwk()}), json!({}), "dpop_jwk_private";
    symmetric_jwk: json!({"jwk": {"kty": "oct", "k": "c2VjcmV0"}}), json!({}), "dpop_jwk_private";
    jwk_of_another_type: json!({"jwk": TestKey::load("ed-a").jwk()}), json!({}), "dpop_jwk_alg_mismatch";
    signed_by_another_key: json!({"jwk": TestKey::load("ec-a").jwk()}), json!({}), "dpop_bad_signature";
    no_jti: json!({}), json!({"jti": null}), "dpop_missing_claim";
    no_htm: json!({}), json!({"htm": null}), "dpop_missing_claim";
    no_iat: json!({}), json!({"iat": null}), "dpop_missing_claim";
    htm_get: json!({}), json!({"htm": "GET"}), "dpop_htm";
    htu_of_par: json!({}), json!({"htu": PAR_HTU}), "dpop_htu";
    htu_other_host: json!({}), json!({"htu": "https://evil.example.com/oauth/token"}), "dpop_htu";
    htu_other_port: json!({}), json!({"htu": "https://login.example.com:8443/oauth/token"}), "dpop_htu";
    htu_http: json!({}), json!({"htu": "http://login.example.com/oauth/token"}), "dpop_htu";
    iat_too_old: json!({}), json!({"iat": now() - 60 - 10 - 5}), "dpop_iat_too_old";
    iat_in_future: json!({}), json!({"iat": now() + 10 + 5}), "dpop_iat_in_future";
    long_jti: json!({}), json!({"jti": "j".repeat(65)}), "dpop_claim_too_long";
}

#[tokio::test]
async fn two_dpop_headers_an_oversize_or_garbage_proof_are_refused() {
    let (upstream, j) = start("").await;
    let (a, b) = (proof(TOKEN_HTU), proof(TOKEN_HTU));
    let big = proof_by(
        PROOF_KEY,
        json!({}),
        merged(proof_claims(TOKEN_HTU), json!({"pad": "x".repeat(4200)})),
    );
    for headers in [
        vec![("DPoP", a.as_str()), ("DPoP", b.as_str())],
        vec![("DPoP", big.as_str())],
        vec![("DPoP", "not-a-jws")],
        vec![("DPoP", "")],
    ] {
        let (resp, _) = token_with(&j, &headers).await;
        assert_rejected(&resp, 400, "invalid_dpop_proof", &upstream);
    }
}

#[tokio::test]
async fn htu_is_never_taken_from_host_or_forwarded_headers() {
    let (upstream, j) = start("").await;
    let own = format!("http://{}{TOKEN}", j.proxy_addr());
    let spoofed = "https://attacker.example/oauth/token";
    for (htu, headers) in [
        (own.clone(), vec![]),
        (
            spoofed.to_owned(),
            vec![
                ("Host", "attacker.example"),
                ("X-Forwarded-Host", "attacker.example"),
            ],
        ),
    ] {
        let p = proof(&htu);
        let mut all = headers.clone();
        all.push(("DPoP", p.as_str()));
        let (resp, _) = token_with(&j, &all).await;
        assert_rejected(&resp, 400, "invalid_dpop_proof", &upstream);
    }
}

#[tokio::test]
async fn a_replayed_proof_is_refused_and_the_refused_requests_assertion_stays_usable() {
    let (upstream, j) = start("").await;
    let p = proof(TOKEN_HTU);
    let (first, _) = token_with(&j, &[("DPoP", &p)]).await;
    relayed_nth(&first, &upstream, 0);
    // Same proof, new assertion: refused, and the assertion is not spent.
    let assertion = assertion_by("ec-a", "ES256", "app-es");
    let body = assertion_form(&assertion);
    let replay = post_form_with(j.proxy_addr(), TOKEN, &[("DPoP", &p)], &body).await;
    assert_error(&replay, 400, "invalid_dpop_proof");
    assert_eq!(
        replay.json()["error_description"],
        "DPoP proof jti already used"
    );
    assert_eq!(upstream.count(), 1, "the replay never reached the upstream");
    let fresh = proof(TOKEN_HTU);
    let retried = post_form_with(j.proxy_addr(), TOKEN, &[("DPoP", &fresh)], &body).await;
    let got = relayed_nth(&retried, &upstream, 1);
    assert_eq!(got.body_str(), body);
    // And a proof is bound to its key: the same jti under another key is another proof.
    let mut claims = decode_claims(&p);
    claims["iat"] = json!(now());
    let other = proof_by("ed-a", json!({}), claims);
    let (resp, _) = token_with(&j, &[("DPoP", &other)]).await;
    relayed_nth(&resp, &upstream, 2);
}

#[tokio::test]
async fn a_dpop_bound_client_must_send_a_proof_at_the_token_endpoint() {
    let (upstream, j) = start("").await;
    let (resp, _) = token_as(&j, "app-bound", &[]).await;
    assert_rejected(&resp, 400, "invalid_dpop_proof", &upstream);
    assert_eq!(
        resp.json()["error_description"],
        "a DPoP proof is required for this client"
    );
    scrape_until(j.admin_addr(), "dpop missing", |text| {
        counter(text, "jargate_dpop_proofs_total", &[("result", "missing")]) == 1.0
    })
    .await;
    let p = proof(TOKEN_HTU);
    let (resp, _) = token_as(&j, "app-bound", &[("DPoP", &p)]).await;
    relayed_nth(&resp, &upstream, 0);
    scrape_until(j.admin_addr(), "dpop valid", |text| {
        counter(text, "jargate_dpop_proofs_total", &[("result", "valid")]) == 1.0
    })
    .await;
    // Other clients need none.
    let (resp, _) = token_with(&j, &[]).await;
    relayed_nth(&resp, &upstream, 1);
    assert!(
        j.stderr().contains(&TestKey::load(PROOF_KEY).thumbprint()),
        "decision line names dpop_jkt"
    );
}

fn par_body(client: &str, extra: &str) -> String {
    format!(
        "client_id={client}&response_type=code&redirect_uri={}{extra}\
         &client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}",
        form_encode(REDIRECT),
        assertion_by("ec-a", "ES256", client)
    )
}

#[tokio::test]
async fn dpop_jkt_at_par_must_name_the_proofs_key() {
    let (upstream, j) = start("").await;
    let jkt = TestKey::load(PROOF_KEY).thumbprint();
    let other = TestKey::load("ec-a").thumbprint();
    let bad = par_body("app-es", &format!("&dpop_jkt={other}"));
    let resp = post_form_with(j.proxy_addr(), PAR, &[("DPoP", &proof(PAR_HTU))], &bad).await;
    assert_rejected(&resp, 400, "invalid_request", &upstream);
    let good = par_body("app-es", &format!("&dpop_jkt={jkt}"));
    let resp = post_form_with(j.proxy_addr(), PAR, &[("DPoP", &proof(PAR_HTU))], &good).await;
    assert_eq!(relayed_nth(&resp, &upstream, 0).body_str(), good);
    // dpop_jkt without a proof is the upstream's to bind.
    let resp = post_form(j.proxy_addr(), PAR, &bad).await;
    relayed_nth(&resp, &upstream, 1);
    // A proof for the token endpoint is no proof for PAR.
    let resp = post_form_with(j.proxy_addr(), PAR, &[("DPoP", &proof(TOKEN_HTU))], &good).await;
    assert_error(&resp, 400, "invalid_dpop_proof");
    assert_eq!(upstream.count(), 2);
}

#[tokio::test]
async fn legacy_par_carries_the_proof_thumbprint_to_authorize_as_dpop_jkt() {
    let (upstream, j) = start("[upstream]\nmode = \"legacy\"\n").await;
    let resp = post_form_with(
        j.proxy_addr(),
        PAR,
        &[("DPoP", &proof(PAR_HTU))],
        &par_body("app-es", ""),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let uri = resp.json()["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned();
    let target = format!(
        "{AUTHORIZE}?client_id=app-es&request_uri={}",
        form_encode(&uri)
    );
    let resp = get(j.proxy_addr(), &target).await;
    let got = relayed_nth(&resp, &upstream, 0);
    let jkt = TestKey::load(PROOF_KEY).thumbprint();
    assert!(
        got.path_and_query.contains(&format!("dpop_jkt={jkt}")),
        "{}",
        got.path_and_query
    );
}

const NONCE_KEY: &str = "a-shared-nonce-key-of-at-least-32-bytes";

fn jargate_nonces() -> String {
    format!("[dpop]\nnonce = \"jargate\"\nnonce_key = \"{NONCE_KEY}\"\n")
}

#[tokio::test]
async fn jargate_nonces_are_asked_for_issued_and_accepted() {
    let (upstream, j) = start(&jargate_nonces()).await;
    let assertion = assertion_by("ec-a", "ES256", "app-es");
    let body = assertion_form(&assertion);
    let p = proof(TOKEN_HTU);
    let resp = post_form_with(j.proxy_addr(), TOKEN, &[("DPoP", &p)], &body).await;
    assert_rejected(&resp, 400, "use_dpop_nonce", &upstream);
    let nonce = resp.header("dpop-nonce").expect("DPoP-Nonce").to_owned();
    // The client retries with the nonce, the same assertion and a new proof.
    let claims = merged(proof_claims(TOKEN_HTU), json!({ "nonce": nonce }));
    let retry = proof_by(PROOF_KEY, json!({}), claims);
    let resp = post_form_with(j.proxy_addr(), TOKEN, &[("DPoP", &retry)], &body).await;
    relayed_nth(&resp, &upstream, 0);
    assert!(
        resp.header("dpop-nonce").is_some(),
        "a fresh nonce on the answer"
    );
    let wrong = merged(proof_claims(TOKEN_HTU), json!({"nonce": "x".repeat(43)}));
    let (resp, _) = token_with(&j, &[("DPoP", &proof_by(PROOF_KEY, json!({}), wrong))]).await;
    assert_error(&resp, 400, "use_dpop_nonce");
    let labels = [("result", "use_dpop_nonce")];
    scrape_until(j.admin_addr(), "use_dpop_nonce twice", |text| {
        counter(text, "jargate_dpop_proofs_total", &labels) == 2.0
    })
    .await;
}

/// An upstream that answers every request `use_dpop_nonce` with its own `DPoP-Nonce`.
async fn upstream_asking_for_its_nonce() -> CannedUpstream {
    let headers = [
        ("Content-Type", "application/json"),
        ("DPoP-Nonce", "upstream-nonce"),
    ];
    let body = br#"{"error":"use_dpop_nonce"}"#.to_vec();
    CannedUpstream::start(400, &headers, body).await
}

#[tokio::test]
async fn with_jargate_nonces_the_upstreams_nonce_is_replaced_and_its_use_dpop_nonce_counted() {
    let upstream = upstream_asking_for_its_nonce().await;
    let j = Jargate::start(upstream.addr(), &jargate_nonces(), clients()).await;
    let first = {
        let resp = token_with(&j, &[("DPoP", &proof(TOKEN_HTU))]).await.0;
        resp.header("dpop-nonce").expect("nonce").to_owned()
    };
    let claims = merged(proof_claims(TOKEN_HTU), json!({ "nonce": first }));
    let (resp, _) = token_with(&j, &[("DPoP", &proof_by(PROOF_KEY, json!({}), claims))]).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"], "use_dpop_nonce");
    let nonces: Vec<_> = resp
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("dpop-nonce"))
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(nonces.len(), 1, "{nonces:?}");
    assert_ne!(nonces[0], "upstream-nonce");
    assert_eq!(upstream.heads().len(), 1);
    let labels = [("endpoint", "token"), ("kind", "protocol")];
    scrape_until(j.admin_addr(), "upstream protocol error", |text| {
        counter(text, "jargate_upstream_errors_total", &labels) == 1.0
    })
    .await;
}

#[tokio::test]
async fn with_upstream_nonces_the_upstreams_answer_passes_untouched() {
    let upstream = upstream_asking_for_its_nonce().await;
    let j = Jargate::start(upstream.addr(), "", clients()).await;
    let claims = merged(proof_claims(TOKEN_HTU), json!({"nonce": "whatever"}));
    let (resp, _) = token_with(&j, &[("DPoP", &proof_by(PROOF_KEY, json!({}), claims))]).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.header("dpop-nonce"), Some("upstream-nonce"));
    assert_eq!(resp.json()["error"], "use_dpop_nonce");
    assert_eq!(upstream.heads().len(), 1);
}

#[tokio::test]
async fn a_proof_used_at_one_replica_is_refused_at_the_other_sharing_redis() {
    let redis = RedisServer::start().await;
    let upstream = StubUpstream::start().await;
    let store = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\n{}",
        redis.url(),
        jargate_nonces()
    );
    let a = Jargate::start(upstream.addr(), &store, clients()).await;
    let b = Jargate::start(upstream.addr(), &store, clients()).await;
    // A nonce from A is good at B: both hold the same nonce_key.
    let nonce = token_with(&a, &[("DPoP", &proof(TOKEN_HTU))]).await.0;
    let nonce = nonce.header("dpop-nonce").expect("nonce").to_owned();
    let claims = merged(proof_claims(TOKEN_HTU), json!({ "nonce": nonce }));
    let p = proof_by(PROOF_KEY, json!({}), claims);
    let (resp, _) = token_with(&b, &[("DPoP", &p)]).await;
    relayed_nth(&resp, &upstream, 0);
    let (resp, _) = token_with(&a, &[("DPoP", &p)]).await;
    assert_error(&resp, 400, "invalid_dpop_proof");
    assert_eq!(
        resp.json()["error_description"],
        "DPoP proof jti already used"
    );
    assert_eq!(
        upstream.count(),
        1,
        "the replay at the other replica never reached the upstream"
    );
}

#[test]
fn explain_runs_every_step_on_a_proof_and_names_the_first_failure() {
    let dir = ConfigDir::new("", &json!({"clients": []}));
    let explain = |htu: &str, proof: &str| {
        run_jargate(&[
            "explain",
            "--config",
            &dir.config(),
            "--dpop",
            "--htu",
            htu,
            proof,
        ])
    };
    let key = TestKey::load(PROOF_KEY);
    let valid = explain(TOKEN_HTU, &proof(TOKEN_HTU));
    assert_eq!(valid.code, 0, "{}", valid.output());
    assert!(valid.stdout.contains("VALID"), "{}", valid.stdout);
    assert!(valid.stdout.contains(&key.thumbprint()), "{}", valid.stdout);
    let stale = merged(proof_claims(PAR_HTU), json!({"iat": now() - 3600}));
    let bad = explain(
        TOKEN_HTU,
        &proof_by(PROOF_KEY, json!({"typ": "JWT"}), stale),
    );
    assert_eq!(bad.code, 1, "{}", bad.output());
    for rule in ["[dpop_typ]", "[dpop_htu]", "[dpop_iat_too_old]"] {
        assert!(bad.stdout.contains(rule), "{rule} in {}", bad.stdout);
    }
    assert!(bad.stdout.contains("(rule: dpop_typ)"), "{}", bad.stdout);
    let usage = run_jargate(&["explain", "--config", &dir.config(), "--dpop", "x"]);
    assert_eq!(usage.code, 2, "--dpop needs --htu: {}", usage.output());
}

#[test]
fn check_warns_about_a_per_process_nonce_key_behind_the_redis_store() {
    let store = "[store]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:9/0\"\n";
    let without = ConfigDir::new(
        &format!("{store}[dpop]\nnonce = \"jargate\"\n"),
        &json!({"clients": []}),
    );
    let ran = without.check();
    assert_eq!(ran.code, 0, "{}", ran.output());
    assert!(
        ran.stdout.contains("without dpop.nonce_key"),
        "{}",
        ran.stdout
    );
    let with = ConfigDir::new(
        &format!("{store}{}", jargate_nonces()),
        &json!({"clients": []}),
    );
    let ran = with.check();
    assert_eq!(ran.code, 0, "{}", ran.output());
    assert!(!ran.stdout.contains("nonce_key"), "{}", ran.stdout);
    assert!(
        !ran.output().contains(NONCE_KEY),
        "the key is a secret: {}",
        ran.output()
    );
    let typo = ConfigDir::new("[dpop]\nnonce = \"proxy\"\n", &json!({"clients": []}));
    assert_eq!(typo.check().code, 1, "an unknown nonce mode is an error");
}

#[tokio::test]
async fn report_mode_forwards_a_bad_proof_as_received_and_counts_it() {
    let (upstream, j) = start("[enforcement]\nmode = \"report\"\n").await;
    let bad = proof_by(PROOF_KEY, json!({"typ": "JWT"}), proof_claims(TOKEN_HTU));
    let (resp, body) = token_with(&j, &[("DPoP", &bad)]).await;
    let got = relayed_nth(&resp, &upstream, 0);
    assert_eq!(got.body_str(), body);
    assert_eq!(got.header("dpop").as_deref(), Some(bad.as_str()));
    let labels = [("error", "invalid_dpop_proof"), ("rule", "dpop_typ")];
    scrape_until(j.admin_addr(), "would_reject dpop_typ", |text| {
        counter(text, "jargate_would_reject_total", &labels) == 1.0
            && counter(text, "jargate_rejections_total", &labels) == 0.0
    })
    .await;
}
