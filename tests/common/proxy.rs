//! The proxy under test: the real `jargate` binary ([`Jargate`]), started on free loopback ports
//! with a generated `jargate.toml` and `clients.json` in a temp dir, killed on drop; at drop it
//! also checks that no secret and no token reached its logs.

use super::{default_clients, free_ports, issued_tokens, try_send_raw, StubUpstream, ISSUER};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A running `jargate serve` child process, killed on drop.
pub struct Jargate {
    child: Child,
    proxy: SocketAddr,
    admin: SocketAddr,
    config_path: PathBuf,
    stderr_path: PathBuf,
    /// Strings that must never appear in the proxy's stderr (see [`Jargate::forbid_in_logs`]).
    forbidden: Mutex<Vec<String>>,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    dir: tempfile::TempDir,
}

/// `N` distinct free loopback addresses ([`free_ports`]), for the listeners of a proxy.
pub fn free_addrs<const N: usize>() -> [SocketAddr; N] {
    free_ports().map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Path of the checked-in test keys.
pub fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("keys")
}

/// Deep-merge `extra` into `base`: tables merge recursively, other values replace.
pub fn merge_toml(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge_toml(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Jargate {
    /// Start jargate in front of `upstream`. `extra_toml` is merged into the base config (so it
    /// may re-open `[issuer]`, `[limits]`, ... without duplicating tables); `clients` is written
    /// as `clients.json`. `tests/keys/*` is copied to `<dir>/keys/` so `pem_file: "keys/x.pem"`
    /// works. Panics (with the proxy's stderr) if it is not healthy within 10 s.
    pub async fn start(upstream: SocketAddr, extra_toml: &str, clients: Value) -> Jargate {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Jargate::try_start(upstream, extra_toml, clients.clone()).await {
                Ok(j) => return j,
                // The free ports are found by bind-and-release; another process may take one
                // in between. Retry that case only.
                Err(e) if attempt < 3 && e.to_ascii_lowercase().contains("in use") => continue,
                Err(e) => panic!("jargate did not start: {e}"),
            }
        }
    }

    pub async fn try_start(
        upstream: SocketAddr,
        extra_toml: &str,
        clients: Value,
    ) -> Result<Jargate, String> {
        Jargate::try_start_with(upstream, extra_toml, clients, &[]).await
    }

    /// [`Jargate::try_start`] with extra arguments for `jargate serve` (e.g. `--log-format json`).
    pub async fn try_start_with(
        upstream: SocketAddr,
        extra_toml: &str,
        clients: Value,
        args: &[&str],
    ) -> Result<Jargate, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let keys = dir.path().join("keys");
        std::fs::create_dir_all(&keys).map_err(|e| format!("mkdir keys: {e}"))?;
        for entry in std::fs::read_dir(keys_dir()).map_err(|e| format!("read keys: {e}"))? {
            let entry = entry.map_err(|e| format!("read keys: {e}"))?;
            std::fs::copy(entry.path(), keys.join(entry.file_name()))
                .map_err(|e| format!("copy key: {e}"))?;
        }

        let [proxy, admin] = free_addrs();
        let base = format!(
            "[listen]\nproxy = \"{proxy}\"\nadmin = \"{admin}\"\n\n\
             [upstream]\nurl = \"http://{upstream}\"\n\n\
             [issuer]\nidentifier = \"{ISSUER}\"\n\n\
             [clients]\nfile = \"clients.json\"\n"
        );
        let mut table: toml::Table = base.parse().map_err(|e| format!("base toml: {e}"))?;
        let extra: toml::Table = extra_toml
            .parse()
            .map_err(|e| format!("extra toml {extra_toml:?}: {e}"))?;
        merge_toml(&mut table, extra);
        let config_text = toml::to_string(&table).map_err(|e| format!("toml: {e}"))?;
        let config_path = dir.path().join("jargate.toml");
        std::fs::write(&config_path, &config_text).map_err(|e| format!("write config: {e}"))?;
        let clients_text =
            serde_json::to_string_pretty(&clients).map_err(|e| format!("clients json: {e}"))?;
        std::fs::write(dir.path().join("clients.json"), clients_text)
            .map_err(|e| format!("write clients: {e}"))?;

        let stderr_path = dir.path().join("stderr.log");
        let stderr_file =
            std::fs::File::create(&stderr_path).map_err(|e| format!("stderr file: {e}"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_jargate"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr_file))
            .spawn()
            .map_err(|e| format!("spawn jargate: {e}"))?;

        let mut jargate = Jargate {
            child,
            proxy,
            admin,
            config_path,
            stderr_path,
            forbidden: Mutex::new(Vec::new()),
            dir,
        };

        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = jargate.child.try_wait() {
                return Err(format!(
                    "jargate exited with {status} before becoming healthy\nconfig:\n{config_text}\nstderr:\n{}",
                    jargate.stderr()
                ));
            }
            let probe =
                format!("GET /healthz HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
            if let Ok(resp) =
                try_send_raw(admin, probe.as_bytes(), Duration::from_millis(1000)).await
            {
                // Healthy, and still our child answering (not something else on that port).
                if resp.status == 200 && matches!(jargate.child.try_wait(), Ok(None)) {
                    return Ok(jargate);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "jargate not healthy within 10 s\nconfig:\n{config_text}\nstderr:\n{}",
                    jargate.stderr()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Everything the proxy wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The proxy's stderr once `logged` holds for it, or as it is after 3 s. Lines reach
    /// stderr a few milliseconds after they are logged (written in batches).
    pub async fn stderr_once(&self, logged: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let text = self.stderr();
            if logged(&text) || Instant::now() > deadline {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Process id of the `jargate` child, e.g. to send it `SIGHUP`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's exit status if it has exited, `None` while it runs.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Registers `secret` (a token, a query value, a password): the test fails if it ever
    /// appears in the proxy's stderr (checked at drop, and by [`Jargate::assert_no_secret_logged`]).
    pub fn forbid_in_logs(&self, secret: impl Into<String>) {
        let secret = secret.into();
        assert!(
            secret.len() >= 8,
            "too short to be a meaningful secret: {secret:?}"
        );
        if let Ok(mut list) = self.forbidden.lock() {
            list.push(secret);
        }
    }

    /// Panics with the offending line if stderr contains any registered secret or any token
    /// the test oracle built.
    pub fn assert_no_secret_logged(&self) {
        let stderr = self.stderr();
        let check = |secret: &str| {
            if let Some(line) = stderr.lines().find(|l| l.contains(secret)) {
                let head: String = secret.chars().take(6).collect();
                panic!("a secret ({head}…) was logged:\n{line}");
            }
        };
        let forbidden = self.forbidden.lock().map(|l| l.clone()).unwrap_or_default();
        forbidden.iter().for_each(|s| check(s));
        issued_tokens().iter().for_each(|s| check(s));
    }
}

impl Drop for Jargate {
    fn drop(&mut self) {
        // On failure, or always with JARGATE_TEST_LOG=1, show what the proxy logged (after a
        // moment: decisions are logged once the response is sent).
        let show = std::thread::panicking() || std::env::var_os("JARGATE_TEST_LOG").is_some();
        if show {
            std::thread::sleep(Duration::from_millis(150));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if show {
            eprintln!("---- jargate stderr ----\n{}", self.stderr());
        }
        if !std::thread::panicking() {
            self.assert_no_secret_logged();
        }
    }
}

/// Sends the signal `name` (`TERM`, `HUP`, ...) to the process `pid`, with kill(1).
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A stub upstream and a jargate in front of it.
pub async fn start_with(extra_toml: &str, clients: Value) -> (StubUpstream, Jargate) {
    let upstream = StubUpstream::start().await;
    let jargate = Jargate::start(upstream.addr(), extra_toml, clients).await;
    (upstream, jargate)
}

/// [`start_with`] the default config and [`default_clients`].
pub async fn start_default() -> (StubUpstream, Jargate) {
    start_with("", default_clients()).await
}
