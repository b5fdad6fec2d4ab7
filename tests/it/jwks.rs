//! Remote JWK Sets (`jwks_uri` credentials, SPEC §4 and §7) through the real `jargate` binary
//! and a local JWKS server whose key set, latency and availability each test controls and whose
//! hits it counts: the background fetch at start and refresh (`jwks_refresh_secs`, a shorter
//! `Cache-Control: max-age`), a client added by a reload, a new `kid` followed through the
//! unknown-kid refetch, the refetch rate limit under a burst of random kids, the last good keys
//! kept when the server is down or answers an oversize set, a slow server bounded by the fetch
//! timeout without slowing other clients, `use: enc` keys never verifying, and the separation of
//! the request-object and client-assertion uses.

use crate::common::*;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

// ----------------------------------------------------------------------------------------------
// The JWKS server
// ----------------------------------------------------------------------------------------------

#[derive(Default)]
struct Served {
    body: Mutex<Bytes>,
    delay: Mutex<Duration>,
    cache_control: Mutex<Option<String>>,
    hits: AtomicUsize,
}

/// A JWK Set on `http://127.0.0.1:N/jwks.json`. Every answer closes its connection, so each
/// fetch is a new connection and `stop` really takes the server away.
struct JwksServer {
    addr: SocketAddr,
    served: Arc<Served>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl JwksServer {
    async fn start(doc: &Value) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind jwks");
        let addr = listener.local_addr().expect("jwks addr");
        let served = Arc::new(Served::default());
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let (s, t) = (served.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let served = s.clone();
                let conn = tokio::spawn(async move {
                    let service = service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                        let served = served.clone();
                        async move {
                            served.hits.fetch_add(1, Ordering::SeqCst);
                            let delay = *served.delay.lock().expect("lock");
                            tokio::time::sleep(delay).await;
                            let body = served.body.lock().expect("lock").clone();
                            let mut resp = hyper::Response::builder()
                                .status(200)
                                .header("content-type", "application/json")
                                .header("connection", "close");
                            if let Some(cc) = served.cache_control.lock().expect("lock").clone() {
                                resp = resp.header("cache-control", cc);
                            }
                            let resp = resp.body(Full::new(body)).expect("jwks response");
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                t.lock().expect("lock").push(conn.abort_handle());
            }
        });
        tasks.lock().expect("lock").push(accept.abort_handle());
        let server = JwksServer {
            addr,
            served,
            tasks,
        };
        server.set(doc);
        server
    }

    fn uri(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    fn set(&self, doc: &Value) {
        self.set_raw(doc.to_string().into_bytes());
    }

    fn set_raw(&self, body: Vec<u8>) {
        *self.served.body.lock().expect("lock") = Bytes::from(body);
    }

    fn set_delay(&self, delay: Duration) {
        *self.served.delay.lock().expect("lock") = delay;
    }

    fn set_cache_control(&self, value: &str) {
        *self.served.cache_control.lock().expect("lock") = Some(value.to_owned());
    }

    fn hits(&self) -> usize {
        self.served.hits.load(Ordering::SeqCst)
    }

    /// Closes the listener and every open connection: fetches now fail to connect.
    fn stop(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop();
    }
}

// ----------------------------------------------------------------------------------------------
// Helpers
// ----------------------------------------------------------------------------------------------

/// The public JWK of `key` for signatures, with `kid` and `alg` ES256.
fn sig_jwk(key: &TestKey, kid: &str) -> Value {
    let mut jwk = key.jwk();
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    jwk
}

fn jwk_set(keys: Vec<Value>) -> Value {
    json!({ "keys": keys })
}

fn jwks_credential(uri: &str) -> Value {
    json!({"credential_type": "jwks_uri", "uri": uri})
}

/// `app-remote`: private_key_jwt whose only credential is the JWK Set at `uri`.
fn remote_client(uri: &str) -> Value {
    pkjwt_client("app-remote", vec![jwks_credential(uri)])
}

/// The default registry plus `app-remote` on `uri`.
fn clients_with_remote(uri: &str) -> Value {
    let mut doc = default_clients();
    doc["clients"]
        .as_array_mut()
        .expect("clients")
        .push(remote_client(uri));
    doc
}

fn clients_toml(refresh_secs: u64, min_refetch_secs: u64) -> String {
    format!(
        "[clients]\njwks_refresh_secs = {refresh_secs}\n\
         jwks_min_refetch_secs = {min_refetch_secs}\n"
    )
}

/// A fresh ES256 assertion of `client_id` signed by `key`, naming `kid` when given.
fn assertion(key: &TestKey, kid: Option<&str>, client_id: &str) -> String {
    let jwt = Jwt::signed(key, "ES256").claims(valid_assertion_claims(client_id));
    match kid {
        Some(kid) => jwt.header("kid", json!(kid)).build(),
        None => jwt.build(),
    }
}

async fn expect_accepted(j: &Jargate, key: &TestKey, kid: Option<&str>, client_id: &str) {
    let resp = post_token(j.proxy_addr(), &assertion(key, kid, client_id)).await;
    assert_eq!(
        resp.status,
        200,
        "{client_id} signed by {} (kid {kid:?}) must be accepted: {}",
        key.name,
        resp.text()
    );
}

async fn expect_refused(j: &Jargate, key: &TestKey, kid: Option<&str>, client_id: &str) {
    let resp = post_token(j.proxy_addr(), &assertion(key, kid, client_id)).await;
    assert_error(&resp, 401, "invalid_client");
}

async fn fetches(j: &Jargate, result: &str) -> f64 {
    counter(
        &scrape_metrics(j.admin_addr()).await,
        "jargate_jwks_fetches_total",
        &[("result", result)],
    )
}

/// Waits (up to 3 s) until jargate counts a successful fetch: the set is in its cache.
async fn await_first_fetch(j: &Jargate, server: &JwksServer) {
    let since = Instant::now();
    while fetches(j, "ok").await < 1.0 {
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "no successful background fetch within 3 s of start (server hits: {})",
            server.hits()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ----------------------------------------------------------------------------------------------
// Fetching and following rotation
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn jwks_key_is_fetched_in_the_background_at_start_and_verifies() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (up, j) = start_with("", clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    assert_eq!(server.hits(), 1, "one fetch at start, before any request");

    expect_accepted(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;
    expect_accepted(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;
    // Without a kid the key is found by alg and key type.
    expect_accepted(&j, &TestKey::load("ec-a"), None, "app-remote").await;
    assert_eq!(up.count(), 3);
    assert_eq!(server.hits(), 1, "verifications are served from the cache");
    let text = scrape_metrics(j.admin_addr()).await;
    assert_eq!(counter(&text, "jargate_jwks_cache_hits_total", &[]), 3.0);
    assert_eq!(
        counter(
            &text,
            "jargate_credentials",
            &[("use", "client_assertion"), ("source", "jwks_uri")]
        ),
        1.0
    );
    // Another key, right kid: refused.
    expect_refused(&j, &TestKey::load("ec-b"), Some("k1"), "app-remote").await;
}

#[tokio::test]
async fn new_kid_is_followed_at_once_through_the_unknown_kid_refetch() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (_up, j) = start_with(&clients_toml(300, 1), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    expect_accepted(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;

    // The client rotates: its set now holds k2 only. Once min_refetch has elapsed, the first
    // token naming k2 refetches and is accepted.
    server.set(&jwk_set(vec![sig_jwk(&TestKey::load("ec-b"), "k2")]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let hits = server.hits();
    let sent = Instant::now();
    expect_accepted(&j, &TestKey::load("ec-b"), Some("k2"), "app-remote").await;
    println!(
        "new kid accepted in {} ms (refetch included)",
        sent.elapsed().as_millis()
    );
    assert_eq!(server.hits(), hits + 1, "exactly one refetch");
    // The set was replaced: k1 is gone.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    expect_refused(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;
}

#[tokio::test]
async fn background_refresh_follows_the_set_without_any_request() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (_up, j) = start_with(&clients_toml(1, 1), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    server.set(&jwk_set(vec![sig_jwk(&TestKey::load("ec-b"), "k2")]));
    let hits = server.hits();
    // jwks_refresh_secs = 1: refetched in the background within about two seconds.
    let since = Instant::now();
    while server.hits() < hits + 2 {
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "no background refresh"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hits = server.hits();
    expect_accepted(&j, &TestKey::load("ec-b"), Some("k2"), "app-remote").await;
    assert!(
        server.hits() <= hits + 1,
        "k2 came from the background refresh, not a burst of refetches"
    );
}

#[tokio::test]
async fn shorter_cache_control_max_age_shortens_the_refresh() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    server.set_cache_control("public, max-age=1");
    // jwks_refresh_secs = 300, but the set says it is fresh for 1 s only.
    let (_up, j) = start_with(&clients_toml(300, 1), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    let hits = server.hits();
    let since = Instant::now();
    while server.hits() == hits {
        assert!(
            since.elapsed() < Duration::from_secs(4),
            "max-age=1 must bring a background refetch within a few seconds"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "max-age=1: refetched after {} ms",
        since.elapsed().as_millis()
    );
}

#[tokio::test]
async fn jwks_client_added_by_a_reload_is_accepted_within_one_second() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (_up, j) = start_with(&clients_toml(300, 30), default_clients()).await;
    expect_refused(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;
    let path = j.dir().join("clients.json");
    std::fs::write(&path, clients_with_remote(&server.uri()).to_string()).expect("write");
    let written = Instant::now();
    loop {
        let resp = post_token(
            j.proxy_addr(),
            &assertion(&TestKey::load("ec-a"), Some("k1"), "app-remote"),
        )
        .await;
        if resp.status == 200 {
            break;
        }
        assert!(
            written.elapsed() < Duration::from_secs(1),
            "not accepted within 1 s of the write; last answer {} {}",
            resp.status,
            resp.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "jwks_uri client added: accepted {} ms after the write, {} fetch(es)",
        written.elapsed().as_millis(),
        server.hits()
    );
}

/// `n` concurrent assertions of `app-remote`, each signed by ec-b under a kid no set holds:
/// every one refused `invalid_client`.
async fn random_kid_burst(j: &Jargate, n: usize) {
    let key = TestKey::load("ec-b");
    let proxy = j.proxy_addr();
    let burst: Vec<_> = (0..n)
        .map(|_| {
            let jwt = assertion(&key, Some(&random_jti()), "app-remote");
            tokio::spawn(async move { post_token(proxy, &jwt).await })
        })
        .collect();
    for task in burst {
        assert_error(&task.await.expect("burst request"), 401, "invalid_client");
    }
}

#[tokio::test]
async fn refetch_rate_limit_holds_under_a_burst_of_random_kids() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (up, j) = start_with(&clients_toml(300, 30), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    let hits = server.hits();

    random_kid_burst(&j, 50).await;
    let extra = server.hits() - hits;
    println!("burst of 50 random kids: {extra} extra fetch(es)");
    assert!(extra <= 1, "{extra} extra fetches for one burst");
    assert_eq!(up.count(), 0);
    assert!(fetches(&j, "rate_limited").await >= 49.0);
    // The cached set is intact.
    expect_accepted(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;
}

#[tokio::test]
async fn once_min_refetch_elapsed_a_burst_gets_exactly_one_refetch() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (_up, j) = start_with(&clients_toml(300, 2), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let hits = server.hits();

    random_kid_burst(&j, 50).await;
    assert_eq!(server.hits() - hits, 1, "one refetch for the whole burst");
}

// ----------------------------------------------------------------------------------------------
// Failures keep the last good keys
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn server_down_last_good_keys_still_verify() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (_up, j) = start_with(&clients_toml(1, 1), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    expect_accepted(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;

    server.stop();
    // The background refresh (every second here) now fails.
    let since = Instant::now();
    while fetches(&j, "failed").await < 1.0 {
        assert!(
            since.elapsed() < Duration::from_secs(4),
            "no failed refresh within 4 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    expect_accepted(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;
    // An unknown kid makes a refetch, which fails; the cached key still verifies afterwards.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    expect_refused(&j, &TestKey::load("ec-b"), Some("k2"), "app-remote").await;
    expect_accepted(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;
}

#[tokio::test]
async fn oversize_jwks_is_refused_and_the_earlier_keys_are_kept() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (_up, j) = start_with(&clients_toml(300, 1), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;

    // A valid set holding k2, padded past 64 KiB.
    let mut big = jwk_set(vec![sig_jwk(&TestKey::load("ec-b"), "k2")]);
    big["padding"] = json!("x".repeat(65 * 1024));
    let big = big.to_string().into_bytes();
    assert!(big.len() > 64 * 1024);
    server.set_raw(big);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (hits, failed) = (server.hits(), fetches(&j, "failed").await);
    expect_refused(&j, &TestKey::load("ec-b"), Some("k2"), "app-remote").await;
    assert_eq!(server.hits(), hits + 1, "the oversize set was fetched");
    assert_eq!(fetches(&j, "failed").await, failed + 1.0, "and refused");
    expect_accepted(&j, &TestKey::load("ec-a"), Some("k1"), "app-remote").await;

    // The same set without the padding is taken: the size alone was the reason.
    server.set(&jwk_set(vec![sig_jwk(&TestKey::load("ec-b"), "k2")]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    expect_accepted(&j, &TestKey::load("ec-b"), Some("k2"), "app-remote").await;
}

#[tokio::test]
async fn slow_jwks_is_bounded_by_the_fetch_timeout_and_slows_no_one_else() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (_up, j) = start_with(&clients_toml(300, 1), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;

    server.set_delay(Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let proxy = j.proxy_addr();
    let jwt = assertion(&TestKey::load("ec-b"), Some("k2"), "app-remote");
    let slow = tokio::spawn(async move {
        let sent = Instant::now();
        let resp = try_send_raw(
            proxy,
            &build_request(
                proxy,
                "POST",
                TOKEN,
                &[("Content-Type", "application/x-www-form-urlencoded")],
                assertion_form(&jwt).as_bytes(),
            ),
            Duration::from_secs(12),
        )
        .await;
        (resp, sent.elapsed())
    });

    // Meanwhile: a static-key client and the remote client with its cached kid stay fast.
    let mut samples = Vec::new();
    tokio::time::sleep(Duration::from_millis(100)).await;
    while !slow.is_finished() {
        for (key, kid, client) in [
            (TestKey::load("ec-a"), None, "app-es"),
            (TestKey::load("ec-a"), Some("k1"), "app-remote"),
        ] {
            let sent = Instant::now();
            expect_accepted(&j, &key, kid, client).await;
            samples.push((client, sent.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (resp, latency) = slow.await.expect("slow request");
    let resp = resp.expect("the request waiting on the slow fetch must be answered");
    println!(
        "slow JWKS: unknown-kid request answered {} in {} ms; \
         {} other requests meanwhile, slowest {} ms",
        resp.status,
        latency.as_millis(),
        samples.len(),
        samples
            .iter()
            .map(|(_, d)| d.as_millis())
            .max()
            .unwrap_or(0)
    );
    assert_error(&resp, 401, "invalid_client");
    assert!(
        latency < Duration::from_secs(5),
        "blocked {latency:?} on the slow fetch"
    );
    assert!(
        samples.len() >= 10,
        "too few concurrent samples: {}",
        samples.len()
    );
    for (client, d) in &samples {
        assert!(
            *d < Duration::from_millis(500),
            "{client} took {d:?} during the slow fetch"
        );
    }
}

// ----------------------------------------------------------------------------------------------
// Which keys verify what
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn encryption_key_in_the_set_never_verifies() {
    let mut enc = TestKey::load("ec-a").jwk();
    enc["kid"] = json!("enc1");
    enc["alg"] = json!("ES256");
    enc["use"] = json!("enc");
    let server =
        JwksServer::start(&jwk_set(vec![enc, sig_jwk(&TestKey::load("ec-b"), "sig1")])).await;
    let (up, j) = start_with(&clients_toml(300, 30), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;

    expect_refused(&j, &TestKey::load("ec-a"), Some("enc1"), "app-remote").await;
    expect_refused(&j, &TestKey::load("ec-a"), None, "app-remote").await;
    assert_eq!(up.count(), 0);
    expect_accepted(&j, &TestKey::load("ec-b"), Some("sig1"), "app-remote").await;
}

/// Claims of a valid request object of `client_id`.
fn object_claims(client_id: &str) -> Value {
    let t = now();
    json!({
        "iss": client_id,
        "aud": ISSUER,
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": "https://app.example.com/cb",
        "scope": "openid",
        "state": "s1",
        "jti": random_jti(),
        "iat": t,
        "exp": t + 300,
    })
}

fn object(key: &TestKey, kid: &str, client_id: &str) -> String {
    Jwt::signed(key, "ES256")
        .header("kid", json!(kid))
        .header("typ", json!("oauth-authz-req+jwt"))
        .claims(object_claims(client_id))
        .build()
}

#[tokio::test]
async fn remote_keys_serve_only_the_use_they_are_registered_for() {
    let jar = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "jar1")])).await;
    let auth = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-b"), "auth1")])).await;
    let mut client = pkjwt_client("app-remote", vec![jwks_credential(&auth.uri())]);
    client["signed_request_object"] = json!({"credentials": [jwks_credential(&jar.uri())]});
    let (up, j) = start_with(&clients_toml(300, 30), registry(vec![client])).await;
    let since = Instant::now();
    while fetches(&j, "ok").await < 2.0 {
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "both sets fetched at start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    expect_accepted(&j, &TestKey::load("ec-b"), Some("auth1"), "app-remote").await;
    expect_refused(&j, &TestKey::load("ec-a"), Some("jar1"), "app-remote").await;

    let params = format!(
        "client_id=app-remote&request={}",
        object(&TestKey::load("ec-a"), "jar1", "app-remote")
    );
    let resp = get(j.proxy_addr(), &format!("/authorize?{params}")).await;
    assert_forwarded_nth(&resp, &up, 1, "GET", &format!("/authorize?{params}"), b"");

    let params = format!(
        "client_id=app-remote&request={}",
        object(&TestKey::load("ec-b"), "auth1", "app-remote")
    );
    let resp = get(j.proxy_addr(), &format!("/authorize?{params}")).await;
    assert_error(&resp, 400, "invalid_request_object");
    assert_eq!(up.count(), 2);
}

/// `jargate_jwks_last_success_timestamp_seconds{uri}` (SPEC §8): set by each successful fetch,
/// kept when the server goes away, so an alert on its age fires while fetches fail.
#[tokio::test]
async fn the_last_successful_fetch_time_is_exported_per_uri_and_kept_when_fetches_fail() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let before = now();
    let (_up, j) = start_with(&clients_toml(1, 1), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    let name = "jargate_jwks_last_success_timestamp_seconds";
    let uri = server.uri();
    let last = |text: &str| metric(text, name, &[("uri", uri.as_str())]);
    let at = last(&scrape_metrics(j.admin_addr()).await).expect("a sample for the uri");
    assert!(
        at >= before as f64 && at <= now() as f64,
        "{at} not within [{before}, now]"
    );

    server.stop();
    let since = Instant::now();
    while fetches(&j, "failed").await < 1.0 {
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "the background refresh did not fail within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = scrape_metrics(j.admin_addr()).await;
    let kept = last(&text).expect("kept");
    // A refresh may have succeeded between the first scrape and the stop; never after it.
    assert!(kept >= at && kept <= now() as f64, "{kept} vs {at}");
    let failed_at = now() as f64;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(last(&scrape_metrics(j.admin_addr()).await).expect("kept") <= failed_at);
}

// ----------------------------------------------------------------------------------------------
// An unreachable JWK Set is its own rule; key counts count keys
// ----------------------------------------------------------------------------------------------

fn rejections(text: &str, error: &str, rule: &str) -> f64 {
    counter(
        text,
        "jargate_rejections_total",
        &[("error", error), ("rule", rule)],
    )
}

#[tokio::test]
async fn an_unreachable_jwks_uri_refuses_as_jwks_unavailable_for_both_uses() {
    let closed = ClosedPort::new();
    let uri = format!("http://{}/jwks.json", closed.addr());
    let mut client = pkjwt_client("app-remote", vec![jwks_credential(&uri)]);
    client["signed_request_object"] = json!({"credentials": [jwks_credential(&uri)]});
    let (up, j) = start_with(&clients_toml(300, 1), registry(vec![client])).await;

    let resp = post_token(
        j.proxy_addr(),
        &assertion(&TestKey::load("ec-a"), Some("k1"), "app-remote"),
    )
    .await;
    assert_rejected(&resp, 401, "invalid_client", &up);
    assert!(
        resp.json()["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("JWK Set could not be fetched")),
        "{}",
        resp.text()
    );
    let params = format!(
        "client_id=app-remote&request={}",
        object(&TestKey::load("ec-a"), "jar1", "app-remote")
    );
    let resp = get(j.proxy_addr(), &format!("/authorize?{params}")).await;
    assert_rejected(&resp, 400, "invalid_request_object", &up);

    let text = scrape_until(j.admin_addr(), "the refusals", |t| {
        total(t, "jargate_rejections_total") >= 2.0
    })
    .await;
    assert_eq!(rejections(&text, "invalid_client", "jwks_unavailable"), 1.0);
    assert_eq!(
        rejections(&text, "invalid_request_object", "jwks_unavailable"),
        1.0
    );
    assert_eq!(rejections(&text, "invalid_client", "no_credential"), 0.0);
}

#[tokio::test]
async fn a_key_missing_from_a_reachable_set_is_still_unknown_kid() {
    let server = JwksServer::start(&jwk_set(vec![sig_jwk(&TestKey::load("ec-a"), "k1")])).await;
    let (up, j) = start_with(&clients_toml(300, 1), clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    let resp = post_token(
        j.proxy_addr(),
        &assertion(&TestKey::load("ec-b"), Some("k2"), "app-remote"),
    )
    .await;
    assert_rejected(&resp, 401, "invalid_client", &up);
    let text = scrape_until(j.admin_addr(), "the refusals", |t| {
        total(t, "jargate_rejections_total") >= 1.0
    })
    .await;
    assert_eq!(rejections(&text, "invalid_client", "jwks_unavailable"), 0.0);
    assert_eq!(
        rejections(&text, "invalid_client", "unknown_kid"),
        1.0,
        "{text}"
    );
}

#[tokio::test]
async fn jwks_uri_credentials_are_counted_by_the_keys_their_sets_hold() {
    // Three keys at one URI; the RSA key without `alg` serves six algorithms, counted once.
    let mut rsa = TestKey::load("rsa-a").jwk();
    rsa["kid"] = json!("r1");
    let server = JwksServer::start(&jwk_set(vec![
        sig_jwk(&TestKey::load("ec-a"), "k1"),
        sig_jwk(&TestKey::load("ec-b"), "k2"),
        rsa,
    ]))
    .await;
    let (_up, j) = start_with("", clients_with_remote(&server.uri())).await;
    await_first_fetch(&j, &server).await;
    let text = scrape_metrics(j.admin_addr()).await;
    let count = |use_| {
        counter(
            &text,
            "jargate_credentials",
            &[("use", use_), ("source", "jwks_uri")],
        )
    };
    assert_eq!(count("client_assertion"), 3.0, "{text}");
    assert_eq!(count("request_object"), 0.0);
}
