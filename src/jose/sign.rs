//! Signing compact JWS with a private key: for `jargate sign`, the demo, tests and benchmarks.
//! The proxy itself never signs anything.

use crate::keys::{Alg, KeyKind, PublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::Value;

enum Pair {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key bound to one algorithm.
pub struct SigningKey {
    alg: Alg,
    pair: Pair,
    public: PublicKey,
}

impl SigningKey {
    /// Loads a PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`) for `alg`.
    pub fn from_pkcs8_pem(text: &str, alg: Alg) -> Result<SigningKey, String> {
        let block = pem::parse(text.trim()).map_err(|e| format!("not a PEM block: {e}"))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(format!(
                "expected a PKCS#8 PRIVATE KEY block, found {:?}",
                block.tag()
            ));
        }
        Self::from_pkcs8_der(block.contents(), alg)
    }

    pub fn from_pkcs8_der(der: &[u8], alg: Alg) -> Result<SigningKey, String> {
        let bad = |e: ring::error::KeyRejected| format!("key does not fit {alg}: {e}");
        let pair = match alg.key_kind() {
            KeyKind::Rsa => Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(bad)?),
            KeyKind::P256 | KeyKind::P384 => {
                let scheme = if alg == Alg::ES256 {
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let rng = SystemRandom::new();
                Pair::Ecdsa(EcdsaKeyPair::from_pkcs8(scheme, der, &rng).map_err(bad)?)
            }
            KeyKind::Ed25519 => {
                Pair::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(bad)?)
            }
        };
        let public = match &pair {
            Pair::Rsa(p) => {
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = p.public().into();
                let jwk =
                    serde_json::json!({"kty":"RSA","n":B64.encode(&c.n),"e":B64.encode(&c.e)});
                PublicKey::from_jwk(&jwk)?
            }
            Pair::Ecdsa(p) => {
                let point = p.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if alg == Alg::ES256 { "P-256" } else { "P-384" };
                let jwk = serde_json::json!({"kty":"EC","crv":crv,
                    "x":B64.encode(&point[1..1 + len]),"y":B64.encode(&point[1 + len..])});
                PublicKey::from_jwk(&jwk)?
            }
            Pair::Ed25519(p) => {
                let jwk = serde_json::json!({"kty":"OKP","crv":"Ed25519",
                    "x":B64.encode(p.public_key().as_ref())});
                PublicKey::from_jwk(&jwk)?
            }
        };
        Ok(SigningKey { alg, pair, public })
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `header` (with `alg` added when absent) and `claims` into a compact JWS.
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, String> {
        let mut header = header.clone();
        if let Some(obj) = header.as_object_mut() {
            obj.entry("alg").or_insert(Value::from(self.alg.name()));
        }
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = self.sign_bytes(input.as_bytes())?;
        Ok(format!("{input}.{}", B64.encode(signature)))
    }

    /// Signs raw bytes with this key's algorithm.
    pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(p) => {
                let padding: &dyn signature::RsaEncoding = match self.alg {
                    Alg::RS256 => &signature::RSA_PKCS1_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut out = vec![0u8; p.public().modulus_len()];
                p.sign(padding, &rng, message, &mut out)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(out)
            }
            Pair::Ecdsa(p) => p
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
            Pair::Ed25519(p) => Ok(p.sign(message).as_ref().to_vec()),
        }
    }
}
