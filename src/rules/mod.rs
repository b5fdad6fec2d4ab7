//! OAuth meaning of the two signed tokens: the client assertion (RFC 7523) and the request
//! object (RFC 9101). Every SPEC §5 rule is one named [`Check`], and [`run`] applies them in
//! the proxy's order to a token read once ([`Jws`]), against the policy of its kind built once
//! per snapshot. The proxy stops at the first failure ([`check_assertion_with`],
//! [`check_request_object_with`]); `jargate explain` runs them all and renders the same
//! outcomes. No sockets, no store: single use is recorded by the caller once every other rule
//! passed. DPoP proofs ([`dpop`]) follow the same path with their own steps (SPEC §11).

pub mod assertion;
pub mod check;
pub mod claims;
pub mod compliance;
pub mod dpop;
pub mod request_object;

pub use assertion::{check_assertion, check_assertion_with, ClientAssertion};
pub use check::{run, Check, Outcome, Subject};
pub use request_object::{check_request_object, check_request_object_with, RequestObject};

use crate::config::{Client, TokenPolicies, TokenPolicy};
use crate::jose::Jws;
use crate::keys::CredentialSet;
use crate::reject::{ClientFault, Rejection, TokenFault};
use check::ClaimCheck;

/// The assertion type of RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The prefix of `request_uri` values minted by a PAR endpoint (RFC 9126 §2.2).
pub const PAR_URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The two kinds of signed token jargate checks. Each has its own keys, policy, claim rules
/// and single-use namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Assertion,
    RequestObject,
}

impl TokenKind {
    /// What the token is called in answers and in `explain`.
    pub fn what(self) -> &'static str {
        match self {
            TokenKind::Assertion => "client assertion",
            TokenKind::RequestObject => "request object",
        }
    }

    /// The `typ` that names this kind explicitly (RFC 9101 §10.8, RFC 7523bis).
    pub fn typ(self) -> &'static str {
        match self {
            TokenKind::Assertion => "client-authentication+jwt",
            TokenKind::RequestObject => "oauth-authz-req+jwt",
        }
    }

    /// The other kind: keys and types never cross between the two.
    pub fn other(self) -> TokenKind {
        match self {
            TokenKind::Assertion => TokenKind::RequestObject,
            TokenKind::RequestObject => TokenKind::Assertion,
        }
    }

    /// The token's namespace in single-use keys (`store::jti_key`).
    pub fn store_use(self) -> &'static str {
        match self {
            TokenKind::Assertion => "assertion",
            TokenKind::RequestObject => "request_object",
        }
    }

    /// The client's registered keys for this kind; keys never cross kinds.
    pub fn keys(self, client: &Client) -> &CredentialSet {
        match self {
            TokenKind::Assertion => &client.auth_keys,
            TokenKind::RequestObject => &client.jar_keys,
        }
    }

    /// The client's remote JWK Sets for this kind.
    pub fn jwks_uris(self, client: &Client) -> &[String] {
        match self {
            TokenKind::Assertion => &client.auth_jwks_uris,
            TokenKind::RequestObject => &client.jar_jwks_uris,
        }
    }

    pub fn policy(self, policies: &TokenPolicies) -> &TokenPolicy {
        match self {
            TokenKind::Assertion => &policies.assertion.0,
            TokenKind::RequestObject => &policies.request_object.0,
        }
    }

    /// The answer to a token of this kind that broke a rule (SPEC §6).
    pub fn rejection(self, fault: TokenFault) -> Rejection {
        match self {
            TokenKind::Assertion => Rejection::Client(ClientFault::Assertion(fault)),
            TokenKind::RequestObject => Rejection::RequestObject(fault),
        }
    }

    /// The claim stage of this kind, in SPEC §5 order: the time and audience rules of both
    /// kinds, then the kind's own.
    fn claim_checks(self) -> impl Iterator<Item = &'static (Check, ClaimCheck)> {
        let own = match self {
            TokenKind::Assertion => assertion::CLAIM_CHECKS,
            TokenKind::RequestObject => request_object::CLAIM_CHECKS,
        };
        claims::TIME_AND_AUDIENCE.iter().chain(own)
    }
}

/// Runs every rule of `kind` on `jws` for `client` and stops at the first failure; the
/// registered keys are tried first, then the `remote` ones. Returns the claims.
fn first_failure<'j>(
    jws: &'j Jws<'j>,
    kind: TokenKind,
    policy: &TokenPolicy,
    client: &Client,
    remote: &[&CredentialSet],
    now: i64,
) -> Result<&'j serde_json::Map<String, serde_json::Value>, TokenFault> {
    let registered = kind.keys(client);
    let with_remote: Vec<&CredentialSet>;
    let sets = if remote.is_empty() {
        std::slice::from_ref(&registered)
    } else {
        with_remote = std::iter::once(registered)
            .chain(remote.iter().copied())
            .collect();
        &with_remote
    };
    let subject = Subject {
        jws,
        kind,
        policy,
        client_id: &client.id,
        keys: Some(sets),
        now,
    };
    let mut fault = None;
    run(&subject, &mut |_, outcome| match outcome {
        Outcome::Fail(f) => {
            fault = Some(f);
            std::ops::ControlFlow::Break(())
        }
        _ => std::ops::ControlFlow::Continue(()),
    });
    match fault {
        Some(f) => Err(f),
        None => jws.claims(),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders for rule tests: a settings block, a client with one key per use, signed tokens.
    use crate::config::{parse_settings, Client, Registry, TokenPolicies};
    use crate::jose::sign::SigningKey;
    use crate::keys::Alg;
    use serde_json::{json, Value};
    use std::path::Path;

    pub const NOW: i64 = 1_800_000_000;
    pub const ISSUER: &str = "https://login.example.com/";

    fn key_path(name: &str) -> String {
        format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    pub fn policies(extra: &str) -> TokenPolicies {
        TokenPolicies::new(&policies_settings(extra))
    }

    /// Settings with `extra` TOML appended to the two required tables.
    pub fn policies_settings(extra: &str) -> crate::config::Settings {
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
