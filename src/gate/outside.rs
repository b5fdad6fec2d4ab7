//! Parameters outside a request object (SPEC §5 `jar.outside_parameters`). RFC 9101 §6.3 says
//! only the object counts; some servers merge outside parameters anyway, so jargate strips or
//! refuses those that could change the meaning of the request.

use super::pushed::Record;
use super::Forward;
use crate::config::OutsideParameters;
use crate::reject::{Rejection, RequestFault};
use crate::request::params::{json_body, Origin, Param, Params, INTERPRETED};
use bytes::Bytes;
use serde_json::{Map, Value};

/// What outside parameters are compared with.
#[derive(Debug, Clone, Copy)]
pub enum Inside<'a> {
    /// Nothing at hand (a PAR `request_uri` jargate never saw pushed): no outside parameter
    /// can be shown identical.
    Nothing,
    /// The request object's claims.
    Object(&'a Map<String, Value>),
    /// What was pushed through jargate in passthrough mode.
    Pushed(&'a Record),
}

impl Inside<'_> {
    fn holds(&self, name: &str, value: &str) -> bool {
        match self {
            Inside::Nothing => false,
            Inside::Object(o) => o.get(name).is_some_and(|v| same_value(v, value)),
            Inside::Pushed(r) => r.holds(name, value),
        }
    }
}

/// Applies the policy to the parameters outside what is `inside`.
pub fn apply(
    policy: OutsideParameters,
    params: &Params,
    inside: Inside<'_>,
    query: Option<&[u8]>,
    body: &[u8],
) -> Result<Forward, Rejection> {
    if policy == OutsideParameters::Allow {
        return Ok(Forward::default());
    }
    let keep = |p: &Param| {
        // Never outside parameters: they name the client, authenticate it or carry the object.
        INTERPRETED.contains(&p.name.as_str()) || inside.holds(&p.name, &p.value)
    };
    if let Some(dropped) = params.iter().find(|p| !keep(p)) {
        if policy == OutsideParameters::Reject {
            return Err(RequestFault::OutsideParameter(dropped.name.clone()).into());
        }
    } else {
        return Ok(Forward::default());
    }
    let kept = |origin: Origin| params.iter().filter(move |p| p.origin == origin && keep(p));
    let mut forward = Forward::default();
    if let Some(query) = query {
        forward.query = Some(join_raw(query, kept(Origin::Query)));
    }
    if params.iter().any(|p| p.origin == Origin::Form) {
        forward.body = Some(Bytes::from(join_raw(body, kept(Origin::Form)).into_bytes()));
    } else if params.iter().any(|p| p.origin == Origin::Json) {
        let object = Value::Object(json_body(kept(Origin::Json)));
        forward.body = Some(Bytes::from(object.to_string().into_bytes()));
    }
    Ok(forward)
}

/// An outside value equals the object's claim: strings as they are, other JSON as its text.
fn same_value(claim: &Value, outside: &str) -> bool {
    match claim {
        Value::String(s) => s == outside,
        other => claim_text(other) == outside,
    }
}

/// A claim as an outside parameter must spell it to be identical: a string as it is, any
/// other JSON as its compact text.
pub(super) fn claim_text(claim: &Value) -> String {
    match claim {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Joins the kept parameters, in the client's own encoding where it is canonical.
fn join_raw<'p>(source: &[u8], kept: impl Iterator<Item = &'p Param>) -> String {
    let pieces: Vec<_> = kept.map(|p| p.canonical_text(source)).collect();
    pieces.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query_params(text: &[u8]) -> Params {
        let mut p = Params::default();
        p.add_form(text, Origin::Query).unwrap();
        p
    }

    #[test]
    fn strip_keeps_identical_outside_parameters_in_their_original_encoding() {
        let query = b"client_id=app&request=x.y.z&scope=openid%20email&state=evil";
        let params = query_params(query);
        let object = json!({"scope": "openid email", "state": "good"});
        let fwd = apply(
            OutsideParameters::Strip,
            &params,
            Inside::Object(object.as_object().unwrap()),
            Some(query),
            b"",
        )
        .unwrap();
        assert_eq!(
            fwd.query.as_deref(),
            Some("client_id=app&request=x.y.z&scope=openid%20email")
        );
    }

    #[test]
    fn reject_refuses_a_differing_outside_parameter() {
        let query = b"client_id=app&request=x&state=evil";
        let object = json!({"state": "good"});
        let err = apply(
            OutsideParameters::Reject,
            &query_params(query),
            Inside::Object(object.as_object().unwrap()),
            Some(query),
            b"",
        )
        .unwrap_err();
        assert_eq!(err, RequestFault::OutsideParameter("state".into()).into());
    }

    #[test]
    fn nothing_to_drop_means_forward_unchanged() {
        let query = b"client_id=app&request=x";
        for policy in [
            OutsideParameters::Strip,
            OutsideParameters::Reject,
            OutsideParameters::Allow,
        ] {
            let fwd = apply(
                policy,
                &query_params(query),
                Inside::Nothing,
                Some(query),
                b"",
            )
            .unwrap();
            assert_eq!(fwd, Forward::default());
        }
    }

    #[test]
    fn without_the_object_only_the_carriers_survive() {
        let query = b"client_id=app&request_uri=urn:x&scope=openid";
        let fwd = apply(
            OutsideParameters::Strip,
            &query_params(query),
            Inside::Nothing,
            Some(query),
            b"",
        )
        .unwrap();
        assert_eq!(
            fwd.query.as_deref(),
            Some("client_id=app&request_uri=urn:x")
        );
    }
}
