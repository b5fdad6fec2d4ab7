//! Writes the inputs of the load benchmark (`benches/load.sh`) and of the memory benchmark
//! (`benches/memory.sh`). A plain program (`harness = false`): `cargo bench --bench gen` builds
//! it with the release profile and runs it; without `JARGATE_GEN_DIR` it only says so.
//!
//! ```text
//! JARGATE_GEN_DIR=bench-out/pool           where to write (required)
//! JARGATE_GEN_POOLS=assertion:ES256=200000,request:ES256=50000
//!                                          token pools: kind (assertion|request), alg
//!                                          (RS256 PS256 ES256 EdDSA), how many tokens
//! JARGATE_GEN_TTL=86400                    exp - iat of every token, seconds
//! JARGATE_GEN_CLIENTS=10000                also write clients-10000.json: that many clients,
//!                                          each with one ES256 credential (one shared key)
//! ```
//!
//! Files, one token per line, every `jti` distinct (a fresh random prefix per pool):
//! - `assertion-<ALG>.txt`: token request bodies (`application/x-www-form-urlencoded`) with
//!   a client assertion;
//! - `request-<ALG>.txt`: `/authorize?client_id=...&request=...` request targets;
//! - `<pool>.meta`: `generated_at exp count`, so a caller can reuse a pool still valid;
//! - `clients.json`: the registry of the four benchmark clients (one per algorithm).
//!
//! Signing runs on every core; RSA signing (about 1 ms a token with `ring`) dominates.

mod common;

use common::{authorize_target, token_body, Case};
use jargate::keys::Alg;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let Some(dir) = std::env::var_os("JARGATE_GEN_DIR").map(PathBuf::from) else {
        eprintln!("gen: set JARGATE_GEN_DIR (and JARGATE_GEN_POOLS / JARGATE_GEN_CLIENTS) to write load-test inputs; see benches/gen.rs");
        return;
    };
    if let Err(e) = run(&dir) {
        eprintln!("gen: {e}");
        std::process::exit(1);
    }
}

fn run(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ttl: i64 = env_or("JARGATE_GEN_TTL", "86400")
        .parse()
        .map_err(|_| "JARGATE_GEN_TTL: not a number")?;
    let cases = Case::all();
    let registry = serde_json::to_string_pretty(&common::registry_json(&cases)).unwrap();
    std::fs::write(dir.join("clients.json"), registry).map_err(|e| e.to_string())?;
    for spec in env_or("JARGATE_GEN_POOLS", "")
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let pool = Pool::parse(spec)?;
        let case = Case::new(pool.alg);
        let started = Instant::now();
        pool.write(&case, dir, ttl)?;
        eprintln!(
            "gen: {} {} x{} in {:.1} s",
            pool.kind,
            pool.alg,
            pool.count,
            started.elapsed().as_secs_f64()
        );
    }
    if let Ok(n) = std::env::var("JARGATE_GEN_CLIENTS") {
        let n: usize = n.parse().map_err(|_| "JARGATE_GEN_CLIENTS: not a number")?;
        write_many_clients(dir, n)?;
    }
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

struct Pool {
    kind: &'static str,
    alg: Alg,
    count: u64,
}

impl Pool {
    fn parse(spec: &str) -> Result<Pool, String> {
        let bad = || format!("JARGATE_GEN_POOLS: {spec:?} is not KIND:ALG=COUNT");
        let (name, count) = spec.split_once('=').ok_or_else(bad)?;
        let (kind, alg) = name.split_once(':').ok_or_else(bad)?;
        let kind = match kind {
            "assertion" => "assertion",
            "request" => "request",
            _ => return Err(bad()),
        };
        Ok(Pool {
            kind,
            alg: Alg::parse(alg).ok_or_else(bad)?,
            count: count.trim().parse().map_err(|_| bad())?,
        })
    }

    fn line(&self, case: &Case, jti: &str, iat: i64, exp: i64) -> String {
        if self.kind == "assertion" {
            token_body(&case.assertion(jti, iat, exp))
        } else {
            authorize_target(case.client_id, &case.request_object(jti, iat, exp))
        }
    }

    /// Signs on every core, each thread writing its own part, then joins the parts in order.
    fn write(&self, case: &Case, dir: &Path, ttl: i64) -> Result<(), String> {
        let name = format!("{}-{}", self.kind, self.alg);
        let iat = common::now();
        let exp = iat + ttl;
        let seed = random_seed();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
        let per = self.count.div_ceil(threads);
        let parts: Vec<PathBuf> = (0..threads)
            .map(|t| dir.join(format!(".{name}.part{t}")))
            .collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .enumerate()
                .map(|(t, part)| {
                    let (from, to) = (t as u64 * per, ((t as u64 + 1) * per).min(self.count));
                    scope.spawn(move || -> Result<(), String> {
                        let file = File::create(part).map_err(|e| e.to_string())?;
                        let mut out = BufWriter::new(file);
                        for n in from..to {
                            let line = self.line(case, &common::jti(seed, n), iat, exp);
                            writeln!(out, "{line}").map_err(|e| e.to_string())?;
                        }
                        out.flush().map_err(|e| e.to_string())
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join()
                    .map_err(|_| "a signing thread panicked".to_string())?
            })
        })?;
        let target = dir.join(format!("{name}.txt"));
        let mut out = BufWriter::new(File::create(&target).map_err(|e| e.to_string())?);
        for part in &parts {
            let mut input = File::open(part).map_err(|e| e.to_string())?;
            std::io::copy(&mut input, &mut out).map_err(|e| e.to_string())?;
            std::fs::remove_file(part).map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join(format!("{name}.meta")),
            format!("{iat} {exp} {}\n", self.count),
        )
        .map_err(|e| e.to_string())
    }
}

/// A different `jti` prefix for every pool ever generated.
fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}

/// `clients-<n>.json`: `n` private_key_jwt clients with one ES256 credential each (the same
/// public key, inline PEM, as an exported Auth0 registry would carry it).
fn write_many_clients(dir: &Path, n: usize) -> Result<(), String> {
    let case = Case::new(Alg::ES256);
    let path = dir.join(format!("clients-{n}.json"));
    let mut out = BufWriter::new(File::create(&path).map_err(|e| e.to_string())?);
    let pem = serde_json::to_string(&case.public_pem).unwrap();
    let mut text = String::from("{\"clients\":[\n");
    for i in 0..n {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&format!(
            concat!(
                "{{\"client_id\":\"client-{i:06}\",\"name\":\"Client {i}\",",
                "\"token_endpoint_auth_method\":\"private_key_jwt\",",
                "\"client_authentication_methods\":{{\"private_key_jwt\":{{\"credentials\":[",
                "{{\"credential_type\":\"public_key\",\"name\":\"auth-{i}\",\"alg\":\"ES256\",\"pem\":{pem}}}",
                "]}}}}}}"
            ),
            i = i,
            pem = pem
        ));
    }
    text.push_str("\n]}\n");
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    eprintln!("gen: {} ({n} clients)", path.display());
    Ok(())
}
