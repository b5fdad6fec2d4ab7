//! The demo's stage: a temporary directory with freshly generated keys, a `clients.json` and
//! two `jargate.toml` files (passthrough and legacy), and the jargate processes started from
//! them (this very binary, `serve --config FILE`), each killed when dropped.

use super::http;
use crate::cli::spki::spki_pem;
use crate::jose::sign::SigningKey;
use crate::keys::Alg;
use crate::random;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "demo-app";
pub const ISSUER: &str = "https://login.example.com/";
pub const UPSTREAM_SECRET: &str = "demo-upstream-secret";

/// A directory removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Result<TempDir, String> {
        let suffix = random::hex(&random::bytes::<8>().map_err(|e| e.to_string())?);
        let path = std::env::temp_dir().join(format!("jargate-demo-{suffix}"));
        std::fs::create_dir_all(path.join("keys"))
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The demo client's keys, and one nobody registered.
pub struct Keys {
    /// ES256, registered for client assertions.
    pub assertion: SigningKey,
    /// EdDSA, registered for request objects.
    pub request: SigningKey,
    /// ES256, registered nowhere.
    pub stranger: SigningKey,
}

impl Keys {
    pub fn generate() -> Result<Keys, String> {
        let rng = SystemRandom::new();
        let ec = || -> Result<SigningKey, String> {
            let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| "EC key generation failed".to_string())?;
            SigningKey::from_pkcs8_der(der.as_ref(), Alg::ES256)
        };
        let ed = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "Ed25519 key generation failed".to_string())?;
        Ok(Keys {
            assertion: ec()?,
            request: SigningKey::from_pkcs8_der(ed.as_ref(), Alg::EdDSA)?,
            stranger: ec()?,
        })
    }
}

/// Free loopback ports, found by binding port 0 (all held until every one is chosen).
pub fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("no free loopback port: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the public keys and `clients.json` (one client, one key per use).
pub fn write_registry(dir: &Path, keys: &Keys) -> Result<(), String> {
    write(
        &dir.join("keys/assertion.pub.pem"),
        &spki_pem(keys.assertion.public_key())?,
    )?;
    write(
        &dir.join("keys/request.pub.pem"),
        &spki_pem(keys.request.public_key())?,
    )?;
    let clients = json!({ "clients": [{
        "client_id": CLIENT_ID,
        "name": "jargate demo client",
        "token_endpoint_auth_method": "private_key_jwt",
        "signed_request_object": {
            "required": true,
            "credentials": [{ "name": "demo-jar", "credential_type": "public_key",
                              "pem_file": "keys/request.pub.pem", "alg": "EdDSA" }]
        },
        "client_authentication_methods": { "private_key_jwt": {
            "credentials": [{ "name": "demo-auth", "credential_type": "public_key",
                              "pem_file": "keys/assertion.pub.pem", "alg": "ES256" }]
        }},
        "upstream_client_secret": UPSTREAM_SECRET
    }]});
    let text = serde_json::to_string_pretty(&clients).map_err(|e| e.to_string())?;
    write(&dir.join("clients.json"), &text)
}

/// Writes `NAME.toml` for one jargate instance and returns its path.
pub fn write_config(
    dir: &Path,
    name: &str,
    proxy: SocketAddr,
    admin: SocketAddr,
    upstream: SocketAddr,
    mode: &str,
) -> Result<PathBuf, String> {
    let text = format!(
        "# jargate demo ({mode})\n\
         [listen]\nproxy = \"{proxy}\"\nadmin = \"{admin}\"\n\n\
         [upstream]\nurl = \"http://{upstream}\"\nmode = \"{mode}\"\n\n\
         [issuer]\nidentifier = \"{ISSUER}\"\n\n\
         [clients]\nfile = \"clients.json\"\n"
    );
    let path = dir.join(format!("{name}.toml"));
    write(&path, &text)?;
    Ok(path)
}

/// A running `jargate serve`, killed when dropped.
pub struct Jargate {
    pub name: &'static str,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl Jargate {
    pub fn spawn(
        name: &'static str,
        config: &Path,
        proxy: SocketAddr,
        admin: SocketAddr,
    ) -> Result<Jargate, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let log = config.with_extension("log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(exe)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("cannot start jargate: {e}"))?;
        Ok(Jargate {
            name,
            proxy,
            admin,
            child,
            log,
        })
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `GET /healthz` on the admin port answers 200.
    pub async fn wait_healthy(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "jargate ({}) exited with {status} before it was healthy:\n{}",
                    self.name,
                    self.log()
                ));
            }
            if let Ok(resp) = http::get(self.admin, "/healthz").await {
                if resp.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "jargate ({}) not healthy within {} s:\n{}",
                    self.name,
                    limit.as_secs(),
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Jargate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
