//! What a discovery document gains, decided from one snapshot (SPEC §1 for legacy mode, §9 in
//! both modes): what jargate provides in front of a legacy IdP, the capabilities jargate adds
//! whatever the mode (mTLS methods and aliases, certificate-bound tokens, DPoP algorithms), and,
//! only under a global compliance level, the restrictions of the levels in use.
//!
//! Restrictions are the union over every client's resolved level, so a method or algorithm some
//! client needs is never hidden: one client that opts out (`"none"`) leaves that list as the
//! upstream sent it, and `require_pushed_authorization_requests` and
//! `code_challenge_methods_supported` are then not advertised either (that client may still
//! send neither). Restrictions only narrow lists the document has; they never invent one.

use crate::config::compliance::{AlgUse, LevelAuth, ResponseIss, SenderConstraint};
use crate::config::{Level, Mode, Snapshot};
use crate::keys::Alg;

/// Everything one snapshot adds to discovery documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advertised {
    /// Legacy mode with `legacy.discovery`: PAR, request objects and private_key_jwt (§1).
    pub legacy: Option<LegacyAdditions>,
    /// Added to `token_endpoint_auth_methods_supported` (mTLS methods some client uses).
    pub auth_methods: Vec<&'static str>,
    /// `mtls.alias_base`: `mtls_endpoint_aliases` on that origin.
    pub mtls_alias_base: Option<String>,
    /// The `paths.client_auth` endpoints, whose aliases are advertised too.
    pub client_auth_paths: Vec<String>,
    /// `tls_client_certificate_bound_access_tokens: true` (passthrough only).
    pub bound_tokens: bool,
    /// Added to `dpop_signing_alg_values_supported` (passthrough only); empty: not advertised.
    pub dpop_algs: Vec<Alg>,
    /// Under a global level only.
    pub restrictions: Option<Restrictions>,
}

/// What a legacy IdP gains (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyAdditions {
    /// `paths.par`, appended to the document's `issuer`.
    pub par_path: String,
    /// `par.require_par`.
    pub require_par: bool,
}

/// The narrowing a global level brings; `None` in a list = unrestricted (left as sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restrictions {
    /// `require_pushed_authorization_requests: true` and `code_challenge_methods_supported:
    /// ["S256"]`: every client is held to a level.
    pub par_and_pkce: bool,
    pub response_types: Option<Vec<&'static str>>,
    pub auth_methods: Option<Vec<&'static str>>,
    pub request_object_algs: Option<Vec<Alg>>,
    pub assertion_algs: Option<Vec<Alg>>,
    pub dpop_algs: Option<Vec<Alg>>,
    /// `authorization_response_iss_parameter_supported: true` (a global fapi2 level and
    /// `response_iss` other than `"never"`).
    pub response_iss: bool,
}

impl Advertised {
    pub fn of(snapshot: &Snapshot) -> Advertised {
        let settings = &snapshot.settings;
        let legacy = settings.upstream.mode == Mode::Legacy;
        let levels = levels(snapshot);
        let clients = || snapshot.registry.clients();
        let must_send_dpop = levels
            .iter()
            .any(|l| l.sender_constraint() == SenderConstraint::Dpop)
            || clients().any(|c| c.dpop_bound_access_tokens);
        let mut auth_methods = Vec::new();
        if clients().any(|c| c.mtls.tls_client_auth) {
            auth_methods.push("tls_client_auth");
        }
        if clients().any(|c| c.mtls.self_signed) {
            auth_methods.push("self_signed_tls_client_auth");
        }
        let bound_tokens = levels
            .iter()
            .any(|l| l.sender_constraint() == SenderConstraint::Mtls);
        Advertised {
            legacy: (legacy && settings.legacy.discovery).then(|| LegacyAdditions {
                par_path: settings.paths.par.clone(),
                require_par: settings.par.require_par,
            }),
            auth_methods,
            mtls_alias_base: settings.mtls.alias_base.clone(),
            client_auth_paths: settings.paths.client_auth.clone(),
            // In legacy mode the upstream mints bearer tokens: it cannot bind them.
            bound_tokens: bound_tokens && !legacy,
            dpop_algs: if must_send_dpop && !legacy {
                snapshot.dpop.algs.clone()
            } else {
                Vec::new()
            },
            restrictions: restrictions(snapshot, &levels),
        }
    }

    /// Whether a document needs rewriting at all (else it is not even buffered).
    pub fn adds_anything(&self) -> bool {
        self.legacy.is_some()
            || !self.auth_methods.is_empty()
            || self.mtls_alias_base.is_some()
            || self.bound_tokens
            || !self.dpop_algs.is_empty()
            || self.restrictions.is_some()
    }
}

/// The levels the clients resolve to; the global level when there is no client.
fn levels(snapshot: &Snapshot) -> Vec<Level> {
    let compliance = &snapshot.compliance;
    if compliance.levels_in_use.is_empty() {
        vec![compliance.global()]
    } else {
        compliance.levels_in_use.clone()
    }
}

fn restrictions(snapshot: &Snapshot, levels: &[Level]) -> Option<Restrictions> {
    let compliance = &snapshot.compliance;
    let global = compliance.global();
    if !global.is_set() {
        return None;
    }
    let algs = |kind| union(levels, |l| l.algs(kind).map(<[Alg]>::to_vec));
    Some(Restrictions {
        par_and_pkce: levels.iter().all(|l| l.is_set()),
        response_types: union(levels, |l| response_types(l).map(<[&str]>::to_vec)),
        auth_methods: union(levels, |l| auth_methods(l).map(<[&str]>::to_vec)),
        request_object_algs: algs(AlgUse::RequestObject),
        assertion_algs: algs(AlgUse::Assertion),
        dpop_algs: algs(AlgUse::DpopProof),
        response_iss: global.is_fapi2() && compliance.settings.response_iss != ResponseIss::Never,
    })
}

/// The `response_type` values a level accepts at PAR (SPEC §9); `None`: any.
fn response_types(level: Level) -> Option<&'static [&'static str]> {
    if level.is_fapi2() {
        Some(&["code"])
    } else if level.is_fapi1() {
        // `code` only with a JARM response mode, which the document does not tie to the type.
        Some(&["code id_token", "code"])
    } else {
        None
    }
}

/// The client-authentication methods a level accepts; `None`: as the registry says.
fn auth_methods(level: Level) -> Option<&'static [&'static str]> {
    match level.client_auth() {
        LevelAuth::Registry => None,
        LevelAuth::PrivateKeyJwt => Some(&["private_key_jwt"]),
        LevelAuth::Mtls => Some(&["tls_client_auth", "self_signed_tls_client_auth"]),
    }
}

/// What any of `levels` allows, each value once in first-seen order; `None` as soon as one
/// level leaves the list unrestricted.
fn union<T: PartialEq>(levels: &[Level], each: impl Fn(Level) -> Option<Vec<T>>) -> Option<Vec<T>> {
    let mut out = Vec::new();
    for level in levels {
        for value in each(*level)? {
            if !out.contains(&value) {
                out.push(value);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::*;

    #[test]
    fn the_union_keeps_what_any_level_needs_and_an_unrestricted_level_lifts_it() {
        let types = |levels: &[Level]| union(levels, |l| response_types(l).map(<[&str]>::to_vec));
        assert_eq!(types(&[Fapi2SpPkjDpop]), Some(vec!["code"]));
        assert_eq!(
            types(&[Fapi2SpPkjMtls, Fapi1AdvPkjPar]),
            Some(vec!["code", "code id_token"])
        );
        assert_eq!(types(&[Fapi2SpPkjMtls, None]), Option::None);
        let methods = |levels: &[Level]| union(levels, |l| auth_methods(l).map(<[&str]>::to_vec));
        assert_eq!(
            methods(&[Fapi2SpPkjMtls, Fapi2SpMtlsDpop]),
            Some(vec![
                "private_key_jwt",
                "tls_client_auth",
                "self_signed_tls_client_auth"
            ])
        );
        let assertion =
            |levels: &[Level]| union(levels, |l| l.algs(AlgUse::Assertion).map(<[Alg]>::to_vec));
        // A fapi1 mTLS client sends no assertion: it adds nothing to the union.
        assert_eq!(
            assertion(&[Fapi1AdvMtlsPar, Fapi1AdvPkjPar]),
            Some(vec![Alg::PS256, Alg::ES256])
        );
    }
}
