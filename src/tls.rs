//! TLS termination (the edge-gateway deployment): the certificate chain and key are read with
//! the rest of the configuration, so a renewed certificate is served from the next handshake
//! on, without a restart. rustls with the `ring` provider, like everything else.

use crate::app::App;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

/// Reads a PEM certificate chain and its private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let chain: Vec<CertificateDer<'static>> = pem::parse_many(read(cert)?)
        .map_err(|e| format!("listen.tls_cert: {e}"))?
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| CertificateDer::from(b.into_contents()))
        .collect();
    if chain.is_empty() {
        return Err(format!(
            "listen.tls_cert: {} holds no certificate",
            cert.display()
        ));
    }
    let block = pem::parse(read(key)?).map_err(|e| format!("listen.tls_key: {e}"))?;
    let der = match block.tag() {
        "PRIVATE KEY" => PrivateKeyDer::Pkcs8(block.into_contents().into()),
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(block.into_contents().into()),
        "EC PRIVATE KEY" => PrivateKeyDer::Sec1(block.into_contents().into()),
        tag => return Err(format!("listen.tls_key: unsupported PEM block {tag:?}")),
    };
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| format!("listen.tls_key: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("listen.tls_key does not match listen.tls_cert: {e}"))?;
    Ok(Arc::new(certified))
}

/// Serves the certificate of the current snapshot.
pub struct SnapshotCertificate {
    app: Arc<App>,
}

impl std::fmt::Debug for SnapshotCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotCertificate")
    }
}

impl SnapshotCertificate {
    pub fn new(app: Arc<App>) -> SnapshotCertificate {
        SnapshotCertificate { app }
    }
}

impl ResolvesServerCert for SnapshotCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.app.snapshot().tls.clone()
    }
}
