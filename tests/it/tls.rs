//! TLS termination on the proxy listener (edge gateway): the certificate of `listen.tls_cert` is
//! served, requests flow through to the upstream, and a renewed certificate written over the old
//! files is served from the next handshake on, without a restart. An https upstream signed by
//! the CA of `upstream.ca_file` is trusted (the file extends the system roots, or replaces them
//! with `upstream.ca_only`); without it, that upstream is not.

use crate::common::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::PrivateKeyDer;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn cert_der(name: &str) -> CertificateDer<'static> {
    let text = std::fs::read_to_string(keys_dir().join(name)).expect("read cert");
    let block = pem::parse(text).expect("pem");
    CertificateDer::from(block.into_contents())
}

/// Trusts the test CA that issued both certificates (before and after renewal).
fn connector() -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(cert_der("tls-ca.cert.pem")).expect("add root");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Performs one HTTPS GET and returns the certificate the server presented and the status line.
async fn https_get(addr: SocketAddr, path: &str) -> (CertificateDer<'static>, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector().connect(name, tcp).await.expect("handshake");
    let presented = tls.get_ref().1.peer_certificates().expect("peer cert")[0].clone();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or_default().to_string();
    (presented, status)
}

const TLS: &str =
    "[listen]\ntls_cert = \"keys/tls-a.cert.pem\"\ntls_key = \"keys/tls-a.key.pem\"\n";

#[tokio::test]
async fn tls_is_terminated_and_requests_reach_the_upstream() {
    let upstream = StubUpstream::start().await;
    let jargate = Jargate::start(upstream.addr(), TLS, default_clients()).await;
    let (presented, status) = https_get(jargate.proxy_addr(), "/userinfo").await;
    assert_eq!(presented, cert_der("tls-a.cert.pem"));
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(upstream.count(), 1);
    assert_eq!(upstream.requests()[0].path_and_query, "/userinfo");
    // jargate terminated TLS: the upstream is told so (`listen.forwarded_for = "append"`).
    let seen = &upstream.requests()[0];
    assert_eq!(seen.header("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(
        seen.header("x-forwarded-host").as_deref(),
        Some("localhost")
    );
    assert_eq!(seen.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let upstream = StubUpstream::start().await;
    let jargate = Jargate::start(upstream.addr(), TLS, default_clients()).await;
    let (before, _) = https_get(jargate.proxy_addr(), "/userinfo").await;
    assert_eq!(before, cert_der("tls-a.cert.pem"));

    // Renewal as certbot-style tools do it: the key, then the certificate, written in place.
    let keys = jargate.dir().join("keys");
    std::fs::copy(keys.join("tls-b.key.pem"), keys.join("tls-a.key.pem")).expect("key");
    std::fs::copy(keys.join("tls-b.cert.pem"), keys.join("tls-a.cert.pem")).expect("cert");
    let written = Instant::now();
    let renewed = cert_der("tls-b.cert.pem");
    loop {
        let (presented, status) = https_get(jargate.proxy_addr(), "/userinfo").await;
        if presented == renewed {
            assert!(status.contains(" 200 "), "{status}");
            break;
        }
        assert!(
            written.elapsed() < Duration::from_secs(2),
            "the renewed certificate was not served within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An https upstream on `localhost` presenting `tls-a` (issued by the test CA); every request
/// gets `200 upstream`. Returns its port.
async fn https_upstream() -> u16 {
    let key = pem::parse(std::fs::read_to_string(keys_dir().join("tls-a.key.pem")).expect("key"))
        .expect("key pem");
    let key = PrivateKeyDer::Pkcs8(key.into_contents().into());
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert_der("tls-a.cert.pem")], key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && tls.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nupstream")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

/// jargate in front of the https upstream on `port`, with `upstream_toml` in `[upstream]`.
async fn through_https_upstream(port: u16, upstream_toml: &str) -> Response {
    let unused = StubUpstream::start().await;
    let extra = format!("[upstream]\nurl = \"https://localhost:{port}\"\n{upstream_toml}");
    let jargate = Jargate::start(unused.addr(), &extra, default_clients()).await;
    get(jargate.proxy_addr(), "/userinfo").await
}

#[tokio::test]
async fn an_https_upstream_signed_by_the_ca_file_is_trusted() {
    let port = https_upstream().await;
    let resp = through_https_upstream(port, "ca_file = \"keys/tls-ca.cert.pem\"\n").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), "upstream");
    let only = "ca_file = \"keys/tls-ca.cert.pem\"\nca_only = true\n";
    let resp = through_https_upstream(port, only).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[tokio::test]
async fn without_the_ca_file_the_private_ca_upstream_is_not_trusted() {
    let port = https_upstream().await;
    let resp = through_https_upstream(port, "").await;
    assert_eq!(resp.status, 502, "{}", resp.text());
    // ca_only with another anchor: the system roots are gone, and the test CA is not there.
    let other = "ca_file = \"keys/rsa-a.cert.pem\"\nca_only = true\n";
    let resp = through_https_upstream(port, other).await;
    assert_eq!(resp.status, 502, "{}", resp.text());
}
