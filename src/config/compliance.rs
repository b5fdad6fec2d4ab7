//! Compliance levels (SPEC §9): the typed `Level` a client is held to, what each level brings
//! (client-authentication method, sender-constraining, JAR, algorithms), the `[compliance]`
//! settings, and a client's registered `callbacks`. Everything here is resolved once per
//! snapshot: request handling reads a `Level` and `Callbacks`, never a string.
//!
//! The rules themselves are plain functions in `rules::compliance`; the decision (`gate`) calls
//! them in SPEC §5's order. This module knows nothing of requests.

pub mod load;

use crate::keys::Alg;
use serde::Deserialize;
use std::fmt;

/// A compliance level: Auth0's `compliance_level` values and jargate's two DPoP levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum Level {
    #[default]
    #[serde(rename = "none")]
    None,
    #[serde(rename = "fapi1_adv_pkj_par")]
    Fapi1AdvPkjPar,
    #[serde(rename = "fapi1_adv_mtls_par")]
    Fapi1AdvMtlsPar,
    #[serde(rename = "fapi2_sp_pkj_mtls")]
    Fapi2SpPkjMtls,
    #[serde(rename = "fapi2_sp_mtls_mtls")]
    Fapi2SpMtlsMtls,
    #[serde(rename = "fapi2_sp_pkj_dpop")]
    Fapi2SpPkjDpop,
    #[serde(rename = "fapi2_sp_mtls_dpop")]
    Fapi2SpMtlsDpop,
}

/// The profile a level belongs to: "fapi1" and "fapi2" of SPEC §9's rule table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    None,
    Fapi1,
    Fapi2,
}

/// The client-authentication method a level demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LevelAuth {
    /// No level: the registry decides (SPEC §4).
    Registry,
    PrivateKeyJwt,
    /// `tls_client_auth` or `self_signed_tls_client_auth` (SPEC §10).
    Mtls,
}

/// How a level binds tokens to the client at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenderConstraint {
    None,
    /// A client certificate on the token request (RFC 8705).
    Mtls,
    /// A valid DPoP proof on the token request (RFC 9449).
    Dpop,
}

/// The three kinds of JWT whose algorithms a level restricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlgUse {
    RequestObject,
    Assertion,
    DpopProof,
}

const FAPI2_ALGS: &[Alg] = &[Alg::PS256, Alg::ES256, Alg::EdDSA];

impl Level {
    pub const ALL: [Level; 7] = [
        Level::None,
        Level::Fapi1AdvPkjPar,
        Level::Fapi1AdvMtlsPar,
        Level::Fapi2SpPkjMtls,
        Level::Fapi2SpMtlsMtls,
        Level::Fapi2SpPkjDpop,
        Level::Fapi2SpMtlsDpop,
    ];

    /// The configuration value (Auth0's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Fapi1AdvPkjPar => "fapi1_adv_pkj_par",
            Level::Fapi1AdvMtlsPar => "fapi1_adv_mtls_par",
            Level::Fapi2SpPkjMtls => "fapi2_sp_pkj_mtls",
            Level::Fapi2SpMtlsMtls => "fapi2_sp_mtls_mtls",
            Level::Fapi2SpPkjDpop => "fapi2_sp_pkj_dpop",
            Level::Fapi2SpMtlsDpop => "fapi2_sp_mtls_dpop",
        }
    }

    pub fn parse(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == name)
    }

    pub fn family(self) -> Family {
        match self {
            Level::None => Family::None,
            Level::Fapi1AdvPkjPar | Level::Fapi1AdvMtlsPar => Family::Fapi1,
            _ => Family::Fapi2,
        }
    }

    /// Any level but `none`: the rules of SPEC §9 marked "all" apply.
    pub fn is_set(self) -> bool {
        self != Level::None
    }

    pub fn is_fapi1(self) -> bool {
        self.family() == Family::Fapi1
    }

    pub fn is_fapi2(self) -> bool {
        self.family() == Family::Fapi2
    }

    pub fn client_auth(self) -> LevelAuth {
        match self {
            Level::None => LevelAuth::Registry,
            Level::Fapi1AdvPkjPar | Level::Fapi2SpPkjMtls | Level::Fapi2SpPkjDpop => {
                LevelAuth::PrivateKeyJwt
            }
            Level::Fapi1AdvMtlsPar | Level::Fapi2SpMtlsMtls | Level::Fapi2SpMtlsDpop => {
                LevelAuth::Mtls
            }
        }
    }

    pub fn sender_constraint(self) -> SenderConstraint {
        match self {
            Level::None => SenderConstraint::None,
            Level::Fapi2SpPkjDpop | Level::Fapi2SpMtlsDpop => SenderConstraint::Dpop,
            _ => SenderConstraint::Mtls,
        }
    }

    /// A signed request object is required at PAR (fapi1).
    pub fn jar_required(self) -> bool {
        self.is_fapi1()
    }

    /// The algorithms the level allows for one use; `None` = no restriction (SPEC §4 applies).
    /// An empty list means the level has no such token (a fapi1 mTLS client sends no assertion).
    pub fn algs(self, kind: AlgUse) -> Option<&'static [Alg]> {
        match (self, kind) {
            (Level::None, _) => None,
            (Level::Fapi1AdvPkjPar, AlgUse::RequestObject) => Some(&[Alg::PS256]),
            (Level::Fapi1AdvPkjPar, AlgUse::Assertion) => Some(&[Alg::PS256, Alg::ES256]),
            (Level::Fapi1AdvMtlsPar, AlgUse::RequestObject) => Some(&[Alg::PS256]),
            (Level::Fapi1AdvPkjPar | Level::Fapi1AdvMtlsPar, _) => Some(&[]),
            _ => Some(FAPI2_ALGS),
        }
    }

    /// The level's algorithms for `kind`, comma-separated, for messages (empty: none, or no
    /// restriction at `none`).
    pub fn alg_names(self, kind: AlgUse) -> String {
        let names: Vec<&str> = self
            .algs(kind)
            .unwrap_or_default()
            .iter()
            .map(|a| a.name())
            .collect();
        names.join(", ")
    }

    /// Whether `alg` may be used for `kind` at this level.
    pub fn allows_alg(self, kind: AlgUse, alg: Alg) -> bool {
        self.algs(kind).is_none_or(|algs| algs.contains(&alg))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `compliance.response_iss` (SPEC §12).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseIss {
    #[default]
    Auto,
    Always,
    Never,
}

/// `[compliance]` (SPEC §3, §9).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default, rename = "Compliance")]
pub struct ComplianceSettings {
    /// The level of every client whose registry entry has no `compliance_level`.
    pub level: Level,
    pub response_iss: ResponseIss,
    /// Echo or mint `x-fapi-interaction-id` (SPEC §8).
    pub interaction_id: bool,
}

/// A client's registered redirect URIs (Auth0's `callbacks`), compared as strings; for the
/// loopback callbacks `http://127.0.0.1` and `http://[::1]` the port is ignored (RFC 8252 §7.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Callbacks {
    /// Each callback as registered.
    exact: Vec<String>,
    /// Loopback callbacks with their port removed.
    loopback: Vec<String>,
}

impl Callbacks {
    pub fn new(uris: Vec<String>) -> Callbacks {
        let loopback = uris
            .iter()
            .filter_map(|u| without_loopback_port(u))
            .collect();
        Callbacks {
            exact: uris,
            loopback,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    /// The callbacks as registered.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.exact.iter().map(String::as_str)
    }

    /// Whether `redirect_uri` is one of the callbacks (SPEC §9).
    pub fn matches(&self, redirect_uri: &str) -> bool {
        if self.exact.iter().any(|c| c == redirect_uri) {
            return true;
        }
        match without_loopback_port(redirect_uri) {
            Some(bare) => self.loopback.contains(&bare),
            None => false,
        }
    }
}

const LOOPBACK_HOSTS: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// `http://127.0.0.1:8080/cb` → `http://127.0.0.1/cb`; `None` for any other URI.
pub fn without_loopback_port(uri: &str) -> Option<String> {
    for host in LOOPBACK_HOSTS {
        let Some(rest) = uri.strip_prefix(host) else {
            continue;
        };
        let rest = match rest.strip_prefix(':') {
            Some(port_and_path) => {
                let end = port_and_path
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(port_and_path.len());
                if end == 0 {
                    return None;
                }
                &port_and_path[end..]
            }
            None => rest,
        };
        if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
            return Some(format!("{host}{rest}"));
        }
        return None;
    }
    None
}

/// What the snapshot knows about levels as a whole (discovery and `iss` read it).
#[derive(Debug, Clone, Default)]
pub struct Compliance {
    pub settings: ComplianceSettings,
    /// Every level some client resolves to, each once, in `Level::ALL` order.
    pub levels_in_use: Vec<Level>,
    /// The token policies of each level in use but `none` (`Snapshot::policies_for`).
    pub policies: Vec<(Level, super::TokenPolicies)>,
}

impl Compliance {
    /// The global level (`compliance.level`).
    pub fn global(&self) -> Level {
        self.settings.level
    }

    pub fn policies(&self, level: Level) -> Option<&super::TokenPolicies> {
        self.policies
            .iter()
            .find(|(l, _)| *l == level)
            .map(|(_, p)| p)
    }

    /// Whether some client is held to a fapi2 level.
    pub fn any_fapi2(&self) -> bool {
        self.levels_in_use.iter().any(|l| l.is_fapi2())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_reads_back_its_name() {
        for level in Level::ALL {
            assert_eq!(Level::parse(level.name()), Some(level));
            let toml = format!("level = {:?}", level.name());
            let parsed: ComplianceSettings = toml::from_str(&toml).unwrap();
            assert_eq!(parsed.level, level);
        }
        assert_eq!(Level::parse("fapi2"), None);
    }

    #[test]
    fn each_level_brings_its_row_of_the_table() {
        use Level::*;
        assert_eq!(Fapi1AdvPkjPar.client_auth(), LevelAuth::PrivateKeyJwt);
        assert_eq!(Fapi1AdvMtlsPar.client_auth(), LevelAuth::Mtls);
        assert_eq!(Fapi2SpMtlsDpop.client_auth(), LevelAuth::Mtls);
        assert_eq!(Fapi2SpPkjDpop.sender_constraint(), SenderConstraint::Dpop);
        assert_eq!(Fapi1AdvMtlsPar.sender_constraint(), SenderConstraint::Mtls);
        assert_eq!(None.sender_constraint(), SenderConstraint::None);
        assert!(Fapi1AdvPkjPar.jar_required() && !Fapi2SpPkjMtls.jar_required());
        assert!(!Fapi1AdvPkjPar.allows_alg(AlgUse::RequestObject, Alg::ES256));
        assert!(Fapi1AdvPkjPar.allows_alg(AlgUse::Assertion, Alg::ES256));
        assert!(!Fapi1AdvMtlsPar.allows_alg(AlgUse::Assertion, Alg::PS256));
        assert!(Fapi2SpPkjDpop.allows_alg(AlgUse::DpopProof, Alg::EdDSA));
        assert!(!Fapi2SpPkjMtls.allows_alg(AlgUse::Assertion, Alg::RS256));
        assert!(None.allows_alg(AlgUse::Assertion, Alg::RS256));
    }

    #[test]
    fn loopback_callbacks_match_any_port() {
        let cb = Callbacks::new(vec![
            "https://app.example.com/cb".into(),
            "http://127.0.0.1/cb".into(),
            "http://[::1]:5000/cb".into(),
        ]);
        assert!(cb.matches("https://app.example.com/cb"));
        assert!(!cb.matches("https://app.example.com/cb/"));
        assert!(!cb.matches("https://app.example.com:443/cb"));
        assert!(cb.matches("http://127.0.0.1:61234/cb"));
        assert!(cb.matches("http://127.0.0.1/cb"));
        assert!(cb.matches("http://[::1]/cb"));
        assert!(!cb.matches("http://127.0.0.1:61234/other"));
        assert!(!cb.matches("http://127.0.0.1.evil.com/cb"));
        assert!(!cb.matches("http://127.0.0.1:/cb"));
        assert!(!cb.matches("http://localhost:8080/cb"));
    }
}
