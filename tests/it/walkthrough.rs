//! The README's walk-through "From the demo to your own IdP", run as it stands: the `sh` block
//! after the `walkthrough` marker is taken from README.md itself (so the README cannot drift)
//! and run by bash in a temp dir, with the real `jargate` on `PATH`, a recording stub upstream
//! in place of "your authorization server", and free ports in place of the README's fixed
//! addresses. keygen → clients.json → check → serve in report mode → sign → curl → the
//! would_reject line → enforce → refused.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MARKER: &str = "<!-- walkthrough:";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The first ```sh block after the marker.
fn readme_script() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let after = &readme[readme.find(MARKER).expect("walkthrough marker in README")..];
    let start = after.find("```sh\n").expect("an sh block after the marker") + 6;
    let len = after[start..].find("```").expect("the block ends");
    after[start..start + len].to_owned()
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() {
    let script = readme_script();
    for address in ["127.0.0.1:8080", "127.0.0.1:9901", "127.0.0.1:3000"] {
        assert!(script.contains(address), "the walk-through names {address}");
    }
    let upstream = StubUpstream::start().await;
    let [proxy, admin] = free_addrs();
    let script = script
        .replace("127.0.0.1:8080", &proxy.to_string())
        .replace("127.0.0.1:9901", &admin.to_string())
        .replace("127.0.0.1:3000", &upstream.addr().to_string());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_jargate"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    // Files, not pipes: the background jargate inherits them and drains for seconds after the
    // script's `kill`; a pipe would stay open that long.
    let out_path = dir.path().join("stdout.txt");
    let err_path = dir.path().join("stderr.txt");
    // Stop the background jargate whatever happens.
    let wrapped =
        format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(&wrapped)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("bash");
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the walk-through did not finish within {SCRIPT_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let log = std::fs::read_to_string(dir.path().join("rollout/jargate.log")).unwrap_or_default();
    let context = format!("stdout:\n{out}\nstderr:\n{err}\njargate.log:\n{log}");
    assert!(
        status.success(),
        "the walk-through failed ({status})\n{context}"
    );

    // 3. check: loads, and says plainly that app-2 is not enforced.
    assert!(out.contains("ok: jargate.toml (1 client"), "{context}");
    assert!(
        out.contains("client \"app-2\" is not enforced (report mode)"),
        "{context}"
    );
    // 6. and 8.: both reached the upstream, as sent; 9. did not.
    assert_eq!(out.matches(STUB_RESPONSE).count(), 2, "{context}");
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen
        .iter()
        .all(|r| r.body_str().contains("client_assertion=")));
    // 7. the would_reject line, with its rule.
    let line = out
        .lines()
        .find(|l| l.contains("outcome=\"would_reject\""))
        .unwrap_or_else(|| panic!("no would_reject line\n{context}"));
    for field in [
        "client_id=\"app-2\"",
        "error=\"invalid_client\"",
        "rule=\"aud_mismatch\"",
        "auth_method=\"private_key_jwt\"",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    // 8. the switch to enforce was reloaded; 9. refused.
    assert!(log.contains("configuration reloaded"), "{context}");
    assert!(
        out.trim_end().ends_with(
            r#"{"error":"invalid_client","error_description":"client assertion aud does not name this authorization server"}"#
        ),
        "{context}"
    );
}
