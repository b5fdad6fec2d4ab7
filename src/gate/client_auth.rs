//! Client authentication at the token, PAR and client-authentication endpoints: one method per
//! request, the private_key_jwt policy of the registry, and the client assertion rules.

use super::{Decision, Incoming, SingleUse};
use crate::config::{Client, Unregistered};
use crate::jose::peek_claim;
use crate::reject::{ClientFault, Rejection, RequestFault, TokenFault};
use crate::request::Params;
use crate::rules::{check_assertion_with, JWT_BEARER};
use crate::store::jti_key;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::sync::Arc;

/// Who the client is once authentication passed.
pub(super) struct Authenticated {
    /// `None`: an unregistered client let through by `clients.unregistered = "passthrough"`.
    pub client: Option<Arc<Client>>,
    /// The client proved itself with a valid assertion (not merely named itself).
    pub by_assertion: bool,
    pub single_use: Vec<SingleUse>,
}

impl Decision<'_> {
    /// Authenticates the client of a token, PAR or client-authentication request.
    pub(super) async fn authenticate_client(
        &mut self,
        req: &Incoming<'_>,
        params: &Params,
    ) -> Result<Authenticated, Rejection> {
        let basic_id = req.authorization.and_then(basic_client_id);
        let basic_sent = req.authorization.is_some_and(is_basic);
        let assertion = params.get("client_assertion");
        let assertion_type = params.get("client_assertion_type");
        match (assertion, assertion_type) {
            (Some(_), _) if params.contains("client_secret") || basic_sent => {
                return Err(RequestFault::TwoAuthMethods.into())
            }
            (Some(_), None) => {
                return Err(RequestFault::MissingParameter("client_assertion_type").into())
            }
            (None, Some(_)) => return Err(RequestFault::MissingAssertion.into()),
            (_, Some(t)) if t != JWT_BEARER => return Err(RequestFault::AssertionType.into()),
            _ => {}
        }
        if basic_sent && params.contains("client_secret") {
            return Err(RequestFault::TwoAuthMethods.into());
        }
        let registry = &self.snapshot.registry;
        let Some(token) = assertion else {
            // Another method (or none): the upstream authenticates, unless this client must
            // use private_key_jwt.
            let id = params.get("client_id").map(str::to_owned).or(basic_id);
            self.client_id = id.clone();
            let client = id.as_deref().and_then(|id| registry.get(id));
            return match client {
                Some(c) if c.requires_private_key_jwt => {
                    Err(Rejection::Client(ClientFault::AssertionRequired))
                }
                Some(c) => Ok(Authenticated {
                    client: Some(c.clone()),
                    by_assertion: false,
                    single_use: Vec::new(),
                }),
                None if self.snapshot.settings.clients.unregistered
                    == Unregistered::Passthrough =>
                {
                    Ok(Authenticated {
                        client: None,
                        by_assertion: false,
                        single_use: Vec::new(),
                    })
                }
                None => Err(Rejection::Client(ClientFault::Unknown)),
            };
        };
        // Which client's keys to try: the client_id parameter, else the token's own (still
        // unverified) sub or iss. Every claim is checked strictly after the signature.
        let id = params
            .get("client_id")
            .map(str::to_owned)
            .or_else(|| peek_claim(token, "sub"))
            .or_else(|| peek_claim(token, "iss"));
        self.client_id = id.clone();
        let client = id
            .as_deref()
            .and_then(|id| registry.get(id))
            .ok_or(Rejection::Client(ClientFault::Unknown))?;
        let settings = &self.snapshot.settings;
        let checked = self
            .with_remote_keys(&client.auth_jwks_uris, |remote| {
                check_assertion_with(token, client, remote, settings, self.now)
            })
            .await;
        self.note_token(token, checked.as_ref().err());
        let checked = checked.map_err(|f| Rejection::Client(ClientFault::Assertion(f)))?;
        let jti = checked.jti.unwrap_or_default();
        let max_lifetime = self.snapshot.settings.limits.assertion_max_lifetime_secs;
        Ok(Authenticated {
            client: Some(client.clone()),
            by_assertion: true,
            single_use: vec![SingleUse {
                key: jti_key("assertion", &client.id, &jti),
                ttl: self.single_use_ttl(checked.exp, max_lifetime),
                replayed: Rejection::Client(ClientFault::Assertion(TokenFault::Replayed)),
            }],
        })
    }
}

fn is_basic(header: &[u8]) -> bool {
    header.len() >= 6 && header[..6].eq_ignore_ascii_case(b"basic ")
}

/// The client id of an `Authorization: Basic` header (RFC 6749 §2.3.1: form-encoded id).
fn basic_client_id(header: &[u8]) -> Option<String> {
    if !is_basic(header) {
        return None;
    }
    let decoded = STANDARD.decode(header[6..].trim_ascii()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let id = percent_encoding::percent_decode(&decoded[..colon])
        .decode_utf8()
        .ok()?
        .replace('+', " ");
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_headers_name_their_client() {
        let header = format!("Basic {}", STANDARD.encode("app%2D1:secret"));
        assert_eq!(basic_client_id(header.as_bytes()), Some("app-1".into()));
        assert_eq!(basic_client_id(b"Bearer x"), None);
        assert_eq!(basic_client_id(b"Basic !!!"), None);
    }
}
