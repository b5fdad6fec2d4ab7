//! Registry load time for a large registry (SPEC §7: a change takes effect within 1 s). A plain
//! program (`harness = false`): `cargo bench --bench registry_load` writes a `clients.json` of
//! `JARGATE_BENCH_CLIENTS` (default 10 000) clients, each with its own ES256 key (a JWK), and
//! times the first load and a reload of the unchanged file, each the best of three runs.

use jargate::config::read_registry;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;
use std::time::{Duration, Instant};

fn main() {
    let clients: usize = std::env::var("JARGATE_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("jargate-registry-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("clients.json");
    std::fs::write(&path, registry(clients).to_string()).expect("write clients.json");

    let time = || {
        let started = Instant::now();
        let registry = read_registry(&path).expect("the registry loads");
        assert_eq!(registry.len(), clients);
        started.elapsed()
    };
    let first = time();
    let reload = (0..3).map(|_| time()).min().unwrap_or(Duration::ZERO);
    println!(
        "registry_load clients={clients} first_load_ms={} reload_ms={}",
        first.as_millis(),
        reload.as_millis()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `clients` clients, each with its own P-256 key as a JWK.
fn registry(clients: usize) -> serde_json::Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let rng = SystemRandom::new();
    let list: Vec<_> = (0..clients)
        .map(|i| {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .expect("generate");
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .expect("parse");
            let point = pair.public_key().as_ref();
            let jwk = json!({"kty": "EC", "crv": "P-256",
                "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])});
            json!({
                "client_id": format!("client-{i}"),
                "token_endpoint_auth_method": "private_key_jwt",
                "client_authentication_methods": {"private_key_jwt": {"credentials": [
                    {"credential_type": "public_key", "jwk": jwk, "alg": "ES256"}]}},
            })
        })
        .collect();
    json!({ "clients": list })
}
