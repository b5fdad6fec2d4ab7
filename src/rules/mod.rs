//! OAuth meaning of the two signed tokens: the client assertion (RFC 7523, SPEC §5) and the
//! request object (RFC 9101, SPEC §5). Plain functions from a token, the client, the settings
//! and the current time to the checked claims or the first rule that failed. No sockets, no
//! store: single use is recorded by the caller once every other rule passed.

pub mod assertion;
pub mod claims;
pub mod request_object;

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
