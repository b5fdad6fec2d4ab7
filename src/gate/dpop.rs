//! DPoP in the decision (SPEC §11): the proof a PAR or token request carries is checked after
//! client authentication and the request object (SPEC §5 step 6), and its (thumbprint, `jti`)
//! joins the request's single-use records, decided last. Also: the proof required of a
//! `dpop_bound_access_tokens` client at the token endpoint, `dpop_jkt` against the proof key
//! at PAR, and, in legacy mode, the thumbprint kept with jargate's own pushed request.

use super::{Decision, Incoming, SingleUse};
use crate::config::compliance::AlgUse;
use crate::config::Client;
use crate::reject::{DpopFault, Rejection, RequestFault, TokenFault};
use crate::request::{Endpoint, Params};
use crate::rules::dpop::{self, DpopProof, Target};
use crate::store::dpop_key;
use serde_json::{Map, Value};
use std::time::Duration;

/// The `DPoP` request headers as received (SPEC §11 step 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DpopHeader<'a> {
    #[default]
    Absent,
    One(&'a [u8]),
    /// More than one `DPoP` header: refused with the request's shape.
    Several,
}

impl<'a> DpopHeader<'a> {
    /// Reads the values of every `DPoP` header of a request.
    pub fn of<I: IntoIterator<Item = &'a [u8]>>(values: I) -> DpopHeader<'a> {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => DpopHeader::Absent,
            (Some(one), None) => DpopHeader::One(one),
            (Some(_), Some(_)) => DpopHeader::Several,
        }
    }
}

/// Where proofs are read: the PAR and token endpoints.
pub(super) fn applies(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::Par | Endpoint::Token)
}

/// Step 1's header count, with the request's shape (before the client is looked up).
pub(super) fn header_count(req: &Incoming<'_>) -> Result<(), Rejection> {
    match (applies(req.endpoint), req.dpop) {
        (true, DpopHeader::Several) => Err(DpopFault::HeaderCount.into()),
        _ => Ok(()),
    }
}

impl Decision<'_> {
    /// Steps 1–6 for the proof `req` carries, if any; a proof is required at the token
    /// endpoint for a `dpop_bound_access_tokens` client. Returns the single-use record of a
    /// valid proof (step 7), to be written with the request's others.
    pub(super) fn dpop(
        &mut self,
        req: &Incoming<'_>,
        client: Option<&Client>,
    ) -> Result<Option<SingleUse>, Rejection> {
        if !applies(req.endpoint) {
            return Ok(None);
        }
        let value = match req.dpop {
            DpopHeader::One(value) => value,
            DpopHeader::Several => return Err(DpopFault::HeaderCount.into()),
            DpopHeader::Absent => {
                let required = req.endpoint == Endpoint::Token
                    && client.is_some_and(|c| c.dpop_bound_access_tokens);
                return match required {
                    true => Err(DpopFault::Missing.into()),
                    false => Ok(None),
                };
            }
        };
        let text = std::str::from_utf8(value)
            .map_err(|_| DpopFault::Malformed(TokenFault::BadEncoding { part: "header" }))?;
        let paths = &self.snapshot.settings.paths;
        let target = Target {
            method: req.method.as_str(),
            path: match req.endpoint {
                Endpoint::Par => &paths.par,
                _ => &paths.token,
            },
        };
        let mut policy = &self.snapshot.dpop;
        // SPEC §9: at a level, proofs are accepted for the level's row of `dpop.algs` only
        // (the load check makes sure the two share one).
        let narrowed;
        if let Some(row) = client.and_then(|c| c.level.algs(AlgUse::DpopProof)) {
            let mut level_policy = policy.clone();
            level_policy.algs.retain(|alg| row.contains(alg));
            narrowed = level_policy;
            policy = &narrowed;
        }
        let valid = dpop::check(&DpopProof::read(text), policy, target, self.now)?;
        let record = SingleUse {
            key: dpop_key(&valid.thumbprint, &valid.jti),
            ttl: Duration::from_secs(policy.replay_ttl_secs(valid.iat, self.now)),
            replayed: DpopFault::Replayed.into(),
        };
        self.dpop_jkt = Some(valid.thumbprint);
        Ok(Some(record))
    }

    /// At PAR (RFC 9449 §10): a `dpop_jkt` parameter, or the request object's claim, names the
    /// key of the proof sent with it. Without a proof there is nothing to compare.
    pub(super) fn dpop_jkt_matches(
        &self,
        params: &Params,
        claims: Option<&Map<String, Value>>,
    ) -> Result<(), Rejection> {
        let Some(thumbprint) = &self.dpop_jkt else {
            return Ok(());
        };
        let claimed = claims.and_then(|c| c.get("dpop_jkt"));
        let named = [params.get("dpop_jkt"), claimed.and_then(Value::as_str)];
        if claimed.is_some_and(|c| !c.is_string()) {
            return Err(RequestFault::DpopJktMismatch.into());
        }
        match named.iter().flatten().all(|jkt| *jkt == thumbprint) {
            true => Ok(()),
            false => Err(RequestFault::DpopJktMismatch.into()),
        }
    }

    /// Legacy PAR: the pushed query carries `dpop_jkt` to the upstream's `/authorize`, the
    /// client's own (already held equal to the proof's key) or else the proof key's.
    pub(super) fn with_dpop_jkt(&self, mut query: String) -> String {
        let Some(thumbprint) = &self.dpop_jkt else {
            return query;
        };
        let named = form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "dpop_jkt");
        if !named {
            if !query.is_empty() {
                query.push('&');
            }
            // A thumbprint is base64url: nothing to encode.
            query.push_str("dpop_jkt=");
            query.push_str(thumbprint);
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_counted() {
        let none: [&[u8]; 0] = [];
        assert_eq!(DpopHeader::of(none), DpopHeader::Absent);
        assert_eq!(DpopHeader::of([&b"a"[..]]), DpopHeader::One(b"a"));
        assert_eq!(DpopHeader::of([&b"a"[..], b"b"]), DpopHeader::Several);
    }
}
