//! End-to-end test with a second, independent stack: django-oauth-toolkit on Django behind
//! gunicorn (`tests/e2e/django/`) as a real **legacy** IdP, a secret-only authorization server,
//! behind jargate; the client is authlib, whose JWTs joserfc signs (`tests/e2e/django/driver.py`).
//!
//! The IdP knows the client by a client secret only (confidential, authorization code with
//! PKCE, `skip_authorization`); jargate knows it by its private_key_jwt and request-object keys
//! and its `upstream_client_secret`. The driver discovers jargate's augmented RFC 8414 metadata,
//! logs the test user in through Django's login form, pushes a request object (PAR, answered by
//! jargate), follows `/authorize` with the `request_uri` to the redirect with a code, redeems it
//! with authlib's private_key_jwt (jargate swaps the assertion for the secret), calls a protected
//! view and the introspection endpoint with the token, and at last revokes it. A test-only
//! middleware writes what reached Django; the driver checks from it that django-oauth-toolkit
//! saw plain parameters and a client secret only, and that forged, expired and replayed
//! assertions and request objects, refused by jargate, never arrived. A control case shows the
//! IdP alone refuses a client assertion. docs/e2e.md lists the cases.
//!
//! Needs the Python packages of `xtask/src/deps.rs` (`cargo xtask setup test` puts them in the
//! venv `target/xtask-python`, which this test uses when it exists, else `python3` on PATH); the
//! test fails, never skips, without them. Everything runs on loopback ports in a temp dir (the
//! IdP's sqlite database too); all children are killed on drop.
//! Run: `cargo test --test e2e_django` (`-- --nocapture` prints the driver's results,
//! `JARGATE_E2E_KEEP=1` keeps the work dir).

use std::fs::{self, File};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[allow(dead_code)]
#[path = "common/tools.rs"]
mod tools;
use tools::missing_program_message;
#[path = "common/ports.rs"]
mod ports;
use ports::free_ports;
#[path = "common/e2e_run.rs"]
mod e2e_run;
use e2e_run::{
    assert_secret_in_none_of, check_jargate_config, keep_workdir_if_asked, read_json, read_log,
    run_client_script, start_jargate, toml_string, wait_with_timeout, Children,
};

/// The whole test, well under a minute (the IdP's schema migration is most of it).
const TEST_BUDGET: Duration = Duration::from_secs(50);
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
const IDP_READY_TIMEOUT: Duration = Duration::from_secs(15);
const FLOW_TIMEOUT: Duration = Duration::from_secs(30);
/// The cases driver.py reports (each one a step or a refusal; see its `run`).
const CASES: usize = 15;

/// The environment variable that carries the client secret into jargate's clients.json.
const SECRET_VAR: &str = "JARGATE_E2E_UPSTREAM_SECRET";
/// The Python modules the IdP and the driver import.
const MODULES: &str = "django, oauth2_provider, gunicorn, authlib, joserfc, requests";

#[test]
fn django_oauth_toolkit_behind_jargate_legacy_with_authlib() {
    let python = python();
    let started = Instant::now();
    let workdir = tempfile::tempdir().expect("temp dir");
    let mut children = Children::default();
    let result = run(&python, workdir.path(), &mut children);
    // Stop jargate and the IdP first so that their logs are complete.
    drop(children);
    assert_secret_only_in_environment(workdir.path());
    println!("{}", serde_json::to_string_pretty(&result).expect("json"));
    let elapsed = started.elapsed();
    assert!(elapsed < TEST_BUDGET, "the test took {elapsed:?}");
    keep_workdir_if_asked(workdir);
}

/// Runs the IdP, jargate and the driver; returns the driver's result (all cases passed).
fn run(python: &Path, workdir: &Path, children: &mut Children) -> Value {
    let output = driver(python)
        .args(["keys", "--workdir"])
        .arg(workdir)
        .output()
        .expect("run driver.py keys");
    assert!(
        output.status.success(),
        "driver.py keys failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let client = read_json(&workdir.join("client.json"));
    let [proxy_port, admin_port, idp_port] = free_ports();
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let idp = format!("http://127.0.0.1:{idp_port}");

    start_idp(python, workdir, &client, idp_port, children);
    let config = write_jargate_config(workdir, &client, proxy_port, admin_port, &idp, &proxy);
    let environment = vec![(SECRET_VAR, secret(workdir))];
    check_jargate_config(&config, &environment, SECRET_VAR);
    start_jargate(
        children,
        workdir,
        &config,
        &environment,
        SECRET_VAR,
        admin_port,
    );
    wait_for_idp(workdir, idp_port, children);

    let result = run_flow(python, workdir, &proxy, &idp);
    let passed = result["ok"] == true && result["exit_status"] == 0;
    assert!(
        passed,
        "the django-oauth-toolkit flow failed:\n{}\n--- jargate log (tail) ---\n{}\n--- IdP log ---\n{}",
        serde_json::to_string_pretty(&result).expect("json"),
        read_log(&workdir.join("jargate.log")),
        read_log(&workdir.join("idp.log")),
    );
    let cases = result["cases"].as_array().map_or(0, Vec::len);
    assert_eq!(cases, CASES, "number of cases driver.py ran");
    result
}

// ---------------------------------------------------------------------------------------------
// Python side

fn django_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/django")
}

/// The venv of `cargo xtask setup test` when it exists, else `python3` on PATH; either way it
/// must import every module the test needs, or the test fails naming the set-up command.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/xtask-python/bin/python3");
    let python = if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let output = Command::new(&python)
        .args(["-c", &format!("import {MODULES}")])
        .output()
        .unwrap_or_else(|error| panic!("{} ({error})", missing_program_message("python3")));
    assert!(
        output.status.success(),
        "{} cannot import {MODULES} (pinned in xtask/src/deps.rs): run `cargo xtask setup test`, \
         or the whole suite with `cargo xtask test`\n{}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    python
}

fn driver(python: &Path) -> Command {
    let mut command = Command::new(python);
    command
        .arg(django_dir().join("driver.py"))
        .current_dir(django_dir());
    command
}

/// The IdP's environment: its database, request log and secrets, all in the work dir.
fn idp_command(python: &Path, workdir: &Path, client: &Value) -> Command {
    let mut command = Command::new(python);
    command
        .current_dir(django_dir())
        .env("DJANGO_SETTINGS_MODULE", "e2e_idp.settings")
        .env("E2E_DJANGO_DB", workdir.join("idp.sqlite3"))
        .env("E2E_DJANGO_REQUEST_LOG", workdir.join("idp-requests.jsonl"))
        .env("E2E_DJANGO_SECRET_KEY", django_secret_key(workdir))
        .env("E2E_DJANGO_CLIENT_ID", text(client, "/client_id"))
        .env("E2E_DJANGO_REDIRECT_URI", text(client, "/redirect_uri"))
        .env("E2E_DJANGO_USERNAME", text(client, "/username"));
    command
}

/// Creates the database (schema, user, application), then starts gunicorn.
fn start_idp(python: &Path, workdir: &Path, client: &Value, port: u16, children: &mut Children) {
    let log = File::create(workdir.join("idp.log")).expect("idp.log");
    let mut setup = idp_command(python, workdir, client)
        .arg("setup_idp.py")
        .env("E2E_DJANGO_CLIENT_SECRET", secret(workdir))
        .env("E2E_DJANGO_PASSWORD", password(workdir))
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log.try_clone().expect("log handle"))
        .spawn()
        .expect("spawn setup_idp.py");
    let status = wait_with_timeout(&mut setup, SETUP_TIMEOUT);
    if status.is_none() {
        let _ = setup.kill();
        let _ = setup.wait();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "setup_idp.py failed ({status:?}); its log:\n{}",
        read_log(&workdir.join("idp.log"))
    );
    let gunicorn = idp_command(python, workdir, client)
        .args(["-m", "gunicorn", "--workers", "1", "--no-control-socket"])
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .arg("e2e_idp.wsgi:application")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn gunicorn");
    children.add("idp", gunicorn);
}

/// Waits until gunicorn accepts connections (without a request, which the IdP would log).
fn wait_for_idp(workdir: &Path, port: u16, children: &mut Children) {
    let deadline = Instant::now() + IDP_READY_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = children.exited("idp") {
            panic!(
                "gunicorn exited ({status}); its log:\n{}",
                read_log(&workdir.join("idp.log"))
            );
        }
        assert!(
            Instant::now() < deadline,
            "gunicorn not listening within {IDP_READY_TIMEOUT:?}; its log:\n{}",
            read_log(&workdir.join("idp.log"))
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs driver.py flow; its JSON result line with `exit_status`, or a synthetic failure.
fn run_flow(python: &Path, workdir: &Path, proxy: &str, idp: &str) -> Value {
    let mut command = driver(python);
    command
        .args(["flow", "--workdir"])
        .arg(workdir)
        .args(["--proxy", proxy, "--idp", idp, "--request-log"])
        .arg(workdir.join("idp-requests.jsonl"));
    run_client_script(command, "driver.py", workdir, FLOW_TIMEOUT)
}

// ---------------------------------------------------------------------------------------------
// jargate side

/// jargate.toml and clients.json: legacy mode in front of django-oauth-toolkit's endpoints
/// (their trailing slashes included); returns the config path.
fn write_jargate_config(
    workdir: &Path,
    client: &Value,
    proxy_port: u16,
    admin_port: u16,
    idp: &str,
    proxy: &str,
) -> PathBuf {
    // authlib's private_key_jwt puts the URL of the endpoint it calls in `aud` (RFC 7523 allows
    // the token endpoint's URL): the operator lists them as aliases of the issuer.
    let aliases: Vec<String> = ["/o/token/", "/o/par", "/o/introspect/", "/o/revoke_token/"]
        .iter()
        .map(|path| toml_string(&format!("{proxy}{path}")))
        .collect();
    let config = format!(
        r#"# jargate in front of django-oauth-toolkit (generated by tests/e2e_django.rs)
[listen]
proxy = "127.0.0.1:{proxy_port}"
admin = "127.0.0.1:{admin_port}"

[upstream]
url = {idp}
mode = "legacy"
client_auth = "post"

[issuer]
identifier = {proxy}
aliases = [{aliases}]

[paths]
authorize = "/o/authorize/"
par = "/o/par"
token = "/o/token/"
client_auth = ["/o/introspect/", "/o/revoke_token/"]

[clients]
file = "clients.json"
"#,
        idp = toml_string(idp),
        proxy = toml_string(proxy),
        aliases = aliases.join(", "),
    );
    let config_path = workdir.join("jargate.toml");
    fs::write(&config_path, config).expect("write jargate.toml");

    let credential = |name: &str, key: &str| {
        json!({
            "name": name,
            "credential_type": "public_key",
            "pem": fs::read_to_string(text(client, &format!("/{key}/public_pem_file")))
                .expect("read a public key"),
            "alg": text(client, &format!("/{key}/alg")),
        })
    };
    let registry = json!({ "clients": [{
        "client_id": text(client, "/client_id"),
        "name": "jargate e2e client (django-oauth-toolkit)",
        "token_endpoint_auth_method": "private_key_jwt",
        "signed_request_object": {
            "required": true,
            "credentials": [credential("e2e-jar", "jar")],
        },
        "client_authentication_methods": {
            "private_key_jwt": { "credentials": [credential("e2e-auth", "auth")] },
        },
        // From jargate's environment (SPEC §3): the secret is in no file of jargate's.
        "upstream_client_secret": format!("${{{SECRET_VAR}}}"),
    }]});
    fs::write(
        workdir.join("clients.json"),
        serde_json::to_string_pretty(&registry).expect("json"),
    )
    .expect("write clients.json");
    config_path
}

/// The client secret reached jargate through its environment and the IdP through its set-up
/// step only: it appears in none of the configs, logs and results.
fn assert_secret_only_in_environment(workdir: &Path) {
    let names = [
        "jargate.toml",
        "clients.json",
        "jargate.log",
        "idp.log",
        "idp-requests.jsonl",
        "flow.stdout",
        "flow.stderr",
    ];
    assert_secret_in_none_of(workdir, &secret(workdir), &names);
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The IdP's client secret (written by driver.py keys).
fn secret(workdir: &Path) -> String {
    read_text(&workdir.join("keys/upstream-client-secret.txt"))
}

/// The test user's password (written by driver.py keys).
fn password(workdir: &Path) -> String {
    read_text(&workdir.join("keys/user-password.txt"))
}

/// Django's SECRET_KEY for this run (written by driver.py keys).
fn django_secret_key(workdir: &Path) -> String {
    read_text(&workdir.join("keys/django-secret-key.txt"))
}

fn read_text(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("client.json has no {pointer}"))
        .to_owned()
}
