//! The JWK Sets the admin listener serves for each client (`/clients/{id}/jwks.json` and
//! `/clients/{id}/jar-jwks.json`): one source of truth for the authorization server in
//! passthrough mode, instead of registering every key twice. Public members only, current
//! credentials only. Plain functions over credentials; no HTTP here.

use super::Credential;
use serde_json::{json, Value};

/// How long a served set may be cached, at most (a key removed or rotated out is gone from
/// every consumer within this).
pub const MAX_AGE_SECS: i64 = 60;

/// Which of a client's credential lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// `client_authentication_methods.private_key_jwt`.
    ClientAssertion,
    /// `signed_request_object`.
    RequestObject,
}

impl Use {
    /// The use a path of the admin listener names: `/clients/{id}/<file>`.
    pub fn from_file(file: &str) -> Option<Use> {
        match file {
            "jwks.json" => Some(Use::ClientAssertion),
            "jar-jwks.json" => Some(Use::RequestObject),
            _ => None,
        }
    }
}

/// `{"keys": [...]}` for these credentials, all assumed current. One JWK per distinct key and
/// kid: `kid` (the registered kid, else the RFC 7638 thumbprint), `use: "sig"`, and `alg` when
/// the key is registered for exactly one (a remote key without `alg` serves every fitting one).
pub fn jwk_set<'a>(credentials: impl IntoIterator<Item = &'a Credential>) -> Value {
    let mut entries: Vec<(&Credential, Vec<&'static str>)> = Vec::new();
    for c in credentials {
        match entries
            .iter_mut()
            .find(|(seen, _)| seen.kid == c.kid && seen.key == c.key)
        {
            Some((_, algs)) => {
                if !algs.contains(&c.alg.name()) {
                    algs.push(c.alg.name());
                }
            }
            None => entries.push((c, vec![c.alg.name()])),
        }
    }
    let keys: Vec<Value> = entries
        .into_iter()
        .map(|(c, algs)| {
            let mut jwk = c.key.to_jwk();
            jwk["kid"] = json!(c.kid);
            jwk["use"] = json!("sig");
            if let [alg] = algs.as_slice() {
                jwk["alg"] = json!(alg);
            }
            jwk
        })
        .collect();
    json!({ "keys": keys })
}

/// `Cache-Control` max-age: [`MAX_AGE_SECS`], shorter when a credential expires sooner.
pub fn max_age<'a>(credentials: impl IntoIterator<Item = &'a Credential>, now: i64) -> i64 {
    credentials
        .into_iter()
        .filter_map(|c| c.expires_at)
        .map(|t| t - now)
        .fold(MAX_AGE_SECS, i64::min)
        .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Alg, PublicKey};

    fn credential(file: &str, alg: Alg, kid: Option<&str>, expires_at: Option<i64>) -> Credential {
        let path = format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"));
        let key = PublicKey::from_pem(&std::fs::read_to_string(path).expect("key")).expect("pem");
        Credential {
            name: "n".into(),
            kid: kid.map_or_else(|| key.thumbprint().to_owned(), str::to_owned),
            alg,
            expires_at,
            key,
        }
    }

    #[test]
    fn a_set_holds_public_members_kid_use_and_alg() {
        let rsa = credential("rsa-a.pub.pem", Alg::RS256, Some("k1"), None);
        let ec = credential("ec-a.pub.pem", Alg::ES256, None, None);
        let set = jwk_set([&rsa, &ec]);
        let keys = set["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["kty"], "RSA");
        assert_eq!(keys[0]["kid"], "k1");
        assert_eq!(keys[0]["alg"], "RS256");
        assert_eq!(keys[0]["use"], "sig");
        assert_eq!(keys[1]["kid"], ec.key.thumbprint());
        assert_eq!(keys[1]["crv"], "P-256");
        for k in keys {
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(k.get(private).is_none(), "{private} in {k}");
            }
        }
    }

    #[test]
    fn one_key_under_several_algs_is_listed_once_without_alg() {
        let a = credential("rsa-a.pub.pem", Alg::RS256, Some("k"), None);
        let b = credential("rsa-a.pub.pem", Alg::PS256, Some("k"), None);
        let set = jwk_set([&a, &b, &a]);
        let keys = set["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1);
        assert!(keys[0].get("alg").is_none());
    }

    #[test]
    fn max_age_ends_before_the_first_expiry() {
        let now = 1_000;
        let soon = credential("ed-a.pub.pem", Alg::EdDSA, None, Some(now + 20));
        let never = credential("ec-a.pub.pem", Alg::ES256, None, None);
        assert_eq!(max_age([&never], now), MAX_AGE_SECS);
        assert_eq!(max_age([&never, &soon], now), 20);
    }
}
