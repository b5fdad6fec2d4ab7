//! The `jargate` command line run as an operator runs it (`check`, `explain`, `sign`, `keygen`,
//! ...), and the configuration directories it reads.

use super::ISSUER;
use serde_json::Value;
use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

/// How one `jargate` command ended.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// stdout, then stderr.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Ran {
    fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The `jargate` binary as a command, with no stdin and no colours.
pub fn jargate_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jargate"));
    command.env("NO_COLOR", "1").stdin(Stdio::null());
    command
}

/// Runs `jargate ARGS` to completion.
pub fn run_jargate<S: AsRef<OsStr>>(args: &[S]) -> Ran {
    jargate_command()
        .args(args)
        .output()
        .expect("run jargate")
        .into()
}

/// A temporary directory holding a `jargate.toml` and a `clients.json`, removed when dropped.
pub struct ConfigDir {
    dir: tempfile::TempDir,
}

impl ConfigDir {
    /// An upstream that is never contacted, the issuer, the clients file, then `extra_toml` as
    /// written (it may add to `[clients]` or open other tables); `clients` as `clients.json`.
    pub fn new(extra_toml: &str, clients: &Value) -> ConfigDir {
        let clients = serde_json::to_string_pretty(clients).expect("clients json");
        ConfigDir::with_text(extra_toml, &clients)
    }

    /// [`ConfigDir::new`] with exactly this `clients.json` text.
    pub fn with_text(extra_toml: &str, clients: &str) -> ConfigDir {
        let config = format!(
            "[upstream]\nurl = \"http://127.0.0.1:9\"\n\n[issuer]\nidentifier = \"{ISSUER}\"\n\n\
             [clients]\nfile = \"clients.json\"\n{extra_toml}"
        );
        ConfigDir::with_files(&config, clients)
    }

    /// Exactly this `jargate.toml` and `clients.json` text.
    pub fn with_files(config: &str, clients: &str) -> ConfigDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("jargate.toml"), config).expect("write jargate.toml");
        std::fs::write(dir.path().join("clients.json"), clients).expect("write clients.json");
        ConfigDir { dir }
    }

    /// The `jargate.toml` path, for `--config`.
    pub fn config(&self) -> String {
        self.dir.path().join("jargate.toml").display().to_string()
    }

    /// `jargate check --config <jargate.toml>`.
    pub fn check(&self) -> Ran {
        run_jargate(&["check", "--config", &self.config()])
    }

    /// `jargate check --config <jargate.toml> --online`.
    pub fn check_online(&self) -> Ran {
        run_jargate(&["check", "--config", &self.config(), "--online"])
    }
}
