//! What the end-to-end tests (`tests/e2e.rs`, `tests/e2e_django.rs`) share: child processes
//! killed on drop, `jargate check` and `jargate serve` on a generated configuration, waiting,
//! and the tail of a log. Each test binary includes this file with `#[path]`.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};

use serde_json::{json, Value};
use std::thread;
use std::time::{Duration, Instant};

pub const JARGATE_HEALTHY_TIMEOUT: Duration = Duration::from_secs(20);

/// Child processes killed (and reaped) on drop, also when the test panics.
#[derive(Default)]
pub struct Children(Vec<(&'static str, Child)>);

impl Children {
    pub fn add(&mut self, name: &'static str, child: Child) {
        self.0.push((name, child));
    }

    /// The exit status of the named child, if it has exited.
    pub fn exited(&mut self, name: &str) -> Option<ExitStatus> {
        let (_, child) = self.0.iter_mut().find(|(n, _)| *n == name)?;
        child.try_wait().ok().flatten()
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in self.0.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `jargate check` must accept the generated configuration (SPEC §2). `scrub` names variables
/// removed from the inherited environment before `environment` is applied.
pub fn check_jargate_config(config: &Path, environment: &[(&'static str, String)], scrub: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_jargate"))
        .arg("check")
        .arg("--config")
        .arg(config)
        .env_remove(scrub)
        .envs(environment.iter().map(|(name, value)| (name, value)))
        .output()
        .expect("run jargate check");
    assert!(
        output.status.success(),
        "jargate check refused the generated configuration ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts `jargate serve` (its log in `workdir/jargate.log`) and waits for its admin /healthz
/// to answer 200.
pub fn start_jargate(
    children: &mut Children,
    workdir: &Path,
    config: &Path,
    environment: &[(&'static str, String)],
    scrub: &str,
    admin_port: u16,
) {
    let log_path = workdir.join("jargate.log");
    let log = File::create(&log_path).expect("jargate.log");
    let child = Command::new(env!("CARGO_BIN_EXE_jargate"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env_remove(scrub)
        .envs(environment.iter().map(|(name, value)| (name, value)))
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("spawn jargate");
    children.add("jargate", child);

    let deadline = Instant::now() + JARGATE_HEALTHY_TIMEOUT;
    loop {
        if let Some(status) = children.exited("jargate") {
            panic!(
                "jargate exited ({status}) before it was healthy; its log:\n{}\nconfig:\n{}",
                read_log(&log_path),
                fs::read_to_string(config).unwrap_or_default()
            );
        }
        if http_status(admin_port, "/healthz") == Some(200) {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "jargate's /healthz on 127.0.0.1:{admin_port} not 200 within \
                 {JARGATE_HEALTHY_TIMEOUT:?}; its log:\n{}",
                read_log(&log_path)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Status code of a plain GET on a loopback port, or None when it cannot be had.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1)?.parse().ok()
}

/// With `JARGATE_E2E_KEEP=1`, the work dir (configs, logs, keys) survives the test for a look.
pub fn keep_workdir_if_asked(workdir: tempfile::TempDir) {
    if std::env::var_os("JARGATE_E2E_KEEP").is_some_and(|value| value == "1") {
        println!("work dir kept: {}", workdir.keep().display());
    }
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a client script (`command`, named `name` in messages) with its output in
/// `workdir/flow.stdout` and `flow.stderr`; returns the JSON object of its last line with the
/// script's `exit_status`, or `{"ok": false, "error": …}` when it timed out or printed none.
pub fn run_client_script(
    mut command: Command,
    name: &str,
    workdir: &Path,
    timeout: Duration,
) -> Value {
    let stdout_path = workdir.join("flow.stdout");
    let stderr_path = workdir.join("flow.stderr");
    let mut child = command
        .stdout(File::create(&stdout_path).expect("flow.stdout"))
        .stderr(File::create(&stderr_path).expect("flow.stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let status = wait_with_timeout(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    let last_line = stdout.lines().rev().find(|line| !line.trim().is_empty());
    match (
        status,
        last_line.and_then(|line| serde_json::from_str(line).ok()),
    ) {
        (Some(status), Some(result)) => {
            let mut result: Value = result;
            result["exit_status"] = json!(status.code());
            result
        }
        (status, _) => json!({
            "ok": false,
            "error": match status {
                None => format!("{name} did not finish within {timeout:?}"),
                Some(status) => format!("{name} printed no JSON result ({status})"),
            },
            "stdout": stdout,
            "stderr": read_log(&stderr_path),
        }),
    }
}

/// The upstream client secret appears in none of the named files of `workdir` (configs, logs,
/// results: README "never in logs").
pub fn assert_secret_in_none_of(workdir: &Path, secret: &str, names: &[&str]) {
    for name in names {
        let text =
            fs::read_to_string(workdir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
        assert!(
            !text.contains(secret),
            "the upstream client secret appears in {name}"
        );
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// A TOML basic string (JSON string syntax is valid TOML for these ASCII values).
pub fn toml_string(value: &str) -> String {
    serde_json::to_string(value).expect("json string")
}

/// The last 60 lines of a log file (logs never contain keys or tokens).
pub fn read_log(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("<{}: {e}>", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}
