//! The certificate jargate serves when it terminates TLS (`listen.tls_cert`, `listen.tls_key`),
//! read with the rest of the configuration: a renewed certificate is part of the next snapshot
//! and served from the next handshake on, without a restart. rustls with the `ring` provider.
//! The resolver that hands it to each handshake lives with the server (`server.rs`).

use super::Snapshot;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
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

/// Subject and expiry (Unix seconds) of the TLS certificate `snapshot` serves, if any.
pub fn leaf(snapshot: &Snapshot) -> Option<(String, i64)> {
    let der = snapshot.tls.as_ref()?.cert.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some((
        cert.subject().to_string(),
        cert.validity().not_after.timestamp(),
    ))
}
