//! The decision for one intercepted request: from its method, query, headers and buffered body
//! to "forward (maybe rewritten)" or a `Rejection`. Request shape first, then the client, then
//! the tokens, then single use; the first failure decides. No Pingora types and no running
//! state here: [`decide`] takes a store and a key source, so the whole decision is tested in
//! process (`tests.rs`: every endpoint × upstream mode × outside-parameter policy).

mod authorize;
mod client_auth;
pub mod discovery;
mod dpop;
mod facts;
mod legacy;
mod level;
mod outside;
pub mod pushed;
pub mod report;
pub mod response_iss;
#[cfg(test)]
mod tests;
mod userinfo;

use crate::config::Snapshot;
use crate::keys::{CredentialSet, KeySource, Refresh};
use crate::reject::TokenFault;
use crate::reject::{Rejection, RequestFault};
use crate::request::body::{body_kind, BodyKind};
use crate::request::params::{Origin, Params};
use crate::request::{AuthMethod, Endpoint};
use crate::store::{Store, StoreError};
use bytes::Bytes;
use http::Method;
use std::time::Duration;

pub use dpop::DpopHeader;
pub use facts::TokenFacts;
pub use level::SenderInputs;

/// What the proxy glue hands over once the body is buffered.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub endpoint: Endpoint,
    pub method: &'a Method,
    /// Raw query string, without the `?`.
    pub query: Option<&'a [u8]>,
    pub content_type: Option<&'a [u8]>,
    pub content_encoding: Option<&'a [u8]>,
    pub authorization: Option<&'a [u8]>,
    pub body: &'a [u8],
    /// The client certificate of the request (`listen.mtls` handshake or `mtls.from_header`).
    pub client_cert: Option<&'a crate::mtls::ClientCert>,
    /// The raw `DPoP` header value(s) (SPEC §11).
    pub dpop: DpopHeader<'a>,
}

/// What happens to a valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Forward(Forward),
    /// jargate answers itself (PAR emulation in legacy mode).
    Answer {
        status: u16,
        body: Bytes,
    },
}

/// How a valid request goes upstream. `None` fields are forwarded exactly as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forward {
    /// New query string (empty: none).
    pub query: Option<String>,
    /// New body; Content-Length is recomputed.
    pub body: Option<Bytes>,
    /// New `Authorization` header (legacy `client_secret_basic`).
    pub authorization: Option<String>,
    /// Send upstream as a GET without a body (legacy `/authorize`).
    pub as_get: bool,
    /// Remove the client's `Authorization` header (legacy `client_secret_post`).
    pub drop_authorization: bool,
    /// A push forwarded in passthrough mode: remember it under the `request_uri` of the
    /// upstream's `201` answer (`pushed`).
    pub push: Option<pushed::Record>,
}

impl From<Forward> for Action {
    fn from(f: Forward) -> Action {
        Action::Forward(f)
    }
}

/// The decision and what is known about the client, for logs and metrics.
#[derive(Debug)]
pub struct Verdict {
    pub client_id: Option<String>,
    pub result: Result<Action, Rejection>,
    /// Single use could not be recorded but `store.on_error = "allow"` let it through.
    pub store_error: Option<StoreError>,
    /// The last token checked (the one refused, if a token was), for the decision line.
    pub token: Option<TokenFacts>,
    /// The client-authentication method the request used (token, PAR, client-auth paths).
    pub auth_method: Option<AuthMethod>,
    /// jargate itself authenticated the client (assertion or certificate): a self-signed
    /// client certificate may then be forwarded (SPEC §10).
    pub client_authenticated: bool,
    /// The RFC 7638 thumbprint of a DPoP proof that passed steps 1–6 (the decision line's
    /// `dpop_jkt`).
    pub dpop_jkt: Option<String>,
    /// With `dpop.nonce = "jargate"`: the `DPoP-Nonce` every answer to this request carries
    /// (a valid proof, or a `use_dpop_nonce` refusal).
    pub dpop_nonce: Option<String>,
}

/// Checks that need no body: method, query string, declared length (SPEC §5 request shape).
pub fn precheck(
    snapshot: &Snapshot,
    endpoint: Endpoint,
    method: &Method,
    has_query: bool,
    content_length: Option<usize>,
) -> Result<(), Rejection> {
    // HEAD is validated as GET: most stacks run the GET handler for it, and the `Location`
    // of the answer still carries a code.
    let allowed = match endpoint {
        Endpoint::Authorize => {
            method == Method::GET || method == Method::HEAD || method == Method::POST
        }
        // The upstream decides which methods its userinfo serves (OIDC: GET and POST).
        Endpoint::Userinfo => true,
        _ => method == Method::POST,
    };
    if !allowed {
        return Err(Rejection::MethodNotAllowed);
    }
    if has_query && !matches!(endpoint, Endpoint::Authorize | Endpoint::Userinfo) {
        return Err(RequestFault::QueryNotAllowed.into());
    }
    // GET query or POST form, never both: a stack reading only the body of a POST (Django's
    // `request.POST`, Express's `req.body`) would process another request than the one
    // validated.
    if has_query && endpoint == Endpoint::Authorize && method == Method::POST {
        return Err(RequestFault::AuthorizePostWithQuery.into());
    }
    if content_length.is_some_and(|n| n > snapshot.settings.limits.max_body_bytes) {
        return Err(Rejection::BodyTooLarge);
    }
    Ok(())
}

/// Decides an intercepted request whose `precheck` passed and whose body is fully buffered.
/// `snapshot` is the configuration the request holds from start to finish; `store` records
/// single use (and, in legacy mode, pushed requests); `keys` holds the remote JWK Sets.
pub async fn decide(
    store: &dyn Store,
    keys: &dyn KeySource,
    snapshot: &Snapshot,
    req: Incoming<'_>,
    now: i64,
) -> Verdict {
    decide_with(store, keys, snapshot, req, now, SenderInputs::of(&req)).await
}

/// [`decide`] with the sender-constraining inputs given (tests of the levels' token flows).
pub async fn decide_with(
    store: &dyn Store,
    keys: &dyn KeySource,
    snapshot: &Snapshot,
    req: Incoming<'_>,
    now: i64,
    sender: SenderInputs,
) -> Verdict {
    let mut ctx = Decision {
        sender,
        pending: Vec::new(),
        written: Vec::new(),
        snapshot,
        store,
        keys,
        now,
        client_id: None,
        store_error: None,
        token: None,
        auth_method: None,
        client_authenticated: false,
        unrecorded: Vec::new(),
        dpop_jkt: None,
    };
    let result = ctx.run(req).await;
    let client_authenticated = ctx.client_authenticated && result.is_ok();
    if let Err(rejection) = &result {
        if report::forwards(snapshot, ctx.client_id.as_deref(), rejection) {
            ctx.record_forwarded().await;
        } else {
            // A refused request leaves no single-use record (SPEC §5).
            ctx.rollback().await;
        }
    }
    let nonce_due = ctx.dpop_jkt.is_some() || result == Err(Rejection::UseDpopNonce);
    let dpop_nonce = match snapshot.dpop.nonce {
        crate::config::DpopNonce::Jargate if nonce_due => {
            crate::rules::dpop::nonce::issue(&snapshot.dpop, now)
        }
        _ => None,
    };
    Verdict {
        client_id: ctx.client_id,
        result,
        store_error: ctx.store_error,
        token: ctx.token,
        auth_method: ctx.auth_method,
        client_authenticated,
        dpop_jkt: ctx.dpop_jkt,
        dpop_nonce,
    }
}

/// State shared by the steps of one decision.
struct Decision<'a> {
    snapshot: &'a Snapshot,
    store: &'a dyn Store,
    keys: &'a dyn KeySource,
    now: i64,
    client_id: Option<String>,
    store_error: Option<StoreError>,
    token: Option<TokenFacts>,
    auth_method: Option<AuthMethod>,
    client_authenticated: bool,
    /// Single-use keys of tokens that passed their own checks; recorded even when a later rule
    /// fails in report mode, since the request then goes upstream with them.
    unrecorded: Vec<SingleUse>,
    /// The thumbprint of the request's valid DPoP proof.
    dpop_jkt: Option<String>,
    /// The single-use records of this request, recorded together once every other rule
    /// passed (SPEC §5 "Single use is decided last"): assertion `jti`, request object `jti`
    /// (and the DPoP proof's, §11).
    pending: Vec<SingleUse>,
    /// Keys this request wrote, removed again if the request is refused after all.
    written: Vec<String>,
    /// Certificate and DPoP proof, for sender-constraining (SPEC §9).
    sender: SenderInputs,
}

impl Decision<'_> {
    async fn run(&mut self, req: Incoming<'_>) -> Result<Action, Rejection> {
        dpop::header_count(&req)?;
        let max = self.snapshot.settings.limits.max_parameters;
        let params = match req.endpoint {
            // Any body may reach a userinfo endpoint; it is read only for `access_token`.
            Endpoint::Userinfo => Params::default(),
            _ => read_params(&req, max)?,
        };
        if !matches!(req.endpoint, Endpoint::Authorize | Endpoint::Userinfo) {
            self.auth_method = Some(AuthMethod::of(&params, req.authorization));
        }
        match req.endpoint {
            Endpoint::Userinfo => userinfo::decide(&req, max),
            Endpoint::Authorize => self.authorize(&req, &params).await,
            Endpoint::Par => self.par(&req, &params).await,
            Endpoint::Token | Endpoint::ClientAuth => {
                let auth = self.authenticate_client(&req, &params).await?;
                let proven = auth.proven();
                self.client_authenticated = proven;
                self.level_client_auth(auth.client.as_deref())?;
                self.remember(&auth.single_use);
                self.pending.extend(auth.single_use);
                let proof = self.dpop(&req, auth.client.as_deref())?;
                self.sender.dpop_proof_valid |= self.dpop_jkt.is_some();
                if let (Some(client), Endpoint::Token) = (&auth.client, req.endpoint) {
                    self.level_token_request(client.level, &params)?;
                }
                self.pending.extend(proof);
                self.record_pending().await?;
                match (&auth.client, proven && self.legacy()) {
                    (Some(client), true) => {
                        Ok(legacy::client_secret(self.snapshot, client, &params, req.body)?.into())
                    }
                    _ => Ok(Forward::default().into()),
                }
            }
        }
    }

    fn legacy(&self) -> bool {
        self.snapshot.settings.upstream.mode == crate::config::Mode::Legacy
    }

    /// Records the pending single-use keys, last, once every other rule passed; the first
    /// replay (or store failure under `on_error = "reject"`) refuses, and `decide` then
    /// removes what this request already wrote.
    async fn record_pending(&mut self) -> Result<(), Rejection> {
        for item in std::mem::take(&mut self.pending) {
            match self.store.insert_once(&item.key, item.ttl).await {
                Ok(true) => self.written.push(item.key),
                Ok(false) => return Err(item.replayed),
                Err(e) => self.store_failed(e)?,
            }
        }
        Ok(())
    }

    /// Removes the single-use records this request wrote: it is refused after all, so the
    /// client may send the same tokens again. A failed removal is logged; the record then
    /// expires on its own.
    async fn rollback(&mut self) {
        for key in std::mem::take(&mut self.written) {
            if let Err(e) = self.store.remove(&key).await {
                tracing::warn!(
                    request_id = crate::logs::request_id(),
                    error = %e,
                    "store call failed: a single-use record of a refused request stays until it expires"
                );
            }
        }
    }

    /// Keeps `items` for [`Decision::record_forwarded`].
    fn remember(&mut self, items: &[SingleUse]) {
        self.unrecorded.extend(items.iter().cloned());
    }

    /// Report mode, for a request forwarded although a rule failed: records every single-use key
    /// of a token that was valid itself, so its replay is reported too. A key already recorded
    /// stays as it is; a store failure is logged (the request is forwarded either way).
    async fn record_forwarded(&mut self) {
        for item in std::mem::take(&mut self.unrecorded) {
            if let Err(e) = self.store.insert_once(&item.key, item.ttl).await {
                tracing::warn!(error = %e, "store call failed");
            }
        }
    }

    fn store_failed(&mut self, e: StoreError) -> Result<(), Rejection> {
        tracing::warn!(request_id = crate::logs::request_id(), error = %e, "store call failed");
        match self.snapshot.settings.store.on_error {
            crate::config::OnError::Allow if e != StoreError::Full => {
                self.store_error = Some(e);
                Ok(())
            }
            _ => Err(Rejection::StoreUnavailable),
        }
    }

    /// Runs `check` against the client's registered keys and its remote JWK Sets (`uris`).
    /// When no key fits, the sets are refetched (rate-limited) and the check runs once more,
    /// so a client that rotated its keys is followed at once.
    async fn with_remote_keys<T>(
        &self,
        uris: &[String],
        check: impl Fn(&[&CredentialSet]) -> Result<T, TokenFault>,
    ) -> Result<T, TokenFault> {
        if uris.is_empty() {
            return check(&[]);
        }
        let cached: Vec<_> = uris
            .iter()
            .filter_map(|u| self.keys.cached_keys(u))
            .collect();
        let sets: Vec<&CredentialSet> = cached.iter().map(|k| k.as_ref()).collect();
        match check(&sets) {
            Err(
                TokenFault::UnknownKid
                | TokenFault::NoCredential
                | TokenFault::AlgNotAllowed
                | TokenFault::BadSignature,
            ) => {
                let refresh = self.refresh();
                let mut fresh = Vec::with_capacity(uris.len());
                for uri in uris {
                    fresh.extend(self.keys.refetched_keys(uri, refresh).await);
                }
                let sets: Vec<&CredentialSet> = fresh.iter().map(|k| k.as_ref()).collect();
                match check(&sets) {
                    // No key found, and a set that might hold it could not be fetched.
                    Err(TokenFault::UnknownKid | TokenFault::NoCredential)
                        if uris.iter().any(|u| self.keys.unavailable(u)) =>
                    {
                        Err(TokenFault::JwksUnavailable)
                    }
                    result => result,
                }
            }
            result => {
                if result.is_ok() && !cached.is_empty() {
                    self.keys.count_hit();
                }
                result
            }
        }
    }

    fn refresh(&self) -> Refresh {
        let clients = &self.snapshot.settings.clients;
        Refresh {
            every: Duration::from_secs(clients.jwks_refresh_secs),
            min_interval: Duration::from_secs(clients.jwks_min_refetch_secs),
        }
    }

    /// How long a single-use entry must live: until `exp + skew`.
    fn single_use_ttl(&self, exp: Option<i64>, max_lifetime: i64) -> Duration {
        let skew = self.snapshot.settings.limits.clock_skew_secs;
        let until = exp.unwrap_or(self.now + max_lifetime) + skew;
        Duration::from_secs((until - self.now).max(1) as u64)
    }
}

/// A `jti` to record once the request is otherwise valid.
#[derive(Clone)]
struct SingleUse {
    key: String,
    ttl: Duration,
    replayed: Rejection,
}

/// The request's parameters: the query (at `/authorize`) and the body, as one set of at most
/// `max` parameters.
fn read_params(req: &Incoming<'_>, max: usize) -> Result<Params, Rejection> {
    let mut params = Params::with_limit(max);
    if let Some(query) = req.query {
        params.add_form(query, Origin::Query)?;
    }
    let bodiless = req.method == Method::GET || req.method == Method::HEAD;
    if bodiless && !req.body.is_empty() {
        return Err(RequestFault::MalformedBody.into());
    }
    match body_kind(req.content_type, req.content_encoding, req.body.is_empty())? {
        BodyKind::Form => params.add_form(req.body, Origin::Form)?,
        BodyKind::Json => {
            params.add_json(req.body)?;
            crate::request::json_form::check(req.body)?;
        }
        BodyKind::None => {}
    }
    Ok(params)
}
