//! A client certificate as the decision sees it ([`ClientCert`]: the DER leaf, the presented
//! intermediates, whether it chains to `listen.client_ca_file`, its SHA-256 thumbprint and its
//! subject, each computed once), and the trust that classifies one ([`Trust`]): CA-verified
//! (rustls' WebPKI verifier over the client CA file), else self-signed (issuer = subject and
//! its own key verifies its signature), else refused. Both kinds must be within their validity
//! period. The TLS listener's verifier and `mtls.from_header` use the same [`Trust::classify`].

use super::dn::Dn;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::sync::Arc;

/// A client certificate whose possession was proved (TLS handshake on `listen.mtls`) or vouched
/// for by a trusted proxy (`mtls.from_header`).
#[derive(Debug, Clone)]
pub struct ClientCert {
    leaf: Vec<u8>,
    chain: Vec<Vec<u8>>,
    ca_verified: bool,
    thumbprint: String,
    subject: Option<Dn>,
}

impl ClientCert {
    /// `leaf` and `chain` (intermediates, as presented) in DER; `ca_verified` from
    /// [`Trust::classify`].
    pub fn new(leaf: Vec<u8>, chain: Vec<Vec<u8>>, ca_verified: bool) -> ClientCert {
        let subject = x509_parser::parse_x509_certificate(&leaf)
            .ok()
            .and_then(|(_, cert)| Dn::of_x509(cert.subject()));
        ClientCert {
            thumbprint: thumbprint(&leaf),
            leaf,
            chain,
            ca_verified,
            subject,
        }
    }

    pub fn leaf(&self) -> &[u8] {
        &self.leaf
    }

    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// Chains to `listen.client_ca_file`; otherwise it is self-signed.
    pub fn ca_verified(&self) -> bool {
        self.ca_verified
    }

    /// base64url SHA-256 of the DER leaf: RFC 8705's `x5t#S256`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    pub fn subject(&self) -> Option<&Dn> {
        self.subject.as_ref()
    }
}

/// base64url (unpadded) SHA-256 of a DER certificate, as `cnf.x5t#S256` carries it.
pub fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der))
}

/// Why a presented certificate is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertError {
    /// Not an X.509 certificate.
    Malformed,
    /// Outside its validity period.
    Expired,
    /// Neither chains to `client_ca_file` nor is self-signed.
    Untrusted,
}

impl std::fmt::Display for CertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertError::Malformed => "not an X.509 certificate",
            CertError::Expired => "expired or not yet valid",
            CertError::Untrusted => "neither issued by a client CA nor self-signed",
        })
    }
}

/// The trust anchors of CA-issued client certificates (`listen.client_ca_file`), read with
/// the configuration (so a reload brings new anchors to the next handshake).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    ca: Option<Arc<dyn ClientCertVerifier>>,
    /// The anchors' subjects, for `check`.
    pub anchors: Vec<String>,
}

impl Trust {
    /// Anchors from a PEM file's text: every `CERTIFICATE` block.
    pub fn from_pem(text: &str) -> Result<Trust, String> {
        let mut roots = RootCertStore::empty();
        let mut anchors = Vec::new();
        let blocks = pem::parse_many(text).map_err(|e| e.to_string())?;
        for block in blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE") {
            let der = block.into_contents();
            let (_, cert) = x509_parser::parse_x509_certificate(&der)
                .map_err(|e| format!("a certificate does not parse: {e}"))?;
            anchors.push(cert.subject().to_string());
            roots
                .add(CertificateDer::from(der))
                .map_err(|e| format!("not a usable trust anchor: {e}"))?;
        }
        if roots.is_empty() {
            return Err("holds no certificate".into());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Trust {
            ca: Some(ca),
            anchors,
        })
    }

    /// Whether `leaf` (with the presented `intermediates`) is CA-verified (`true`) or
    /// self-signed (`false`) at `now` (Unix seconds); refused otherwise.
    pub fn classify(
        &self,
        leaf: &[u8],
        intermediates: &[CertificateDer<'_>],
        now: i64,
    ) -> Result<bool, CertError> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(leaf).map_err(|_| CertError::Malformed)?;
        let validity = cert.validity();
        if now < validity.not_before.timestamp() || now > validity.not_after.timestamp() {
            return Err(CertError::Expired);
        }
        if let Some(ca) = &self.ca {
            let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.max(0) as u64));
            let end = CertificateDer::from(leaf);
            if ca.verify_client_cert(&end, intermediates, at).is_ok() {
                return Ok(true);
            }
        }
        let self_signed = cert.subject().as_raw() == cert.issuer().as_raw()
            && cert.verify_signature(None).is_ok();
        if self_signed {
            Ok(false)
        } else {
            Err(CertError::Untrusted)
        }
    }
}

/// Validity of a registered certificate (Unix seconds), its subject and thumbprint: what a
/// credential keeps of its PEM.
pub struct Registered {
    pub thumbprint: String,
    pub subject: Option<Dn>,
    pub subject_text: String,
    pub not_after: i64,
}

/// Reads one PEM certificate (`x509_cert` / `cert_subject_dn` credentials).
pub fn registered(pem_text: &str) -> Result<Registered, String> {
    let block = pem::parse(pem_text).map_err(|e| e.to_string())?;
    if block.tag() != "CERTIFICATE" {
        return Err(format!(
            "a {:?} PEM block is not a certificate",
            block.tag()
        ));
    }
    let der = block.contents();
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("the certificate does not parse: {e}"))?;
    Ok(Registered {
        thumbprint: thumbprint(der),
        subject: Dn::of_x509(cert.subject()),
        subject_text: cert.subject().to_string(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    fn params(country: &str, cn: &str) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CountryName, country);
        p.distinguished_name.push(DnType::OrganizationName, "Bank");
        p.distinguished_name.push(DnType::CommonName, cn);
        p
    }

    /// A self-signed certificate (rcgen's default validity: 1975 to 4096).
    pub(crate) fn self_signed(country: &str, cn: &str) -> Vec<u8> {
        let key = KeyPair::generate().expect("key");
        params(country, cn)
            .self_signed(&key)
            .expect("cert")
            .der()
            .to_vec()
    }

    /// A CA's PEM and a certificate it issued (`C=GB, O=Bank, CN=app-1`).
    pub(crate) fn ca_and_leaf() -> (String, Vec<u8>) {
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = params("GB", "Client CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).expect("ca");
        let key = KeyPair::generate().expect("key");
        let leaf = params("GB", "app-1")
            .signed_by(&key, &ca, &ca_key)
            .expect("leaf");
        (ca.pem(), leaf.der().to_vec())
    }

    #[test]
    fn certificates_are_ca_verified_self_signed_or_refused() {
        let now = 1_800_000_000;
        let (ca, leaf) = ca_and_leaf();
        let (other_ca, foreign) = ca_and_leaf();
        let trust = Trust::from_pem(&ca).expect("trust");
        assert_eq!(trust.classify(&leaf, &[], now), Ok(true));
        let own = self_signed("GB", "app-1");
        assert_eq!(trust.classify(&own, &[], now), Ok(false));
        assert_eq!(
            trust.classify(&foreign, &[], now),
            Err(CertError::Untrusted)
        );
        assert_eq!(
            trust.classify(b"not DER", &[], now),
            Err(CertError::Malformed)
        );
        // Outside rcgen's default validity (before 1975).
        assert_eq!(trust.classify(&leaf, &[], 0), Err(CertError::Expired));
        // Without a CA file only self-signed certificates pass.
        let none = Trust::default();
        assert_eq!(none.classify(&leaf, &[], now), Err(CertError::Untrusted));
        assert_eq!(none.classify(&own, &[], now), Ok(false));
        assert!(Trust::from_pem(&other_ca).is_ok());
        assert!(Trust::from_pem("no PEM here").is_err());
    }

    #[test]
    fn a_certificate_knows_its_subject_and_thumbprint() {
        let (_, leaf) = ca_and_leaf();
        let cert = ClientCert::new(leaf.clone(), Vec::new(), true);
        assert_eq!(cert.thumbprint().len(), 43, "base64url SHA-256");
        assert_eq!(cert.thumbprint(), thumbprint(&leaf));
        let subject = Dn::parse("C=GB\nO=Bank\nCN=app-1").expect("dn");
        assert!(cert.subject().is_some_and(|s| s.matches(&subject)));
    }
}
