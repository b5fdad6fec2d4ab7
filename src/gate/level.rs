//! The compliance-level steps of the decision (SPEC §9), each where SPEC §5's numbered order
//! puts it: the level's client-authentication method after client authentication (step 3),
//! the authorization-request rules after the request object (step 5), the token endpoint's
//! grant-type rule (step 5) and sender-constraining (step 6), all before single use (step 7).
//! The rules themselves are `rules::compliance`; this module only feeds them.

use super::{Decision, Incoming};
use crate::config::{Client, Level};
use crate::reject::Rejection;
use crate::request::Params;
use crate::rules::compliance::{self, AuthzSource};

/// What the mechanisms of SPEC §10 (mTLS) and §11 (DPoP) found on a token request, as the
/// sender-constraining rule reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderInputs {
    /// The request came with a client certificate (§10: CA-verified or self-signed).
    pub has_client_cert: bool,
    /// The request carries a DPoP proof that passed §11's checks.
    pub dpop_proof_valid: bool,
}

impl SenderInputs {
    /// What the decision knows about a request's certificate and DPoP proof.
    /// The certificate is known before the decision; `dpop_proof_valid` is set once the
    /// DPoP steps 1–6 (§11) passed.
    pub fn of(req: &Incoming<'_>) -> SenderInputs {
        SenderInputs {
            has_client_cert: req.client_cert.is_some(),
            dpop_proof_valid: false,
        }
    }
}

impl Decision<'_> {
    /// Step 3: a client at a level authenticates with the level's method only (401).
    pub(super) fn level_client_auth(&self, client: Option<&Client>) -> Result<(), Rejection> {
        let (Some(client), Some(used)) = (client, self.auth_method) else {
            return Ok(());
        };
        Ok(compliance::client_auth_method(client.level, used)?)
    }

    /// Step 5 at PAR: a signed request object where the level requires one, then the
    /// authorization-request parameters, read from the object's claims when there is one.
    pub(super) fn level_authorization_request(
        &self,
        client: &Client,
        claims: Option<&serde_json::Map<String, serde_json::Value>>,
        params: &Params,
    ) -> Result<(), Rejection> {
        let level = client.level;
        let source = match claims {
            Some(claims) => AuthzSource::Claims(claims),
            None if level.jar_required() => {
                return Err(crate::reject::ComplianceFault::SignedRequestRequired.into())
            }
            None => AuthzSource::Params(params),
        };
        Ok(compliance::authorization_request(
            level,
            &client.callbacks,
            source,
        )?)
    }

    /// Steps 5 and 6 at the token endpoint: password grants, then sender-constraining.
    pub(super) fn level_token_request(
        &self,
        level: Level,
        params: &Params,
    ) -> Result<(), Rejection> {
        compliance::grant_type(level, params.get("grant_type"))?;
        let sender = self.sender;
        Ok(compliance::sender_constraint(
            level,
            sender.has_client_cert,
            sender.dpop_proof_valid,
        )?)
    }
}
