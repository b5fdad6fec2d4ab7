//! Public keys, parsed once from PEM (SPKI or X.509 certificate) or a JWK, checked (RSA size,
//! curve points), named by their RFC 7638 thumbprint, and ready for `ring` to verify with.

use super::alg::{Alg, KeyKind};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::signature::RsaPublicKeyComponents;
use ring::{agreement, digest, rand::SystemRandom};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Smallest RSA modulus accepted (RFC 7518 §3.3, FAPI 2.0).
pub const MIN_RSA_BITS: usize = 2048;

#[derive(Clone, PartialEq, Eq)]
enum Material {
    /// Big-endian modulus and exponent, without leading zero bytes.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed point `04‖x‖y`.
    Ec {
        kind: KeyKind,
        point: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

/// A verifying key: what the credential's `alg` needs, already decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    material: Material,
    thumbprint: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({:?}, {})", self.kind(), self.thumbprint)
    }
}

impl PublicKey {
    /// Reads a PEM text: `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE`.
    pub fn from_pem(text: &str) -> Result<PublicKey, String> {
        let block = pem::parse(text.trim()).map_err(|e| format!("not a PEM block: {e}"))?;
        match block.tag() {
            "PUBLIC KEY" => Self::from_spki_der(block.contents()),
            "CERTIFICATE" => {
                let (_, cert) = x509_parser::parse_x509_certificate(block.contents())
                    .map_err(|e| format!("bad X.509 certificate: {e}"))?;
                Self::from_spki(cert.public_key())
            }
            "RSA PUBLIC KEY" => Self::from_pkcs1_rsa(block.contents()),
            tag if tag.contains("PRIVATE") => {
                Err("this is a private key; register the public key only".into())
            }
            tag => Err(format!("unsupported PEM block {tag:?}")),
        }
    }

    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, String> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| format!("bad SubjectPublicKeyInfo: {e}"))?;
        Self::from_spki(&spki)
    }

    fn from_spki(spki: &SubjectPublicKeyInfo) -> Result<PublicKey, String> {
        let oid = &spki.algorithm.algorithm;
        let raw: &[u8] = &spki.subject_public_key.data;
        if *oid == OID_PKCS1_RSAENCRYPTION {
            Self::from_pkcs1_rsa(raw)
        } else if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .ok_or("EC key without a named curve")?;
            let kind = if curve == OID_EC_P256 {
                KeyKind::P256
            } else if curve == OID_NIST_EC_P384 {
                KeyKind::P384
            } else {
                return Err(format!("unsupported EC curve {curve}"));
            };
            Self::ec(kind, raw.to_vec())
        } else if *oid == OID_SIG_ED25519 {
            Self::ed25519(raw.to_vec())
        } else {
            Err(format!("unsupported key algorithm {oid}"))
        }
    }

    fn from_pkcs1_rsa(der: &[u8]) -> Result<PublicKey, String> {
        let (_, key) = x509_parser::public_key::RSAPublicKey::from_der(der)
            .map_err(|e| format!("bad RSA public key: {e}"))?;
        Self::rsa(key.modulus.to_vec(), key.exponent.to_vec())
    }

    /// Reads a public JWK (RFC 7517). Private members are refused: they do not belong in a
    /// registry of verifying keys.
    pub fn from_jwk(jwk: &Value) -> Result<PublicKey, String> {
        let obj = jwk.as_object().ok_or("jwk is not a JSON object")?;
        if obj.contains_key("d") || obj.contains_key("p") {
            return Err("jwk holds private key material; register the public key only".into());
        }
        let member = |name: &str| -> Result<Vec<u8>, String> {
            let text = obj
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("jwk has no {name}"))?;
            B64.decode(text)
                .map_err(|_| format!("jwk {name} is not base64url"))
        };
        let kty = obj
            .get("kty")
            .and_then(Value::as_str)
            .ok_or("jwk has no kty")?;
        let crv = obj.get("crv").and_then(Value::as_str);
        match (kty, crv) {
            ("RSA", _) => Self::rsa(member("n")?, member("e")?),
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let (kind, len) = if crv == "P-256" {
                    (KeyKind::P256, 32)
                } else {
                    (KeyKind::P384, 48)
                };
                let (x, y) = (member("x")?, member("y")?);
                if x.len() != len || y.len() != len {
                    return Err(format!("jwk {crv} coordinates must be {len} bytes"));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::ec(kind, point)
            }
            ("OKP", Some("Ed25519")) => Self::ed25519(member("x")?),
            (kty, crv) => Err(format!(
                "unsupported jwk kty {kty:?} crv {:?}",
                crv.unwrap_or("")
            )),
        }
    }

    /// An RSA key from its big-endian modulus and exponent (at least [`MIN_RSA_BITS`]).
    pub(crate) fn rsa(n: Vec<u8>, e: Vec<u8>) -> Result<PublicKey, String> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_length(&n);
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
            ));
        }
        if bits > 8192 {
            return Err(format!(
                "RSA key has {bits} bits; at most 8192 are supported"
            ));
        }
        if e.is_empty() || e.last().is_some_and(|b| b & 1 == 0) {
            return Err("RSA public exponent is invalid".into());
        }
        let thumbprint =
            thumbprint(&json!({"e": B64.encode(&e), "kty": "RSA", "n": B64.encode(&n)}));
        Ok(PublicKey {
            material: Material::Rsa { n, e },
            thumbprint,
        })
    }

    fn ec(kind: KeyKind, point: Vec<u8>) -> Result<PublicKey, String> {
        let curve = match kind {
            KeyKind::P256 => &agreement::ECDH_P256,
            _ => &agreement::ECDH_P384,
        };
        let key = Self::ec_unchecked_point(kind, point)?;
        match &key.material {
            Material::Ec { point, .. } if point_is_on_curve(kind, curve, point) => Ok(key),
            _ => Err(format!("{kind} key is not a valid curve point")),
        }
    }

    /// An EC key whose point is only checked for its form, not yet for being on the curve:
    /// for a key used once, right away, by `ring`'s ECDSA verification, which refuses a point
    /// off the curve itself (no ECDH, and no entry in the remembered points).
    pub(crate) fn ec_unchecked_point(kind: KeyKind, point: Vec<u8>) -> Result<PublicKey, String> {
        let (len, crv) = match kind {
            KeyKind::P256 => (32, "P-256"),
            _ => (48, "P-384"),
        };
        if point.len() != 1 + 2 * len || point.first() != Some(&4) {
            return Err(format!("{crv} key is not an uncompressed point"));
        }
        let (x, y) = point[1..].split_at(len);
        let thumbprint =
            thumbprint(&json!({"crv": crv, "kty": "EC", "x": B64.encode(x), "y": B64.encode(y)}));
        Ok(PublicKey {
            material: Material::Ec { kind, point },
            thumbprint,
        })
    }

    pub(crate) fn ed25519(x: Vec<u8>) -> Result<PublicKey, String> {
        if x.len() != 32 {
            return Err("Ed25519 key must be 32 bytes".into());
        }
        let thumbprint = thumbprint(&json!({"crv": "Ed25519", "kty": "OKP", "x": B64.encode(&x)}));
        Ok(PublicKey {
            material: Material::Ed25519 { x },
            thumbprint,
        })
    }

    pub fn kind(&self) -> KeyKind {
        match &self.material {
            Material::Rsa { .. } => KeyKind::Rsa,
            Material::Ec { kind, .. } => *kind,
            Material::Ed25519 { .. } => KeyKind::Ed25519,
        }
    }

    /// RSA modulus size in bits; 0 for other keys.
    pub fn rsa_bits(&self) -> usize {
        match &self.material {
            Material::Rsa { n, .. } => bit_length(n),
            _ => 0,
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url), the default `kid`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The public JWK, members in RFC 7638 order.
    pub fn to_jwk(&self) -> Value {
        match &self.material {
            Material::Rsa { n, e } => json!({"kty": "RSA", "n": B64.encode(n), "e": B64.encode(e)}),
            Material::Ec { kind, point } => {
                let len = (point.len() - 1) / 2;
                let crv = if *kind == KeyKind::P256 {
                    "P-256"
                } else {
                    "P-384"
                };
                json!({"kty": "EC", "crv": crv, "x": B64.encode(&point[1..1 + len]),
                       "y": B64.encode(&point[1 + len..])})
            }
            Material::Ed25519 { x } => json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(x)}),
        }
    }

    /// Whether `alg` can be used with this key (RS*/PS* need RSA, ES256 P-256, ...).
    pub fn fits(&self, alg: Alg) -> bool {
        alg.key_kind() == self.kind()
    }

    /// Verifies `signature` over `message` with `alg`. The caller has checked `fits(alg)`.
    pub fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Rsa { n, e } => alg.rsa_parameters().is_some_and(|params| {
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, signature)
                    .is_ok()
            }),
            Material::Ec { point, .. } => {
                ring::signature::UnparsedPublicKey::new(alg.verification(), point)
                    .verify(message, signature)
                    .is_ok()
            }
            Material::Ed25519 { x } => {
                ring::signature::UnparsedPublicKey::new(alg.verification(), x)
                    .verify(message, signature)
                    .is_ok()
            }
        }
    }
}

fn strip_leading_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

fn bit_length(n: &[u8]) -> usize {
    match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// `ring` checks a point fully (on the curve, not the identity) when it is used for ECDH; an
/// ephemeral agreement at load time is how we get that check without a second crypto library.
/// It costs two scalar multiplications (tens of µs), and every reload re-reads every key: a
/// point that passed once is remembered (by curve and bytes), so a reload of a registry whose
/// keys did not change repeats none of them. Refused points are not remembered.
fn point_is_on_curve(kind: KeyKind, curve: &'static agreement::Algorithm, point: &[u8]) -> bool {
    let mut key = Vec::with_capacity(point.len() + 1);
    key.push(if kind == KeyKind::P256 { 1 } else { 2 });
    key.extend_from_slice(point);
    let checked = CHECKED_POINTS.get_or_init(Default::default);
    if checked.lock().is_ok_and(|set| set.contains(&key)) {
        return true;
    }
    let rng = SystemRandom::new();
    let Ok(ours) = agreement::EphemeralPrivateKey::generate(curve, &rng) else {
        return false;
    };
    let peer = agreement::UnparsedPublicKey::new(curve, point);
    let valid = agreement::agree_ephemeral(ours, &peer, |_| ()).is_ok();
    if let (true, Ok(mut set)) = (valid, checked.lock()) {
        // Bounded: far above any registry, it only stops a process that loads endless new
        // keys (remote JWK Sets) from growing without end.
        if set.len() >= MAX_CHECKED_POINTS {
            set.clear();
        }
        set.insert(key);
    }
    valid
}

static CHECKED_POINTS: OnceLock<Mutex<HashSet<Vec<u8>>>> = OnceLock::new();
const MAX_CHECKED_POINTS: usize = 1 << 18;

/// RFC 7638: SHA-256 over the required members, sorted, without white space. `serde_json`'s map
/// keeps keys sorted, so `to_string` of the `json!` objects above is the canonical form.
fn thumbprint(required: &Value) -> String {
    B64.encode(digest::digest(
        &digest::SHA256,
        required.to_string().as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29",
            "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        let key = PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key.rsa_bits(), 2048);
    }

    #[test]
    fn private_jwks_and_bad_points_are_refused() {
        let private = json!({"kty":"OKP","crv":"Ed25519","x":"AAAA","d":"AAAA"});
        assert!(PublicKey::from_jwk(&private)
            .unwrap_err()
            .contains("private"));
        // (1, 1) is not on P-256.
        let mut x = vec![0u8; 32];
        x[31] = 1;
        let off_curve = json!({"kty":"EC","crv":"P-256","x": B64.encode(&x), "y": B64.encode(&x)});
        assert!(PublicKey::from_jwk(&off_curve)
            .unwrap_err()
            .contains("valid curve point"));
    }

    #[test]
    fn short_rsa_keys_are_refused() {
        let n = vec![0xffu8; 128];
        let jwk = json!({"kty":"RSA","n": B64.encode(n),"e":"AQAB"});
        assert!(PublicKey::from_jwk(&jwk).unwrap_err().contains("1024 bits"));
    }

    #[test]
    fn pem_keys_of_each_kind_load() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/");
        for (file, kind) in [
            ("rsa-a.pub.pem", KeyKind::Rsa),
            ("rsa-a.cert.pem", KeyKind::Rsa),
            ("ec-a.pub.pem", KeyKind::P256),
            ("ec384-a.pub.pem", KeyKind::P384),
            ("ed-a.pub.pem", KeyKind::Ed25519),
        ] {
            let text = std::fs::read_to_string(format!("{dir}{file}")).unwrap();
            let key = PublicKey::from_pem(&text).unwrap();
            assert_eq!(key.kind(), kind, "{file}");
            let again = PublicKey::from_jwk(&key.to_jwk()).unwrap();
            assert_eq!(again.thumbprint(), key.thumbprint(), "{file}");
        }
        let cert = std::fs::read_to_string(format!("{dir}rsa-a.cert.pem")).unwrap();
        let spki = std::fs::read_to_string(format!("{dir}rsa-a.pub.pem")).unwrap();
        assert_eq!(
            PublicKey::from_pem(&cert).unwrap(),
            PublicKey::from_pem(&spki).unwrap()
        );
        let small = std::fs::read_to_string(format!("{dir}rsa-1024.pub.pem")).unwrap();
        assert!(PublicKey::from_pem(&small).is_err());
        let private = std::fs::read_to_string(format!("{dir}ec-a.key.pem")).unwrap();
        assert!(PublicKey::from_pem(&private)
            .unwrap_err()
            .contains("private key"));
    }
}
