//! Parameters outside a request object (SPEC §5 `jar.outside_parameters`). RFC 9101 §6.3 says
//! only the object counts; some servers merge outside parameters anyway, so jargate strips or
//! refuses those that could change the meaning of the request.

use super::Forward;
use crate::config::OutsideParameters;
use crate::reject::{Rejection, RequestFault};
use crate::request::params::{json_body, Origin, Param, Params, INTERPRETED};
use bytes::Bytes;
use serde_json::{Map, Value};

/// Applies the policy. `object` is `None` when the object is not at hand (a PAR `request_uri`
/// forwarded in passthrough mode): then no outside parameter can be shown identical.
pub fn apply(
    policy: OutsideParameters,
    params: &Params,
    object: Option<&Map<String, Value>>,
    query: Option<&[u8]>,
    body: &[u8],
) -> Result<Forward, Rejection> {
    if policy == OutsideParameters::Allow {
        return Ok(Forward::default());
    }
    let keep = |p: &Param| {
        // Never outside parameters: they name the client, authenticate it or carry the object.
        INTERPRETED.contains(&p.name.as_str())
            || object
                .and_then(|o| o.get(&p.name))
                .is_some_and(|v| same_value(v, &p.value))
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
        other => serde_json::to_string(other).is_ok_and(|text| text == outside),
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
            object.as_object(),
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
            object.as_object(),
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
            let fwd = apply(policy, &query_params(query), None, Some(query), b"").unwrap();
            assert_eq!(fwd, Forward::default());
        }
    }

    #[test]
    fn without_the_object_only_the_carriers_survive() {
        let query = b"client_id=app&request_uri=urn:x&scope=openid";
        let fwd = apply(
            OutsideParameters::Strip,
            &query_params(query),
            None,
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
