//! OAuth meaning of the two signed tokens: the client assertion (RFC 7523, SPEC §5) and the
//! request object (RFC 9101, SPEC §5). Plain functions from a token, the client, the settings
//! and the current time to the checked claims or the first rule that failed. No sockets, no
//! store: single use is recorded by the caller once every other rule passed.

pub mod assertion;
pub mod claims;
pub mod request_object;

use crate::jose::{Jws, ShapeLimits};
use crate::keys::CredentialSet;
use crate::reject::TokenFault;
use serde_json::{Map, Value};

pub use assertion::{check_assertion, check_assertion_with};
pub use request_object::{check_request_object, check_request_object_with};

/// A token that passed every stateless rule.
#[derive(Debug, Clone)]
pub struct Checked {
    pub claims: Map<String, Value>,
    pub jti: Option<String>,
    /// Whole seconds; `None` only for request objects when `jar.require_exp = false`.
    pub exp: Option<i64>,
}

/// The assertion type of RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The prefix of `request_uri` values minted by a PAR endpoint (RFC 9126 §2.2).
pub const PAR_URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// SPEC §5 steps 1 to 4, the same for both kinds: size and shape, header, signature with the
/// registered keys of this use (then the remote ones), claims object.
fn verified<'t>(
    token: &'t str,
    max_bytes: usize,
    max_alg_chars: usize,
    registered: &CredentialSet,
    remote: &[&CredentialSet],
    now: i64,
) -> Result<(Jws<'t>, Map<String, Value>), TokenFault> {
    let jws = Jws::parse(
        token,
        ShapeLimits {
            max_bytes,
            max_alg_chars,
        },
    )?;
    if remote.is_empty() {
        jws.verify(&[registered], now)?;
    } else {
        let mut sets = Vec::with_capacity(1 + remote.len());
        sets.push(registered);
        sets.extend_from_slice(remote);
        jws.verify(&sets, now)?;
    }
    let claims = jws.claims()?;
    Ok((jws, claims))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders for rule tests: a settings block, a client with one key per use, signed tokens.
    use crate::config::{parse_settings, Client, Registry, Settings};
    use crate::jose::sign::SigningKey;
    use crate::keys::Alg;
    use serde_json::{json, Value};
    use std::path::Path;

    pub const NOW: i64 = 1_800_000_000;
    pub const ISSUER: &str = "https://login.example.com/";

    fn key_path(name: &str) -> String {
        format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    pub fn settings(extra: &str) -> Settings {
        let text = format!(
            "[upstream]\nurl = \"http://127.0.0.1:1\"\n[clients]\nfile = \"c.json\"\n{extra}"
        );
        parse_settings(&text).expect("settings")
    }

    pub fn signer(name: &str, alg: Alg) -> SigningKey {
        let text = std::fs::read_to_string(key_path(&format!("{name}.key.pem"))).expect("key");
        SigningKey::from_pkcs8_pem(&text, alg).expect("signing key")
    }

    /// `app`: client assertions with ec-a (ES256), request objects with ed-a (EdDSA).
    pub fn client() -> Client {
        let doc = json!({"clients": [{
            "client_id": "app",
            "client_authentication_methods": {"private_key_jwt": {"credentials": [
                {"credential_type": "public_key", "pem_file": key_path("ec-a.pub.pem"), "alg": "ES256"}]}},
            "signed_request_object": {"credentials": [
                {"credential_type": "public_key", "pem_file": key_path("ed-a.pub.pem"), "alg": "EdDSA"}]}
        }]});
        let registry = Registry::from_json(doc, Path::new("/")).expect("registry");
        registry.get("app").expect("client").as_ref().clone()
    }

    pub fn sign(key: &SigningKey, header: Value, claims: Value) -> String {
        key.sign(&header, &claims).expect("sign")
    }
}
