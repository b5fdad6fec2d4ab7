//! Public keys as SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) DER and `PUBLIC KEY` PEM, for
//! `jargate keygen` and the demo. `ring` hands out raw public key bytes only; the library's
//! [`PublicKey`] gives them back as a JWK, and this module puts them in the structures the
//! `spki` and `pkcs1` crates encode: RSA (RFC 8017 `RSAPublicKey` under `rsaEncryption`), EC
//! P-256/P-384 (RFC 5480) and Ed25519 (RFC 8410). Encoding only: parsing stays in
//! `jargate::keys`.

use crate::keys::PublicKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, UintRef};
use der::pem::LineEnding;
use der::{Encode, EncodePem};
use serde_json::Value;
use spki::{AlgorithmIdentifier, SubjectPublicKeyInfoRef};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

fn member(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("public key has no {name}"))?;
    B64.decode(text)
        .map_err(|_| format!("public key member {name} is not base64url"))
}

fn der_error(e: der::Error) -> String {
    format!("cannot encode the public key: {e}")
}

/// Encodes `key` in a SubjectPublicKeyInfo of `algorithm` (with `parameters`), then `finish`es
/// it (DER bytes or PEM text).
fn with_spki<T>(
    algorithm: ObjectIdentifier,
    parameters: Option<AnyRef<'_>>,
    key: &[u8],
    finish: impl FnOnce(&SubjectPublicKeyInfoRef<'_>) -> der::Result<T>,
) -> Result<T, String> {
    let info = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifier {
            oid: algorithm,
            parameters,
        },
        subject_public_key: BitStringRef::from_bytes(key).map_err(der_error)?,
    };
    finish(&info).map_err(der_error)
}

/// The SubjectPublicKeyInfo of `key`, handed to `finish`.
fn encode<T>(
    key: &PublicKey,
    finish: impl FnOnce(&SubjectPublicKeyInfoRef<'_>) -> der::Result<T>,
) -> Result<T, String> {
    let jwk = key.to_jwk();
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
    let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
    match (kty, crv) {
        ("RSA", _) => {
            let (n, e) = (member(&jwk, "n")?, member(&jwk, "e")?);
            let rsa_key = pkcs1::RsaPublicKey {
                modulus: UintRef::new(&n).map_err(der_error)?,
                public_exponent: UintRef::new(&e).map_err(der_error)?,
            }
            .to_der()
            .map_err(der_error)?;
            with_spki(RSA_ENCRYPTION, Some(AnyRef::NULL), &rsa_key, finish)
        }
        ("EC", "P-256" | "P-384") => {
            let curve = if crv == "P-256" { P256 } else { P384 };
            let mut point = vec![4];
            point.extend(member(&jwk, "x")?);
            point.extend(member(&jwk, "y")?);
            with_spki(EC_PUBLIC_KEY, Some((&curve).into()), &point, finish)
        }
        ("OKP", "Ed25519") => with_spki(ED25519, None, &member(&jwk, "x")?, finish),
        _ => Err(format!("cannot encode a {kty} {crv} public key")),
    }
}

/// The SubjectPublicKeyInfo DER of `key`.
pub fn spki_der(key: &PublicKey) -> Result<Vec<u8>, String> {
    encode(key, |info| info.to_der())
}

/// `-----BEGIN PUBLIC KEY-----` PEM text of `key`.
pub fn spki_pem(key: &PublicKey) -> Result<String, String> {
    encode(key, |info| info.to_pem(LineEnding::LF))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_test_key_round_trips_through_pem() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/");
        for file in [
            "rsa-a.pub.pem",
            "rsa-b.pub.pem",
            "ec-a.pub.pem",
            "ec384-a.pub.pem",
            "ed-a.pub.pem",
        ] {
            let text = std::fs::read_to_string(format!("{dir}{file}")).expect(file);
            let key = PublicKey::from_pem(&text).expect(file);
            let pem = spki_pem(&key).expect(file);
            assert_eq!(PublicKey::from_pem(&pem).expect(file), key, "{file}");
            // The same DER, and the same PEM text, as the tool that made the fixture.
            let fixture = pem::parse(text.trim()).expect(file);
            assert_eq!(spki_der(&key).expect(file), fixture.contents(), "{file}");
            assert_eq!(pem, text, "{file}");
        }
    }

    #[test]
    fn freshly_generated_keys_read_back_as_the_same_key() {
        use crate::jose::sign::SigningKey;
        use crate::keys::Alg;
        use ring::signature::{EcdsaKeyPair, Ed25519KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let p256 = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let p384 = &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING;
        for (alg, pkcs8) in [
            (
                Alg::ES256,
                EcdsaKeyPair::generate_pkcs8(p256, &rng).unwrap(),
            ),
            (
                Alg::ES384,
                EcdsaKeyPair::generate_pkcs8(p384, &rng).unwrap(),
            ),
            (Alg::EdDSA, Ed25519KeyPair::generate_pkcs8(&rng).unwrap()),
        ] {
            let signing = SigningKey::from_pkcs8_der(pkcs8.as_ref(), alg).unwrap();
            let key = signing.public_key();
            let der = spki_der(key).unwrap();
            assert_eq!(&PublicKey::from_spki_der(&der).unwrap(), key, "{alg}");
        }
    }
}
