//! `paths.userinfo` under a global compliance level (SPEC §9, Auth0's rule): an access token
//! travels in the `Authorization` header only. The query and a form body follow §5's
//! parameter-name and repeated-parameter rules (`access_token` an interpreted name); any other
//! body is read as a form only to look for that name. Nothing is rewritten: a request that
//! passes is forwarded as received.

use super::{Action, Forward, Incoming};
use crate::reject::{ComplianceFault, Rejection, RequestFault};
use crate::request::body::{body_kind, BodyKind};
use crate::request::params::{Origin, Params};
use crate::rules::compliance::names_access_token;

/// Decides a userinfo request.
pub(super) fn decide(req: &Incoming<'_>, max_parameters: usize) -> Result<Action, Rejection> {
    if req
        .content_encoding
        .is_some_and(|e| !e.trim_ascii().eq_ignore_ascii_case(b"identity"))
    {
        return Err(RequestFault::ContentEncoding.into());
    }
    let mut params = Params::with_limit(max_parameters);
    if let Some(query) = req.query {
        params.add_form(query, Origin::Query)?;
        if names_access_token(query) {
            return Err(ComplianceFault::UserinfoAccessToken.into());
        }
    }
    if !req.body.is_empty() {
        if let Ok(BodyKind::Form) = body_kind(req.content_type, None, false) {
            params.add_form(req.body, Origin::Form)?;
        }
        if names_access_token(req.body) {
            return Err(ComplianceFault::UserinfoAccessToken.into());
        }
    }
    Ok(Forward::default().into())
}
