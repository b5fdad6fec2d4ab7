//! What the token rules need from the settings, resolved once per snapshot: one policy per
//! token kind, so a request reads no setting itself and the two kinds' limits never mix.

use super::compliance::{AlgUse, Level};
use super::Settings;

/// The limits and requirements one kind of token is checked against (SPEC §5).
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub max_bytes: usize,
    pub max_alg_chars: usize,
    pub max_claim_chars: usize,
    pub max_lifetime: i64,
    pub skew: i64,
    pub require_exp: bool,
    pub require_nbf: bool,
    /// `typ` must be present (request objects with `jar.require_typ`).
    pub require_typ: bool,
    pub audience: AudiencePolicy,
    /// The algorithms the client's compliance level allows for this kind (SPEC §9); `None`:
    /// no level, the registered credential's `alg` decides alone.
    pub algs: Option<&'static [crate::keys::Alg]>,
}

/// Who a token must be addressed to.
#[derive(Debug, Clone)]
pub struct AudiencePolicy {
    pub identifier: String,
    pub aliases: Vec<String>,
    /// One string equal to `identifier` (client assertions with `strict_audience`).
    pub strict: bool,
}

impl AudiencePolicy {
    /// Whether `aud` names this authorization server (its identifier or an alias).
    pub fn accepts(&self, aud: &str) -> bool {
        aud == self.identifier || self.aliases.iter().any(|a| a == aud)
    }
}

/// Client assertions (RFC 7523).
#[derive(Debug, Clone)]
pub struct AssertionPolicy(pub TokenPolicy);

/// Request objects (RFC 9101).
#[derive(Debug, Clone)]
pub struct RequestObjectPolicy(pub TokenPolicy);

/// Both policies of a snapshot.
#[derive(Debug, Clone)]
pub struct TokenPolicies {
    pub assertion: AssertionPolicy,
    pub request_object: RequestObjectPolicy,
}

impl TokenPolicies {
    pub fn new(settings: &Settings) -> TokenPolicies {
        let limits = &settings.limits;
        let issuer = &settings.issuer;
        let audience = |strict| AudiencePolicy {
            identifier: issuer.identifier.clone(),
            aliases: issuer.aliases.clone(),
            strict,
        };
        TokenPolicies {
            assertion: AssertionPolicy(TokenPolicy {
                max_bytes: limits.max_assertion_bytes,
                max_alg_chars: limits.max_alg_chars,
                max_claim_chars: limits.max_claim_chars,
                max_lifetime: limits.assertion_max_lifetime_secs,
                skew: limits.clock_skew_secs,
                require_exp: true,
                require_nbf: false,
                require_typ: false,
                audience: audience(issuer.strict_audience),
                algs: None,
            }),
            // `strict_audience` hardens client assertions only: the OpenID conformance suite
            // requires a request object with `aud = [issuer, other]` to be accepted.
            request_object: RequestObjectPolicy(TokenPolicy {
                max_bytes: limits.max_request_object_bytes,
                max_alg_chars: limits.max_alg_chars,
                max_claim_chars: limits.max_claim_chars,
                max_lifetime: limits.request_object_max_lifetime_secs,
                skew: limits.clock_skew_secs,
                require_exp: settings.jar.require_exp,
                require_nbf: settings.jar.require_nbf,
                require_typ: settings.jar.require_typ,
                audience: audience(false),
                algs: None,
            }),
        }
    }

    /// The policies of a client at `level` (SPEC §9): the level's algorithms; request objects
    /// with `exp` and `nbf`, at most 60 minutes apart and `nbf` at most 60 minutes old; at
    /// fapi2, client assertions addressed to `issuer.identifier` alone (aliases not accepted,
    /// at PAR too). Every rule stays the §5 rule it tightens.
    pub fn for_level(settings: &Settings, level: Level) -> TokenPolicies {
        let mut policies = TokenPolicies::new(settings);
        if !level.is_set() {
            return policies;
        }
        let object = &mut policies.request_object.0;
        object.require_exp = true;
        object.require_nbf = true;
        object.max_lifetime = object.max_lifetime.min(LEVEL_OBJECT_MAX_LIFETIME_SECS);
        object.algs = level.algs(AlgUse::RequestObject);
        let assertion = &mut policies.assertion.0;
        assertion.algs = level.algs(AlgUse::Assertion);
        if level.is_fapi2() {
            assertion.audience.strict = true;
        }
        policies
    }
}

/// FAPI 1.0 Advanced §5.2.2 items 13 and 17: `exp − nbf` at most 60 minutes.
pub const LEVEL_OBJECT_MAX_LIFETIME_SECS: i64 = 3600;
