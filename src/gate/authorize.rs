//! Authorization requests: `/authorize` (request object by value or a PAR `request_uri`) and
//! `/oauth/par` (client authentication, then the request object).

use super::{outside, Decision, Forward, Incoming, SingleUse};
use crate::config::{Client, Unregistered};
use crate::reject::{ClientFault, Rejection, RequestFault, TokenFault};
use crate::request::Params;
use crate::rules::{check_request_object, Checked, PAR_URN_PREFIX};
use crate::store::jti_key;
use std::sync::Arc;

impl Decision<'_> {
    pub(super) async fn authorize(
        &mut self,
        req: &Incoming<'_>,
        params: &Params,
    ) -> Result<Forward, Rejection> {
        let request = params.get("request");
        let request_uri = params.get("request_uri");
        if request.is_some() && request_uri.is_some() {
            return Err(RequestFault::RequestWithRequestUri.into());
        }
        if let Some(uri) = request_uri {
            // jargate never fetches a URL a client names; only PAR references are accepted.
            if !uri.starts_with(PAR_URN_PREFIX) {
                return Err(Rejection::RequestUriNotSupported);
            }
        }
        let settings = &self.snapshot.settings;
        let client_id = params.get("client_id");
        self.client_id = client_id.map(str::to_owned);
        let client = client_id.and_then(|id| self.snapshot.registry.get(id)).cloned();
        if request_uri.is_some() {
            if client_id.is_none() {
                return Err(RequestFault::MissingParameter("client_id").into());
            }
            self.admit(client.as_ref())?;
            // Passthrough mode: the upstream holds the pushed request and checks its binding.
            return outside::apply(settings.jar.outside_parameters, params, None, req.query, req.body);
        }
        if settings.par.require_par {
            return Err(RequestFault::ParRequired.into());
        }
        let Some(token) = request else {
            if client.as_ref().is_some_and(|c| c.requires_signed_request) {
                return Err(RequestFault::SignedRequestRequired.into());
            }
            self.admit(client.as_ref())?;
            return Ok(Forward::default());
        };
        if client_id.is_none() {
            return Err(RequestFault::MissingParameter("client_id").into());
        }
        // A request object needs the registered keys of its client.
        let client = client.ok_or(Rejection::Request(RequestFault::UnknownClient))?;
        let checked = self.check_object(token, &client)?;
        let forward = outside::apply(
            settings.jar.outside_parameters,
            params,
            Some(&checked.claims),
            req.query,
            req.body,
        )?;
        let single_use = self.object_single_use(&client, &checked);
        self.record_all(single_use).await?;
        Ok(forward)
    }

    pub(super) async fn par(
        &mut self,
        req: &Incoming<'_>,
        params: &Params,
    ) -> Result<Forward, Rejection> {
        if params.contains("request_uri") {
            return Err(RequestFault::RequestUriInPar.into());
        }
        let auth = self.authenticate_client(req, params)?;
        let mut single_use = auth.single_use;
        let Some(token) = params.get("request") else {
            if auth.client.as_ref().is_some_and(|c| c.requires_signed_request) {
                return Err(RequestFault::SignedRequestRequired.into());
            }
            self.record_all(single_use).await?;
            return Ok(Forward::default());
        };
        // A request object needs the registered keys of an authenticated client.
        let client = auth.client.ok_or(Rejection::Client(ClientFault::Unknown))?;
        let checked = self.check_object(token, &client)?;
        let forward = outside::apply(
            self.snapshot.settings.jar.outside_parameters,
            params,
            Some(&checked.claims),
            None,
            req.body,
        )?;
        single_use.extend(self.object_single_use(&client, &checked));
        self.record_all(single_use).await?;
        Ok(forward)
    }

    /// A request without a JWT from an unknown client is refused, unless
    /// `clients.unregistered = "passthrough"`.
    fn admit(&self, client: Option<&Arc<Client>>) -> Result<(), Rejection> {
        let passthrough = self.snapshot.settings.clients.unregistered == Unregistered::Passthrough;
        if client.is_some() || passthrough {
            Ok(())
        } else {
            Err(RequestFault::UnknownClient.into())
        }
    }

    fn check_object(&self, token: &str, client: &Client) -> Result<Checked, Rejection> {
        check_request_object(token, client, &self.snapshot.settings, self.now)
            .map_err(Rejection::RequestObject)
    }

    fn object_single_use(&self, client: &Client, checked: &Checked) -> Vec<SingleUse> {
        let max_lifetime = self.snapshot.settings.limits.request_object_max_lifetime_secs;
        checked
            .jti
            .iter()
            .map(|jti| SingleUse {
                key: jti_key("request_object", &client.id, jti),
                ttl: self.single_use_ttl(checked.exp, max_lifetime),
                replayed: Rejection::RequestObject(TokenFault::Replayed),
            })
            .collect()
    }
}
