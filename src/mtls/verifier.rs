//! The client-certificate verifier of the `listen.mtls` listener (rustls): it asks every client
//! for a certificate, accepts a handshake without one, and ends the handshake when one is
//! presented that is outside its validity period or neither chains to `listen.client_ca_file`
//! nor is self-signed ([`Trust::classify`]). The trust is read from the current snapshot at each
//! handshake (`current`), so a reloaded CA file takes effect at the next connection.
//!
//! No CA names are hinted in the CertificateRequest: the hints would have to outlive a reload,
//! and clients of this listener present the certificate they are configured with anyway.

use super::cert::{ClientCert, Trust};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::Arc;

/// Where the verifier reads the current trust from.
pub trait CurrentTrust: Send + Sync {
    fn trust(&self) -> Arc<Trust>;
}

/// The `listen.mtls` verifier.
pub struct ListenerVerifier<T> {
    current: T,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl<T> std::fmt::Debug for ListenerVerifier<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenerVerifier")
    }
}

impl<T: CurrentTrust> ListenerVerifier<T> {
    pub fn new(current: T) -> ListenerVerifier<T> {
        ListenerVerifier {
            current,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

fn unix(now: UnixTime) -> i64 {
    now.as_secs().min(i64::MAX as u64) as i64
}

impl<T: CurrentTrust> ClientCertVerifier for ListenerVerifier<T> {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self
            .current
            .trust()
            .classify(end_entity.as_ref(), intermediates, unix(now))
        {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(e) => {
                tracing::info!(reason = %e, "client certificate refused at the handshake");
                Err(rustls::Error::InvalidCertificate(match e {
                    super::CertError::Expired => rustls::CertificateError::Expired,
                    super::CertError::Malformed => rustls::CertificateError::BadEncoding,
                    super::CertError::Untrusted => rustls::CertificateError::UnknownIssuer,
                }))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The client certificate of a completed handshake (`chain`: leaf first, as the peer sent
/// it), classified once more against `trust` to know whether it is CA-verified (the verifier
/// only says yes or no). `None` without a certificate, or when a reload between the two steps
/// took the trust away.
pub fn handshake_cert(trust: &Trust, chain: &[CertificateDer<'_>], now: i64) -> Option<ClientCert> {
    let (leaf, intermediates) = chain.split_first()?;
    let ca_verified = trust.classify(leaf.as_ref(), intermediates, now).ok()?;
    let chain = intermediates.iter().map(|c| c.as_ref().to_vec()).collect();
    Some(ClientCert::new(leaf.as_ref().to_vec(), chain, ca_verified))
}
