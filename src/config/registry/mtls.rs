//! A client's mTLS credentials and which client-authentication methods it may use (SPEC §4):
//! `cert_subject_dn` (a `subject_dn`, or a certificate's subject from `pem`/`pem_file`) under
//! `tls_client_auth`, `x509_cert` (a certificate, matched by thumbprint) under
//! `self_signed_tls_client_auth`. An explicit `token_endpoint_auth_method` names the one
//! method a certificate may stand for; absent or `null`, every listed method counts.

use super::raw::{AuthMethod, CredentialType, RawClient, RawCredential};
use super::CredentialsById;
use crate::mtls::credentials::{CertCredential, MtlsCredentials, SubjectCredential};
use crate::mtls::Dn;
use std::path::{Path, PathBuf};

/// Which methods the registry entry lists, before credentials are read.
pub struct Listed {
    pub private_key_jwt: bool,
    pub tls_client_auth: bool,
    pub self_signed: bool,
}

impl Listed {
    pub fn of(raw: &RawClient) -> Listed {
        let m = raw.client_authentication_methods.as_ref();
        Listed {
            private_key_jwt: m.is_some_and(|m| m.private_key_jwt.is_some()),
            tls_client_auth: m.is_some_and(|m| m.tls_client_auth.is_some()),
            self_signed: m.is_some_and(|m| m.self_signed_tls_client_auth.is_some()),
        }
    }

    pub fn mtls(&self) -> bool {
        self.tls_client_auth || self.self_signed
    }
}

/// Whether the client must use one of its registered methods: an explicit
/// private_key_jwt or mTLS method, or a `null` method next to listed ones.
pub fn auth_required(raw: &RawClient, listed: &Listed) -> bool {
    match raw.token_endpoint_auth_method {
        Some(
            AuthMethod::PrivateKeyJwt
            | AuthMethod::TlsClientAuth
            | AuthMethod::SelfSignedTlsClientAuth,
        ) => true,
        None => listed.private_key_jwt || listed.mtls(),
        Some(_) => false,
    }
}

/// Builds the client's mTLS credentials; `now` decides nothing here (expiry is checked per
/// request), files named by `pem_file` are added to `files`.
pub fn credentials(
    raw: &RawClient,
    listed: &Listed,
    base: &Path,
    by_id: &CredentialsById,
    files: &mut Vec<PathBuf>,
) -> Result<MtlsCredentials, String> {
    let (tls, self_signed) = match raw.token_endpoint_auth_method {
        Some(AuthMethod::TlsClientAuth) => (true, false),
        Some(AuthMethod::SelfSignedTlsClientAuth) => (false, true),
        Some(AuthMethod::PrivateKeyJwt) => (false, false),
        _ => (listed.tls_client_auth, listed.self_signed),
    };
    let methods = raw.client_authentication_methods.as_ref();
    let subjects_raw = methods
        .and_then(|m| m.tls_client_auth.as_ref())
        .map(|m| m.credentials.clone())
        .unwrap_or_default();
    let certs_raw = methods
        .and_then(|m| m.self_signed_tls_client_auth.as_ref())
        .map(|m| m.credentials.clone())
        .unwrap_or_default();
    let mut creds = MtlsCredentials {
        tls_client_auth: tls,
        self_signed,
        ..MtlsCredentials::default()
    };
    let read =
        |field: &str, list: Vec<RawCredential>| -> Result<Vec<(String, RawCredential)>, String> {
            list.into_iter()
                .enumerate()
                .map(|(i, cred)| {
                    resolve(
                        format!("client_authentication_methods.{field}.credentials[{i}]"),
                        cred,
                        by_id,
                    )
                })
                .collect()
        };
    for (at, cred) in read("tls_client_auth", subjects_raw)? {
        let built = subject(&cred, base, files).map_err(|e| format!("{at}.{e}"))?;
        creds.subjects.push(built);
    }
    for (at, cred) in read("self_signed_tls_client_auth", certs_raw)? {
        let built = certificate(&cred, base, files).map_err(|e| format!("{at}.{e}"))?;
        creds.certs.push(built);
    }
    if tls && creds.subjects.is_empty() {
        return Err("tls_client_auth is required but no cert_subject_dn credential is registered (client_authentication_methods.tls_client_auth.credentials)".into());
    }
    if self_signed && creds.certs.is_empty() {
        return Err("self_signed_tls_client_auth is required but no x509_cert credential is registered (client_authentication_methods.self_signed_tls_client_auth.credentials)".into());
    }
    Ok(creds)
}

/// A credential given by id only is taken from `clients.credentials_file`.
fn resolve(
    at: String,
    cred: RawCredential,
    by_id: &CredentialsById,
) -> Result<(String, RawCredential), String> {
    if !cred.is_reference() {
        return Ok((at, cred));
    }
    let id = cred.id.unwrap_or_default();
    let at = format!("{at} ({id:?})");
    match by_id.0.get(&id) {
        Some(found) => Ok((at, found.clone())),
        None => Err(format!(
            "{at}: credential {id:?} is given by id only and is not in clients.credentials_file"
        )),
    }
}

fn pem_text(
    cred: &RawCredential,
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<Option<String>, String> {
    match (&cred.pem, &cred.pem_file) {
        (Some(_), Some(_)) => Err("pem: pem and pem_file are exclusive".into()),
        (Some(pem), None) => Ok(Some(pem.clone())),
        (None, Some(file)) => {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("pem_file: cannot read {}: {e}", path.display()))?;
            files.push(path);
            Ok(Some(text))
        }
        (None, None) => Ok(None),
    }
}

fn expires_at(cred: &RawCredential) -> Result<Option<i64>, String> {
    match &cred.expires_at {
        None => Ok(None),
        Some(text) => {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(|t| Some(t.unix_timestamp()))
                .map_err(|e| format!("expires_at: {text:?} is not RFC 3339: {e}"))
        }
    }
}

fn only_certificate_fields(cred: &RawCredential) -> Result<(), String> {
    if cred.jwk.is_some() || cred.uri.is_some() || cred.alg.is_some() || cred.kid.is_some() {
        return Err("credential_type: an mTLS credential takes no jwk, uri, alg or kid".into());
    }
    Ok(())
}

/// `cert_subject_dn`: `subject_dn`, or the subject of the certificate in `pem`/`pem_file`.
fn subject(
    cred: &RawCredential,
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<SubjectCredential, String> {
    if cred.credential_type != Some(CredentialType::CertSubjectDn) {
        return Err("credential_type: tls_client_auth takes cert_subject_dn credentials".into());
    }
    only_certificate_fields(cred)?;
    let pem = pem_text(cred, base, files)?;
    let (dn, text) = match (&cred.subject_dn, pem) {
        (Some(text), None) => (
            Dn::parse(text).map_err(|e| format!("subject_dn: {e}"))?,
            text.clone(),
        ),
        (None, Some(pem)) => {
            let cert = crate::mtls::cert::registered(&pem).map_err(|e| format!("pem: {e}"))?;
            let dn = cert
                .subject
                .ok_or("pem: the certificate's subject holds a value jargate cannot compare")?;
            (dn, cert.subject_text)
        }
        _ => {
            return Err("subject_dn: exactly one of subject_dn, pem or pem_file is required".into())
        }
    };
    Ok(SubjectCredential {
        name: cred.name.clone().unwrap_or_else(|| text.replace('\n', ",")),
        dn,
        text,
        expires_at: expires_at(cred)?,
    })
}

/// `x509_cert`: a certificate, matched by its SHA-256 thumbprint.
fn certificate(
    cred: &RawCredential,
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<CertCredential, String> {
    if cred.credential_type != Some(CredentialType::X509Cert) {
        return Err(
            "credential_type: self_signed_tls_client_auth takes x509_cert credentials".into(),
        );
    }
    only_certificate_fields(cred)?;
    let pem =
        pem_text(cred, base, files)?.ok_or("pem: a certificate (pem or pem_file) is required")?;
    let cert = crate::mtls::cert::registered(&pem).map_err(|e| format!("pem: {e}"))?;
    let expires_at = match expires_at(cred)? {
        Some(t) => t.min(cert.not_after),
        None => cert.not_after,
    };
    Ok(CertCredential {
        name: cred.name.clone().unwrap_or_else(|| cert.thumbprint.clone()),
        thumbprint: cert.thumbprint,
        subject: cert.subject_text,
        expires_at,
    })
}
