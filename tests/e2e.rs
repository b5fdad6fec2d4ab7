//! End-to-end test: a real authorization server (oidc-provider, `tests/e2e/provider.mjs`) behind
//! jargate, driven by a real relying party (openid-client, `tests/e2e/flow.mjs`) configured for
//! PAR, JAR (by value too) and private_key_jwt; parameters outside a request object (stripped
//! unless identical); and negative cases (tampered request object, replayed client assertion,
//! missing request object) that jargate must refuse with its SPEC §6 errors before the provider
//! sees them; and, in passthrough, a DPoP-bound token (`token_type` DPoP, `cnf.jkt` = the
//! client's key thumbprint) whose replayed proof jargate refuses (`dpop_flow`). The case list and results are in flow.mjs's JSON line.
//!
//! Two scenarios (SPEC §1):
//! - `passthrough`: the provider knows JAR, PAR and private_key_jwt itself (provider `native`).
//! - `legacy`: the provider knows none of them, only a client secret (provider `legacy`, with
//!   client_secret_post, or client_secret_basic with `upstream.client_auth = "basic"`). jargate
//!   answers PAR itself, expands `request_uri` and request objects into plain queries, and swaps
//!   client assertions for the client's `upstream_client_secret`, given to jargate as
//!   `${JARGATE_E2E_UPSTREAM_SECRET}` in clients.json. openid-client is configured from
//!   discovery alone: jargate adds its PAR endpoint, request objects, algorithms and
//!   private_key_jwt to the provider's document (`legacy.discovery`). flow.mjs also checks
//!   what the provider received (plain `/authorize` queries; a secret, no assertion, at the
//!   token endpoint) and that a `request_uri` redeemed twice is refused by jargate.
//!
//! The `*_without_jargate` tests run the flows against the provider directly: controls that
//! separate harness problems from jargate problems (the legacy one: a plain secret flow works and
//! JAR, PAR and client assertions are refused, so success through jargate is its translation).
//!
//! Needs node (>= 20) and npm; `tests/e2e/node_modules` is installed with `npm ci` when missing.
//! Everything runs on loopback ports in a temp dir; all children are killed on drop.
//! Run: `cargo test --test e2e` (add `-- --nocapture` to see the flow's JSON results, and
//! `JARGATE_E2E_KEEP=1` to keep the work dir with the configs and logs).

use std::fs::{self, File};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

// Modules of the shared harness that stand alone: the "not installed" message (the rest of
// tools.rs is not used here), the free ports, and what both end-to-end tests share.
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

/// The whole test, npm install excepted, must stay well under a minute.
const TEST_BUDGET: Duration = Duration::from_secs(50);
const PROVIDER_READY_TIMEOUT: Duration = Duration::from_secs(15);
const FLOW_TIMEOUT: Duration = Duration::from_secs(30);
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(300);

/// The environment variable that carries the legacy client secret into jargate's clients.json.
const SECRET_VAR: &str = "JARGATE_E2E_UPSTREAM_SECRET";

/// One combination of jargate mode and provider configuration.
struct Scenario {
    jargate_mode: &'static str,
    /// provider.mjs and flow.mjs `--mode`.
    provider_mode: &'static str,
    /// Legacy only: jargate's `upstream.client_auth`, also provider.mjs's and flow.mjs's
    /// `--client-auth` (the one secret method the provider accepts).
    client_auth: &'static str,
    /// Cases flow.mjs must report through jargate, and directly (the control).
    cases_via_jargate: usize,
    cases_direct: usize,
}

const PASSTHROUGH: Scenario = Scenario {
    jargate_mode: "passthrough",
    provider_mode: "native",
    client_auth: "post",
    cases_via_jargate: 8,
    cases_direct: 6,
};

const LEGACY_POST: Scenario = Scenario {
    jargate_mode: "legacy",
    provider_mode: "legacy",
    client_auth: "post",
    cases_via_jargate: 8,
    cases_direct: 4,
};

const LEGACY_BASIC: Scenario = Scenario {
    client_auth: "basic",
    ..LEGACY_POST
};

impl Scenario {
    fn legacy(&self) -> bool {
        self.jargate_mode == "legacy"
    }
}

#[test]
fn passthrough_flows_through_jargate() {
    run_through_jargate(&PASSTHROUGH);
}

#[test]
fn legacy_flows_through_jargate_with_client_secret_post() {
    run_through_jargate(&LEGACY_POST);
}

#[test]
fn legacy_flows_through_jargate_with_client_secret_basic() {
    run_through_jargate(&LEGACY_BASIC);
}

#[test]
fn flows_work_without_jargate() {
    run_without_jargate(&PASSTHROUGH);
}

#[test]
fn legacy_provider_works_without_jargate() {
    run_without_jargate(&LEGACY_POST);
}

fn run_without_jargate(scenario: &Scenario) {
    ensure_node_modules();
    let started = Instant::now();
    let workdir = tempfile::tempdir().expect("temp dir");
    let mut children = Children::default();
    generate_keys(workdir.path());
    let [provider_port] = free_ports();
    let provider_url = format!("http://127.0.0.1:{provider_port}");
    let issuer = start_provider(
        &mut children,
        workdir.path(),
        scenario,
        provider_port,
        &provider_url,
    );
    let flow = run_flow(workdir.path(), scenario, &issuer, &provider_url, "direct");
    assert_flow_passed(&flow, workdir.path(), scenario.cases_direct);
    assert_within_budget(started);
    keep_workdir_if_asked(workdir);
}

fn run_through_jargate(scenario: &Scenario) {
    ensure_node_modules();
    let started = Instant::now();
    let workdir = tempfile::tempdir().expect("temp dir");
    let mut children = Children::default();
    generate_keys(workdir.path());

    // The provider's issuer is jargate's proxy address: clients reach it through jargate, which
    // forwards the Host header unchanged.
    let [proxy_port, admin_port, provider_port] = free_ports();
    let provider_url = format!("http://127.0.0.1:{provider_port}");
    let issuer = start_provider(
        &mut children,
        workdir.path(),
        scenario,
        provider_port,
        &format!("http://127.0.0.1:{proxy_port}"),
    );

    let config = write_jargate_config(
        workdir.path(),
        scenario,
        proxy_port,
        admin_port,
        &provider_url,
        &issuer,
    );
    let environment = jargate_environment(workdir.path(), scenario);
    check_jargate_config(&config, &environment, SECRET_VAR);
    start_jargate(
        &mut children,
        workdir.path(),
        &config,
        &environment,
        SECRET_VAR,
        admin_port,
    );

    let flow = run_flow(workdir.path(), scenario, &issuer, &provider_url, "jargate");
    assert_flow_passed(&flow, workdir.path(), scenario.cases_via_jargate);
    if scenario.legacy() {
        // Stop jargate and the provider first so that their logs are complete.
        drop(children);
        assert_secret_only_in_environment(workdir.path());
    }
    assert_within_budget(started);
    keep_workdir_if_asked(workdir);
}

/// RFC 8705 end to end: Node's TLS stack presents a certificate (issued here by a test CA) to
/// jargate's `listen.mtls`; jargate authenticates the tls_client_auth client by subject DN and
/// forwards the certificate as RFC 9440 `Client-Cert`; oidc-provider (`--mode mtls`) issues a
/// certificate-bound token whose `cnf.x5t#S256` is the certificate's SHA-256 thumbprint. The
/// same request without a certificate is refused by jargate and never reaches the provider.
#[test]
fn mtls_certificate_bound_token_through_jargate() {
    ensure_node_modules();
    let started = Instant::now();
    let workdir = tempfile::tempdir().expect("temp dir");
    let mut children = Children::default();
    generate_keys(workdir.path());
    let leaf_der = write_mtls_client(workdir.path());

    let [proxy_port, admin_port, provider_port, mtls_port] = free_ports();
    let provider_url = format!("http://127.0.0.1:{provider_port}");
    let scenario = Scenario {
        provider_mode: "mtls",
        ..PASSTHROUGH
    };
    let issuer = start_provider(
        &mut children,
        workdir.path(),
        &scenario,
        provider_port,
        &format!("https://localhost:{mtls_port}"),
    );
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    let config = format!(
        "[listen]\nproxy = \"127.0.0.1:{proxy_port}\"\nadmin = \"127.0.0.1:{admin_port}\"\n\
         mtls = \"127.0.0.1:{mtls_port}\"\nmtls_cert = {}\nmtls_key = {}\n\
         client_ca_file = \"keys/mtls-ca.cert.pem\"\n\n[upstream]\nurl = {}\n\n\
         [issuer]\nidentifier = {}\n\n[clients]\nfile = \"clients.json\"\n",
        toml_string(&keys.join("tls-a.cert.pem").display().to_string()),
        toml_string(&keys.join("tls-a.key.pem").display().to_string()),
        toml_string(&provider_url),
        toml_string(&issuer),
    );
    let config_path = workdir.path().join("jargate.toml");
    fs::write(&config_path, config).expect("write jargate.toml");
    let registry = json!({"clients": [{
        "client_id": MTLS_CLIENT,
        "token_endpoint_auth_method": "tls_client_auth",
        "client_authentication_methods": {"tls_client_auth": {"credentials": [
            {"credential_type": "cert_subject_dn", "subject_dn": MTLS_SUBJECT}]}},
    }]});
    fs::write(
        workdir.path().join("clients.json"),
        serde_json::to_string_pretty(&registry).expect("json"),
    )
    .expect("write clients.json");
    check_jargate_config(&config_path, &[], SECRET_VAR);
    start_jargate(
        &mut children,
        workdir.path(),
        &config_path,
        &[],
        SECRET_VAR,
        admin_port,
    );

    let output = node("mtls-client.mjs")
        .arg("--workdir")
        .arg(workdir.path())
        .args(["--port", &mtls_port.to_string(), "--ca"])
        .arg(keys.join("tls-ca.cert.pem"))
        .output()
        .expect("run node mtls-client.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "mtls-client.mjs failed: {}{stdout}\njargate log:\n{}\nprovider log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        read_log(&workdir.path().join("jargate.log")),
        read_log(&workdir.path().join("provider.log"))
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("mtls-client.mjs JSON line");
    let thumbprint = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ring::digest::digest(&ring::digest::SHA256, &leaf_der),
    );
    assert_eq!(result["token_status"], 200, "{result}");
    assert_eq!(result["introspection"]["active"], true, "{result}");
    assert_eq!(
        result["introspection"]["cnf"]["x5t#S256"],
        json!(thumbprint),
        "the token is bound to the client certificate: {result}"
    );
    assert_eq!(
        result["without_certificate"],
        json!({"status": 401, "error": "invalid_client"})
    );
    let stats = http_json(provider_port, "/__e2e/requests");
    assert_eq!(stats["counts"]["POST /oauth/token"], 1, "{stats}");
    assert_within_budget(started);
    keep_workdir_if_asked(workdir);
}

const MTLS_CLIENT: &str = "e2e-mtls";
/// The subject as the registry (Auth0's newline form) and Node's X509Certificate write it.
const MTLS_SUBJECT: &str = "C=GB\nO=Bank\nCN=e2e-mtls";

/// A test CA and a client certificate it issued (rcgen), in the work dir; returns the DER.
fn write_mtls_client(workdir: &Path) -> Vec<u8> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(DnType::CommonName, "e2e client CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("client key");
    let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("params");
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name.push(DnType::CountryName, "GB");
    leaf.distinguished_name
        .push(DnType::OrganizationName, "Bank");
    leaf.distinguished_name
        .push(DnType::CommonName, MTLS_CLIENT);
    let cert = leaf
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("client cert");
    let keys = workdir.join("keys");
    fs::create_dir_all(&keys).expect("keys dir");
    fs::write(keys.join("mtls-ca.cert.pem"), ca_cert.pem()).expect("write CA");
    fs::write(keys.join("mtls-client.cert.pem"), cert.pem()).expect("write cert");
    fs::write(keys.join("mtls-client.key.pem"), key.serialize_pem()).expect("write key");
    let description = json!({"client_id": MTLS_CLIENT, "subject_dn": MTLS_SUBJECT});
    fs::write(workdir.join("mtls-client.json"), description.to_string()).expect("write json");
    cert.der().to_vec()
}

// ---------------------------------------------------------------------------------------------
// Node side

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("e2e")
}

/// Installs tests/e2e/node_modules from the lock file once per test binary, if missing.
fn ensure_node_modules() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!("`node --version` failed: {output:?}"),
        Err(error) => panic!("{} ({error})", missing_program_message("node")),
    }
    if e2e_dir().join("node_modules").is_dir() {
        return;
    }
    let child = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(e2e_dir())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            panic!("{}", missing_program_message("npm"))
        }
        Err(error) => panic!("cannot run npm ci in {}: {error}", e2e_dir().display()),
    };
    let status = wait_with_timeout(&mut child, NPM_CI_TIMEOUT)
        .unwrap_or_else(|| panic!("npm ci did not finish within {NPM_CI_TIMEOUT:?}"));
    assert!(
        status.success(),
        "npm ci in {} failed: {status}",
        e2e_dir().display()
    );
}

fn node(script: &str) -> Command {
    let mut command = Command::new("node");
    command.arg(e2e_dir().join(script)).current_dir(e2e_dir());
    command
}

/// keys.mjs: the client's auth and JAR key pairs and client.json, in `workdir`.
fn generate_keys(workdir: &Path) {
    let output = node("keys.mjs")
        .arg("--workdir")
        .arg(workdir)
        .output()
        .expect("run node keys.mjs");
    assert!(
        output.status.success(),
        "keys.mjs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The client description written by keys.mjs.
fn client_description(workdir: &Path) -> Value {
    read_json(&workdir.join("client.json"))
}

/// The legacy client secret keys.mjs wrote (the provider's registered secret).
fn upstream_client_secret(workdir: &Path) -> String {
    let secret = fs::read_to_string(workdir.join("keys/upstream-client-secret.txt"))
        .expect("read the upstream client secret");
    secret.trim().to_owned()
}

/// Starts provider.mjs and returns its issuer, from its ready line.
fn start_provider(
    children: &mut Children,
    workdir: &Path,
    scenario: &Scenario,
    port: u16,
    issuer: &str,
) -> String {
    let log = File::create(workdir.join("provider.log")).expect("provider.log");
    let mut child = node("provider.mjs")
        .arg("--workdir")
        .arg(workdir)
        .args([
            "--mode",
            scenario.provider_mode,
            "--client-auth",
            scenario.client_auth,
            "--port",
            &port.to_string(),
            "--issuer",
            issuer,
        ])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn node provider.mjs");
    let stdout = child.stdout.take().expect("provider stdout");
    children.add("provider", child);

    let (lines, ready) = mpsc::channel();
    // Drains the provider's stdout for its whole life (it logs there too); lines after the
    // ready line have no reader and are dropped.
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + PROVIDER_READY_TIMEOUT;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match ready.recv_timeout(remaining) {
            Ok(line) => {
                if let Ok(message) = serde_json::from_str::<Value>(&line) {
                    if message["ready"] == true {
                        return message["issuer"]
                            .as_str()
                            .expect("issuer in the ready line")
                            .to_owned();
                    }
                }
            }
            Err(_) => panic!(
                "provider.mjs not ready within {PROVIDER_READY_TIMEOUT:?}; its log:\n{}",
                read_log(&workdir.join("provider.log"))
            ),
        }
    }
}

/// Runs flow.mjs and returns its JSON result line (or a synthetic failure).
fn run_flow(
    workdir: &Path,
    scenario: &Scenario,
    issuer: &str,
    provider_url: &str,
    via: &str,
) -> Value {
    let mut command = node("flow.mjs");
    command
        .arg("--workdir")
        .arg(workdir)
        .args(["--issuer", issuer, "--provider", provider_url, "--via", via])
        .args(["--mode", scenario.provider_mode])
        .args(["--client-auth", scenario.client_auth]);
    run_client_script(command, "flow.mjs", workdir, FLOW_TIMEOUT)
}

/// Asserts every case passed, and that there were `expected_cases`; otherwise fails with the
/// results and the servers' logs.
fn assert_flow_passed(flow: &Value, workdir: &Path, expected_cases: usize) {
    let pretty = serde_json::to_string_pretty(flow).expect("json");
    let passed = flow["ok"] == true && flow["exit_status"] == 0;
    if !passed {
        panic!(
            "e2e flow failed:\n{pretty}\n--- jargate log (tail) ---\n{}\n--- provider log ---\n{}",
            read_log(&workdir.join("jargate.log")),
            read_log(&workdir.join("provider.log")),
        );
    }
    println!("{pretty}");
    let cases = flow["cases"].as_array().map_or(0, Vec::len);
    assert_eq!(cases, expected_cases, "number of cases flow.mjs ran");
}

// ---------------------------------------------------------------------------------------------
// jargate side

/// Writes jargate.toml and clients.json (SPEC §3, §4) into `workdir`; returns the config path.
fn write_jargate_config(
    workdir: &Path,
    scenario: &Scenario,
    proxy_port: u16,
    admin_port: u16,
    provider_url: &str,
    issuer: &str,
) -> PathBuf {
    let config = format!(
        r#"# jargate e2e configuration (generated by tests/e2e.rs)
[listen]
proxy = "127.0.0.1:{proxy_port}"
admin = "127.0.0.1:{admin_port}"

[upstream]
url = {provider_url}
mode = "{mode}"
{client_auth}
[issuer]
identifier = {issuer}

[clients]
file = "clients.json"
"#,
        provider_url = toml_string(provider_url),
        mode = scenario.jargate_mode,
        client_auth = if scenario.legacy() {
            format!("client_auth = {}\n", toml_string(scenario.client_auth))
        } else {
            String::new()
        },
        issuer = toml_string(issuer),
    );
    let config_path = workdir.join("jargate.toml");
    fs::write(&config_path, config).expect("write jargate.toml");

    let description = client_description(workdir);
    let text = |pointer: &str| {
        description
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("client.json has no {pointer}"))
            .to_owned()
    };
    let jar_pem = fs::read_to_string(text("/jar/public_pem_file")).expect("read the JAR key");
    let mut client = json!({
        "client_id": text("/client_id"),
        "name": "jargate e2e client",
        "token_endpoint_auth_method": "private_key_jwt",
        "signed_request_object": {
            "required": true,
            // Inline PEM for the JAR key, a file (relative to the config) for the auth key:
            // both forms of SPEC §4 are exercised. No kid: jargate names them by thumbprint,
            // which is the kid the client puts in its JWT headers.
            "credentials": [{
                "name": "e2e-jar",
                "credential_type": "public_key",
                "pem": jar_pem,
                "alg": text("/jar/alg"),
            }],
        },
        "client_authentication_methods": {
            "private_key_jwt": {
                "credentials": [{
                    "name": "e2e-auth",
                    "credential_type": "public_key",
                    "pem_file": "keys/auth.public.pem",
                    "alg": text("/auth/alg"),
                }],
            },
        },
    });
    if scenario.legacy() {
        // Expanded by jargate from its environment (SPEC §3): the secret is in no file of
        // jargate's, and the expansion path of the registry is exercised.
        client["upstream_client_secret"] = json!(format!("${{{SECRET_VAR}}}"));
    }
    let registry = json!({ "clients": [client] });
    fs::write(
        workdir.join("clients.json"),
        serde_json::to_string_pretty(&registry).expect("json"),
    )
    .expect("write clients.json");
    config_path
}

/// The environment jargate needs for the scenario: the legacy secret, for clients.json's
/// `${JARGATE_E2E_UPSTREAM_SECRET}`.
fn jargate_environment(workdir: &Path, scenario: &Scenario) -> Vec<(&'static str, String)> {
    if scenario.legacy() {
        vec![(SECRET_VAR, upstream_client_secret(workdir))]
    } else {
        Vec::new()
    }
}

/// The legacy client secret reached jargate through its environment only, and it appears in none
/// of the logs and results (docs/operations.md: "Nothing secret is logged").
fn assert_secret_only_in_environment(workdir: &Path) {
    let names = [
        "jargate.toml",
        "clients.json",
        "jargate.log",
        "provider.log",
        "flow.stdout",
        "flow.stderr",
    ];
    assert_secret_in_none_of(workdir, &upstream_client_secret(workdir), &names);
}

/// GET `path` on 127.0.0.1:`port` over HTTP/1.0 (never chunked) and parse its JSON body.
fn http_json(port: u16, path: &str) -> Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {response}"))
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn assert_within_budget(started: Instant) {
    let elapsed = started.elapsed();
    assert!(elapsed < TEST_BUDGET, "the e2e test took {elapsed:?}");
}
