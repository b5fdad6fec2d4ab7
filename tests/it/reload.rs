//! Hot reload of the configuration and the client registry (SPEC §7), through the real
//! `jargate` binary: a client added, a credential rotated or expired, a broken registry refused
//! (the last good one keeps serving), a Kubernetes ConfigMap `..data` symlink swap, an editor's
//! write-and-rename, a file deleted and re-created, `SIGHUP`, and a reload storm under steady
//! traffic that must not fail a single valid request.
//!
//! Timing figures (reload delays, load-test rates) are printed; run with `--nocapture` to see
//! them. The load test takes the suite's lock exclusively, so the other tests (which measure
//! sub-second delays) never share the machine with it.

use crate::common::*;
use serde_json::{json, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::RwLock;

/// SPEC §7: a valid change takes effect within 1 s of the write (150 ms debounce plus the load:
/// `benches/registry_load.rs` measures the load in a release build). These tests run a debug
/// build next to hundreds of other tests on a shared 2-core machine, so they allow twice the
/// figure: enough to catch a reload that waits for anything periodic, never a flaky red.
const RELOAD_LIMIT: Duration = Duration::from_secs(2);
/// SPEC §7: 2 s for a ConfigMap swap (doubled, as above).
const CONFIGMAP_LIMIT: Duration = Duration::from_secs(4);
const POLL: Duration = Duration::from_millis(50);

/// Shared by the timing tests, exclusive for the load test.
static MACHINE: RwLock<()> = RwLock::const_new(());

// ----------------------------------------------------------------------------------------------
// Helpers
// ----------------------------------------------------------------------------------------------

/// A fresh, valid client assertion of `client_id` signed by `tests/keys/<key>` (ES256, no kid).
fn assertion(key: &str, client_id: &str) -> String {
    assertion_by(key, "ES256", client_id)
}

/// A fresh assertion of `client_id` signed by `key` gets 200 (forwarded) or 401.
async fn token_status(proxy: SocketAddr, key: &str, client_id: &str) -> u16 {
    let resp = post_token(proxy, &assertion(key, client_id)).await;
    match resp.status {
        200 => {}
        401 => assert_error(&resp, 401, "invalid_client"),
        other => panic!("unexpected answer {other}: {}", resp.text()),
    }
    resp.status
}

async fn expect_accepted(proxy: SocketAddr, key: &str, client_id: &str) {
    assert_eq!(
        token_status(proxy, key, client_id).await,
        200,
        "{client_id} signed by {} must be accepted",
        key
    );
}

async fn expect_refused(proxy: SocketAddr, key: &str, client_id: &str) {
    assert_eq!(
        token_status(proxy, key, client_id).await,
        401,
        "{client_id} signed by {} must be refused",
        key
    );
}

/// Polls `check` every 50 ms from `since` until it holds or `limit` has passed; returns the
/// delay from `since`, or `None` when it never held.
async fn within<F, Fut>(since: Instant, limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        if check().await {
            return Some(since.elapsed());
        }
        if since.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits (up to `limit`) until `client_id` signed by `key` answers `status`; panics otherwise.
async fn await_status(
    proxy: SocketAddr,
    since: Instant,
    limit: Duration,
    key: &str,
    client_id: &str,
    status: u16,
    what: &str,
) -> Duration {
    let delay = within(since, limit, || async {
        token_status(proxy, key, client_id).await == status
    })
    .await
    .unwrap_or_else(|| panic!("{what}: {client_id} did not get {status} within {limit:?}"));
    println!("{what}: in effect after {} ms", delay.as_millis());
    delay
}

/// `jargate_reloads_total{result}` on the admin listener.
async fn reloads(admin: SocketAddr, result: &str) -> f64 {
    counter(
        &scrape_metrics(admin).await,
        "jargate_reloads_total",
        &[("result", result)],
    )
}

/// Waits until `jargate_reloads_total{result}` exceeds `above`; returns the new value.
async fn await_reloads(admin: SocketAddr, result: &str, above: f64, limit: Duration) -> f64 {
    let since = Instant::now();
    let seen = Arc::new(Mutex::new(above));
    let found = within(since, limit, || {
        let seen = seen.clone();
        async move {
            let n = reloads(admin, result).await;
            *seen.lock().expect("lock") = n;
            n > above
        }
    })
    .await;
    let n = *seen.lock().expect("lock");
    assert!(
        found.is_some(),
        "jargate_reloads_total{{result=\"{result}\"}} stayed at {n} (> {above} expected) \
         for {limit:?}"
    );
    n
}

fn write_json(path: &Path, doc: &Value) {
    let text = serde_json::to_string_pretty(doc).expect("json");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `default_clients()` plus `extra`.
fn clients_plus(extra: Vec<Value>) -> Value {
    let mut doc = default_clients();
    let list = doc["clients"].as_array_mut().expect("clients array");
    list.extend(extra);
    doc
}

/// `app-new`: private_key_jwt with ec-b (ES256).
fn app_new() -> Value {
    pkjwt_client("app-new", vec![pem_credential("ec-b", "ES256")])
}

/// An ES256 credential read from `pem_file` (relative to the registry).
fn pem_file_credential(path: &str) -> Value {
    json!({"credential_type": "public_key", "pem_file": path, "alg": "ES256"})
}

// ----------------------------------------------------------------------------------------------
// Registry changes picked up by the file watcher
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn client_added_while_running_is_accepted_within_one_second() {
    let _shared = MACHINE.read().await;
    let (up, j) = start_default().await;
    let proxy = j.proxy_addr();
    expect_refused(proxy, "ec-b", "app-new").await;
    assert_eq!(up.count(), 0);

    write_json(
        &j.dir().join("clients.json"),
        &clients_plus(vec![app_new()]),
    );
    let written = Instant::now();
    let delay = await_status(
        proxy,
        written,
        RELOAD_LIMIT,
        "ec-b",
        "app-new",
        200,
        "client added",
    )
    .await;
    assert!(delay <= RELOAD_LIMIT);
    // The clients that were there keep working on the new version.
    expect_accepted(proxy, "ec-a", "app-es").await;
    assert!(reloads(j.admin_addr(), "ok").await >= 1.0);
}

#[tokio::test]
async fn rotated_credential_old_key_refused_new_key_accepted_within_one_second() {
    let _shared = MACHINE.read().await;
    let clients = registry(vec![pkjwt_client(
        "app-rot",
        vec![pem_credential("ec-a", "ES256")],
    )]);
    let (_up, j) = start_with("", clients).await;
    let proxy = j.proxy_addr();
    expect_accepted(proxy, "ec-a", "app-rot").await;
    expect_refused(proxy, "ec-b", "app-rot").await;

    // Replace the pem: ec-a out, ec-b in.
    let rotated = registry(vec![pkjwt_client(
        "app-rot",
        vec![pem_credential("ec-b", "ES256")],
    )]);
    write_json(&j.dir().join("clients.json"), &rotated);
    let written = Instant::now();
    await_status(
        proxy,
        written,
        RELOAD_LIMIT,
        "ec-b",
        "app-rot",
        200,
        "new key",
    )
    .await;
    expect_refused(proxy, "ec-a", "app-rot").await;
    let delay = written.elapsed();
    println!(
        "rotation complete (new accepted, old refused) after {} ms",
        delay.as_millis()
    );
    assert!(delay <= RELOAD_LIMIT, "rotation took {delay:?}");
}

#[tokio::test]
async fn credential_expires_by_the_clock_without_any_reload() {
    let _shared = MACHINE.read().await;
    // The expiring key (ec-a) and a key without expiry (ec-b) for the same client.
    let expires_at = now() + 3;
    let mut expiring = pem_credential("ec-a", "ES256");
    expiring["expires_at"] = json!(rfc3339(expires_at));
    let clients = registry(vec![pkjwt_client(
        "app-exp",
        vec![expiring, pem_credential("ec-b", "ES256")],
    )]);
    let (_up, j) = start_with("", clients).await;
    let proxy = j.proxy_addr();
    assert!(
        now() < expires_at,
        "jargate took too long to start; the credential expired before the first request"
    );
    expect_accepted(proxy, "ec-a", "app-exp").await;
    let reloads_before = reloads(j.admin_addr(), "ok").await;

    // Sleep until the second the credential expires (at most 3 s), plus a margin.
    let expiry = std::time::UNIX_EPOCH + Duration::from_secs(expires_at as u64);
    let wait = expiry
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    expect_refused(proxy, "ec-a", "app-exp").await;
    expect_accepted(proxy, "ec-b", "app-exp").await;
    assert_eq!(
        reloads(j.admin_addr(), "ok").await,
        reloads_before,
        "expiry must need no reload"
    );
}

#[tokio::test]
async fn broken_registry_is_refused_and_the_last_good_one_keeps_serving() {
    let _shared = MACHINE.read().await;
    let (_up, j) = start_default().await;
    let (proxy, admin) = (j.proxy_addr(), j.admin_addr());
    let path = j.dir().join("clients.json");
    let failed_before = reloads(admin, "failed").await;
    let ok_before = reloads(admin, "ok").await;

    let good = serde_json::to_string_pretty(&clients_plus(vec![app_new()])).expect("json");
    std::fs::write(&path, &good[..good.len() / 2]).expect("write broken registry");
    let failed = await_reloads(admin, "failed", failed_before, RELOAD_LIMIT).await;
    assert_eq!(failed, failed_before + 1.0, "one refused version");
    // The old version keeps serving: its clients in, the half-written one not.
    for _ in 0..3 {
        expect_accepted(proxy, "ec-a", "app-es").await;
    }
    expect_refused(proxy, "ec-b", "app-new").await;
    assert_eq!(
        reloads(admin, "ok").await,
        ok_before,
        "nothing was swapped in"
    );
    assert!(
        j.stderr().contains("configuration refused"),
        "the refusal must be logged:\n{}",
        j.stderr()
    );

    // Fixed: reloaded.
    std::fs::write(&path, &good).expect("write fixed registry");
    let written = Instant::now();
    await_status(
        proxy,
        written,
        RELOAD_LIMIT,
        "ec-b",
        "app-new",
        200,
        "fixed registry",
    )
    .await;
    assert!(reloads(admin, "ok").await > ok_before);
    expect_accepted(proxy, "ec-a", "app-es").await;
}

#[tokio::test]
async fn editor_style_write_then_rename_is_picked_up() {
    let _shared = MACHINE.read().await;
    let (_up, j) = start_default().await;
    let proxy = j.proxy_addr();
    expect_refused(proxy, "ec-b", "app-new").await;

    let tmp = j.dir().join("clients.json.tmp");
    write_json(&tmp, &clients_plus(vec![app_new()]));
    // Writing the temporary file alone changes nothing.
    tokio::time::sleep(Duration::from_millis(400)).await;
    expect_refused(proxy, "ec-b", "app-new").await;

    std::fs::rename(&tmp, j.dir().join("clients.json")).expect("rename into place");
    let renamed = Instant::now();
    await_status(
        proxy,
        renamed,
        RELOAD_LIMIT,
        "ec-b",
        "app-new",
        200,
        "renamed into place",
    )
    .await;
    expect_accepted(proxy, "ec-a", "app-es").await;
}

#[tokio::test]
async fn deleted_registry_keeps_the_old_version_until_it_is_recreated() {
    let _shared = MACHINE.read().await;
    let (_up, j) = start_default().await;
    let (proxy, admin) = (j.proxy_addr(), j.admin_addr());
    let path = j.dir().join("clients.json");
    let failed_before = reloads(admin, "failed").await;

    std::fs::remove_file(&path).expect("delete registry");
    await_reloads(admin, "failed", failed_before, RELOAD_LIMIT).await;
    for _ in 0..3 {
        expect_accepted(proxy, "ec-a", "app-es").await;
    }

    write_json(&path, &clients_plus(vec![app_new()]));
    let written = Instant::now();
    await_status(
        proxy,
        written,
        RELOAD_LIMIT,
        "ec-b",
        "app-new",
        200,
        "re-created registry",
    )
    .await;
    expect_accepted(proxy, "ec-a", "app-es").await;

    // The watch survived the delete: a further change is still seen.
    write_json(&path, &default_clients());
    let written = Instant::now();
    await_status(
        proxy,
        written,
        RELOAD_LIMIT,
        "ec-b",
        "app-new",
        401,
        "client removed again",
    )
    .await;
}

#[tokio::test]
async fn changed_pem_file_is_picked_up() {
    let _shared = MACHINE.read().await;
    let clients = registry(vec![pkjwt_client(
        "app-file",
        vec![pem_file_credential("keys/app-file.pem")],
    )]);
    // The key file must exist before start: start with a registry without it, then add both.
    let (_up, j) = start_default().await;
    let proxy = j.proxy_addr();
    let key_path = j.dir().join("keys").join("app-file.pem");
    std::fs::write(&key_path, TestKey::load("ec-a").pub_pem()).expect("write key file");
    write_json(&j.dir().join("clients.json"), &clients);
    await_status(
        proxy,
        Instant::now(),
        RELOAD_LIMIT,
        "ec-a",
        "app-file",
        200,
        "pem_file client",
    )
    .await;

    // Only the key file changes: the watcher follows registered key files too.
    std::fs::write(&key_path, TestKey::load("ec-b").pub_pem()).expect("rewrite key file");
    let written = Instant::now();
    await_status(
        proxy,
        written,
        RELOAD_LIMIT,
        "ec-b",
        "app-file",
        200,
        "pem_file rewritten",
    )
    .await;
    expect_refused(proxy, "ec-a", "app-file").await;
}

// ----------------------------------------------------------------------------------------------
// jargate.toml changes
// ----------------------------------------------------------------------------------------------

/// Merges `extra` into the running config file and writes it back in place.
fn edit_config(j: &Jargate, extra: &str) {
    let text = std::fs::read_to_string(j.config_path()).expect("read config");
    let mut table: toml::Table = text.parse().expect("config toml");
    merge_toml(&mut table, extra.parse().expect("extra toml"));
    std::fs::write(j.config_path(), toml::to_string(&table).expect("toml")).expect("write config");
}

#[tokio::test]
async fn config_file_change_is_picked_up_within_one_second() {
    let _shared = MACHINE.read().await;
    let (_up, j) = start_default().await;
    let proxy = j.proxy_addr();
    const ALIAS: &str = "https://auth.example.org/";
    let aliased = || {
        let mut claims = valid_assertion_claims("app-es");
        claims["aud"] = json!(ALIAS);
        Jwt::signed(&TestKey::load("ec-a"), "ES256")
            .claims(claims)
            .build()
    };
    assert_error(&post_token(proxy, &aliased()).await, 401, "invalid_client");

    edit_config(&j, &format!("[issuer]\naliases = [\"{ALIAS}\"]\n"));
    let written = Instant::now();
    let delay = within(written, RELOAD_LIMIT, || async {
        post_token(proxy, &aliased()).await.status == 200
    })
    .await
    .expect("the new issuer alias must be accepted within 1 s");
    println!("config change: in effect after {} ms", delay.as_millis());
}

#[tokio::test]
async fn switching_the_clients_file_watches_the_new_one() {
    let _shared = MACHINE.read().await;
    let (_up, j) = start_default().await;
    let proxy = j.proxy_addr();
    let other = j.dir().join("other.json");
    write_json(&other, &clients_plus(vec![app_new()]));

    edit_config(&j, "[clients]\nfile = \"other.json\"\n");
    await_status(
        proxy,
        Instant::now(),
        RELOAD_LIMIT,
        "ec-b",
        "app-new",
        200,
        "clients.file switched",
    )
    .await;
    // The new file is watched ...
    write_json(&other, &default_clients());
    let written = Instant::now();
    await_status(
        proxy,
        written,
        RELOAD_LIMIT,
        "ec-b",
        "app-new",
        401,
        "new registry file edited",
    )
    .await;
    // ... and the old one no longer matters.
    write_json(
        &j.dir().join("clients.json"),
        &clients_plus(vec![app_new()]),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    expect_refused(proxy, "ec-b", "app-new").await;
}

// ----------------------------------------------------------------------------------------------
// Kubernetes ConfigMap symlink swap
// ----------------------------------------------------------------------------------------------

/// `jargate serve` started on a config laid out as a mounted ConfigMap, killed on drop.
struct MountedJargate {
    child: Child,
    proxy: SocketAddr,
    admin: SocketAddr,
    stderr_path: PathBuf,
    dir: tempfile::TempDir,
}

impl MountedJargate {
    /// Lays out `<dir>/..<first>/{jargate.toml,clients.json}`, `..data -> ..<first>` and the
    /// two top-level links through `..data`, as the kubelet does, then starts jargate on
    /// `<dir>/jargate.toml`.
    async fn start(upstream: SocketAddr, first: &str, clients: &Value) -> MountedJargate {
        let dir = tempfile::tempdir().expect("tempdir");
        let [proxy, admin] = free_addrs();
        let config = format!(
            "[listen]\nproxy = \"{proxy}\"\nadmin = \"{admin}\"\n\n\
             [upstream]\nurl = \"http://{upstream}\"\n\n\
             [issuer]\nidentifier = \"{ISSUER}\"\n\n\
             [clients]\nfile = \"clients.json\"\n"
        );
        let root = dir.path();
        write_version(root, first, &config, clients);
        std::os::unix::fs::symlink(first, root.join("..data")).expect("..data link");
        for name in ["jargate.toml", "clients.json"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), root.join(name)).expect("link");
        }
        let stderr_path = root.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_jargate"))
            .arg("serve")
            .arg("--config")
            .arg(root.join("jargate.toml"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn jargate");
        let mut mounted = MountedJargate {
            child,
            proxy,
            admin,
            stderr_path,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = mounted.child.try_wait() {
                panic!("jargate exited with {status}:\n{}", mounted.stderr());
            }
            let probe = build_request(admin, "GET", "/healthz", &[], b"");
            if let Ok(resp) = try_send_raw(admin, &probe, Duration::from_secs(1)).await {
                if resp.status == 200 {
                    return mounted;
                }
            }
            assert!(
                Instant::now() < deadline,
                "jargate not healthy within 10 s:\n{}",
                mounted.stderr()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// What the kubelet does on an update: new timestamped dir, `..data_tmp` link to it,
    /// atomic rename over `..data`, then the old dir goes.
    fn swap(&self, old: &str, new: &str, clients: &Value) {
        let root = self.dir.path();
        let config = std::fs::read_to_string(root.join("jargate.toml")).expect("read config");
        write_version(root, new, &config, clients);
        std::os::unix::fs::symlink(new, root.join("..data_tmp")).expect("..data_tmp link");
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("swap ..data");
        std::fs::remove_dir_all(root.join(old)).expect("remove old version");
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

/// `<root>/<name>/{jargate.toml,clients.json}`, one version of the mounted ConfigMap.
fn write_version(root: &Path, name: &str, config: &str, clients: &Value) {
    let version = root.join(name);
    std::fs::create_dir(&version).expect("version dir");
    std::fs::write(version.join("jargate.toml"), config).expect("write config");
    write_json(&version.join("clients.json"), clients);
}

impl Drop for MountedJargate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- jargate stderr ----\n{}", self.stderr());
        }
    }
}

#[tokio::test]
async fn configmap_symlink_swap_takes_effect_within_two_seconds() {
    let _shared = MACHINE.read().await;
    let upstream = StubUpstream::start().await;
    let j = MountedJargate::start(upstream.addr(), "..2026_a", &default_clients()).await;
    expect_accepted(j.proxy, "ec-a", "app-es").await;
    expect_refused(j.proxy, "ec-b", "app-new").await;

    j.swap("..2026_a", "..2026_b", &clients_plus(vec![app_new()]));
    let swapped = Instant::now();
    await_status(
        j.proxy,
        swapped,
        CONFIGMAP_LIMIT,
        "ec-b",
        "app-new",
        200,
        "first ConfigMap swap",
    )
    .await;
    expect_accepted(j.proxy, "ec-a", "app-es").await;

    // The watch follows the new target: a second swap is seen too.
    j.swap("..2026_b", "..2026_c", &default_clients());
    let swapped = Instant::now();
    await_status(
        j.proxy,
        swapped,
        CONFIGMAP_LIMIT,
        "ec-b",
        "app-new",
        401,
        "second ConfigMap swap",
    )
    .await;
    expect_accepted(j.proxy, "ec-a", "app-es").await;
    assert!(reloads(j.admin, "ok").await >= 2.0);
}

// ----------------------------------------------------------------------------------------------
// SIGHUP
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn sighup_reloads_without_any_file_change_and_the_process_lives_on() {
    let _shared = MACHINE.read().await;
    let (_up, mut j) = start_default().await;
    let admin = j.admin_addr();
    let before = reloads(admin, "ok").await;
    for n in 1..=2 {
        signal(j.pid(), "HUP");
        let sent = Instant::now();
        let now_ok = await_reloads(admin, "ok", before + f64::from(n - 1), RELOAD_LIMIT).await;
        println!(
            "SIGHUP #{n}: reload counted after {} ms",
            sent.elapsed().as_millis()
        );
        assert_eq!(now_ok, before + f64::from(n), "one reload per SIGHUP");
        assert!(j.exit_status().is_none(), "jargate must survive SIGHUP");
    }
    assert_eq!(reloads(admin, "failed").await, 0.0);
    let log = j.stderr_once(|log| log.contains("SIGHUP")).await;
    assert!(log.contains("SIGHUP"), "the cause must be logged:\n{log}");
    expect_accepted(j.proxy_addr(), "ec-a", "app-es").await;
    let health = get(admin, "/healthz").await;
    assert_eq!(health.status, 200);
}

#[tokio::test]
async fn sighup_with_a_broken_registry_keeps_the_last_good_one() {
    let _shared = MACHINE.read().await;
    let (_up, mut j) = start_default().await;
    let admin = j.admin_addr();
    // Break the registry, let the watcher refuse it, then ask again with SIGHUP.
    std::fs::write(j.dir().join("clients.json"), "{\"clients\": [").expect("write");
    let failed = await_reloads(admin, "failed", 0.0, RELOAD_LIMIT).await;
    signal(j.pid(), "HUP");
    await_reloads(admin, "failed", failed, RELOAD_LIMIT).await;
    assert!(j.exit_status().is_none(), "jargate must survive SIGHUP");
    expect_accepted(j.proxy_addr(), "ec-a", "app-es").await;
}

// ----------------------------------------------------------------------------------------------
// Reload storm under load
// ----------------------------------------------------------------------------------------------

/// Target request rate and duration of the load test.
const LOAD_RATE: u64 = 250;
const LOAD_SECS: u64 = 20;
const LOAD_WORKERS: usize = 24;
const REWRITES: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_storm_under_load_fails_no_valid_request() {
    let _exclusive = MACHINE.write().await;
    let test_start = Instant::now();
    let (up, j) = start_default().await;
    let (proxy, admin) = (j.proxy_addr(), j.admin_addr());
    let path = j.dir().join("clients.json");
    let version_a = default_clients();
    let version_b = clients_plus(vec![app_new()]);

    // Pre-signed assertions (fresh jti each, valid for 60 s): signing stays off the clock.
    let total = (LOAD_RATE * LOAD_SECS) as usize;
    let signing = Instant::now();
    let key = TestKey::load("ec-a");
    let signed = || {
        Jwt::signed(&key, "ES256")
            .claims(valid_assertion_claims("app-es"))
            .build()
    };
    let bodies: Arc<Vec<String>> =
        Arc::new((0..total).map(|_| assertion_form(&signed())).collect());
    println!(
        "load: pre-signed {total} ES256 assertions in {} ms",
        signing.elapsed().as_millis()
    );

    let ok_before = reloads(admin, "ok").await;
    let failed_before = reloads(admin, "failed").await;
    let start = Instant::now();
    let period = Duration::from_nanos(1_000_000_000 / LOAD_RATE);
    let deadline = start + Duration::from_secs(LOAD_SECS);

    // The rewriter: 100 in-place rewrites spread over the run, alternating A and B (B last).
    let writer_path = path.clone();
    let (a, b) = (version_a.clone(), version_b.clone());
    let writer = tokio::spawn(async move {
        let every = Duration::from_millis(LOAD_SECS * 1000 / (REWRITES as u64 + 1));
        for n in 0..REWRITES {
            tokio::time::sleep_until((start + every * (n as u32 + 1)).into()).await;
            write_json(&writer_path, if n % 2 == 1 { &b } else { &a });
        }
    });

    // The senders: request i leaves at start + i * period (or as soon as a worker is free).
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let failures: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let mut workers = Vec::new();
    for _ in 0..LOAD_WORKERS {
        let (next, accepted, failures, latencies, bodies) = (
            next.clone(),
            accepted.clone(),
            failures.clone(),
            latencies.clone(),
            bodies.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    return;
                }
                let due = start + period * i as u32;
                if due >= deadline {
                    return;
                }
                tokio::time::sleep_until(due.into()).await;
                let raw = build_request(
                    proxy,
                    "POST",
                    TOKEN,
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    bodies[i].as_bytes(),
                );
                let sent = Instant::now();
                let answer = try_send_raw(proxy, &raw, CALL_TIMEOUT).await;
                latencies.lock().expect("lock").push(sent.elapsed());
                match answer {
                    Ok(resp) if resp.status == 200 => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(resp) => failures.lock().expect("lock").push(format!(
                        "#{i}: {} {}",
                        resp.status,
                        resp.text()
                    )),
                    Err(e) => failures.lock().expect("lock").push(format!("#{i}: {e}")),
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("sender task");
    }
    let elapsed = start.elapsed();
    writer.await.expect("writer task");

    // Let the last rewrite (B) settle, then read the counters.
    let last = Instant::now();
    await_status(
        proxy,
        last,
        RELOAD_LIMIT,
        "ec-b",
        "app-new",
        200,
        "last rewrite",
    )
    .await;
    let ok = reloads(admin, "ok").await - ok_before;
    let failed = reloads(admin, "failed").await - failed_before;
    let failures = failures.lock().expect("lock").clone();
    let accepted = accepted.load(Ordering::Relaxed);
    let sent = accepted + failures.len();
    let rate = sent as f64 / elapsed.as_secs_f64();
    let mut latencies = latencies.lock().expect("lock").clone();
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .map_or(0, |d| d.as_millis())
    };
    println!(
        "load: latency p50 {} ms, p99 {} ms, max {} ms",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
    println!(
        "load: sent {sent} in {:.1} s ({rate:.0}/s), accepted {accepted}, failed {}, \
         {REWRITES} rewrites -> reloads ok {ok}, failed {failed}; test took {:.1} s",
        elapsed.as_secs_f64(),
        failures.len(),
        test_start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} valid requests failed, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(rate >= 200.0, "achieved only {rate:.0} requests/s");
    assert!(ok >= 1.0, "the rewrites must have been reloaded");
    // One extra forwarded request: the final app-new probe.
    assert_eq!(
        up.count(),
        accepted + 1,
        "every accepted request reached the upstream once"
    );
}

/// An operator adds a client whose key lives in a new file and writes the registry first: that
/// version is refused (the key file is missing). Then the key file is written: the files on disk
/// now form a valid configuration, which must take effect within 1 s of that last write. With
/// `keys_dir_watched`, another client's `pem_file` already lives in `keys/`.
async fn key_file_written_after_the_registry(keys_dir_watched: bool) {
    let mut clients = default_clients();
    if keys_dir_watched {
        clients["clients"]
            .as_array_mut()
            .expect("clients")
            .push(pkjwt_client(
                "app-watched",
                vec![pem_file_credential("keys/ec-a.pub.pem")],
            ));
    }
    let (_up, j) = start_with("", clients.clone()).await;
    let (proxy, admin) = (j.proxy_addr(), j.admin_addr());
    clients["clients"]
        .as_array_mut()
        .expect("clients")
        .push(pkjwt_client(
            "app-later",
            vec![pem_file_credential("keys/later.pem")],
        ));
    write_json(&j.dir().join("clients.json"), &clients);
    await_reloads(admin, "failed", 0.0, RELOAD_LIMIT).await;
    expect_accepted(proxy, "ec-a", "app-es").await;

    std::fs::write(
        j.dir().join("keys").join("later.pem"),
        TestKey::load("ec-b").pub_pem(),
    )
    .expect("write key");
    let written = Instant::now();
    await_status(
        proxy,
        written,
        RELOAD_LIMIT,
        "ec-b",
        "app-later",
        200,
        "key file written after the registry",
    )
    .await;
}

#[tokio::test]
async fn key_file_written_after_the_registry_naming_it_is_picked_up() {
    let _shared = MACHINE.read().await;
    key_file_written_after_the_registry(false).await;
}

#[tokio::test]
async fn key_file_written_after_the_registry_in_a_watched_dir_is_picked_up() {
    let _shared = MACHINE.read().await;
    key_file_written_after_the_registry(true).await;
}

#[tokio::test]
async fn request_in_flight_finishes_on_the_version_it_started_with() {
    let _shared = MACHINE.read().await;
    let (up, j) = start_with("", clients_plus(vec![app_new()])).await;
    let (proxy, admin) = (j.proxy_addr(), j.admin_addr());
    let body = assertion_form(&assertion("ec-b", "app-new"));
    let head = format!(
        "POST {TOKEN} HTTP/1.1\r\nHost: {proxy}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(proxy)
        .await
        .expect("connect");
    stream
        .write_all(format!("{head}{first}").as_bytes())
        .await
        .expect("send head and half the body");
    tokio::time::sleep(Duration::from_millis(100)).await;

    // app-new is removed while the request is in flight.
    let ok = reloads(admin, "ok").await;
    write_json(&j.dir().join("clients.json"), &default_clients());
    await_reloads(admin, "ok", ok, RELOAD_LIMIT).await;
    expect_refused(proxy, "ec-b", "app-new").await;

    stream
        .write_all(rest.as_bytes())
        .await
        .expect("send the rest");
    let mut answer = Vec::new();
    tokio::time::timeout(CALL_TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .expect("answer in time")
        .expect("read answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the request started on the version with app-new: {answer}"
    );
    assert_eq!(up.count(), 1);
}
