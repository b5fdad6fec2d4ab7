//! What the operator tools contact (SPEC §2): `jargate check --online` fetches every
//! `jwks_uri` (keys found, kids and algs) and pings the store, and fails when one does not
//! answer; without `--online` it says they were not contacted and contacts nothing. `explain`
//! fetches the client's JWK Set for the token's use, or says it cannot, and never prints an
//! empty client id.

use crate::common::*;
use serde_json::{json, Value};

/// A JWK Set served by a [`CannedUpstream`]; its `uri()`, and how often it was fetched. The tests
/// run on a multi-threaded runtime: `jargate` runs (blocking) on the test's thread while the
/// runtime's worker serves the set.
struct JwksFile(CannedUpstream);

impl JwksFile {
    async fn serve(doc: &Value) -> JwksFile {
        let headers = [("Content-Type", "application/json")];
        JwksFile(CannedUpstream::start(200, &headers, doc.to_string().into_bytes()).await)
    }

    fn uri(&self) -> String {
        format!("http://{}/jwks.json", self.0.addr())
    }

    fn hits(&self) -> usize {
        self.0.heads().len()
    }
}

fn jwk(key: &str, kid: &str, alg: Option<&str>) -> Value {
    let mut jwk = TestKey::load(key).jwk();
    jwk["kid"] = json!(kid);
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

fn remote(uri: &str) -> Value {
    json!({"credential_type": "jwks_uri", "uri": uri})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn check_online_lists_the_keys_of_every_jwks_uri_and_fails_on_one_unreachable() {
    let good = JwksFile::serve(
        &json!({"keys": [jwk("ec-a", "k1", Some("ES256")), jwk("rsa-a", "r1", None)]}),
    )
    .await;
    let closed = ClosedPort::new();
    let dead = format!("http://{}/jwks.json", closed.addr());
    let mut jar = pkjwt_client("app-2", vec![pem_credential("ec-b", "ES256")]);
    jar["signed_request_object"] = json!({"credentials": [remote(&dead)]});
    let clients = registry(vec![pkjwt_client("app-1", vec![remote(&good.uri())]), jar]);
    let dir = ConfigDir::new("", &clients);
    let config = dir.config();

    let Ran {
        code,
        stdout,
        stderr,
    } = run_jargate(&["check", "--config", &config, "--online"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let listed = format!(
        "jwks_uri {} (app-1 client assertions): 2 keys: kid k1 ES256; kid r1 RS256 RS384 RS512 PS256 PS384 PS512",
        good.uri()
    );
    assert!(stdout.contains(&listed), "{stdout}");
    assert!(
        stdout.contains(&format!("jwks_uri {dead} (app-2 request objects): FAILED")),
        "{stdout}"
    );
    assert!(stdout.contains("store    memory (in process)"), "{stdout}");
    assert!(stderr.contains("1 of the places contacted"), "{stderr}");

    let clients = registry(vec![pkjwt_client("app-1", vec![remote(&good.uri())])]);
    let dir = ConfigDir::new("", &clients);
    let config = dir.config();
    let Ran {
        code,
        stdout,
        stderr,
    } = run_jargate(&["check", "--config", &config, "--online"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(good.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn check_without_online_contacts_nothing_and_says_so() {
    let good = JwksFile::serve(&json!({"keys": [jwk("ec-a", "k1", Some("ES256"))]})).await;
    let clients = registry(vec![pkjwt_client("app-1", vec![remote(&good.uri())])]);
    let extra = "[store]\nbackend = \"redis\"\nredis_url = \"redis://:hunter2@127.0.0.1:1/0\"\n";
    let dir = ConfigDir::new(extra, &clients);
    let config = dir.config();
    let Ran {
        code,
        stdout,
        stderr,
    } = run_jargate(&["check", "--config", &config]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("not contacted (jargate check --online does): 1 jwks_uri; the redis store at 127.0.0.1:1/0"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2"),
        "the Redis password is printed:\n{stdout}"
    );
    assert_eq!(good.hits(), 0, "check fetched without --online");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn check_online_pings_redis() {
    let redis = RedisServer::start().await;
    let clients = registry(vec![pkjwt_client(
        "app-1",
        vec![pem_credential("ec-a", "ES256")],
    )]);
    let extra = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{}/0\"\n",
        redis.port()
    );
    let dir = ConfigDir::new(&extra, &clients);
    let config = dir.config();
    let Ran {
        code,
        stdout,
        stderr,
    } = run_jargate(&["check", "--config", &config, "--online"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "store    redis 127.0.0.1:{}/0: PING answered",
            redis.port()
        )),
        "{stdout}"
    );
    drop(redis);
    let Ran { code, stdout, .. } = run_jargate(&["check", "--config", &config, "--online"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("store    FAILED: redis 127.0.0.1:"),
        "{stdout}"
    );
}

fn assertion(client_id: &str) -> String {
    Jwt::signed(&TestKey::load("ec-a"), "ES256")
        .header("kid", json!("k1"))
        .claims(valid_assertion_claims(client_id))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn explain_fetches_the_clients_jwks_or_says_it_cannot() {
    let good = JwksFile::serve(&json!({"keys": [jwk("ec-a", "k1", Some("ES256"))]})).await;
    let clients = registry(vec![pkjwt_client("app-1", vec![remote(&good.uri())])]);
    let dir = ConfigDir::new("", &clients);
    let config = dir.config();
    let Ran {
        code,
        stdout,
        stderr,
    } = run_jargate(&["explain", "--config", &config, &assertion("app-1")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("jwks     {}: 1 key: kid k1 ES256", good.uri())),
        "{stdout}"
    );
    assert!(stdout.contains("VALID"), "{stdout}");

    let closed = ClosedPort::new();
    let dead = format!("http://{}/jwks.json", closed.addr());
    let clients = registry(vec![pkjwt_client("app-1", vec![remote(&dead)])]);
    let dir = ConfigDir::new("", &clients);
    let config = dir.config();
    let Ran { code, stdout, .. } =
        run_jargate(&["explain", "--config", &config, &assertion("app-1")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("jwks     {dead}: cannot fetch (")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn explain_never_prints_an_empty_client_id() {
    let clients = registry(vec![pkjwt_client(
        "app-1",
        vec![pem_credential("ec-a", "ES256")],
    )]);
    let dir = ConfigDir::new("", &clients);
    let config = dir.config();
    let Ran { code, stdout, .. } =
        run_jargate(&["explain", "--config", &config, &assertion("ghost")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("client   \"ghost\" (from the token's sub claim; not in the registry)"),
        "{stdout}"
    );
    let Ran { code, stdout, .. } = run_jargate(&["explain", "--config", &config, &assertion("")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("client   (none) (the token names no client)"),
        "{stdout}"
    );
    assert!(!stdout.contains("client   \"\""), "{stdout}");
}
