//! A client's mTLS credentials (SPEC §4, §10), parsed once per snapshot: `tls_client_auth`
//! subject DNs (`cert_subject_dn`, from `subject_dn` or from a certificate's subject) and
//! `self_signed_tls_client_auth` certificates (`x509_cert`, by SHA-256 thumbprint), each with
//! the expiry that makes it ignored once past (`expires_at`, and for a certificate its own
//! `notAfter`), and [`authenticate`], which matches a [`ClientCert`] against them.

use super::cert::ClientCert;
use super::dn::Dn;

/// One registered subject DN (`tls_client_auth`).
#[derive(Debug, Clone)]
pub struct SubjectCredential {
    pub name: String,
    pub dn: Dn,
    /// The DN as registered, for `check`.
    pub text: String,
    pub expires_at: Option<i64>,
}

/// One registered certificate (`self_signed_tls_client_auth`).
#[derive(Debug, Clone)]
pub struct CertCredential {
    pub name: String,
    pub thumbprint: String,
    pub subject: String,
    /// The earlier of `expires_at` and the certificate's `notAfter`.
    pub expires_at: i64,
}

/// Both lists, and which methods the registry lists for the client.
#[derive(Debug, Clone, Default)]
pub struct MtlsCredentials {
    /// `client_authentication_methods.tls_client_auth` is listed (or named by
    /// `token_endpoint_auth_method`).
    pub tls_client_auth: bool,
    /// `client_authentication_methods.self_signed_tls_client_auth` likewise.
    pub self_signed: bool,
    pub subjects: Vec<SubjectCredential>,
    pub certs: Vec<CertCredential>,
}

/// The RFC 8705 method a certificate authenticated the client with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertMethod {
    TlsClientAuth,
    SelfSignedTlsClientAuth,
}

impl MtlsCredentials {
    /// The client lists an mTLS method: a certificate can be its authentication method.
    pub fn any(&self) -> bool {
        self.tls_client_auth || self.self_signed
    }
}

/// Matches `cert` against the client's current credentials: `tls_client_auth` needs a
/// CA-verified certificate whose subject matches a registered DN; `self_signed_tls_client_auth`
/// a certificate whose thumbprint equals a registered one's. `None`: no match.
pub fn authenticate(creds: &MtlsCredentials, cert: &ClientCert, now: i64) -> Option<CertMethod> {
    if creds.tls_client_auth && cert.ca_verified() {
        if let Some(subject) = cert.subject() {
            let current = creds
                .subjects
                .iter()
                .filter(|c| c.expires_at.is_none_or(|t| now <= t));
            if current.into_iter().any(|c| c.dn.matches(subject)) {
                return Some(CertMethod::TlsClientAuth);
            }
        }
    }
    if creds.self_signed {
        // A thumbprint is public (a hash of a public certificate): no constant-time compare.
        let found = creds
            .certs
            .iter()
            .any(|c| now <= c.expires_at && c.thumbprint == cert.thumbprint());
        if found {
            return Some(CertMethod::SelfSignedTlsClientAuth);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mtls::cert::tests::{ca_and_leaf, self_signed};

    fn creds(tls: bool, by_thumbprint: bool, cert: &[u8], cert_expiry: i64) -> MtlsCredentials {
        MtlsCredentials {
            tls_client_auth: tls,
            self_signed: by_thumbprint,
            subjects: vec![SubjectCredential {
                name: "dn".into(),
                dn: Dn::parse("CN=app-1,O=Bank,C=GB").expect("dn"),
                text: String::new(),
                expires_at: None,
            }],
            certs: vec![CertCredential {
                name: "cert".into(),
                thumbprint: crate::mtls::thumbprint(cert),
                subject: String::new(),
                expires_at: cert_expiry,
            }],
        }
    }

    #[test]
    fn each_method_matches_only_its_own_kind_of_certificate() {
        let now = 1_800_000_000;
        let (_, leaf) = ca_and_leaf();
        let issued = ClientCert::new(leaf.clone(), Vec::new(), true);
        let own = self_signed("GB", "app-1");
        let registered = ClientCert::new(own.clone(), Vec::new(), false);
        let same_dn_unverified = ClientCert::new(leaf, Vec::new(), false);
        let all = creds(true, true, &own, i64::MAX);
        assert_eq!(
            authenticate(&all, &issued, now),
            Some(CertMethod::TlsClientAuth)
        );
        assert_eq!(
            authenticate(&all, &registered, now),
            Some(CertMethod::SelfSignedTlsClientAuth)
        );
        assert_eq!(authenticate(&all, &same_dn_unverified, now), None);
        // A method the client does not accept, or an expired registration, matches nothing.
        assert_eq!(
            authenticate(&creds(false, true, &own, i64::MAX), &issued, now),
            None
        );
        assert_eq!(
            authenticate(&creds(true, false, &own, i64::MAX), &registered, now),
            None
        );
        assert_eq!(
            authenticate(&creds(true, true, &own, now - 1), &registered, now),
            None
        );
    }
}
