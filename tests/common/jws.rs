//! An independent JWS oracle built on `ring`: [`TestKey`] (the key pairs of `tests/keys`) and
//! [`Jwt`], a compact-JWS builder able to produce valid, tampered and malformed tokens, with JWK
//! and RFC 7638 thumbprint helpers. Every token built is remembered: no proxy may ever log one
//! (see [`super::Jargate::assert_no_secret_logged`]).

use super::keys_dir;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Map, Value};
use std::sync::Mutex;

/// Every token [`Jwt::build`] produced in this test binary.
static ISSUED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The tokens built so far.
pub fn issued_tokens() -> Vec<String> {
    ISSUED.lock().map(|l| l.clone()).unwrap_or_default()
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_padded(data: &[u8]) -> String {
    URL_SAFE.encode(data)
}

pub fn b64std(data: &[u8]) -> String {
    STANDARD.encode(data)
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(b64).expect("PEM base64")
}

/// Text of `tests/keys/<file>`.
pub fn key_file(file: &str) -> String {
    std::fs::read_to_string(keys_dir().join(file))
        .unwrap_or_else(|e| panic!("read tests/keys/{file}: {e}"))
}

enum Pair {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A key pair from `tests/keys/<name>.key.pem` with its `<name>.pub.pem`.
pub struct TestKey {
    pub name: String,
    pair: Pair,
    pub_pem: String,
}

impl TestKey {
    pub fn load(name: &str) -> TestKey {
        let der = pem_to_der(&key_file(&format!("{name}.key.pem")));
        let pub_pem = key_file(&format!("{name}.pub.pem"));
        let rng = SystemRandom::new();
        let pair = if let Ok(k) = RsaKeyPair::from_pkcs8(&der) {
            Pair::Rsa(k)
        } else if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
        {
            Pair::P256(k)
        } else if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &der, &rng)
        {
            Pair::P384(k)
        } else if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
            Pair::Ed25519(k)
        } else {
            panic!("tests/keys/{name}.key.pem: unsupported key");
        };
        TestKey {
            name: name.to_owned(),
            pair,
            pub_pem,
        }
    }

    /// The SPKI public key PEM text, exactly as in the file.
    pub fn pub_pem(&self) -> &str {
        &self.pub_pem
    }

    /// Length in bytes of a JWS signature by this key with `alg`.
    pub fn signature_len(&self, alg: &str) -> usize {
        match (&self.pair, alg) {
            (Pair::Rsa(k), _) => k.public().modulus_len(),
            (Pair::P256(_), _) => 64,
            (Pair::P384(_), _) => 96,
            (Pair::Ed25519(_), _) => 64,
        }
    }

    /// JWS signature over `msg`. Panics when `alg` does not fit the key.
    pub fn sign(&self, alg: &str, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("{other} is not an RSA JWS alg"),
                };
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(padding, &rng, msg, &mut sig).expect("RSA sign");
                sig
            }
            Pair::P256(k) => {
                assert_eq!(alg, "ES256", "{} is a P-256 key", self.name);
                k.sign(&rng, msg).expect("ES256 sign").as_ref().to_vec()
            }
            Pair::P384(k) => {
                assert_eq!(alg, "ES384", "{} is a P-384 key", self.name);
                k.sign(&rng, msg).expect("ES384 sign").as_ref().to_vec()
            }
            Pair::Ed25519(k) => {
                assert!(
                    alg == "EdDSA" || alg == "Ed25519",
                    "{} is an Ed25519 key",
                    self.name
                );
                k.sign(msg).as_ref().to_vec()
            }
        }
    }

    /// The public key as a JWK (required members only).
    pub fn jwk(&self) -> Value {
        match &self.pair {
            Pair::Rsa(k) => {
                let c: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                json!({"kty": "RSA", "n": b64url(&c.n), "e": b64url(&c.e)})
            }
            Pair::P256(k) => {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64url(&p[1..33]), "y": b64url(&p[33..65])})
            }
            Pair::P384(k) => {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-384", "x": b64url(&p[1..49]), "y": b64url(&p[49..97])})
            }
            Pair::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(k.public_key().as_ref())})
            }
        }
    }

    /// RFC 7638 thumbprint (SHA-256, base64url) of this key.
    pub fn thumbprint(&self) -> String {
        jwk_thumbprint(&self.jwk())
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the required members, sorted, no whitespace.
pub fn jwk_thumbprint(jwk: &Value) -> String {
    let kty = jwk["kty"].as_str().expect("jwk kty");
    let mut members: Vec<&str> = match kty {
        "RSA" => vec!["e", "kty", "n"],
        "EC" => vec!["crv", "kty", "x", "y"],
        "OKP" => vec!["crv", "kty", "x"],
        other => panic!("unsupported kty {other}"),
    };
    members.sort_unstable();
    let body: Vec<String> = members
        .iter()
        .map(|m| {
            let v = jwk[*m]
                .as_str()
                .unwrap_or_else(|| panic!("jwk member {m} missing"));
            format!(
                "{}:{}",
                serde_json::to_string(m).expect("json"),
                serde_json::to_string(v).expect("json")
            )
        })
        .collect();
    let canonical = format!("{{{}}}", body.join(","));
    b64url(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

enum Signer<'a> {
    Key(&'a TestKey),
    Hmac(Vec<u8>),
    Empty,
}

/// Compact JWS builder. The header starts as `{"alg": alg}`; claims start empty.
pub struct Jwt<'a> {
    signer: Signer<'a>,
    alg: String,
    header: Map<String, Value>,
    raw_header: Option<String>,
    claims: Value,
    raw_claims: Option<String>,
    encoded_payload: Option<String>,
    padded: bool,
}

impl<'a> Jwt<'a> {
    fn with_signer(signer: Signer<'a>, alg: &str) -> Jwt<'a> {
        let mut header = Map::new();
        header.insert("alg".into(), Value::String(alg.to_owned()));
        Jwt {
            signer,
            alg: alg.to_owned(),
            header,
            raw_header: None,
            claims: json!({}),
            raw_claims: None,
            encoded_payload: None,
            padded: false,
        }
    }

    /// Signed by `key` with `alg` (the header's `alg` too).
    pub fn signed(key: &'a TestKey, alg: &str) -> Jwt<'a> {
        Jwt::with_signer(Signer::Key(key), alg)
    }

    /// HMAC-signed (`HS256`/`HS384`/`HS512`) with `secret`.
    pub fn hmac(secret: &[u8], alg: &str) -> Jwt<'a> {
        Jwt::with_signer(Signer::Hmac(secret.to_vec()), alg)
    }

    /// `alg: none`, empty signature part.
    pub fn unsigned() -> Jwt<'a> {
        Jwt::with_signer(Signer::Empty, "none")
    }

    /// Set (or replace) a header member.
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.to_owned(), value);
        self
    }

    /// Use this exact header JSON text.
    pub fn raw_header(mut self, json: &str) -> Self {
        self.raw_header = Some(json.to_owned());
        self
    }

    pub fn claims(mut self, claims: Value) -> Self {
        self.claims = claims;
        self
    }

    pub fn claim(mut self, name: &str, value: Value) -> Self {
        if let Value::Object(m) = &mut self.claims {
            m.insert(name.to_owned(), value);
        }
        self
    }

    /// Use this exact claims JSON text (duplicate members, odd types...).
    pub fn raw_claims(mut self, json: &str) -> Self {
        self.raw_claims = Some(json.to_owned());
        self
    }

    /// Use this exact second segment (signed as is).
    pub fn encoded_payload(mut self, segment: &str) -> Self {
        self.encoded_payload = Some(segment.to_owned());
        self
    }

    /// Base64url WITH `=` padding in every part; the signature covers the padded text.
    pub fn padded(mut self) -> Self {
        self.padded = true;
        self
    }

    pub fn header_json(&self) -> String {
        self.raw_header
            .clone()
            .unwrap_or_else(|| Value::Object(self.header.clone()).to_string())
    }

    pub fn claims_json(&self) -> String {
        self.raw_claims
            .clone()
            .unwrap_or_else(|| self.claims.to_string())
    }

    fn enc(&self, data: &[u8]) -> String {
        if self.padded {
            b64url_padded(data)
        } else {
            b64url(data)
        }
    }

    fn signature_len(&self) -> usize {
        match &self.signer {
            Signer::Key(k) => k.signature_len(&self.alg),
            Signer::Hmac(_) => match self.alg.as_str() {
                "HS384" => 48,
                "HS512" => 64,
                _ => 32,
            },
            Signer::Empty => 0,
        }
    }

    fn encoded_len(&self, bytes: usize) -> usize {
        if self.padded {
            bytes.div_ceil(3) * 4
        } else {
            (bytes * 4).div_ceil(3)
        }
    }

    /// Length of the compact form `build()` would produce.
    pub fn predicted_len(&self) -> usize {
        let h = self.encoded_len(self.header_json().len());
        let p = self
            .encoded_payload
            .as_ref()
            .map(String::len)
            .unwrap_or_else(|| self.encoded_len(self.claims_json().len()));
        h + p + self.encoded_len(self.signature_len()) + 2
    }

    /// The compact serialization.
    pub fn build(&self) -> String {
        let h = self.enc(self.header_json().as_bytes());
        let p = self
            .encoded_payload
            .clone()
            .unwrap_or_else(|| self.enc(self.claims_json().as_bytes()));
        let input = format!("{h}.{p}");
        let sig = match &self.signer {
            Signer::Key(k) => k.sign(&self.alg, input.as_bytes()),
            Signer::Hmac(secret) => {
                let alg = match self.alg.as_str() {
                    "HS384" => ring::hmac::HMAC_SHA384,
                    "HS512" => ring::hmac::HMAC_SHA512,
                    _ => ring::hmac::HMAC_SHA256,
                };
                let key = ring::hmac::Key::new(alg, secret);
                ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
            }
            Signer::Empty => Vec::new(),
        };
        let token = format!("{input}.{}", self.enc(&sig));
        if let Ok(mut issued) = ISSUED.lock() {
            issued.push(token.clone());
        }
        token
    }

    /// Set claim `pad_claim` to a run of `x` so that the token is exactly `target` bytes long;
    /// `None` when no padding length hits it (base64 lengths skip some values).
    pub fn build_with_len(mut self, pad_claim: &str, target: usize) -> Option<String> {
        for n in 0..target {
            self = self.claim(pad_claim, Value::String("x".repeat(n)));
            let len = self.predicted_len();
            if len == target {
                let token = self.build();
                assert_eq!(token.len(), target, "length prediction is wrong");
                return Some(token);
            }
            if len > target {
                return None;
            }
        }
        None
    }
}

/// Split a compact JWT into its parts.
pub fn parts(jwt: &str) -> Vec<String> {
    jwt.split('.').map(str::to_owned).collect()
}

/// Change one character in the middle of the signature part (still valid base64url).
pub fn tamper_signature(jwt: &str) -> String {
    let mut p = parts(jwt);
    let sig = &mut p[2];
    let mid = sig.len() / 2;
    let old = sig.as_bytes()[mid];
    let new = if old == b'A' { 'B' } else { 'A' };
    sig.replace_range(mid..mid + 1, &new.to_string());
    p.join(".")
}

/// Replace the payload with `claims`, keeping header and signature.
pub fn replace_payload(jwt: &str, claims: &Value) -> String {
    let mut p = parts(jwt);
    p[1] = b64url(claims.to_string().as_bytes());
    p.join(".")
}

/// Decode the claims of a compact JWT (test-side, no verification).
pub fn decode_claims(jwt: &str) -> Value {
    let p = parts(jwt);
    let bytes = URL_SAFE_NO_PAD.decode(&p[1]).expect("payload base64url");
    serde_json::from_slice(&bytes).expect("payload json")
}

/// A five-part, JWE-shaped compact token (all parts valid base64url).
pub fn jwe_shaped() -> String {
    let header = b64url(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT"}"#);
    let mut rnd = [0u8; 256];
    SystemRandom::new().fill(&mut rnd).expect("rng");
    format!(
        "{header}.{}.{}.{}.{}",
        b64url(&rnd[..]),
        b64url(&rnd[..12]),
        b64url(&rnd[12..140]),
        b64url(&rnd[140..156])
    )
}
