//! Authorization requests: `/authorize` (a request object by value, or a PAR `request_uri`) and
//! `/oauth/par` (client authentication, then the request object). In legacy mode the validated
//! request is translated (see `legacy`) and PAR is answered by jargate itself; in passthrough
//! mode a forwarded push is remembered (see `pushed`) for the outside parameters that come
//! back with its `request_uri`.

use super::outside::Inside;
use super::{legacy, outside, pushed, Action, Decision, Forward, Incoming, SingleUse};
use crate::config::{Client, Level, OutsideParameters, Unregistered};
use crate::jose::Jws;
use crate::reject::{
    ClientFault, ComplianceFault, Rejection, RequestFault, RequestUriFault, TokenFault,
};
use crate::request::params::Origin;
use crate::request::urn::is_urn;
use crate::request::Params;
use crate::rules::compliance;
use crate::rules::{check_request_object_with, RequestObject, TokenKind, PAR_URN_PREFIX};
use crate::store::jti_key;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

impl Decision<'_> {
    pub(super) async fn authorize(
        &mut self,
        req: &Incoming<'_>,
        params: &Params,
    ) -> Result<Action, Rejection> {
        let request = params.get("request");
        let request_uri = params.get("request_uri");
        if request.is_some() && request_uri.is_some() {
            return Err(RequestFault::RequestWithRequestUri.into());
        }
        if let Some(uri) = request_uri {
            // jargate never fetches a URL a client names, and no server fetches a URN: only
            // PAR references are accepted, any URN in passthrough (servers name them
            // differently), jargate's own in legacy mode.
            if !is_urn(uri) || (self.legacy() && !uri.starts_with(PAR_URN_PREFIX)) {
                return Err(Rejection::RequestUriNotSupported);
            }
        }
        let policy = self.snapshot.settings.jar.outside_parameters;
        let client_id = params.get("client_id");
        self.client_id = client_id.map(str::to_owned);
        let client = client_id
            .and_then(|id| self.snapshot.registry.get(id))
            .cloned();
        let level = client.as_ref().map_or(Level::None, |c| c.level);
        if let Some(uri) = request_uri {
            let client_id = client_id.ok_or(RequestFault::MissingParameter("client_id"))?;
            if self.legacy() {
                // Only the pushed parameters go upstream; outside ones identical to them pass
                // `reject`, others are refused before the request is redeemed (a refusal does
                // not spend it). An unknown `request_uri` is left to `redeem`.
                if policy != OutsideParameters::Allow {
                    if let Some(pushed) = self.legacy_pushed(uri).await? {
                        let inside = Inside::Pushed(&pushed);
                        outside::apply(policy, params, inside, req.query, req.body)?;
                    }
                }
                return self.redeem(uri, client_id, level).await;
            }
            // Passthrough mode: the upstream holds the pushed request and checks its binding;
            // outside parameters are compared with what jargate saw pushed, if it did.
            // Under a level the record is needed even with `allow` (a load error there anyway).
            let recall = if level.is_set() {
                OutsideParameters::Strip
            } else {
                policy
            };
            let pushed = self.recall_pushed(recall, uri, client_id).await?;
            if level.is_set() {
                // SPEC §9: a `request_uri` jargate did not see pushed, or (fapi2) one pushed
                // more than 599 s ago, is refused whatever the upstream would do.
                let record = pushed
                    .as_ref()
                    .ok_or(ComplianceFault::RequestUriNotPushed)?;
                compliance::request_uri_age(level, record.pushed_time(), self.now)?;
            }
            let inside = pushed.as_ref().map_or(Inside::Nothing, Inside::Pushed);
            let forward = outside::apply(policy, params, inside, req.query, req.body)?;
            self.admit(client.as_ref())?;
            return Ok(forward.into());
        }
        // SPEC §9: every level requires PAR; a `request` by value is refused with it.
        if level.is_set() {
            return Err(ComplianceFault::ParRequired.into());
        }
        if self.snapshot.settings.par.require_par || client.as_ref().is_some_and(|c| c.requires_par)
        {
            return Err(RequestFault::ParRequired.into());
        }
        let Some(token) = request else {
            if client.as_ref().is_some_and(|c| c.requires_signed_request) {
                return Err(RequestFault::SignedRequestRequired.into());
            }
            self.admit(client.as_ref())?;
            return Ok(Forward::default().into());
        };
        if client_id.is_none() {
            return Err(RequestFault::MissingParameter("client_id").into());
        }
        // A request object needs the registered keys of its client.
        let client = client.ok_or(Rejection::Request(RequestFault::UnknownClient))?;
        let jws = Jws::read(token);
        let checked = self.check_object(&jws, &client).await?;
        let single_use = self.object_single_use(&client, &checked);
        self.remember(&single_use);
        self.pending.extend(single_use);
        let inside = Inside::Object(checked.claims);
        let forward = outside::apply(policy, params, inside, req.query, req.body)?;
        let legacy_query = self.legacy_query(&client.id, checked.claims)?;
        self.record_pending().await?;
        if let Some(query) = legacy_query {
            return Ok(legacy::authorize_with(query).into());
        }
        Ok(forward.into())
    }

    pub(super) async fn par(
        &mut self,
        req: &Incoming<'_>,
        params: &Params,
    ) -> Result<Action, Rejection> {
        if params.contains("request_uri") {
            return Err(RequestFault::RequestUriInPar.into());
        }
        // RFC 9101 §5: `client_id` travels outside the object too (RFC 9126 errata 6711).
        if params.contains("request") && !params.contains("client_id") {
            return Err(RequestFault::MissingParameter("client_id").into());
        }
        let auth = self.authenticate_client(req, params).await?;
        self.client_authenticated = auth.proven();
        self.level_client_auth(auth.client.as_deref())?;
        // In legacy mode jargate keeps the pushed request, so it must know who pushed it; an
        // assertion is the one client authentication it can verify.
        if self.legacy() && !auth.proven() {
            return Err(Rejection::Client(ClientFault::AssertionRequired));
        }
        self.remember(&auth.single_use);
        self.pending.extend(auth.single_use);
        let Some(token) = params.get("request") else {
            if let Some(client) = &auth.client {
                if client.level.is_set() {
                    self.level_authorization_request(client, None, params)?;
                }
            }
            if auth
                .client
                .as_ref()
                .is_some_and(|c| c.requires_signed_request)
            {
                return Err(RequestFault::SignedRequestRequired.into());
            }
            let proof = self.dpop(req, auth.client.as_deref())?;
            self.pending.extend(proof);
            self.dpop_jkt_matches(params, None)?;
            self.record_pending().await?;
            return match auth.client {
                Some(client) if self.legacy() => {
                    let query = legacy::query_from_params(&client.id, params);
                    let query = self.with_dpop_jkt(query);
                    self.push(&client, query).await
                }
                client => {
                    let pusher = client.as_ref().map(|c| c.id.as_str());
                    let record = pusher
                        .or(params.get("client_id"))
                        .map(|id| pushed::Record::from_params(id, params).pushed_at(self.now));
                    Ok(Forward {
                        push: record,
                        ..Forward::default()
                    }
                    .into())
                }
            };
        };
        // A request object needs the registered keys of an authenticated client.
        let client = auth.client.ok_or(Rejection::Client(ClientFault::Unknown))?;
        let jws = Jws::read(token);
        let checked = self.check_object(&jws, &client).await?;
        let object_single_use = self.object_single_use(&client, &checked);
        self.remember(&object_single_use);
        self.pending.extend(object_single_use);
        let policy = self.snapshot.settings.jar.outside_parameters;
        let inside = Inside::Object(checked.claims);
        let mut forward = outside::apply(policy, params, inside, None, req.body)?;
        self.level_authorization_request(&client, Some(checked.claims), params)?;
        let legacy_query = self.legacy_query(&client.id, checked.claims)?;
        let proof = self.dpop(req, Some(&client))?;
        self.pending.extend(proof);
        self.dpop_jkt_matches(params, Some(checked.claims))?;
        self.record_pending().await?;
        if let Some(query) = legacy_query {
            let query = self.with_dpop_jkt(query);
            return self.push(&client, query).await;
        }
        forward.push =
            Some(pushed::Record::from_claims(&client.id, checked.claims).pushed_at(self.now));
        Ok(forward.into())
    }

    /// In legacy mode, the request object's claims as the upstream's query, built before single
    /// use is recorded so that a claim refused as a parameter does not spend the object.
    fn legacy_query(
        &self,
        client_id: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<String>, Rejection> {
        if !self.legacy() {
            return Ok(None);
        }
        Ok(Some(legacy::query_from_claims(client_id, claims)?))
    }

    /// Legacy PAR: keeps the request and answers `201` with its `request_uri` (RFC 9126 §2.2).
    async fn push(&mut self, client: &Client, query: String) -> Result<Action, Rejection> {
        let ttl = self.snapshot.settings.par.request_uri_ttl_secs;
        let request_uri = legacy::new_request_uri()?;
        let entry = legacy::PushedRequest {
            client_id: client.id.clone(),
            query,
            pushed_at: Some(self.now),
        };
        let value = serde_json::to_vec(&entry).map_err(|_| Rejection::StoreUnavailable)?;
        // The PAR entry is this request's last record; if it fails, `decide` removes the
        // `jti`s recorded before it.
        self.store
            .put(
                &legacy::pushed_key(&request_uri),
                Bytes::from(value),
                Duration::from_secs(ttl),
            )
            .await
            .map_err(|_| Rejection::StoreUnavailable)?;
        let body = serde_json::json!({ "request_uri": request_uri, "expires_in": ttl });
        Ok(Action::Answer {
            status: 201,
            body: Bytes::from(body.to_string().into_bytes()),
        })
    }

    /// Legacy: the request jargate keeps under `request_uri`, read without redeeming it, as the
    /// parameters outside parameters are compared with.
    async fn legacy_pushed(&self, request_uri: &str) -> Result<Option<pushed::Record>, Rejection> {
        let stored = self
            .store
            .get(&legacy::pushed_key(request_uri))
            .await
            .map_err(|_| Rejection::StoreUnavailable)?;
        let Some(entry) =
            stored.and_then(|s| serde_json::from_slice::<legacy::PushedRequest>(&s).ok())
        else {
            return Ok(None);
        };
        let mut params = Params::default();
        params
            .add_form(entry.query.as_bytes(), Origin::Query)
            .map_err(|_| Rejection::RequestUri(RequestUriFault::UnknownOrUsed))?;
        Ok(Some(pushed::Record::from_params(&entry.client_id, &params)))
    }

    /// Legacy `/authorize?request_uri=…`: the pushed request, once, for the client that pushed it.
    async fn redeem(
        &mut self,
        request_uri: &str,
        client_id: &str,
        level: Level,
    ) -> Result<Action, Rejection> {
        let stored = self
            .store
            .take(&legacy::pushed_key(request_uri))
            .await
            .map_err(|_| Rejection::StoreUnavailable)?
            .ok_or(Rejection::RequestUri(RequestUriFault::UnknownOrUsed))?;
        let entry: legacy::PushedRequest = serde_json::from_slice(&stored)
            .map_err(|_| Rejection::RequestUri(RequestUriFault::UnknownOrUsed))?;
        if entry.client_id != client_id {
            return Err(Rejection::RequestUri(RequestUriFault::OtherClient));
        }
        if let Some(pushed_at) = entry.pushed_at {
            compliance::request_uri_age(level, pushed_at, self.now)?;
        }
        Ok(legacy::authorize_with(entry.query).into())
    }

    /// Passthrough `/authorize?request_uri=…`: what `client_id` pushed through jargate under
    /// `request_uri`, when the policy compares with it. A record of another client is not
    /// used (the upstream refuses the reuse); a store failure follows `store.on_error`.
    async fn recall_pushed(
        &mut self,
        policy: OutsideParameters,
        request_uri: &str,
        client_id: &str,
    ) -> Result<Option<pushed::Record>, Rejection> {
        if policy == OutsideParameters::Allow {
            return Ok(None);
        }
        match pushed::recall(self.store, request_uri).await {
            Ok(record) => Ok(record.filter(|r| r.client_id() == client_id)),
            Err(e) => self.store_failed(e).map(|()| None),
        }
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

    async fn check_object<'j>(
        &mut self,
        jws: &'j Jws<'j>,
        client: &Client,
    ) -> Result<RequestObject<'j>, Rejection> {
        let policy = &self
            .snapshot
            .policies_for(Some(client.level))
            .request_object;
        let checked = self
            .with_remote_keys(&client.jar_jwks_uris, |remote| {
                check_request_object_with(jws, policy, client, remote, self.now)
            })
            .await;
        self.note_token(jws, checked.as_ref().err());
        checked.map_err(|f| TokenKind::RequestObject.rejection(f))
    }

    fn object_single_use(&self, client: &Client, checked: &RequestObject) -> Vec<SingleUse> {
        let kind = TokenKind::RequestObject;
        let max_lifetime = self
            .snapshot
            .policies_for(Some(client.level))
            .request_object
            .0
            .max_lifetime;
        checked
            .jti
            .iter()
            .map(|jti| SingleUse {
                key: jti_key(kind.store_use(), &client.id, jti),
                ttl: self.single_use_ttl(checked.exp, max_lifetime),
                replayed: kind.rejection(TokenFault::Replayed),
            })
            .collect()
    }
}
