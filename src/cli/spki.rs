//! Public keys as SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) DER and `PUBLIC KEY` PEM, for
//! `jargate keygen` and the demo. `ring` hands out raw public key bytes only; the library's
//! [`PublicKey`] gives them back as a JWK, and this module wraps them in the few DER structures
//! needed: RSA (RFC 8017 `RSAPublicKey` under `rsaEncryption`), EC P-256/P-384 (RFC 5480) and
//! Ed25519 (RFC 8410). Encoding only: parsing stays in `jargate::keys`.

use crate::keys::PublicKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::Value;

/// DER object identifiers, content octets only.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;

/// One DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&trimmed);
    tlv(INTEGER, &content)
}

/// A BIT STRING with no unused bits.
fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(BIT_STRING, &content)
}

fn spki(algorithm: Vec<u8>, key: &[u8]) -> Vec<u8> {
    let mut content = tlv(SEQUENCE, &algorithm);
    content.extend(bit_string(key));
    tlv(SEQUENCE, &content)
}

fn member(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("public key has no {name}"))?;
    B64.decode(text)
        .map_err(|_| format!("public key member {name} is not base64url"))
}

/// The SubjectPublicKeyInfo DER of `key`.
pub fn spki_der(key: &PublicKey) -> Result<Vec<u8>, String> {
    let jwk = key.to_jwk();
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
    let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
    match (kty, crv) {
        ("RSA", _) => {
            let mut rsa_key = unsigned_integer(&member(&jwk, "n")?);
            rsa_key.extend(unsigned_integer(&member(&jwk, "e")?));
            let mut algorithm = tlv(OID, RSA_ENCRYPTION);
            algorithm.extend(tlv(NULL, &[]));
            Ok(spki(algorithm, &tlv(SEQUENCE, &rsa_key)))
        }
        ("EC", "P-256" | "P-384") => {
            let curve = if crv == "P-256" { P256 } else { P384 };
            let mut point = vec![4];
            point.extend(member(&jwk, "x")?);
            point.extend(member(&jwk, "y")?);
            let mut algorithm = tlv(OID, EC_PUBLIC_KEY);
            algorithm.extend(tlv(OID, curve));
            Ok(spki(algorithm, &point))
        }
        ("OKP", "Ed25519") => Ok(spki(tlv(OID, ED25519), &member(&jwk, "x")?)),
        _ => Err(format!("cannot encode a {kty} {crv} public key")),
    }
}

/// `-----BEGIN PUBLIC KEY-----` PEM text of `key`.
pub fn spki_pem(key: &PublicKey) -> Result<String, String> {
    let der = spki_der(key)?;
    Ok(pem::encode(&pem::Pem::new("PUBLIC KEY", der)).replace("\r\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_long_form_above_127_bytes() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(unsigned_integer(&[0, 0, 1]), vec![0x02, 1, 1]);
        assert_eq!(unsigned_integer(&[0x80]), vec![0x02, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[]), vec![0x02, 1, 0]);
    }

    #[test]
    fn every_library_test_key_round_trips_through_pem() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/");
        for file in [
            "rsa-a.pub.pem",
            "ec-a.pub.pem",
            "ec384-a.pub.pem",
            "ed-a.pub.pem",
        ] {
            let Ok(text) = std::fs::read_to_string(format!("{dir}{file}")) else {
                continue;
            };
            let key = PublicKey::from_pem(&text).expect(file);
            let again = PublicKey::from_pem(&spki_pem(&key).expect(file)).expect(file);
            assert_eq!(again, key, "{file}");
            // The encoder produces the same DER as the tool that made the fixture.
            let fixture = pem::parse(text.trim()).expect(file);
            assert_eq!(spki_der(&key).expect(file), fixture.contents(), "{file}");
        }
    }
}
