//! The mTLS part of a snapshot (`listen.mtls*`, `listen.client_ca_file`, `[mtls]`, SPEC §3,
//! §10), validated and built once: the listener's certificate, the client CA trust, the
//! trusted proxies of `mtls.from_header`, and the inbound header names to strip.
//!
//! Decisions where SPEC is silent: `mtls_cert`/`mtls_key`, `client_ca_file`, `from_header`
//! settings and `auth0_cname_api_key` that nothing would use are errors, not ignored (a
//! half-configured mTLS setup is a mistake to report, never a silent no-op); a
//! `trusted_proxies` entry may be a CIDR or a single address.

use super::settings::{MtlsForward, Settings};
use crate::mtls::header::{normal_name, HeaderFormat, Stripped};
use crate::mtls::Trust;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Everything the glue needs about mTLS, per snapshot.
#[derive(Debug, Clone, Default)]
pub struct MtlsRuntime {
    /// Where `listen.mtls` listens.
    pub addr: Option<SocketAddr>,
    /// The certificate `listen.mtls` serves (its own, or the main listener's).
    pub tls: Option<Arc<rustls::sign::CertifiedKey>>,
    /// Anchors of CA-issued client certificates (empty without `client_ca_file`).
    pub trust: Arc<Trust>,
    /// `mtls.from_header`, in normal form, with its format.
    pub from_header: Option<(String, HeaderFormat)>,
    pub trusted_proxies: Vec<IpNet>,
    /// Inbound certificate headers removed from every request.
    pub stripped: Stripped,
}

impl MtlsRuntime {
    /// Whether a request from `peer` may carry its certificate in `from_header`.
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        let Some(peer) = peer else { return false };
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }

    /// Whether jargate can see client certificates at all.
    pub fn has_source(&self) -> bool {
        self.addr.is_some() || self.from_header.is_some()
    }
}

/// Checks the settings against each other and builds everything but the files' contents.
pub fn build(settings: &Settings) -> Result<MtlsRuntime, String> {
    let listen = &settings.listen;
    let mtls = &settings.mtls;
    let addr = match &listen.mtls {
        Some(a) => Some(super::parse_addr("listen.mtls", a)?),
        None => None,
    };
    if listen.mtls_cert.is_some() != listen.mtls_key.is_some() {
        return Err("listen.mtls_cert and listen.mtls_key go together".into());
    }
    if addr.is_none() && listen.mtls_cert.is_some() {
        return Err("listen.mtls_cert: set, but listen.mtls is not".into());
    }
    if addr.is_some() && listen.mtls_cert.is_none() && listen.tls_cert.is_none() {
        return Err(
            "listen.mtls: needs listen.mtls_cert and listen.mtls_key (or listen.tls_cert and \
             listen.tls_key)"
                .into(),
        );
    }
    if addr.is_some() && addr.map(|a| a.to_string()) == Some(listen.proxy.clone()) {
        return Err("listen.mtls: must differ from listen.proxy".into());
    }
    let from_header = match &mtls.from_header {
        Some(name) => {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() || name.is_empty() {
                return Err(format!("mtls.from_header: {name:?} is not a header name"));
            }
            if mtls.trusted_proxies.is_empty() {
                return Err("mtls.trusted_proxies: required with mtls.from_header".into());
            }
            Some((normal_name(name), mtls.from_header_format))
        }
        None if !mtls.trusted_proxies.is_empty() => {
            return Err("mtls.trusted_proxies: set, but mtls.from_header is not".into())
        }
        None => None,
    };
    if listen.client_ca_file.is_some() && addr.is_none() && from_header.is_none() {
        return Err(
            "listen.client_ca_file: set, but no client certificate source (listen.mtls or \
             mtls.from_header)"
                .into(),
        );
    }
    let mut trusted_proxies = Vec::new();
    for entry in &mtls.trusted_proxies {
        let net = entry
            .parse::<IpNet>()
            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("mtls.trusted_proxies: {entry:?} is not a CIDR or address"))?;
        trusted_proxies.push(net);
    }
    let key_set = mtls
        .auth0_cname_api_key
        .as_ref()
        .is_some_and(|k| !k.expose().is_empty());
    match mtls.forward {
        MtlsForward::Auth0 if !key_set => {
            return Err("mtls.auth0_cname_api_key: required with mtls.forward = \"auth0\"".into())
        }
        MtlsForward::Rfc9440 | MtlsForward::None if mtls.auth0_cname_api_key.is_some() => {
            return Err("mtls.auth0_cname_api_key: set, but mtls.forward is not \"auth0\"".into())
        }
        _ => {}
    }
    if let Some(base) = &mtls.alias_base {
        if !base.starts_with("https://") {
            return Err(format!("mtls.alias_base: {base:?} must be an https origin"));
        }
    }
    for name in &mtls.strip_headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("mtls.strip_headers: {name:?} is not a header name"));
        }
    }
    let extra = mtls
        .strip_headers
        .iter()
        .map(String::as_str)
        .chain(mtls.from_header.as_deref());
    Ok(MtlsRuntime {
        addr,
        tls: None,
        trust: Arc::new(Trust::default()),
        from_header,
        trusted_proxies,
        stripped: Stripped::new(extra),
    })
}

/// Reads the files: the listener's own certificate (when set) and the client CA file.
/// `main_tls` is the main listener's certificate, the default of `listen.mtls`.
pub fn load_files(
    runtime: &mut MtlsRuntime,
    settings: &Settings,
    base: &std::path::Path,
    main_tls: Option<&Arc<rustls::sign::CertifiedKey>>,
    files: &mut Vec<std::path::PathBuf>,
) -> Result<(), String> {
    let listen = &settings.listen;
    if runtime.addr.is_some() {
        runtime.tls = match (&listen.mtls_cert, &listen.mtls_key) {
            (Some(cert), Some(key)) => {
                let (cert, key) = (base.join(cert), base.join(key));
                let loaded = super::tls::load_certified_key(&cert, &key)
                    .map_err(|e| format!("listen.mtls_cert: {e}"))?;
                files.extend([cert, key]);
                Some(loaded)
            }
            _ => main_tls.cloned(),
        };
    }
    if let Some(ca) = &listen.client_ca_file {
        let path = base.join(ca);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("listen.client_ca_file: {}: {e}", path.display()))?;
        let trust = Trust::from_pem(&text)
            .map_err(|e| format!("listen.client_ca_file: {}: {e}", path.display()))?;
        runtime.trust = Arc::new(trust);
        files.push(path);
    }
    Ok(())
}
