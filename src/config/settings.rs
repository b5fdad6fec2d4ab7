//! `jargate.toml` as typed structs: every key of SPEC §3 with its default. Unknown keys are
//! errors (`deny_unknown_fields`), so a typo never silently falls back to a default.

use crate::request::Endpoint;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub listen: Listen,
    pub upstream: UpstreamSettings,
    #[serde(default)]
    pub issuer: Issuer,
    #[serde(default)]
    pub paths: Paths,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub jar: Jar,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub par: Par,
    pub clients: ClientsSettings,
    #[serde(default)]
    pub enforcement: Enforcement,
    #[serde(default)]
    pub legacy: LegacySettings,
    #[serde(default)]
    pub compliance: super::compliance::ComplianceSettings,
    #[serde(default)]
    pub mtls: MtlsSettings,
    #[serde(default)]
    pub dpop: DpopSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    pub proxy: String,
    pub admin: String,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// The whole request head must arrive within this (else 408 or close).
    pub header_timeout_ms: u64,
    /// A buffered body on an intercepted endpoint must arrive within this (else 408).
    pub body_timeout_ms: u64,
    /// After SIGTERM: readiness fails at once, requests are still served this long (SPEC §8).
    pub drain_delay_secs: u64,
    pub forwarded_for: ForwardedFor,
    /// One log line per passthrough request (off by default: intercepted requests always get
    /// their decision line).
    pub access_log: bool,
    /// A second TLS listener that asks for a client certificate (SPEC §10).
    pub mtls: Option<String>,
    /// Its own certificate and key; default: `tls_cert` / `tls_key`.
    pub mtls_cert: Option<String>,
    pub mtls_key: Option<String>,
    /// Trust anchors of CA-issued client certificates (`tls_client_auth`).
    pub client_ca_file: Option<String>,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            proxy: "0.0.0.0:8080".into(),
            admin: "127.0.0.1:9901".into(),
            tls_cert: None,
            tls_key: None,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            drain_delay_secs: 5,
            forwarded_for: ForwardedFor::Append,
            access_log: false,
            mtls: None,
            mtls_cert: None,
            mtls_key: None,
            client_ca_file: None,
        }
    }
}

/// `listen.forwarded_for`: what jargate does with X-Forwarded-For/-Proto/-Host (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardedFor {
    Append,
    Replace,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Passthrough,
    Legacy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamAuth {
    Post,
    Basic,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    pub url: String,
    #[serde(default = "passthrough")]
    pub mode: Mode,
    #[serde(default = "post")]
    pub client_auth: UpstreamAuth,
    #[serde(default = "ms_2000")]
    pub connect_timeout_ms: u64,
    #[serde(default = "ms_10000")]
    pub read_timeout_ms: u64,
    /// A pooled upstream connection idle this long is closed, never reused (SPEC §3).
    #[serde(default = "ms_1000")]
    pub idle_timeout_ms: u64,
    /// Trust anchors added to the system roots for an https upstream and remote JWK Sets.
    pub ca_file: Option<String>,
    /// `true`: `ca_file` replaces the system roots instead of extending them.
    #[serde(default)]
    pub ca_only: bool,
}

fn passthrough() -> Mode {
    Mode::Passthrough
}
fn post() -> UpstreamAuth {
    UpstreamAuth::Post
}
fn ms_2000() -> u64 {
    2000
}
fn ms_10000() -> u64 {
    10000
}
fn ms_1000() -> u64 {
    1000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Issuer {
    pub identifier: String,
    pub aliases: Vec<String>,
    pub strict_audience: bool,
}

impl Default for Issuer {
    fn default() -> Self {
        Issuer {
            identifier: "https://login.example.com/".into(),
            aliases: Vec::new(),
            strict_audience: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    pub authorize: String,
    pub par: String,
    pub token: String,
    pub client_auth: Vec<String>,
    /// Paths where an upstream's `101 Switching Protocols` is relayed (SPEC §3); elsewhere
    /// it closes the connection, so no tunnel ever bypasses jargate.
    pub upgrade: Vec<String>,
    /// Access tokens in its query or body are refused under a global compliance level (SPEC §9).
    pub userinfo: String,
}

impl Paths {
    /// Each intercepted path with the endpoint it names, as the router takes them.
    pub fn intercepted(&self) -> Vec<(String, Endpoint)> {
        let mut table = vec![
            (self.authorize.clone(), Endpoint::Authorize),
            (self.par.clone(), Endpoint::Par),
            (self.token.clone(), Endpoint::Token),
        ];
        table.extend(
            self.client_auth
                .iter()
                .map(|p| (p.clone(), Endpoint::ClientAuth)),
        );
        table
    }
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            authorize: "/authorize".into(),
            par: "/oauth/par".into(),
            token: "/oauth/token".into(),
            client_auth: [
                "/oauth/revoke",
                "/oauth/introspect",
                "/oauth/device/code",
                "/bc-authorize",
                "/mfa/challenge",
                "/mfa/associate",
                "/passwordless/start",
            ]
            .map(String::from)
            .to_vec(),
            upgrade: Vec::new(),
            userinfo: "/userinfo".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_assertion_bytes: usize,
    pub max_request_object_bytes: usize,
    pub max_body_bytes: usize,
    pub max_claim_chars: usize,
    pub max_alg_chars: usize,
    /// Query + form (or JSON members) on an intercepted endpoint, counted while parsing.
    pub max_parameters: usize,
    pub assertion_max_lifetime_secs: i64,
    pub request_object_max_lifetime_secs: i64,
    pub clock_skew_secs: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_assertion_bytes: 2048,
            max_request_object_bytes: 16384,
            max_body_bytes: 65536,
            max_claim_chars: 64,
            max_alg_chars: 16,
            max_parameters: 100,
            assertion_max_lifetime_secs: 300,
            request_object_max_lifetime_secs: 3600,
            clock_skew_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutsideParameters {
    Strip,
    Reject,
    Allow,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Jar {
    pub require_exp: bool,
    pub require_nbf: bool,
    pub require_typ: bool,
    pub outside_parameters: OutsideParameters,
}

impl Default for Jar {
    fn default() -> Self {
        Jar {
            require_exp: true,
            require_nbf: false,
            require_typ: false,
            outside_parameters: OutsideParameters::Strip,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    Reject,
    Allow,
}

/// `[store]`. (Serde's name stays `Store`: configuration errors say "expected struct Store".)
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default, rename = "Store")]
pub struct StoreSettings {
    pub backend: Backend,
    pub redis_url: Option<String>,
    pub on_error: OnError,
    /// jargate extension: most live entries the memory store holds before it refuses new ones.
    pub max_entries: u64,
    /// jargate extension: the longest a store call may take before `on_error` decides.
    pub timeout_ms: u64,
    /// A Sentinel set (`host:port` of each sentinel) and the service name it watches.
    pub redis_sentinels: Option<Vec<String>>,
    pub redis_master: Option<String>,
    /// A Cluster: `host:port` of some of its nodes (the rest are discovered).
    pub redis_cluster: Option<Vec<String>>,
    /// For the Sentinel and Cluster forms (the URL carries them for one server).
    pub redis_username: Option<String>,
    pub redis_password: Option<String>,
    pub redis_tls: Option<bool>,
    pub redis_db: Option<i64>,
    /// The sentinels' own password when it differs from `redis_password` ("" = none).
    pub redis_sentinel_password: Option<String>,
    /// > 0: each single-use record waits (`WAIT`) until that many replicas have it.
    pub redis_wait_replicas: u32,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            backend: Backend::Memory,
            redis_url: None,
            on_error: OnError::Reject,
            max_entries: 1_000_000,
            timeout_ms: 1000,
            redis_sentinels: None,
            redis_master: None,
            redis_cluster: None,
            redis_username: None,
            redis_password: None,
            redis_tls: None,
            redis_db: None,
            redis_sentinel_password: None,
            redis_wait_replicas: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Par {
    pub request_uri_ttl_secs: u64,
    pub require_par: bool,
}

impl Default for Par {
    fn default() -> Self {
        Par {
            request_uri_ttl_secs: 30,
            require_par: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unregistered {
    Reject,
    Passthrough,
}

/// `[clients]`. (Serde's name stays `Clients`, as in configuration errors.)
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename = "Clients")]
pub struct ClientsSettings {
    pub file: String,
    #[serde(default = "secs_300")]
    pub jwks_refresh_secs: u64,
    #[serde(default = "secs_30")]
    pub jwks_min_refetch_secs: u64,
    #[serde(default = "reject")]
    pub unregistered: Unregistered,
    /// Auth0 credential objects for clients that name theirs by id only (SPEC §4).
    pub credentials_file: Option<String>,
}

fn secs_300() -> u64 {
    300
}
fn secs_30() -> u64 {
    30
}
fn reject() -> Unregistered {
    Unregistered::Reject
}

/// `enforcement.mode` and a client's `client_metadata.jargate_enforcement` (SPEC §5 "Report
/// mode"): `report` runs every rule but forwards a request that would be refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnforcementMode {
    #[default]
    Enforce,
    Report,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Enforcement {
    pub mode: EnforcementMode,
}

/// `[legacy]`: what legacy mode adds besides translation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LegacySettings {
    /// Augment the upstream's discovery documents (SPEC §1).
    pub discovery: bool,
}

impl Default for LegacySettings {
    fn default() -> Self {
        LegacySettings { discovery: true }
    }
}

/// `[mtls]` (SPEC §10): how a client certificate reaches the upstream, and the sidecar source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MtlsSettings {
    pub forward: MtlsForward,
    /// `cname-api-key` for `forward = "auth0"`; a secret, never logged.
    pub auth0_cname_api_key: Option<Secret>,
    /// Public origin of `listen.mtls` (discovery's `mtls_endpoint_aliases`, DPoP `htu`).
    pub alias_base: Option<String>,
    /// Sidecar: the request header carrying the client certificate ...
    pub from_header: Option<String>,
    /// ... in this form ...
    pub from_header_format: crate::mtls::header::HeaderFormat,
    /// ... trusted only from these CIDRs (required with `from_header`).
    pub trusted_proxies: Vec<String>,
    /// More inbound certificate headers to remove.
    pub strip_headers: Vec<String>,
}

impl Default for MtlsSettings {
    fn default() -> Self {
        MtlsSettings {
            forward: MtlsForward::Rfc9440,
            auth0_cname_api_key: None,
            alias_base: None,
            from_header: None,
            from_header_format: crate::mtls::header::HeaderFormat::Rfc9440,
            trusted_proxies: Vec::new(),
            strip_headers: Vec::new(),
        }
    }
}

/// `dpop.nonce`: who issues DPoP nonces (SPEC §11 step 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpopNonce {
    /// The upstream's `DPoP-Nonce` and `use_dpop_nonce` pass through untouched.
    Upstream,
    /// jargate issues and checks nonces.
    Jargate,
}

/// `[dpop]`: how DPoP proofs are checked (SPEC §11). (Serde's name stays `Dpop`.)
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default, rename = "Dpop")]
pub struct DpopSettings {
    pub nonce: DpopNonce,
    pub proof_max_age_secs: i64,
    /// The HMAC key of jargate's nonces shared by every replica: a secret, never logged.
    pub nonce_key: Option<String>,
    pub algs: Vec<String>,
    /// Public origin for `htu`; default: the origin of `issuer.identifier`.
    pub htu_base: Option<String>,
}

impl Default for DpopSettings {
    fn default() -> Self {
        DpopSettings {
            nonce: DpopNonce::Upstream,
            proof_max_age_secs: 60,
            nonce_key: None,
            algs: ["ES256", "PS256", "EdDSA"].map(String::from).to_vec(),
            htu_base: None,
        }
    }
}

/// `mtls.forward`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MtlsForward {
    #[serde(rename = "rfc9440")]
    Rfc9440,
    #[serde(rename = "auth0")]
    Auth0,
    #[serde(rename = "none")]
    None,
}

/// A secret setting: its `Debug` form never shows the value, so a debug print of the settings
/// cannot leak it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Hand-written so that `nonce_key` never reaches a log or an error message.
impl std::fmt::Debug for DpopSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopSettings")
            .field("nonce", &self.nonce)
            .field("proof_max_age_secs", &self.proof_max_age_secs)
            .field("nonce_key", &self.nonce_key.as_ref().map(|_| "<redacted>"))
            .field("algs", &self.algs)
            .field("htu_base", &self.htu_base)
            .finish()
    }
}
