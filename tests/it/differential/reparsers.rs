//! The Python (urllib.parse + Werkzeug) and Node (qs + body-parser) re-parsers, started once
//! per test as long-running child processes and fed one forwarded request per line. Their
//! packages are pinned in `xtask/src/deps.rs` (Werkzeug, in the venv `cargo xtask test` puts
//! first on `PATH`) and `package-lock.json` (qs, body-parser); a missing one is a failure that
//! names `cargo xtask setup test`, never a skip.

use super::models::View;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub struct Reparser {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Reparser {
    pub fn python() -> Reparser {
        Reparser::start("python", "python3", "reparse.py", "cargo xtask setup test")
    }

    pub fn node() -> Reparser {
        Reparser::start("node", "node", "reparse.mjs", "cargo xtask setup test")
    }

    fn start(name: &'static str, program: &str, script: &str, fix: &str) -> Reparser {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/differential");
        ensure_installed(&dir);
        let mut child = Command::new(program)
            .arg(dir.join(script))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program} for the {name} re-parser: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        if !line.contains("ready") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("the {name} re-parser did not start (run `{fix}`):\n{err}");
        }
        Reparser {
            name,
            child,
            stdin,
            stdout,
        }
    }

    /// Each view this re-parser computes from one raw request.
    pub fn views(&mut self, raw: &[u8]) -> Vec<(String, View)> {
        let line = json!({ "raw": base64::engine::general_purpose::STANDARD.encode(raw) });
        writeln!(self.stdin, "{line}").expect("write to re-parser");
        self.stdin.flush().expect("flush re-parser");
        let mut answer = String::new();
        self.stdout
            .read_line(&mut answer)
            .expect("read from re-parser");
        let answer: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("{} re-parser answered {answer:?}: {e}", self.name));
        if let Some(error) = answer.get("error") {
            panic!(
                "{} re-parser failed on a forwarded request: {error}",
                self.name
            );
        }
        let object = answer.as_object().cloned().unwrap_or_default();
        object
            .into_iter()
            .map(|(stack, v)| (stack, view_from_json(&v)))
            .collect()
    }
}

impl Drop for Reparser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails, with the command that installs them, when the re-parsers' packages are missing.
fn ensure_installed(dir: &Path) {
    let has_werkzeug = Command::new("python3")
        .args(["-c", "import werkzeug"])
        .status()
        .unwrap_or_else(|e| panic!("python3 is not installed (run `cargo xtask setup test`): {e}"))
        .success();
    assert!(
        has_werkzeug,
        "Werkzeug is missing for the differential tests: run them with `cargo xtask test`, or \
         run `cargo xtask setup test` and put target/xtask-python/bin first on PATH"
    );
    assert!(
        dir.join("node_modules").is_dir(),
        "tests/it/differential/node_modules is missing: run `cargo xtask setup test`"
    );
}

fn view_from_json(v: &Value) -> View {
    let params: BTreeMap<String, Vec<String>> = v["params"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, vals)| {
                    let vals = vals
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    (k.clone(), vals)
                })
                .collect()
        })
        .unwrap_or_default();
    View {
        path: v["path"].as_str().unwrap_or_default().to_owned(),
        params,
        client: v["client"].as_str().map(str::to_owned),
        case_insensitive: false,
        partial: false,
    }
}
