//! Verifying keys: credentials from the client registry turned into ready-to-use public keys
//! once, at load time, and the per-use sets (request objects vs. client assertions) a request
//! is checked against. Nothing here parses a key while a request waits, and nothing here
//! fetches one: remote JWK Sets are reached through [`KeySource`] (fetched by `jwks.rs`).

pub mod alg;
pub mod embedded;
pub mod mirror;
pub mod public;
pub mod source;

pub use alg::{Alg, KeyKind};
pub use public::PublicKey;
pub use source::{KeySource, Refresh};

/// One registered public key for one use.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Operator's name for it (`name`, else the kid), for logs and `check`.
    pub name: String,
    /// Explicit `kid`, else the RFC 7638 thumbprint.
    pub kid: String,
    pub alg: Alg,
    /// Unix seconds after which the credential is ignored.
    pub expires_at: Option<i64>,
    pub key: PublicKey,
}

impl Credential {
    /// Expiry is evaluated per request, so a credential stops verifying the second it expires.
    pub fn is_current(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }
}

/// What a JWT may be verified with: the current credentials of one client for one use.
#[derive(Debug, Clone, Default)]
pub struct CredentialSet {
    credentials: Vec<Credential>,
}

impl CredentialSet {
    pub fn new(credentials: Vec<Credential>) -> Self {
        CredentialSet { credentials }
    }

    pub fn all(&self) -> &[Credential] {
        &self.credentials
    }

    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
    }

    pub fn current(&self, now: i64) -> impl Iterator<Item = &Credential> {
        self.credentials.iter().filter(move |c| c.is_current(now))
    }
}
