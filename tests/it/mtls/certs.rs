//! Client certificates made at test time (rcgen): a client CA and what it issues, self-signed
//! ones, expired ones; and a real TLS client (tokio-rustls) that presents one to jargate's
//! `listen.mtls` listener and sends exact request bytes.

use crate::common::*;
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A certificate and its key.
pub struct Leaf {
    pub der: Vec<u8>,
    pub pem: String,
    key: Vec<u8>,
}

impl Leaf {
    /// `x5t#S256`: base64url SHA-256 of the DER, computed here independently of jargate.
    pub fn thumbprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.der);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    }

    /// `Client-Cert` as RFC 9440 writes it.
    pub fn rfc9440(&self) -> String {
        format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(&self.der)
        )
    }
}

fn params(subject: &[(DnType, &str)], days_from: i64, days_to: i64) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut dn = DistinguishedName::new();
    for (kind, value) in subject {
        dn.push(kind.clone(), *value);
    }
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(days_from);
    params.not_after = now + time::Duration::days(days_to);
    params
}

/// A client CA (`listen.client_ca_file`).
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut p = params(&[(DnType::CommonName, name)], -1, 365);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).expect("ca");
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `subject`, valid from `days_from` to `days_to` days from now.
    pub fn issue_at(&self, subject: &[(DnType, &str)], days_from: i64, days_to: i64) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let cert = params(subject, days_from, days_to)
            .signed_by(&key, &self.cert, &self.key)
            .expect("issue");
        Leaf {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key: key.serialize_der(),
        }
    }

    pub fn issue(&self, subject: &[(DnType, &str)]) -> Leaf {
        self.issue_at(subject, -1, 30)
    }
}

/// A self-signed certificate valid from `days_from` to `days_to` days from now.
pub fn self_signed_at(subject: &[(DnType, &str)], days_from: i64, days_to: i64) -> Leaf {
    let key = KeyPair::generate().expect("key");
    let cert = params(subject, days_from, days_to)
        .self_signed(&key)
        .expect("self-signed");
    Leaf {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key: key.serialize_der(),
    }
}

pub fn self_signed(cn: &str) -> Leaf {
    self_signed_at(&[(DnType::CommonName, cn)], -1, 30)
}

/// Trusts the test CA of `keys/tls-a.cert.pem`; presents `leaf` when given.
fn connector(leaf: Option<&Leaf>) -> TlsConnector {
    let text = std::fs::read_to_string(keys_dir().join("tls-ca.cert.pem")).expect("ca");
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(
            pem::parse(text).expect("pem").into_contents(),
        ))
        .expect("root");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match leaf {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(leaf.der.clone())],
                PrivateKeyDer::try_from(leaf.key.clone()).expect("key"),
            )
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

/// Sends `raw` over TLS to `addr` presenting `leaf`; `Err` when the handshake or the
/// exchange fails (a refused certificate ends the connection).
pub async fn send_tls(
    addr: SocketAddr,
    leaf: Option<&Leaf>,
    raw: &[u8],
) -> Result<Response, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector(leaf)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(raw)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tls.read_to_end(&mut buf),
    )
    .await;
    match read {
        Ok(Ok(_)) => {}
        // TLS 1.3: a certificate refused after the handshake shows as an alert on read.
        Ok(Err(e)) if buf.is_empty() => return Err(format!("read: {e}")),
        Ok(Err(_)) => {}
        Err(_) => return Err("timed out".into()),
    }
    match parse_response(&buf, true) {
        Some(Ok(resp)) => Ok(resp),
        Some(Err(e)) => Err(e),
        None => Err(format!("no response: {:?}", String::from_utf8_lossy(&buf))),
    }
}

/// A form POST over the mTLS listener.
pub async fn post_tls(addr: SocketAddr, leaf: Option<&Leaf>, path: &str, form: &str) -> Response {
    let raw = build_request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    send_tls(addr, leaf, &raw).await.expect("mTLS request")
}
