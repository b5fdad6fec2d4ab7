//! Client authentication at the token, PAR and client-authentication endpoints: one method per
//! request, one client per request (the `client_id` parameter and the Basic user id agree, so a
//! Basic-first server authenticates the client whose policy jargate applied), the
//! private_key_jwt policy of the registry, the client assertion rules, and mTLS client
//! authentication by certificate (SPEC §10: only when no assertion, secret or Basic
//! credentials came; otherwise the certificate only serves token binding).

use super::{Decision, Incoming, SingleUse};
use crate::config::{Client, Unregistered};
use crate::jose::Jws;
use crate::mtls::CertMethod;
use crate::reject::{ClientFault, Rejection, RequestFault, TokenFault};
use crate::request::{basic, AuthMethod, Params};
use crate::rules::{check_assertion_with, TokenKind, JWT_BEARER};
use crate::store::jti_key;
use std::sync::Arc;

/// Who the client is once authentication passed.
pub(super) struct Authenticated {
    /// `None`: an unregistered client let through by `clients.unregistered = "passthrough"`.
    pub client: Option<Arc<Client>>,
    /// The client proved itself with a valid assertion (not merely named itself).
    pub by_assertion: bool,
    /// The client proved itself with its client certificate (SPEC §10).
    pub by_certificate: bool,
    pub single_use: Vec<SingleUse>,
}

impl Authenticated {
    /// jargate itself authenticated the client (assertion or certificate).
    pub fn proven(&self) -> bool {
        self.by_assertion || self.by_certificate
    }

    fn named(client: Option<Arc<Client>>) -> Authenticated {
        Authenticated {
            client,
            by_assertion: false,
            by_certificate: false,
            single_use: Vec::new(),
        }
    }
}

impl Decision<'_> {
    /// Authenticates the client of a token, PAR or client-authentication request.
    pub(super) async fn authenticate_client(
        &mut self,
        req: &Incoming<'_>,
        params: &Params,
    ) -> Result<Authenticated, Rejection> {
        let basic_id = match req.authorization {
            Some(header) => basic::client_id(header)
                .map_err(|_| Rejection::Client(ClientFault::MalformedBasic))?,
            None => None,
        };
        let basic_sent = basic_id.is_some();
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
        // The assertion's iss and sub are held to the client_id after its signature verifies
        // (`rules::assertion`); the unsigned identities must agree here, before any lookup.
        if let (Some(basic), Some(param)) = (&basic_id, params.get("client_id")) {
            if basic != param {
                return Err(RequestFault::IdentityMismatch.into());
            }
        }
        let registry = &self.snapshot.registry;
        let Some(token) = assertion else {
            // Another method (or none): a client certificate, or the upstream authenticates,
            // unless this client must use a method jargate checks.
            let other_method = basic_sent || params.contains("client_secret");
            let id = params.get("client_id").map(str::to_owned).or(basic_id);
            self.client_id = id.clone();
            let unregistered = self.snapshot.settings.clients.unregistered;
            if id.is_none()
                && !other_method
                && req.client_cert.is_some()
                && unregistered == Unregistered::Reject
            {
                return Err(Rejection::Client(ClientFault::CertClientIdMissing));
            }
            let client = id.as_deref().and_then(|id| registry.get(id));
            return match client {
                Some(c) => self.without_assertion(c, req, other_method),
                None if unregistered == Unregistered::Passthrough => Ok(Authenticated::named(None)),
                None => Err(Rejection::Client(ClientFault::Unknown)),
            };
        };
        // Which client's keys to try: the client_id parameter, else the token's own (still
        // unverified) sub or iss. Every claim is checked strictly after the signature.
        let jws = Jws::read(token);
        let id = params
            .get("client_id")
            .or_else(|| jws.unverified("sub"))
            .or_else(|| jws.unverified("iss"))
            .map(str::to_owned);
        self.client_id = id.clone();
        let client = id
            .as_deref()
            .and_then(|id| registry.get(id))
            .ok_or(Rejection::Client(ClientFault::Unknown))?;
        let policy = &self.snapshot.policies_for(Some(client.level)).assertion;
        let checked = self
            .with_remote_keys(&client.auth_jwks_uris, |remote| {
                check_assertion_with(&jws, policy, client, remote, self.now)
            })
            .await;
        self.note_token(&jws, checked.as_ref().err());
        let checked = checked.map_err(|f| TokenKind::Assertion.rejection(f))?;
        Ok(Authenticated {
            client: Some(client.clone()),
            by_assertion: true,
            by_certificate: false,
            single_use: vec![SingleUse {
                key: jti_key(TokenKind::Assertion.store_use(), &client.id, checked.jti),
                ttl: self.single_use_ttl(Some(checked.exp), policy.0.max_lifetime),
                replayed: TokenKind::Assertion.rejection(TokenFault::Replayed),
            }],
        })
    }

    /// A registered client without an assertion: its certificate authenticates it when it
    /// lists an mTLS method and sent no secret (SPEC §10: one method per request); otherwise
    /// the upstream does, unless the client must use a method jargate checks.
    fn without_assertion(
        &mut self,
        client: &Arc<Client>,
        req: &Incoming<'_>,
        other_method: bool,
    ) -> Result<Authenticated, Rejection> {
        if !other_method && client.mtls.any() {
            if let Some(cert) = req.client_cert {
                let method = crate::mtls::authenticate(&client.mtls, cert, self.now)
                    .ok_or(Rejection::Client(ClientFault::CertMismatch))?;
                self.auth_method = Some(match method {
                    CertMethod::TlsClientAuth => AuthMethod::TlsClientAuth,
                    CertMethod::SelfSignedTlsClientAuth => AuthMethod::SelfSignedTlsClientAuth,
                });
                return Ok(Authenticated {
                    client: Some(client.clone()),
                    by_assertion: false,
                    by_certificate: true,
                    single_use: Vec::new(),
                });
            }
        }
        if client.requires_private_key_jwt {
            Err(Rejection::Client(ClientFault::AssertionRequired))
        } else if client.auth_required {
            Err(Rejection::Client(ClientFault::RegisteredMethodRequired))
        } else {
            Ok(Authenticated::named(Some(client.clone())))
        }
    }
}
