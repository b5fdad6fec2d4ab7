//! What the operator tools contact (SPEC §2): `jargate check --online` fetches every
//! `jwks_uri` (keys found, kids and algs) and pings the store, and fails when one does not
//! answer; without `--online` it says they were not contacted and contacts nothing. `explain`
//! fetches the client's JWK Set for the token's use, or says it cannot, and never prints an
//! empty client id.

use crate::common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A JWK Set served on `http://127.0.0.1:N/jwks.json` from a thread; counts its hits.
struct JwksFile {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl JwksFile {
    fn serve(doc: &Value) -> JwksFile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind jwks");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let (body, counted) = (doc.to_string(), hits.clone());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksFile { addr, hits }
    }

    fn uri(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
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

fn write_config(dir: &Path, extra_toml: &str, clients: &Value) -> String {
    std::fs::write(
        dir.join("jargate.toml"),
        format!(
            "[upstream]\nurl = \"http://127.0.0.1:9\"\n[issuer]\nidentifier = \"{ISSUER}\"\n\
             [clients]\nfile = \"clients.json\"\n{extra_toml}"
        ),
    )
    .expect("config");
    std::fs::write(dir.join("clients.json"), clients.to_string()).expect("clients");
    dir.join("jargate.toml").display().to_string()
}

fn jargate(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_jargate"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run jargate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_online_lists_the_keys_of_every_jwks_uri_and_fails_on_one_unreachable() {
    let good = JwksFile::serve(
        &json!({"keys": [jwk("ec-a", "k1", Some("ES256")), jwk("rsa-a", "r1", None)]}),
    );
    let closed = ClosedPort::new();
    let dead = format!("http://{}/jwks.json", closed.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut jar = pkjwt_client("app-2", vec![pem_credential("ec-b", "ES256")]);
    jar["signed_request_object"] = json!({"credentials": [remote(&dead)]});
    let clients = registry(vec![pkjwt_client("app-1", vec![remote(&good.uri())]), jar]);
    let config = write_config(dir.path(), "", &clients);

    let (code, stdout, stderr) = jargate(&["check", "--config", &config, "--online"]);
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
    let config = write_config(dir.path(), "", &clients);
    let (code, stdout, stderr) = jargate(&["check", "--config", &config, "--online"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(good.hits.load(Ordering::SeqCst), 2);
}

#[test]
fn check_without_online_contacts_nothing_and_says_so() {
    let good = JwksFile::serve(&json!({"keys": [jwk("ec-a", "k1", Some("ES256"))]}));
    let dir = tempfile::tempdir().expect("tempdir");
    let clients = registry(vec![pkjwt_client("app-1", vec![remote(&good.uri())])]);
    let extra = "[store]\nbackend = \"redis\"\nredis_url = \"redis://:hunter2@127.0.0.1:1/0\"\n";
    let config = write_config(dir.path(), extra, &clients);
    let (code, stdout, stderr) = jargate(&["check", "--config", &config]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("not contacted (jargate check --online does): 1 jwks_uri; the redis store at 127.0.0.1:1/0"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2"),
        "the Redis password is printed:\n{stdout}"
    );
    assert_eq!(
        good.hits.load(Ordering::SeqCst),
        0,
        "check fetched without --online"
    );
}

/// `redis-server` on a free loopback port, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = free_loopback_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn redis-server (is it installed?)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server not listening within 5 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn check_online_pings_redis() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let clients = registry(vec![pkjwt_client(
        "app-1",
        vec![pem_credential("ec-a", "ES256")],
    )]);
    let extra = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{}/0\"\n",
        redis.port
    );
    let config = write_config(dir.path(), &extra, &clients);
    let (code, stdout, stderr) = jargate(&["check", "--config", &config, "--online"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "store    redis 127.0.0.1:{}/0: PING answered",
            redis.port
        )),
        "{stdout}"
    );
    drop(redis);
    let (code, stdout, _) = jargate(&["check", "--config", &config, "--online"]);
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

#[test]
fn explain_fetches_the_clients_jwks_or_says_it_cannot() {
    let good = JwksFile::serve(&json!({"keys": [jwk("ec-a", "k1", Some("ES256"))]}));
    let dir = tempfile::tempdir().expect("tempdir");
    let clients = registry(vec![pkjwt_client("app-1", vec![remote(&good.uri())])]);
    let config = write_config(dir.path(), "", &clients);
    let (code, stdout, stderr) = jargate(&["explain", "--config", &config, &assertion("app-1")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("jwks     {}: 1 key: kid k1 ES256", good.uri())),
        "{stdout}"
    );
    assert!(stdout.contains("VALID"), "{stdout}");

    let closed = ClosedPort::new();
    let dead = format!("http://{}/jwks.json", closed.addr());
    let clients = registry(vec![pkjwt_client("app-1", vec![remote(&dead)])]);
    let config = write_config(dir.path(), "", &clients);
    let (code, stdout, _) = jargate(&["explain", "--config", &config, &assertion("app-1")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("jwks     {dead}: cannot fetch (")),
        "{stdout}"
    );
}

#[test]
fn explain_never_prints_an_empty_client_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clients = registry(vec![pkjwt_client(
        "app-1",
        vec![pem_credential("ec-a", "ES256")],
    )]);
    let config = write_config(dir.path(), "", &clients);
    let (code, stdout, _) = jargate(&["explain", "--config", &config, &assertion("ghost")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("client   \"ghost\" (from the token's sub claim; not in the registry)"),
        "{stdout}"
    );
    let (code, stdout, _) = jargate(&["explain", "--config", &config, &assertion("")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("client   (none) (the token names no client)"),
        "{stdout}"
    );
    assert!(!stdout.contains("client   \"\""), "{stdout}");
}
