//! What `jargate check` says about mTLS (SPEC §10): the certificate sources (`listen.mtls`,
//! `mtls.from_header`), each client's mTLS credentials, and warnings about registered
//! certificates and subject DNs expiring within 30 days (or expired: then ignored).

use crate::clock::rfc3339;
use crate::config::{Client, MtlsForward, Snapshot};

const SOON: i64 = 30 * 24 * 3600;

/// The summary lines about certificate sources and forwarding.
pub fn sources(snapshot: &Snapshot) -> String {
    let mtls = &snapshot.mtls;
    let settings = &snapshot.settings;
    let mut out = String::new();
    if let Some(addr) = mtls.addr {
        let anchors = if mtls.trust.anchors.is_empty() {
            "no client CA: self-signed certificates only".to_string()
        } else {
            format!("client CAs: {}", mtls.trust.anchors.join("; "))
        };
        out += &format!("mtls       {addr} ({anchors})\n");
    }
    if let Some((name, _)) = &mtls.from_header {
        out += &format!(
            "mtls       certificate from header {name} when the peer is in {}\n",
            settings.mtls.trusted_proxies.join(", ")
        );
    }
    if mtls.has_source() {
        let forward = match settings.mtls.forward {
            MtlsForward::Rfc9440 => "rfc9440 (Client-Cert, Client-Cert-Chain)",
            MtlsForward::Auth0 => "auth0 (client-certificate, cname-api-key set)",
            MtlsForward::None => "none",
        };
        out += &format!("mtls       forward {forward}\n");
    }
    out
}

/// A client's mTLS credentials (empty when it has none).
pub fn client(client: &Client, now: i64) -> String {
    let m = &client.mtls;
    if !m.any() && m.subjects.is_empty() && m.certs.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let state = |listed: bool| if listed { "accepted" } else { "not accepted" };
    out += &format!("  tls_client_auth ({}):", state(m.tls_client_auth));
    out += if m.subjects.is_empty() {
        " none\n"
    } else {
        "\n"
    };
    for s in &m.subjects {
        out += &format!("    subject {:?} {}\n", s.text, expiry(s.expires_at, now));
    }
    out += &format!("  self_signed_tls_client_auth ({}):", state(m.self_signed));
    out += if m.certs.is_empty() { " none\n" } else { "\n" };
    for c in &m.certs {
        out += &format!(
            "    x5t#S256 {} {} {}\n",
            c.thumbprint,
            c.subject,
            expiry(Some(c.expires_at), now)
        );
    }
    out
}

fn expiry(at: Option<i64>, now: i64) -> String {
    match at {
        None => "no expiry".into(),
        Some(t) if t < now => format!("EXPIRED {} (ignored)", rfc3339(t)),
        Some(t) => format!("expires {} (in {} days)", rfc3339(t), (t - now) / 86_400),
    }
}

/// Registered certificates and DNs expired or expiring within 30 days.
pub fn warnings(client: &Client, now: i64) -> Vec<String> {
    let m = &client.mtls;
    let dated = m
        .certs
        .iter()
        .map(|c| ("certificate", c.name.as_str(), Some(c.expires_at)))
        .chain(
            m.subjects
                .iter()
                .map(|s| ("subject DN", s.name.as_str(), s.expires_at)),
        );
    let mut out = Vec::new();
    for (what, name, at) in dated {
        match at {
            Some(t) if t < now => out.push(format!(
                "client {:?}: mTLS {what} {name:?} expired at {} (ignored)",
                client.id,
                rfc3339(t)
            )),
            Some(t) if t - now <= SOON => out.push(format!(
                "client {:?}: mTLS {what} {name:?} expires at {} (in {} days)",
                client.id,
                rfc3339(t),
                (t - now) / 86_400
            )),
            _ => {}
        }
    }
    out
}
