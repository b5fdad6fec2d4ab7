//! Configuration: `jargate.toml` (SPEC §3) and the client registry (SPEC §4), read, expanded
//! (`${VAR}`), validated and turned into one immutable `Snapshot`. A snapshot is built whole or
//! not at all; requests only ever see a complete one. No I/O happens here on the request path.

pub mod compliance;
mod document;
pub mod dpop;
pub mod env;
mod locate;
pub mod mtls;
pub mod policy;
pub mod position;
pub mod registry;
pub mod response_iss;
pub mod settings;
pub mod store;
pub mod tls;

pub use compliance::{Callbacks, Compliance, Level};
pub use dpop::DpopPolicy;
pub use policy::{
    AssertionPolicy, AudiencePolicy, RequestObjectPolicy, TokenPolicies, TokenPolicy,
};
pub use registry::{Client, CredentialsById, Registry};
pub use settings::*;

use crate::request::Routes;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest body jargate buffers: Pingora replays at most 64 KiB of a buffered request body.
pub const MAX_BODY_LIMIT: usize = 64 * 1024;
/// The largest `limits.max_parameters`: reading parameters costs a few hundred nanoseconds
/// each before the client is known, so the bound keeps a many-name body about as cheap as a
/// one-name body of the same size (`benches/validation.rs`, `params_64k`).
pub const MAX_PARAMETERS_LIMIT: usize = 1000;

/// Everything a request is checked against, loaded together.
#[derive(Debug)]
pub struct Snapshot {
    pub settings: Settings,
    pub upstream: Upstream,
    pub routes: Routes,
    pub registry: Registry,
    /// The token rules' view of `settings`, built once here.
    pub policies: TokenPolicies,
    /// `[compliance]` and the levels the clients resolve to (SPEC §9).
    pub compliance: Compliance,
    /// The callbacks whose authorization responses gain `iss` (SPEC §12).
    pub response_iss: response_iss::IssCallbacks,
    pub proxy_addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    /// Every file this snapshot was read from (config, registry, key files).
    pub files: Vec<PathBuf>,
    /// Certificate and key for TLS termination (`listen.tls_cert`, `listen.tls_key`).
    pub tls: Option<Arc<rustls::sign::CertifiedKey>>,
    /// Where the redis store is (`store.backend = "redis"`), typed from `[store]`.
    pub redis: Option<crate::store::topology::Topology>,
    /// `listen.mtls`, the client CA trust and `[mtls]` (SPEC §10).
    pub mtls: mtls::MtlsRuntime,
    /// `[dpop]`, resolved (SPEC §11).
    pub dpop: DpopPolicy,
}

/// Where and how to reach the authorization server.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub tls: bool,
    pub host: String,
    /// Path prefix from `upstream.url`, without a trailing slash.
    pub base_path: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// `upstream.idle_timeout_ms`: how long a pooled connection may wait for its next request.
    pub idle_timeout: Duration,
}

impl Snapshot {
    /// The token policies of a client at `level` (`None`: a request of no known client),
    /// built once per snapshot for every level in use.
    pub fn policies_for(&self, level: Option<Level>) -> &TokenPolicies {
        match level {
            Some(level) if level.is_set() => {
                self.compliance.policies(level).unwrap_or(&self.policies)
            }
            _ => &self.policies,
        }
    }

    /// Reads and validates the configuration file and everything it names.
    pub fn load(config_path: &Path) -> Result<Snapshot, String> {
        let text = std::fs::read_to_string(config_path)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        let base = config_path.parent().unwrap_or(Path::new("."));
        let settings = parse_settings_file(&text, config_path)?;
        let clients_path = base.join(&settings.clients.file);
        let credentials_path = settings
            .clients
            .credentials_file
            .as_ref()
            .map(|f| base.join(f));
        let credentials = match &credentials_path {
            Some(path) => CredentialsById::read(path)?,
            None => CredentialsById::default(),
        };
        let registry = read_registry_with(&clients_path, &credentials)?;
        let mut snapshot = Snapshot::build(settings, registry).map_err(|e| {
            match locate::field_path(&e).and_then(|key| locate::locate_toml(&text, key)) {
                Some((line, column)) => position::at(config_path, line, column, &e),
                None => format!("{}: {e}", config_path.display()),
            }
        })?;
        snapshot.files = vec![config_path.to_path_buf(), clients_path];
        snapshot.files.extend(credentials_path);
        snapshot
            .files
            .extend(snapshot.registry.files.iter().cloned());
        let listen = &snapshot.settings.listen;
        if let (Some(cert), Some(key)) = (&listen.tls_cert, &listen.tls_key) {
            let (cert, key) = (base.join(cert), base.join(key));
            snapshot.tls = Some(tls::load_certified_key(&cert, &key)?);
            snapshot.files.extend([cert, key]);
        }
        let mut mtls_files = Vec::new();
        mtls::load_files(
            &mut snapshot.mtls,
            &snapshot.settings,
            base,
            snapshot.tls.as_ref(),
            &mut mtls_files,
        )?;
        snapshot.files.extend(mtls_files);
        if let Some(ca) = &mut snapshot.settings.upstream.ca_file {
            let path = base.join(&*ca);
            snapshot.files.push(path.clone());
            *ca = path.display().to_string();
        }
        Ok(snapshot)
    }

    /// Validates settings against each other and the registry.
    pub fn build(settings: Settings, mut registry: Registry) -> Result<Snapshot, String> {
        let proxy_addr = parse_addr("listen.proxy", &settings.listen.proxy)?;
        let admin_addr = match settings.listen.admin.as_str() {
            "" => None,
            a => Some(parse_addr("listen.admin", a)?),
        };
        if settings.listen.tls_cert.is_some() != settings.listen.tls_key.is_some() {
            return Err("listen.tls_cert and listen.tls_key go together".into());
        }
        if settings.listen.header_timeout_ms == 0 || settings.listen.body_timeout_ms == 0 {
            return Err("listen: header_timeout_ms and body_timeout_ms must be positive".into());
        }
        let upstream = parse_upstream(&settings.upstream)?;
        let mut intercepted = settings.paths.intercepted();
        if settings.compliance.level.is_set() {
            // SPEC §9: under a global level, userinfo refuses access tokens outside the header.
            intercepted.push((
                settings.paths.userinfo.clone(),
                crate::request::Endpoint::Userinfo,
            ));
        }
        let routes = Routes::new(intercepted, &settings.paths.upgrade)?;
        check_limits(&settings)?;
        if settings.issuer.identifier.is_empty() {
            return Err("issuer.identifier: must not be empty".into());
        }
        let redis = store::redis_topology(&settings.store)?;
        if settings.upstream.mode == Mode::Legacy {
            if let Some(c) = registry
                .clients()
                .find(|c| c.upstream_client_secret.is_none())
            {
                return Err(format!(
                    "upstream.mode is legacy but client {:?} has no upstream_client_secret",
                    c.id
                ));
            }
        }
        if settings.clients.jwks_min_refetch_secs == 0 {
            // 0 would let every request with a fresh `kid` trigger a fetch of the client's JWKS.
            return Err("clients.jwks_min_refetch_secs: must be at least 1".into());
        }
        if settings.par.request_uri_ttl_secs == 0 || settings.par.request_uri_ttl_secs > 599 {
            // FAPI 2.0 asks for expires_in < 600 (SPEC §3).
            return Err("par.request_uri_ttl_secs: must be between 1 and 599".into());
        }
        let mut compliance = registry.resolve_levels(&settings.compliance);
        let warnings = compliance::load::check(&settings, &registry)?;
        registry.warnings.extend(warnings);
        compliance.policies = compliance
            .levels_in_use
            .iter()
            .filter(|l| l.is_set())
            .map(|l| (*l, TokenPolicies::for_level(&settings, *l)))
            .collect();
        let response_iss = response_iss::IssCallbacks::new(
            settings.compliance.response_iss,
            compliance.global(),
            &registry,
            &settings.issuer.identifier,
        );
        let mtls = mtls::build(&settings)?;
        let mut registry = registry;
        check_mtls_clients(&settings, &mtls, &mut registry)?;
        let dpop = DpopPolicy::new(&settings)?;
        Ok(Snapshot {
            mtls,
            dpop,
            policies: TokenPolicies::new(&settings),
            compliance,
            response_iss,
            settings,
            upstream,
            routes,
            registry,
            proxy_addr,
            admin_addr,
            files: Vec::new(),
            tls: None,
            redis,
        })
    }
}

/// A client with `tls_client_auth` needs CA trust anchors (SPEC §9, at any level); a client
/// with an mTLS method but no certificate source can never authenticate by certificate: loud.
fn check_mtls_clients(
    settings: &Settings,
    runtime: &mtls::MtlsRuntime,
    registry: &mut Registry,
) -> Result<(), String> {
    let mut unreachable = Vec::new();
    for client in registry.clients() {
        if client.mtls.tls_client_auth && settings.listen.client_ca_file.is_none() {
            return Err(format!(
                "client {:?}: tls_client_auth needs listen.client_ca_file (the CAs its \
                 certificates chain to)",
                client.id
            ));
        }
        if client.mtls.any() && !runtime.has_source() {
            unreachable.push(client.id.clone());
        }
    }
    unreachable.sort();
    for id in unreachable {
        registry.warnings.push(format!(
            "client {id:?}: lists an mTLS method but neither listen.mtls nor mtls.from_header \
             is set, so it can never authenticate by certificate"
        ));
    }
    Ok(())
}

/// The files a configuration names (itself, the registry, key files, TLS material, CA file),
/// read leniently: the reloader watches them even when that version is refused, so that a key
/// file written after the registry naming it is picked up.
pub fn named_files(config_path: &Path) -> Vec<PathBuf> {
    let base = config_path.parent().unwrap_or(Path::new("."));
    let mut files = vec![config_path.to_path_buf()];
    let Ok(text) = std::fs::read_to_string(config_path) else {
        return files;
    };
    let Ok(doc) = toml::from_str::<toml::Value>(&text) else {
        return files;
    };
    let lookup = |table: &str, key: &str| {
        doc.get(table)
            .and_then(|t| t.get(key))
            .and_then(toml::Value::as_str)
            .and_then(|v| env::expand(v).ok())
    };
    for (table, key) in [
        ("listen", "tls_cert"),
        ("listen", "tls_key"),
        ("listen", "mtls_cert"),
        ("listen", "mtls_key"),
        ("listen", "client_ca_file"),
        ("upstream", "ca_file"),
        ("clients", "credentials_file"),
    ] {
        files.extend(lookup(table, key).map(|f| base.join(f)));
    }
    let Some(clients) = lookup("clients", "file").map(|f| base.join(f)) else {
        return files;
    };
    let registry_base = clients.parent().unwrap_or(base).to_path_buf();
    if let Some(registry) = std::fs::read_to_string(&clients)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    {
        collect_pem_files(&registry, &registry_base, &mut files);
    }
    files.push(clients);
    files
}

fn collect_pem_files(value: &serde_json::Value, base: &Path, out: &mut Vec<PathBuf>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("pem_file", Some(file)) => {
                        out.push(base.join(env::expand(file).unwrap_or_default()))
                    }
                    _ => collect_pem_files(v, base, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| collect_pem_files(v, base, out))
        }
        _ => {}
    }
}

/// Parses settings written in code; errors are placed in a file named `jargate.toml`.
pub fn parse_settings(text: &str) -> Result<Settings, String> {
    parse_settings_file(text, Path::new("jargate.toml"))
}

/// Parses the settings `text` read from `file`; errors say `file:line:column`.
pub fn parse_settings_file(text: &str, file: &Path) -> Result<Settings, String> {
    document::toml(text, file)
}

pub fn read_registry(path: &Path) -> Result<Registry, String> {
    read_registry_with(path, &CredentialsById::default())
}

/// Reads a registry file; credentials given by id only are resolved from `credentials`.
pub fn read_registry_with(path: &Path, credentials: &CredentialsById) -> Result<Registry, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    Registry::parse(&text, path, base, credentials)
}

fn parse_addr(field: &str, text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("{field}: {text:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{field}: {text:?} resolves to no address"))
}

/// Host names are resolved once, here; a request never waits on DNS.
fn parse_upstream(up: &UpstreamSettings) -> Result<Upstream, String> {
    let uri: http::Uri = up
        .url
        .parse()
        .map_err(|e| format!("upstream.url: {:?}: {e}", up.url))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(format!(
                "upstream.url: {:?} must start with http:// or https://",
                up.url
            ))
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("upstream.url: {:?} has no host", up.url))?
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let addr = parse_addr("upstream.url", &format!("{host}:{port}"))
        .or_else(|_| parse_addr("upstream.url", &format!("[{host}]:{port}")))?;
    if uri.query().is_some() {
        return Err("upstream.url: must not have a query string".into());
    }
    if up.ca_only && up.ca_file.is_none() {
        return Err(
            "upstream.ca_only: needs upstream.ca_file (the anchors that replace the system roots)"
                .into(),
        );
    }
    if up.connect_timeout_ms == 0 || up.read_timeout_ms == 0 || up.idle_timeout_ms == 0 {
        return Err("upstream: timeouts must be positive".into());
    }
    Ok(Upstream {
        addr,
        tls,
        host,
        base_path: uri.path().trim_end_matches('/').to_string(),
        connect_timeout: Duration::from_millis(up.connect_timeout_ms),
        read_timeout: Duration::from_millis(up.read_timeout_ms),
        idle_timeout: Duration::from_millis(up.idle_timeout_ms),
    })
}

fn check_limits(s: &Settings) -> Result<(), String> {
    let l = &s.limits;
    if l.max_body_bytes == 0 || l.max_body_bytes > MAX_BODY_LIMIT {
        return Err(format!(
            "limits.max_body_bytes: must be between 1 and {MAX_BODY_LIMIT}"
        ));
    }
    if l.max_parameters == 0 || l.max_parameters > MAX_PARAMETERS_LIMIT {
        return Err(format!(
            "limits.max_parameters: must be between 1 and {MAX_PARAMETERS_LIMIT}"
        ));
    }
    let positive = [
        ("limits.max_assertion_bytes", l.max_assertion_bytes as i64),
        (
            "limits.max_request_object_bytes",
            l.max_request_object_bytes as i64,
        ),
        ("limits.max_claim_chars", l.max_claim_chars as i64),
        ("limits.max_alg_chars", l.max_alg_chars as i64),
        (
            "limits.assertion_max_lifetime_secs",
            l.assertion_max_lifetime_secs,
        ),
        (
            "limits.request_object_max_lifetime_secs",
            l.request_object_max_lifetime_secs,
        ),
    ];
    for (name, value) in positive {
        if value <= 0 {
            return Err(format!("{name}: must be positive"));
        }
    }
    if l.clock_skew_secs < 0 {
        return Err("limits.clock_skew_secs: must not be negative".into());
    }
    Ok(())
}
