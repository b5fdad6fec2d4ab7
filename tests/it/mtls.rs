//! mTLS (SPEC §10) through the real proxy: a real TLS client presents certificates made in the
//! test to `listen.mtls`; `tls_client_auth` (subject DN, CA-issued) and
//! `self_signed_tls_client_auth` (thumbprint) are accepted and refused as §10 says, with nothing
//! forwarded on refusal; a refused certificate ends the handshake; forged certificate headers
//! never reach the upstream on any listener; the forwarded headers are byte-exact (RFC 9440 and
//! Auth0's customer edge); `mtls.from_header` is trusted only from `mtls.trusted_proxies`; in
//! legacy mode an mTLS client authenticates upstream with its secret.

mod certs;

use crate::common::*;
use certs::{post_tls, self_signed, self_signed_at, send_tls, Ca, Leaf};
use rcgen::DnType;
use serde_json::{json, Value};
use std::net::SocketAddr;

const BANK_DN: &[(DnType, &str)] = &[
    (DnType::CountryName, "GB"),
    (DnType::OrganizationName, "Bank"),
    (DnType::CommonName, "bank-app"),
];
const GRANT: &str = "grant_type=client_credentials&client_id=bank-app";
const SECRET: &str = "bank-app-upstream-secret";

/// `bank-app`: tls_client_auth by Auth0's newline DN; `self-app`: self_signed_tls_client_auth
/// with `registered`; `pkj-app`: private_key_jwt (rsa-a), certificates only bind.
fn clients(registered: &Leaf) -> Value {
    let mut pkj = pkjwt_client("pkj-app", vec![pem_credential("rsa-a", "RS256")]);
    pkj["upstream_client_secret"] = json!("pkj-secret-value");
    registry(vec![
        json!({
            "client_id": "bank-app",
            "token_endpoint_auth_method": null,
            "client_authentication_methods": {"tls_client_auth": {"credentials": [
                {"credential_type": "cert_subject_dn", "subject_dn": "C=GB\nO=Bank\nCN=bank-app"}]}},
            "upstream_client_secret": SECRET,
        }),
        json!({
            "client_id": "self-app",
            "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "client_authentication_methods": {"self_signed_tls_client_auth": {"credentials": [
                {"credential_type": "x509_cert", "pem": registered.pem}]}},
            "upstream_client_secret": "self-app-upstream-secret",
        }),
        pkj,
    ])
}

struct Mtls {
    upstream: StubUpstream,
    jargate: Jargate,
    /// The `listen.mtls` listener.
    addr: SocketAddr,
    /// Holds the client CA file.
    dir: tempfile::TempDir,
}

/// jargate with a plain main listener and `listen.mtls` trusting `ca`.
async fn start(ca: &Ca, extra: &str, clients: Value) -> Mtls {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write ca");
    let [addr] = free_addrs();
    let toml = format!(
        "[listen]\nmtls = \"{addr}\"\nmtls_cert = \"keys/tls-a.cert.pem\"\n\
         mtls_key = \"keys/tls-a.key.pem\"\nclient_ca_file = \"{}\"\n{extra}",
        ca_file.display()
    );
    let upstream = StubUpstream::start().await;
    let jargate = Jargate::start(upstream.addr(), &toml, clients).await;
    Mtls {
        upstream,
        jargate,
        addr,
        dir,
    }
}

/// `jargate_client_auth_total{method}` counted one forwarded request.
async fn assert_counted_once(m: &Mtls, method: &str) {
    let metrics = scrape_metrics(m.jargate.admin_addr()).await;
    let labels = [("method", method)];
    assert_eq!(counter(&metrics, "jargate_client_auth_total", &labels), 1.0);
}

/// The raw bytes of the `bank-app` token request.
fn token_request(addr: SocketAddr) -> Vec<u8> {
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    build_request(addr, "POST", TOKEN, &form, GRANT.as_bytes())
}

#[tokio::test]
async fn tls_client_auth_by_subject_dn_is_accepted_and_the_certificate_forwarded() {
    let ca = Ca::new("Client CA");
    let leaf = ca.issue(BANK_DN);
    let m = start(&ca, "", clients(&self_signed("self-app"))).await;
    let resp = post_tls(m.addr, Some(&leaf), TOKEN, GRANT).await;
    let seen = assert_forwarded(&resp, &m.upstream, "POST", TOKEN, GRANT.as_bytes());
    assert_eq!(seen.header("client-cert"), Some(leaf.rfc9440()));
    assert_eq!(
        seen.header("client-cert-chain"),
        None,
        "no intermediates sent"
    );
    let line = m
        .jargate
        .stderr_once(|s| s.contains("\"decision\"") || s.contains("decision"))
        .await;
    assert!(
        line.contains(&leaf.thumbprint()),
        "thumbprint in the decision line: {line}"
    );
    assert_counted_once(&m, "tls_client_auth").await;
}

#[tokio::test]
async fn tls_client_auth_refusals_forward_nothing() {
    let ca = Ca::new("Client CA");
    let other_ca = Ca::new("Another CA");
    let m = start(&ca, "", clients(&self_signed("self-app"))).await;
    let wrong_dn = ca.issue(&[
        (DnType::CountryName, "GB"),
        (DnType::CommonName, "bank-app"),
    ]);
    let foreign = other_ca.issue(BANK_DN);
    let self_signed_same_dn = self_signed_at(BANK_DN, -1, 30);
    // Another subject; no certificate; no client_id.
    let resp = post_tls(m.addr, Some(&wrong_dn), TOKEN, GRANT).await;
    assert_rejected(&resp, 401, "invalid_client", &m.upstream);
    assert_eq!(
        resp.json()["error_description"],
        "the client certificate matches no registered credential of this client"
    );
    let resp = post_tls(m.addr, None, TOKEN, GRANT).await;
    assert_rejected(&resp, 401, "invalid_client", &m.upstream);
    let leaf = ca.issue(BANK_DN);
    let resp = post_tls(m.addr, Some(&leaf), TOKEN, "grant_type=client_credentials").await;
    assert_rejected(&resp, 401, "invalid_client", &m.upstream);
    assert_eq!(
        resp.json()["error_description"],
        "client_id is required with mTLS client authentication"
    );
    // A self-signed certificate with the registered DN is no tls_client_auth.
    let resp = post_tls(m.addr, Some(&self_signed_same_dn), TOKEN, GRANT).await;
    assert_rejected(&resp, 401, "invalid_client", &m.upstream);
    // A certificate of an untrusted CA (not self-signed) ends the handshake.
    let raw = token_request(m.addr);
    assert!(send_tls(m.addr, Some(&foreign), &raw).await.is_err());
    // On the main listener there is no certificate at all.
    let resp = post_form(m.jargate.proxy_addr(), TOKEN, GRANT).await;
    assert_rejected(&resp, 401, "invalid_client", &m.upstream);
    // A secret instead: one method per request, and this client must use its certificate.
    let form = format!("{GRANT}&client_secret=guess-the-secret");
    let resp = post_tls(m.addr, Some(&leaf), TOKEN, &form).await;
    assert_rejected(&resp, 401, "invalid_client", &m.upstream);
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_end_the_handshake() {
    let ca = Ca::new("Client CA");
    let m = start(&ca, "", clients(&self_signed("self-app"))).await;
    let raw = token_request(m.addr);
    for leaf in [
        ca.issue_at(BANK_DN, -30, -1),
        ca.issue_at(BANK_DN, 2, 30),
        self_signed_at(&[(DnType::CommonName, "self-app")], -30, -1),
    ] {
        let result = send_tls(m.addr, Some(&leaf), &raw).await;
        assert!(result.is_err(), "{result:?}");
    }
    assert_eq!(m.upstream.count(), 0);
    // A connection without a certificate is accepted.
    let resp = send_tls(
        m.addr,
        None,
        &build_request(m.addr, "GET", "/userinfo", &[], b""),
    )
    .await;
    assert_eq!(resp.expect("no certificate").status, 200);
}

#[tokio::test]
async fn a_replaced_client_ca_file_is_trusted_from_the_next_handshake() {
    let (old_ca, new_ca) = (Ca::new("Old CA"), Ca::new("New CA"));
    let m = start(&old_ca, "", clients(&self_signed("self-app"))).await;
    let (old_leaf, new_leaf) = (old_ca.issue(BANK_DN), new_ca.issue(BANK_DN));
    let resp = post_tls(m.addr, Some(&old_leaf), TOKEN, GRANT).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    std::fs::write(m.dir.path().join("client-ca.pem"), new_ca.pem()).expect("rewrite");
    let raw = token_request(m.addr);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while send_tls(m.addr, Some(&old_leaf), &raw).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the old CA is still trusted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let resp = post_tls(m.addr, Some(&new_leaf), TOKEN, GRANT).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[tokio::test]
async fn self_signed_tls_client_auth_by_thumbprint() {
    let ca = Ca::new("Client CA");
    let registered = self_signed("self-app");
    let m = start(&ca, "", clients(&registered)).await;
    let form = "grant_type=client_credentials&client_id=self-app";
    let resp = post_tls(m.addr, Some(&registered), TOKEN, form).await;
    let seen = assert_forwarded(&resp, &m.upstream, "POST", TOKEN, form.as_bytes());
    assert_eq!(seen.header("client-cert"), Some(registered.rfc9440()));
    // Another self-signed certificate with the same subject: another thumbprint.
    let before = m.upstream.count();
    let impostor = self_signed("self-app");
    let resp = post_tls(m.addr, Some(&impostor), TOKEN, form).await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(m.upstream.count(), before, "nothing forwarded");
    assert_counted_once(&m, "self_signed_tls_client_auth").await;
}

#[tokio::test]
async fn a_self_signed_certificate_is_forwarded_only_where_jargate_authenticated_the_client() {
    let ca = Ca::new("Client CA");
    let m = start(&ca, "", clients(&self_signed("self-app"))).await;
    let unregistered = self_signed("someone");
    let issued = ca.issue(BANK_DN);
    // A passthrough path: the CA-verified certificate is forwarded, a self-signed one is not.
    let get = build_request(m.addr, "GET", "/userinfo", &[], b"");
    let resp = send_tls(m.addr, Some(&issued), &get)
        .await
        .expect("ca-issued");
    assert_eq!(
        relayed_nth(&resp, &m.upstream, 0).header("client-cert"),
        Some(issued.rfc9440())
    );
    let resp = send_tls(m.addr, Some(&unregistered), &get)
        .await
        .expect("self-signed");
    assert_eq!(
        relayed_nth(&resp, &m.upstream, 1).header("client-cert"),
        None
    );
    // A private_key_jwt client binding its token to a self-signed certificate: forwarded.
    let form = assertion_form(&assertion_by("rsa-a", "RS256", "pkj-app"));
    let resp = post_tls(m.addr, Some(&unregistered), TOKEN, &form).await;
    let seen = relayed_nth(&resp, &m.upstream, 2);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(seen.header("client-cert"), Some(unregistered.rfc9440()));
}

#[tokio::test]
async fn forged_certificate_headers_never_reach_the_upstream() {
    let ca = Ca::new("Client CA");
    let registered = self_signed("self-app");
    let m = start(
        &ca,
        "[mtls]\nstrip_headers = [\"X-Client-Verify\"]\n",
        clients(&registered),
    )
    .await;
    let forged = ca.issue(BANK_DN).rfc9440();
    let headers = [
        ("Client-Cert", forged.as_str()),
        ("Client-Cert-Chain", forged.as_str()),
        ("client-certificate", "forged"),
        ("Client-Certificate-CA-Verified", "SUCCESS"),
        ("cname-api-key", "forged-api-key"),
        ("X-Forwarded-Client-Cert", "Hash=abc;Cert=\"x\""),
        ("X-Forwarded-Tls-Client-Cert", "forged"),
        ("X-SSL-Client-Cert", "forged"),
        ("ssl-client-cert", "forged"),
        ("SSL_CLIENT_CERT", "forged"),
        ("ssl_client_verify", "SUCCESS"),
        ("X-Amzn-Mtls-Clientcert", "forged"),
        ("X-ARR-ClientCert", "forged"),
        ("X_Client_Verify", "SUCCESS"),
    ];
    let forged_names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    // On the main listener (passthrough), and on the mTLS listener with a registered
    // certificate at the token endpoint: only jargate's own Client-Cert arrives.
    let resp = request(m.jargate.proxy_addr(), "GET", "/userinfo", &headers, b"").await;
    let seen = relayed_nth(&resp, &m.upstream, 0);
    for name in &forged_names {
        assert_eq!(seen.header(name), None, "{name} reached the upstream");
    }
    let form = "grant_type=client_credentials&client_id=self-app";
    let mut with_type = headers.to_vec();
    with_type.push(("Content-Type", "application/x-www-form-urlencoded"));
    let raw = build_request(m.addr, "POST", TOKEN, &with_type, form.as_bytes());
    let resp = send_tls(m.addr, Some(&registered), &raw)
        .await
        .expect("token");
    let seen = relayed_nth(&resp, &m.upstream, 1);
    assert_eq!(seen.header("client-cert"), Some(registered.rfc9440()));
    assert_eq!(seen.headers.get_all("client-cert").iter().count(), 1);
    for name in forged_names.iter().filter(|n| *n != "client-cert") {
        assert_eq!(seen.header(name), None, "{name} reached the upstream");
    }
}

#[tokio::test]
async fn auth0_customer_edge_headers_are_byte_exact_and_the_api_key_is_never_logged() {
    let ca = Ca::new("Client CA");
    let key = "cname-api-key-for-the-test-tenant";
    let extra = format!("[mtls]\nforward = \"auth0\"\nauth0_cname_api_key = \"{key}\"\n");
    let registered = self_signed("self-app");
    let m = start(&ca, &extra, clients(&registered)).await;
    m.jargate.forbid_in_logs(key);
    let leaf = ca.issue(BANK_DN);
    let resp = post_tls(m.addr, Some(&leaf), TOKEN, GRANT).await;
    let seen = assert_forwarded(&resp, &m.upstream, "POST", TOKEN, GRANT.as_bytes());
    // The PEM as Auth0 reads it: 64-character lines, LF, encodeURIComponent's escapes.
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &leaf.der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    let encoded = pem
        .replace('%', "%25")
        .replace('\n', "%0A")
        .replace(' ', "%20")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    assert_eq!(seen.header("client-certificate"), Some(encoded));
    assert_eq!(
        seen.header("client-certificate-ca-verified").as_deref(),
        Some("SUCCESS")
    );
    assert_eq!(seen.header("cname-api-key").as_deref(), Some(key));
    assert_eq!(seen.header("client-cert"), None);
    // A self-signed certificate goes with FAILED (Auth0 checks the thumbprint itself).
    let form = "grant_type=client_credentials&client_id=self-app";
    let resp = post_tls(m.addr, Some(&registered), TOKEN, form).await;
    let seen = relayed_nth(&resp, &m.upstream, 1);
    assert_eq!(
        seen.header("client-certificate-ca-verified").as_deref(),
        Some("FAILED")
    );
    m.jargate.assert_no_secret_logged();
}

/// Behind a TLS-terminating ingress: the certificate comes in `from_header`.
async fn sidecar(
    ca: &Ca,
    format: &str,
    trusted: &str,
    clients: Value,
) -> (StubUpstream, Jargate, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write ca");
    let toml = format!(
        "[listen]\nclient_ca_file = \"{}\"\n[mtls]\nfrom_header = \"X-Client-Cert\"\n\
         from_header_format = \"{format}\"\ntrusted_proxies = [\"{trusted}\"]\n",
        ca_file.display()
    );
    let upstream = StubUpstream::start().await;
    let jargate = Jargate::start(upstream.addr(), &toml, clients).await;
    (upstream, jargate, dir)
}

/// A client-credentials token request whose `X-Client-Cert` header holds `value`.
async fn token_with_cert(jargate: &Jargate, value: &str) -> Response {
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Client-Cert", value),
    ];
    request(
        jargate.proxy_addr(),
        "POST",
        TOKEN,
        &headers,
        GRANT.as_bytes(),
    )
    .await
}

#[tokio::test]
async fn the_sidecar_header_is_read_from_trusted_proxies_in_both_formats() {
    let ca = Ca::new("Client CA");
    let leaf = ca.issue(BANK_DN);
    let (upstream, jargate, _dir) =
        sidecar(&ca, "rfc9440", "127.0.0.0/8", clients(&self_signed("s"))).await;
    let value = leaf.rfc9440();
    let resp = token_with_cert(&jargate, &value).await;
    let seen = assert_forwarded(&resp, &upstream, "POST", TOKEN, GRANT.as_bytes());
    assert_eq!(seen.header("client-cert"), Some(value.clone()));
    assert_eq!(
        seen.header("x-client-cert"),
        None,
        "the source header is removed"
    );
    // Unreadable: refused, nothing forwarded.
    let resp = token_with_cert(&jargate, ":bm90IGEgY2VydA==:").await;
    assert_error(&resp, 400, "invalid_request");
    assert_eq!(upstream.count(), 1);

    let (upstream, jargate, _dir) = sidecar(
        &ca,
        "pem-urlencoded",
        "127.0.0.1/32",
        clients(&self_signed("s")),
    )
    .await;
    let escaped: String = form_encode(&leaf.pem).replace('+', "%20");
    let resp = token_with_cert(&jargate, &escaped).await;
    let seen = assert_forwarded(&resp, &upstream, "POST", TOKEN, GRANT.as_bytes());
    assert_eq!(seen.header("client-cert"), Some(value));
}

#[tokio::test]
async fn the_sidecar_header_from_an_untrusted_peer_is_ignored_and_removed() {
    let ca = Ca::new("Client CA");
    let leaf = ca.issue(BANK_DN);
    let (upstream, jargate, _dir) =
        sidecar(&ca, "rfc9440", "10.0.0.0/8", clients(&self_signed("s"))).await;
    let value = leaf.rfc9440();
    let resp = token_with_cert(&jargate, &value).await;
    assert_rejected(&resp, 401, "invalid_client", &upstream);
    let resp = request(
        jargate.proxy_addr(),
        "GET",
        "/userinfo",
        &[("X-Client-Cert", value.as_str())],
        b"",
    )
    .await;
    let seen = relayed_nth(&resp, &upstream, 0);
    assert_eq!(seen.header("x-client-cert"), None);
    assert_eq!(seen.header("client-cert"), None);
}

#[tokio::test]
async fn legacy_mode_gives_an_mtls_client_its_upstream_secret() {
    let ca = Ca::new("Client CA");
    let leaf = ca.issue(BANK_DN);
    let m = start(&ca, LEGACY, clients(&self_signed("self-app"))).await;
    m.jargate.forbid_in_logs(SECRET);
    let resp = post_tls(m.addr, Some(&leaf), TOKEN, GRANT).await;
    let seen = relayed_nth(&resp, &m.upstream, 0);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(seen.body_str(), format!("{GRANT}&client_secret={SECRET}"));
    // Refused certificates get no secret.
    let resp = post_tls(
        m.addr,
        Some(&ca.issue(&[(DnType::CommonName, "x")])),
        TOKEN,
        GRANT,
    )
    .await;
    assert_error(&resp, 401, "invalid_client");
    assert_eq!(m.upstream.count(), 1);
    m.jargate.assert_no_secret_logged();
}

#[test]
fn check_lists_mtls_credentials_and_warns_about_expiring_certificates() {
    let ca = Ca::new("Client CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write ca");
    let soon = self_signed_at(&[(DnType::CommonName, "self-app")], -1, 10);
    let expired = self_signed_at(&[(DnType::CommonName, "old")], -30, -1);
    let mut clients = clients(&soon);
    clients["clients"][1]["client_authentication_methods"]["self_signed_tls_client_auth"]
        ["credentials"]
        .as_array_mut()
        .expect("list")
        .push(json!({"credential_type": "x509_cert", "pem": expired.pem}));
    let keys = keys_dir();
    let mtls = format!(
        "[listen]\nmtls = \"127.0.0.1:0\"\nmtls_cert = \"{}\"\nmtls_key = \"{}\"\nclient_ca_file = \"{}\"\n",
        keys.join("tls-a.cert.pem").display(),
        keys.join("tls-a.key.pem").display(),
        ca_file.display()
    );
    let ran = ConfigDir::new(&mtls, &clients).check();
    let out = ran.output();
    assert_eq!(ran.code, 0, "{out}");
    assert!(out.contains("CN=Client CA"), "{out}");
    assert!(
        out.contains("subject \"C=GB\\nO=Bank\\nCN=bank-app\""),
        "{out}"
    );
    assert!(
        out.contains(&format!("x5t#S256 {}", soon.thumbprint())),
        "{out}"
    );
    let soon_warned = out.contains("(in 9 days)") || out.contains("(in 10 days)");
    assert!(out.contains("mTLS certificate") && soon_warned, "{out}");
    assert!(
        out.contains("expired at") && out.contains("(ignored)"),
        "{out}"
    );
}

#[test]
fn an_incomplete_mtls_configuration_is_an_error() {
    let registered = self_signed("self-app");
    let keys = keys_dir();
    let listener = format!(
        "[listen]\nmtls = \"127.0.0.1:0\"\nmtls_cert = \"{}\"\nmtls_key = \"{}\"\n",
        keys.join("tls-a.cert.pem").display(),
        keys.join("tls-a.key.pem").display(),
    );
    let only_self = registry(vec![clients(&registered)["clients"][1].clone()]);
    let cases: Vec<(String, Value, &str)> = vec![
        (
            listener.clone(),
            clients(&registered),
            "tls_client_auth needs listen.client_ca_file",
        ),
        (
            format!("{listener}[mtls]\nfrom_header = \"x-client-cert\"\n"),
            only_self.clone(),
            "mtls.trusted_proxies: required",
        ),
        (
            format!("{listener}[mtls]\nforward = \"auth0\"\n"),
            only_self.clone(),
            "mtls.auth0_cname_api_key: required",
        ),
        (
            format!("{listener}[mtls]\ntrusted_proxies = [\"10.0.0.0/8\"]\n"),
            only_self.clone(),
            "mtls.from_header is not",
        ),
        (
            format!(
                "{listener}[mtls]\nfrom_header = \"x-cert\"\ntrusted_proxies = [\"10.0.0.0/33\"]\n"
            ),
            only_self.clone(),
            "not a CIDR",
        ),
        (
            "[listen]\nmtls = \"127.0.0.1:0\"\n".into(),
            only_self.clone(),
            "needs listen.mtls_cert",
        ),
        (
            listener.clone(),
            registry(vec![
                json!({"client_id": "x", "client_authentication_methods": {
            "self_signed_tls_client_auth": {"credentials": [{"credential_type": "public_key", "pem": registered.pem}]}}}),
            ]),
            "takes x509_cert credentials",
        ),
        (
            listener.clone(),
            registry(vec![
                json!({"client_id": "x", "token_endpoint_auth_method": "self_signed_tls_client_auth"}),
            ]),
            "no x509_cert credential is registered",
        ),
    ];
    for (toml, clients, expected) in cases {
        let ran = ConfigDir::new(&toml, &clients).check();
        assert_eq!(ran.code, 1, "{toml}: {}", ran.output());
        assert!(
            ran.output().contains(expected),
            "{expected:?} not in {}",
            ran.output()
        );
    }
}

#[tokio::test]
async fn the_main_tls_listener_never_asks_for_a_certificate() {
    let ca = Ca::new("Client CA");
    let main_tls = "tls_cert = \"keys/tls-a.cert.pem\"\ntls_key = \"keys/tls-a.key.pem\"\n";
    let m = start(&ca, main_tls, clients(&self_signed("self-app"))).await;
    let leaf = ca.issue(BANK_DN);
    let main = m.jargate.proxy_addr();
    let get = build_request(main, "GET", "/userinfo", &[], b"");
    let resp = send_tls(main, Some(&leaf), &get)
        .await
        .expect("main listener");
    let seen = relayed_nth(&resp, &m.upstream, 0);
    assert_eq!(
        seen.header("client-cert"),
        None,
        "no certificate was asked for"
    );
    // The same client on listen.mtls: asked, verified, forwarded.
    let get = build_request(m.addr, "GET", "/userinfo", &[], b"");
    let resp = send_tls(m.addr, Some(&leaf), &get)
        .await
        .expect("mtls listener");
    let seen = relayed_nth(&resp, &m.upstream, 1);
    assert_eq!(seen.header("client-cert"), Some(leaf.rfc9440()));
}
