//! Where `iss` is added to authorization responses (SPEC §12), decided once per snapshot: the
//! registered callbacks (as `scheme://host[:port]/path`, loopback ports ignored as in §9) whose
//! authorization responses carry `iss`. Request handling only looks a `Location` up here.

use super::compliance::{without_loopback_port, ResponseIss};
use super::{Level, Registry};
use std::collections::HashSet;

/// The callbacks whose authorization responses gain `iss`; empty: no response is inspected.
#[derive(Debug, Clone, Default)]
pub struct IssCallbacks {
    callbacks: HashSet<String>,
    /// `issuer.identifier`, form-encoded once: what is appended.
    pub encoded_issuer: String,
    pub issuer: String,
}

impl IssCallbacks {
    /// `"always"`: every registered callback; `"auto"`: every callback under a global fapi2
    /// level, else those of clients whose resolved level is a fapi2 level; `"never"`: none.
    pub fn new(policy: ResponseIss, global: Level, registry: &Registry, issuer: &str) -> Self {
        let mut callbacks = HashSet::new();
        for client in registry.clients() {
            let wanted = match policy {
                ResponseIss::Never => false,
                ResponseIss::Always => true,
                ResponseIss::Auto => global.is_fapi2() || client.level.is_fapi2(),
            };
            if wanted {
                callbacks.extend(client.callbacks.iter().map(callback_key));
            }
        }
        IssCallbacks {
            callbacks,
            encoded_issuer: form_urlencoded::byte_serialize(issuer.as_bytes()).collect(),
            issuer: issuer.to_string(),
        }
    }

    /// Whether any response may need `iss` (else 3xx responses are not even looked at).
    pub fn is_empty(&self) -> bool {
        self.callbacks.is_empty()
    }

    /// Whether `target` (a URI without query or fragment) is one of the callbacks.
    pub fn contains(&self, target: &str) -> bool {
        match without_loopback_port(target) {
            Some(bare) => self.callbacks.contains(&bare),
            None => self.callbacks.contains(target),
        }
    }
}

/// A callback as looked up: without query or fragment, loopback port removed.
fn callback_key(uri: &str) -> String {
    let bare = uri.split(['?', '#']).next().unwrap_or_default();
    without_loopback_port(bare).unwrap_or_else(|| bare.to_string())
}
