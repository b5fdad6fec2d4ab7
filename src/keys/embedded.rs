//! The one key jargate ever takes from a request: the `jwk` header of a DPoP proof (RFC 9449
//! §4.2). Its own narrow parser, apart from the registry's ([`super::PublicKey::from_jwk`]):
//! public members only (no `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, nor a symmetric `k`), the
//! key type the proof's `alg` needs, RSA of at least 2048 bits. The result is a [`ProofKey`],
//! a type no credential set accepts, so a key a client sent can never pass for a registered
//! one. EC points are checked by `ring` when the signature is verified, not here (a check by
//! ECDH costs two scalar multiplications, and these keys are used once).

use super::alg::{Alg, KeyKind};
use super::public::{PublicKey, MIN_RSA_BITS};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{Map, Value};

/// Members that make a JWK private or symmetric (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof's `jwk` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkFault {
    /// Absent, or not a public key of a supported type (the text says which).
    Invalid(&'static str),
    Private,
    /// The key type is not the one the proof's `alg` needs.
    AlgMismatch,
    TooSmall {
        bits: usize,
    },
}

/// A public key taken from a DPoP proof, with its RFC 7638 thumbprint.
#[derive(Debug, Clone)]
pub struct ProofKey(PublicKey);

impl ProofKey {
    /// Reads `jwk` as the key of a proof signed with `alg`.
    pub fn read(jwk: Option<&Value>, alg: Alg) -> Result<ProofKey, JwkFault> {
        let obj = jwk
            .ok_or(JwkFault::Invalid("is missing"))?
            .as_object()
            .ok_or(JwkFault::Invalid("is not a JSON object"))?;
        if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err(JwkFault::Private);
        }
        let kty = text(obj, "kty").ok_or(JwkFault::Invalid("has no kty"))?;
        let crv = text(obj, "crv");
        let kind = match (kty, crv) {
            ("RSA", _) => KeyKind::Rsa,
            ("EC", Some("P-256")) => KeyKind::P256,
            ("EC", Some("P-384")) => KeyKind::P384,
            ("OKP", Some("Ed25519")) => KeyKind::Ed25519,
            _ => {
                return Err(JwkFault::Invalid(
                    "is not an RSA, P-256, P-384 or Ed25519 key",
                ))
            }
        };
        if kind != alg.key_kind() {
            return Err(JwkFault::AlgMismatch);
        }
        let key = match kind {
            KeyKind::Rsa => {
                let n = member(obj, "n")?;
                let bits = bit_length(&n);
                if bits < MIN_RSA_BITS {
                    return Err(JwkFault::TooSmall { bits });
                }
                PublicKey::rsa(n, member(obj, "e")?)
            }
            KeyKind::P256 | KeyKind::P384 => {
                let (x, y) = (member(obj, "x")?, member(obj, "y")?);
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                PublicKey::ec_unchecked_point(kind, point)
            }
            KeyKind::Ed25519 => PublicKey::ed25519(member(obj, "x")?),
        };
        key.map(ProofKey)
            .map_err(|_| JwkFault::Invalid("is not a valid public key"))
    }

    /// RFC 7638 SHA-256 thumbprint, base64url: what `dpop_jkt` and `cnf.jkt` name.
    pub fn thumbprint(&self) -> &str {
        self.0.thumbprint()
    }

    /// Whether `signature` over `message` verifies as `alg` (whose key type [`ProofKey::read`]
    /// checked).
    pub fn verifies(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        self.0.verify(alg, message, signature)
    }
}

fn text<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v str> {
    obj.get(name).and_then(Value::as_str)
}

fn member(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwkFault> {
    let value = text(obj, name).ok_or(JwkFault::Invalid("lacks a public member"))?;
    B64.decode(value)
        .map_err(|_| JwkFault::Invalid("has a member that is not base64url"))
}

fn bit_length(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pem_jwk(file: &str) -> Value {
        let path = format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).expect("key file");
        PublicKey::from_pem(&text).expect("key").to_jwk()
    }

    #[test]
    fn public_keys_of_each_type_are_read_with_their_thumbprint() {
        for (file, alg) in [
            ("ec-a.pub.pem", Alg::ES256),
            ("ec384-a.pub.pem", Alg::ES384),
            ("ed-a.pub.pem", Alg::EdDSA),
            ("rsa-a.pub.pem", Alg::PS256),
        ] {
            let jwk = pem_jwk(file);
            let key = ProofKey::read(Some(&jwk), alg).expect(file);
            let registered = PublicKey::from_jwk(&jwk).expect(file);
            assert_eq!(key.thumbprint(), registered.thumbprint(), "{file}");
        }
    }

    #[test]
    fn private_members_type_mismatch_and_small_rsa_are_refused() {
        let mut ec = pem_jwk("ec-a.pub.pem");
        for private in PRIVATE_MEMBERS {
            let mut jwk = ec.clone();
            jwk[private] = json!("AAAA");
            assert_eq!(
                ProofKey::read(Some(&jwk), Alg::ES256).unwrap_err(),
                JwkFault::Private,
                "{private}"
            );
        }
        assert_eq!(
            ProofKey::read(Some(&ec), Alg::PS256).unwrap_err(),
            JwkFault::AlgMismatch
        );
        assert_eq!(
            ProofKey::read(Some(&ec), Alg::ES384).unwrap_err(),
            JwkFault::AlgMismatch
        );
        let mut small = pem_jwk("rsa-a.pub.pem");
        small["n"] = json!(B64.encode([0xffu8; 128]));
        assert_eq!(
            ProofKey::read(Some(&small), Alg::PS256).unwrap_err(),
            JwkFault::TooSmall { bits: 1024 }
        );
        let oct = json!({"kty": "oct"});
        assert!(matches!(
            ProofKey::read(Some(&oct), Alg::ES256),
            Err(JwkFault::Invalid(_))
        ));
        ec["x"] = json!("not base64!");
        assert!(matches!(
            ProofKey::read(Some(&ec), Alg::ES256),
            Err(JwkFault::Invalid(_))
        ));
        assert!(matches!(
            ProofKey::read(None, Alg::ES256),
            Err(JwkFault::Invalid("is missing"))
        ));
        assert!(matches!(
            ProofKey::read(Some(&json!("x")), Alg::ES256),
            Err(JwkFault::Invalid(_))
        ));
    }
}
