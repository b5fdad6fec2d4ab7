//! Fixtures shared by the benchmark programs (`validation`, `gen`, `jti_memory`): the four
//! algorithms with the test keys of `tests/keys/`, one registered client per algorithm, and
//! realistic client assertions and request objects.
//!
//! Each bench target includes this file with `mod common;`; not every target uses every item.
#![allow(dead_code)]

use jargate::jose::sign::SigningKey;
use jargate::keys::Alg;
use serde_json::{json, Value};

/// The issuer identifier (`aud`) of every generated token and configuration.
pub const ISSUER: &str = "https://login.example.com/";

/// RFC 7523 assertion type, percent-encoded as a client sends it in a form.
pub const ASSERTION_TYPE_FORM: &str =
    "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// The keys the test suite ships (PKCS#8 private, SPKI public).
pub fn key_path(name: &str) -> String {
    format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    let path = key_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One algorithm under test: its signing key, its public key and the client registered for it.
pub struct Case {
    pub alg: Alg,
    pub key: SigningKey,
    /// SPKI PEM text of the public key.
    pub public_pem: String,
    /// File name (in `tests/keys/`) of the public key or certificate.
    pub public_file: &'static str,
    pub client_id: &'static str,
}

impl Case {
    pub fn new(alg: Alg) -> Case {
        let (private, public, client_id) = match alg {
            Alg::RS256 => ("rsa-a.key.pem", "rsa-a.pub.pem", "bench-rs256"),
            Alg::PS256 => ("rsa-a.key.pem", "rsa-a.pub.pem", "bench-ps256"),
            Alg::ES256 => ("ec-a.key.pem", "ec-a.pub.pem", "bench-es256"),
            Alg::EdDSA => ("ed-a.key.pem", "ed-a.pub.pem", "bench-eddsa"),
            other => panic!("no benchmark key for {other}"),
        };
        let key = SigningKey::from_pkcs8_pem(&read(private), alg)
            .unwrap_or_else(|e| panic!("{private}: {e}"));
        Case {
            alg,
            key,
            public_pem: read(public),
            public_file: public,
            client_id,
        }
    }

    /// The four algorithms of the benchmarks, in report order.
    pub fn all() -> Vec<Case> {
        [Alg::RS256, Alg::PS256, Alg::ES256, Alg::EdDSA]
            .into_iter()
            .map(Case::new)
            .collect()
    }

    /// The `kid` jargate derives for the registered key (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        self.key.public_key().thumbprint()
    }

    /// A client assertion (RFC 7523 §3) as a typical client library builds it: `alg` and
    /// `kid` in the header; `iss`, `sub`, `aud`, `jti`, `iat`, `exp` claims.
    pub fn assertion(&self, jti: &str, iat: i64, exp: i64) -> String {
        let header = json!({ "kid": self.kid(), "typ": "JWT" });
        let claims = json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": ISSUER,
            "jti": jti,
            "iat": iat,
            "exp": exp,
        });
        self.key.sign(&header, &claims).expect("signing")
    }

    /// A request object (RFC 9101) for an OpenID Connect code flow with PKCE, the size a
    /// FAPI-style client sends (about 1 KB compact for ES256).
    pub fn request_object(&self, jti: &str, iat: i64, exp: i64) -> String {
        let header = json!({ "kid": self.kid(), "typ": "oauth-authz-req+jwt" });
        let claims = json!({
            "iss": self.client_id,
            "aud": ISSUER,
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": "https://app.example.com/callback",
            "scope": "openid profile email offline_access",
            "state": "af0ifjsldkj-Q8bWmXn2ZqHvT3",
            "nonce": "n-0S6_WzA2Mj-7c1e9a4f",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "jti": jti,
            "iat": iat,
            "nbf": iat,
            "exp": exp,
        });
        self.key.sign(&header, &claims).expect("signing")
    }

    /// This client's entry of `clients.json`: the same key for assertions and request objects
    /// (`jargate check` warns about that; it does not change what a request costs).
    pub fn registry_entry(&self) -> Value {
        let credential = json!({
            "credential_type": "public_key",
            "pem": self.public_pem,
            "alg": self.alg.name(),
        });
        json!({
            "client_id": self.client_id,
            "token_endpoint_auth_method": "private_key_jwt",
            "signed_request_object": { "required": true, "credentials": [credential.clone()] },
            "client_authentication_methods": {
                "private_key_jwt": { "credentials": [credential] }
            }
        })
    }
}

/// `clients.json` registering one client per case.
pub fn registry_json(cases: &[Case]) -> Value {
    let clients: Vec<Value> = cases.iter().map(Case::registry_entry).collect();
    json!({ "clients": clients })
}

/// A `jti` of UUID length (32 hex digits), unique per (`seed`, `n`).
pub fn jti(seed: u64, n: u64) -> String {
    format!("{seed:016x}{n:016x}")
}

/// The token request body a client sends with private_key_jwt (no `client_id`: jargate finds
/// the client from the assertion, as RFC 7521 §4.2 allows).
pub fn token_body(assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&scope=read%20write&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={assertion}"
    )
}

/// The `/authorize` request target of a JAR request by value.
pub fn authorize_target(client_id: &str, request_object: &str) -> String {
    format!("/authorize?client_id={client_id}&request={request_object}")
}

/// Unix seconds now.
pub fn now() -> i64 {
    jargate::clock::unix_now()
}
