//! Trust anchors for jargate's own outgoing TLS: the https upstream (Pingora's connector) and
//! remote JWK Sets. One meaning for both (SPEC §3): the system roots, extended by
//! `upstream.ca_file`; with `upstream.ca_only = true` the file replaces them (a private PKI
//! that must not trust the public one).

use crate::config::UpstreamSettings;
use rustls::pki_types::CertificateDer;
use std::path::PathBuf;

/// The anchors: `system` extended by the certificates of `ca_pem`, or only those.
pub fn anchors(
    system: Vec<CertificateDer<'static>>,
    ca_pem: Option<&str>,
    ca_only: bool,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = if ca_only { Vec::new() } else { system };
    if let Some(text) = ca_pem {
        let blocks = pem::parse_many(text).map_err(|e| format!("upstream.ca_file: {e}"))?;
        let certs: Vec<_> = blocks
            .into_iter()
            .filter(|b| b.tag() == "CERTIFICATE")
            .map(|b| CertificateDer::from(b.into_contents()))
            .collect();
        if certs.is_empty() {
            return Err("upstream.ca_file: holds no CERTIFICATE block".into());
        }
        out.extend(certs);
    }
    Ok(out)
}

/// The anchors `upstream` names, reading the system roots and `ca_file` (already resolved
/// against the config directory).
pub fn load(upstream: &UpstreamSettings) -> Result<Vec<CertificateDer<'static>>, String> {
    let ca = match &upstream.ca_file {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|e| format!("upstream.ca_file: {path}: {e}"))?,
        ),
        None => None,
    };
    let system = if upstream.ca_only {
        Vec::new()
    } else {
        rustls_native_certs::load_native_certs().certs
    };
    anchors(system, ca.as_deref(), upstream.ca_only)
}

/// A rustls root store of `anchors`; a certificate rustls cannot use is an error.
pub fn root_store(anchors: &[CertificateDer<'static>]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(anchors.iter().cloned());
    if roots.is_empty() && !anchors.is_empty() {
        return Err(format!(
            "upstream.ca_file: none of {ignored} certificates is usable"
        ));
    }
    Ok(roots)
}

/// The anchors as one PEM file for Pingora's upstream connector, which takes a path and reads
/// it when the proxy service is built. Removed on drop, once the connector holds the roots.
pub struct BundleFile {
    pub path: PathBuf,
}

impl BundleFile {
    pub fn write(anchors: &[CertificateDer<'static>]) -> Result<BundleFile, String> {
        let text: String = anchors
            .iter()
            .map(|c| pem::encode(&pem::Pem::new("CERTIFICATE", c.to_vec())))
            .collect();
        let path =
            std::env::temp_dir().join(format!("jargate-upstream-roots-{}.pem", std::process::id()));
        std::fs::write(&path, text)
            .map_err(|e| format!("upstream roots: {}: {e}", path.display()))?;
        Ok(BundleFile { path })
    }
}

impl Drop for BundleFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/keys/tls-ca.cert.pem"
        ))
        .unwrap()
    }

    #[test]
    fn ca_file_extends_the_system_roots_unless_ca_only() {
        let system = vec![CertificateDer::from(vec![1u8, 2, 3])];
        let extended = anchors(system.clone(), Some(&ca()), false).unwrap();
        assert_eq!(extended.len(), 2);
        assert_eq!(extended[0], system[0]);
        let only = anchors(system.clone(), Some(&ca()), true).unwrap();
        assert_eq!(only.len(), 1);
        assert_ne!(only[0], system[0]);
        assert_eq!(anchors(system.clone(), None, false).unwrap(), system);
        assert!(anchors(system, Some("not pem"), false).is_err());
    }
}
