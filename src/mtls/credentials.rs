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
