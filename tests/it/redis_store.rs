//! The `redis` store (SPEC §7) against a real `redis-server`: each test starts its own instance
//! on a free loopback port (no persistence, killed on drop) and, for the end-to-end cases, two
//! jargate replicas sharing it in front of one recording stub upstream.
//!
//! * single use across replicas: an assertion accepted at A is refused at B; the same assertion
//!   sent to A and B at once is accepted exactly once (200 rounds);
//! * outages: Redis stopped mid-run (`on_error = "reject"` → 503, `allow` → forwarded), Redis
//!   restarted on the same port (service and replay refusal resume, no jargate restart), Redis
//!   absent when jargate starts, a Redis that never answers (bounded by `store.timeout_ms`);
//! * TTLs in Redis itself, PAR `request_uri` redeemed once across replicas (legacy mode), and
//!   the client over TLS (`rediss://`) with a password.

use crate::common::*;
use jargate::store::redis::RedisStore;
use jargate::store::{jti_key, Store, StoreError};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A private redis-server
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn store_toml(url: &str, on_error: &str) -> String {
    format!("[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\non_error = \"{on_error}\"\n")
}

/// Two replicas sharing `redis`, in front of one upstream.
async fn two_replicas(
    redis_url: &str,
    on_error: (&str, &str),
    extra_toml: &str,
    clients: Value,
) -> (StubUpstream, Jargate, Jargate) {
    let upstream = StubUpstream::start().await;
    let a = Jargate::start(
        upstream.addr(),
        &format!("{}{extra_toml}", store_toml(redis_url, on_error.0)),
        clients.clone(),
    )
    .await;
    let b = Jargate::start(
        upstream.addr(),
        &format!("{}{extra_toml}", store_toml(redis_url, on_error.1)),
        clients,
    )
    .await;
    (upstream, a, b)
}

/// A fresh `app-1` assertion and its `jti`.
pub(crate) fn fresh_assertion(exp_in: i64) -> (String, String) {
    let mut claims = valid_assertion_claims("app-1");
    claims["exp"] = json!(now() + exp_in);
    let jti = claims["jti"].as_str().expect("jti").to_owned();
    (app1_assertion(claims), jti)
}

pub(crate) async fn token(j: &Jargate, assertion: &str) -> Response {
    post_form(j.proxy_addr(), TOKEN, &assertion_form(assertion)).await
}

/// The status of `GET target` on the admin listener (0: no answer within 3 s).
pub(crate) async fn admin_status(j: &Jargate, target: &str) -> u16 {
    let probe = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        j.admin_addr()
    );
    try_send_raw(j.admin_addr(), probe.as_bytes(), Duration::from_secs(3))
        .await
        .map_or(0, |r| r.status)
}

/// `/readyz?store`: ready, and the store answers.
pub(crate) async fn readyz_store(j: &Jargate) -> u16 {
    admin_status(j, "/readyz?store").await
}

/// Polls `/readyz?store` until it answers `status`, for at most `within`.
pub(crate) async fn wait_readyz_store(j: &Jargate, status: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = readyz_store(j).await;
        if got == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz: {got}, expected {status} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Single use across replicas
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_assertion_used_at_one_replica_is_refused_at_the_other_until_exp_plus_skew() {
    let redis = RedisServer::start().await;
    let (upstream, a, b) =
        two_replicas(&redis.url(), ("reject", "reject"), "", default_clients()).await;
    wait_readyz_store(&a, 200, Duration::from_secs(5)).await;

    // exp = now + 2: the entry must live until exp + skew (10 s), i.e. about 12 s from now.
    let (assertion, jti) = fresh_assertion(2);
    let sent_at = now();
    let body = assertion_form(&assertion);
    let resp = token(&a, &assertion).await;
    assert_forwarded(&resp, &upstream, "POST", TOKEN, body.as_bytes());

    let key = format!("jargate:{}", jti_key("assertion", "app-1", &jti));
    let pttl = redis.pttl(&key).await;
    let expected_ms = (sent_at + 2 + 10 - now()) * 1000;
    assert!(
        pttl > expected_ms - 2000 && pttl <= expected_ms + 1000,
        "PTTL of {key}: {pttl} ms, expected about {expected_ms} ms"
    );

    let replay = token(&b, &assertion).await;
    assert_error(&replay, 401, "invalid_client");
    let replay = token(&a, &assertion).await;
    assert_error(&replay, 401, "invalid_client");
    assert_eq!(
        upstream.count(),
        1,
        "the upstream must see the assertion once"
    );
}

#[tokio::test]
async fn one_assertion_sent_to_both_replicas_at_once_is_accepted_exactly_once() {
    let redis = RedisServer::start().await;
    let (upstream, a, b) =
        two_replicas(&redis.url(), ("reject", "reject"), "", default_clients()).await;
    wait_readyz_store(&a, 200, Duration::from_secs(5)).await;
    wait_readyz_store(&b, 200, Duration::from_secs(5)).await;

    const ROUNDS: usize = 200;
    for round in 0..ROUNDS {
        let (assertion, _) = fresh_assertion(60);
        let body = assertion_form(&assertion);
        let ra = build_request(
            a.proxy_addr(),
            "POST",
            TOKEN,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        );
        let rb = build_request(
            b.proxy_addr(),
            "POST",
            TOKEN,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        );
        let (at_a, at_b) =
            tokio::join!(send_raw(a.proxy_addr(), &ra), send_raw(b.proxy_addr(), &rb));
        let mut statuses = [at_a.status, at_b.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 401],
            "round {round}: exactly one replica must accept; A: {} {}, B: {} {}",
            at_a.status,
            at_a.text(),
            at_b.status,
            at_b.text()
        );
        let refused = if at_a.status == 401 { &at_a } else { &at_b };
        assert_error(refused, 401, "invalid_client");
        assert_eq!(
            upstream.count(),
            round + 1,
            "round {round}: upstream saw a replay"
        );
    }
    // Each assertion reached the upstream once.
    let mut seen: Vec<Vec<u8>> = upstream
        .requests()
        .into_iter()
        .map(|r| r.body.to_vec())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), ROUNDS);
}

// ---------------------------------------------------------------------------------------------
// Outages
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn redis_down_rejects_or_allows_as_configured_and_service_resumes_when_it_is_back() {
    let mut redis = RedisServer::start().await;
    // A rejects when the store fails, B lets requests through.
    let (upstream, a, b) =
        two_replicas(&redis.url(), ("reject", "allow"), "", default_clients()).await;
    wait_readyz_store(&a, 200, Duration::from_secs(5)).await;
    wait_readyz_store(&b, 200, Duration::from_secs(5)).await;
    let (assertion, _) = fresh_assertion(60);
    assert_eq!(token(&a, &assertion).await.status, 200);
    assert_error(&token(&b, &assertion).await, 401, "invalid_client");
    assert_eq!(upstream.count(), 1);

    redis.stop();

    let (assertion, _) = fresh_assertion(60);
    let started = Instant::now();
    let resp = token(&a, &assertion).await;
    assert_error(&resp, 503, "temporarily_unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "a store failure must be answered within store.timeout_ms, took {:?}",
        started.elapsed()
    );
    assert_eq!(
        upstream.count(),
        1,
        "nothing is forwarded when the store is down"
    );
    assert_eq!(
        readyz_store(&a).await,
        503,
        "/readyz?store must fail while Redis is down"
    );
    // Passthrough traffic needs no store: the replicas stay in the Service.
    assert_eq!(admin_status(&a, "/readyz").await, 200);
    assert_eq!(admin_status(&b, "/readyz").await, 200);

    let (assertion, _) = fresh_assertion(60);
    let body = assertion_form(&assertion);
    let resp = token(&b, &assertion).await;
    assert_forwarded_nth(&resp, &upstream, 1, "POST", TOKEN, body.as_bytes());

    // Back on the same port, empty: both replicas reconnect by themselves.
    redis.restart().await;
    wait_readyz_store(&a, 200, Duration::from_secs(5)).await;
    wait_readyz_store(&b, 200, Duration::from_secs(5)).await;

    let (assertion, _) = fresh_assertion(60);
    assert_eq!(token(&a, &assertion).await.status, 200);
    assert_error(&token(&b, &assertion).await, 401, "invalid_client");
    let (assertion, _) = fresh_assertion(60);
    assert_eq!(token(&b, &assertion).await.status, 200);
    assert_error(&token(&a, &assertion).await, 401, "invalid_client");
    assert_eq!(upstream.count(), 4);
}

#[tokio::test]
async fn jargate_starts_without_redis_and_serves_once_it_comes_up() {
    let mut redis = RedisServer::stopped(free_ports::<1>()[0], Vec::new());
    let upstream = StubUpstream::start().await;
    let j = Jargate::start(
        upstream.addr(),
        &store_toml(&redis.url(), "reject"),
        default_clients(),
    )
    .await;
    assert_eq!(readyz_store(&j).await, 503, "not ready without Redis");
    assert_eq!(
        admin_status(&j, "/readyz").await,
        200,
        "ready for passthrough traffic without Redis"
    );
    let (assertion, _) = fresh_assertion(60);
    assert_error(&token(&j, &assertion).await, 503, "temporarily_unavailable");
    assert_eq!(upstream.count(), 0);

    redis.restart().await;
    wait_readyz_store(&j, 200, Duration::from_secs(5)).await;
    assert_eq!(token(&j, &assertion).await.status, 200);
    assert_error(&token(&j, &assertion).await, 401, "invalid_client");
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn a_redis_that_never_answers_is_bounded_by_the_timeout() {
    // Accepts connections, never replies.
    let silent = SilentUpstream::start().await;
    let url = format!("redis://{}/0", silent.addr());

    let store = RedisStore::new(&url, Duration::from_millis(300)).expect("store");
    let started = Instant::now();
    assert_eq!(
        store.insert_once("jti:t", Duration::from_secs(5)).await,
        Err(StoreError::Timeout)
    );
    assert!(store.ping().await.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );

    let upstream = StubUpstream::start().await;
    let toml = format!("{}timeout_ms = 300\n", store_toml(&url, "reject"));
    let j = Jargate::start(upstream.addr(), &toml, default_clients()).await;
    let (assertion, _) = fresh_assertion(60);
    let started = Instant::now();
    assert_error(&token(&j, &assertion).await, 503, "temporarily_unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream.count(), 0);
}

// ---------------------------------------------------------------------------------------------
// The store itself
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn entries_expire_at_their_ttl_and_pushed_requests_are_taken_once() {
    let redis = RedisServer::start().await;
    let store = RedisStore::new(&redis.url(), Duration::from_secs(1)).expect("store");

    assert_eq!(
        store.insert_once("jti:short", Duration::from_secs(1)).await,
        Ok(true)
    );
    assert_eq!(
        store.insert_once("jti:short", Duration::from_secs(1)).await,
        Ok(false)
    );
    let pttl = redis.pttl("jargate:jti:short").await;
    assert!(pttl > 0 && pttl <= 1000, "PTTL {pttl}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        redis.pttl("jargate:jti:short").await,
        -2,
        "the key must be gone"
    );
    assert_eq!(
        store.insert_once("jti:short", Duration::from_secs(1)).await,
        Ok(true)
    );

    let value = bytes::Bytes::from_static(b"{\"client_id\":\"app-1\"}");
    store
        .put("par:u", value.clone(), Duration::from_secs(30))
        .await
        .expect("put");
    let pttl = redis.pttl("jargate:par:u").await;
    assert!(pttl > 28_000 && pttl <= 30_000, "PTTL {pttl}");
    // `get` reads without consuming (passthrough PAR memory); `take` consumes.
    assert_eq!(store.get("par:u").await, Ok(Some(value.clone())));
    assert_eq!(store.take("par:u").await, Ok(Some(value)));
    assert_eq!(store.take("par:u").await, Ok(None));
    assert_eq!(store.get("par:u").await, Ok(None));
    assert_eq!(store.ping().await, Ok(()));
}

#[tokio::test]
async fn a_pushed_request_is_redeemed_once_across_replicas() {
    let redis = RedisServer::start().await;
    let mut app1 = pkjwt_client("app-1", vec![pem_credential("rsa-a", "RS256")]);
    app1["signed_request_object"] = json!({"credentials": [pem_credential("rsa-b", "PS256")]});
    app1["upstream_client_secret"] = json!("s");
    let (upstream, a, b) = two_replicas(
        &redis.url(),
        ("reject", "reject"),
        "[upstream]\nmode = \"legacy\"\n",
        registry(vec![app1]),
    )
    .await;
    wait_readyz_store(&a, 200, Duration::from_secs(5)).await;

    let t = now();
    let object = Jwt::signed(&TestKey::load("rsa-b"), "PS256")
        .header("typ", json!("oauth-authz-req+jwt"))
        .claims(json!({
            "iss": "app-1", "aud": ISSUER, "client_id": "app-1", "response_type": "code",
            "redirect_uri": "https://app.example.com/cb", "scope": "openid", "state": "st",
            "jti": random_jti(), "iat": t, "nbf": t, "exp": t + 300,
        }))
        .build();
    let (assertion, _) = fresh_assertion(60);
    let body = format!(
        "client_id=app-1&request={object}&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={assertion}"
    );
    let pushed = post_form(a.proxy_addr(), "/oauth/par", &body).await;
    assert_eq!(pushed.status, 201, "PAR: {}", pushed.text());
    let request_uri = pushed.json()["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert_eq!(upstream.count(), 0, "legacy PAR is answered by jargate");
    let pttl = redis.pttl(&format!("jargate:par:{request_uri}")).await;
    assert!(pttl > 0 && pttl <= 30_000, "PTTL {pttl}");

    let target = format!(
        "/authorize?client_id=app-1&request_uri={}",
        request_uri.replace(':', "%3A")
    );
    let at_b = get(b.proxy_addr(), &target).await;
    assert_eq!(at_b.status, 200, "redeemed at B: {}", at_b.text());
    assert_eq!(upstream.count(), 1);
    let forwarded = &upstream.requests()[0];
    assert!(
        forwarded.path_and_query.starts_with("/authorize?")
            && forwarded.path_and_query.contains("state=st"),
        "{}",
        forwarded.path_and_query
    );

    let again = get(a.proxy_addr(), &target).await;
    assert_error(&again, 400, "invalid_request_uri");
    let again = get(b.proxy_addr(), &target).await;
    assert_error(&again, 400, "invalid_request_uri");
    assert_eq!(upstream.count(), 1);
}

// ---------------------------------------------------------------------------------------------
// TLS and password
// ---------------------------------------------------------------------------------------------

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl {args:?}");
}

#[tokio::test]
async fn the_client_speaks_tls_with_a_password() {
    // A CA and a server certificate for 127.0.0.1.
    let pki = tempfile::tempdir().expect("tempdir");
    let d = pki.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=jargate test CA",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );

    let path = |f: &str| d.join(f).to_string_lossy().into_owned();
    let redis = RedisServer::start_with(vec![
        "--port".into(),
        "0".into(),
        "--tls-port".into(),
        "{port}".into(),
        "--tls-cert-file".into(),
        path("server.crt"),
        "--tls-key-file".into(),
        path("server.key"),
        "--tls-ca-cert-file".into(),
        path("ca.crt"),
        "--tls-auth-clients".into(),
        "no".into(),
        "--requirepass".into(),
        "pw".into(),
    ])
    .await;

    let client = |url: &str| {
        let ca = std::fs::read(d.join("ca.crt")).expect("ca");
        redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca),
            },
        )
        .expect("tls client")
    };
    let url = format!("rediss://:pw@127.0.0.1:{}/0", redis.port());
    let store = RedisStore::with_client(client(&url), Duration::from_secs(2)).expect("store");
    assert_eq!(store.ping().await, Ok(()));
    assert_eq!(
        store.insert_once("jti:tls", Duration::from_secs(5)).await,
        Ok(true)
    );
    assert_eq!(
        store.insert_once("jti:tls", Duration::from_secs(5)).await,
        Ok(false)
    );

    let wrong = format!("rediss://:nope@127.0.0.1:{}/0", redis.port());
    let store = RedisStore::with_client(client(&wrong), Duration::from_secs(2)).expect("store");
    assert!(matches!(
        store.insert_once("jti:tls2", Duration::from_secs(5)).await,
        Err(StoreError::Unavailable(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// A missing redis-server fails, never skips
// ---------------------------------------------------------------------------------------------

/// The name the test harness gives the test `name` of this module (`redis_store::name`).
fn test_path(name: &str) -> String {
    let module = module_path!();
    let module = module
        .split_once("::")
        .map_or(module, |(_crate, path)| path);
    format!("{module}::{name}")
}

/// Runs one of this file's Redis tests again in a child process whose `PATH` has no
/// `redis-server`: it must fail, and its message must name the command that installs it.
#[test]
fn a_redis_test_without_redis_server_fails_naming_the_install_command() {
    let empty = tempfile::tempdir().expect("tempdir");
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            &test_path("entries_expire_at_their_ttl_and_pushed_requests_are_taken_once"),
            "--test-threads=1",
        ])
        .env("PATH", empty.path())
        .output()
        .expect("run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "passed without redis-server:\n{text}"
    );
    assert!(text.contains("1 failed"), "not one failed test:\n{text}");
    assert!(
        text.contains("`redis-server` is not installed") && text.contains("cargo xtask setup test"),
        "the failure does not name the install command:\n{text}"
    );
}

/// Passthrough PAR memory (SPEC §5 `strip`): a push forwarded by replica A is remembered in
/// Redis under the upstream's `request_uri`, so replica B keeps the parameters an OIDC client
/// repeats next to it, for as long as the upstream's `expires_in`.
#[tokio::test]
async fn a_push_through_one_replica_is_compared_at_the_other() {
    let redis = RedisServer::start().await;
    let upstream = StubUpstream::oidc_strict().await;
    let toml = store_toml(&redis.url(), "reject");
    let a = Jargate::start(upstream.addr(), &toml, default_clients()).await;
    let b = Jargate::start(upstream.addr(), &toml, default_clients()).await;
    let repeated =
        "response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb";
    let body = format!(
        "client_id=app-1&{repeated}&client_assertion_type={ASSERTION_TYPE_FORM}\
         &client_assertion={}",
        app1_assertion(valid_assertion_claims("app-1"))
    );
    let resp = post_form(a.proxy_addr(), PAR, &body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let answer: Value = serde_json::from_slice(&resp.body).expect("JSON");
    let request_uri = answer["request_uri"].as_str().expect("request_uri");
    let encoded: String = form_urlencoded::byte_serialize(request_uri.as_bytes()).collect();
    let target = format!("/authorize?client_id=app-1&request_uri={encoded}&{repeated}");
    let resp = get(b.proxy_addr(), &format!("{target}&state=other")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent = upstream.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1].path_and_query, target,
        "identical kept, state dropped"
    );
    // Kept under a digest of the request_uri, for the upstream's expires_in.
    let keys = redis.keys("jargate:pushed:*").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let pttl = redis.pttl(&keys[0]).await;
    assert!(pttl > 55_000 && pttl <= 60_000, "PTTL {pttl}");
    assert!(!keys[0].contains(request_uri));
}
