//! The Pingora side of SPEC §10: where a request's client certificate comes from (the
//! `listen.mtls` handshake, whose verified chain the server's handshake callback attached to
//! the connection; else `mtls.from_header` from a trusted peer), and the certificate headers of
//! the upstream request (every inbound one removed, then jargate's own added). What the
//! certificate means is decided elsewhere (`mtls`, `gate`).

use crate::config::{MtlsForward, Snapshot};
use crate::mtls::header::{self, HeaderError};
use crate::mtls::ClientCert;
use crate::reject::RequestFault;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::net::IpAddr;
use std::sync::Arc;

/// The certificate the handshake of this connection proved, if any.
fn from_handshake(session: &Session) -> Option<Arc<ClientCert>> {
    let digest = session.digest()?.ssl_digest.as_ref()?;
    digest.extension.get::<Arc<ClientCert>>().cloned()
}

/// The request's client certificate. A `from_header` value from a trusted peer that holds no
/// usable certificate refuses the request (the proxy in front vouched for something broken);
/// from any other peer the header is ignored (and removed before forwarding).
pub(super) fn of_request(
    session: &Session,
    snapshot: &Snapshot,
    peer: Option<IpAddr>,
    now: i64,
) -> Result<Option<Arc<ClientCert>>, RequestFault> {
    if let Some(cert) = from_handshake(session) {
        return Ok(Some(cert));
    }
    let mtls = &snapshot.mtls;
    let Some((name, format)) = &mtls.from_header else {
        return Ok(None);
    };
    if !mtls.trusts(peer) {
        return Ok(None);
    }
    let headers = &session.req_header().headers;
    let mut values = headers
        .iter()
        .filter(|(n, _)| header::normal_name(n.as_str()) == *name)
        .map(|(_, v)| v);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(RequestFault::ClientCertHeader);
    }
    let der = header::decode(*format, value.as_bytes()).map_err(|e| {
        let reason = match e {
            HeaderError::TooLong => "too long",
            HeaderError::Malformed => "malformed",
        };
        tracing::info!(reason, "client certificate header refused");
        RequestFault::ClientCertHeader
    })?;
    let ca_verified = mtls.trust.classify(&der, &[], now).map_err(|e| {
        tracing::info!(reason = %e, "client certificate header refused");
        RequestFault::ClientCertHeader
    })?;
    Ok(Some(Arc::new(ClientCert::new(
        der,
        Vec::new(),
        ca_verified,
    ))))
}

/// What must hold before the request is forwarded with its certificate: Auth0 reads at most
/// 4096 bytes of `client-certificate`.
pub(super) fn precheck(snapshot: &Snapshot, cert: Option<&ClientCert>) -> Result<(), RequestFault> {
    match cert {
        Some(cert) if snapshot.settings.mtls.forward == MtlsForward::Auth0 => {
            header::auth0(cert.leaf())
                .map(|_| ())
                .ok_or(RequestFault::ClientCertTooLarge)
        }
        _ => Ok(()),
    }
}

/// Removes every inbound certificate header, then adds the forwarded ones: RFC 9440 for a
/// CA-verified certificate, or a self-signed one when jargate authenticated the client
/// (`self_signed_ok`); Auth0's customer-edge headers for any certificate.
pub(super) fn upstream_headers(
    upstream: &mut RequestHeader,
    snapshot: &Snapshot,
    cert: Option<&ClientCert>,
    self_signed_ok: bool,
) -> pingora::Result<()> {
    let stripped = &snapshot.mtls.stripped;
    let names: Vec<http::HeaderName> = upstream
        .headers
        .keys()
        .filter(|n| stripped.covers(n.as_str()))
        .cloned()
        .collect();
    for name in names {
        upstream.remove_header(&name);
    }
    let Some(cert) = cert else { return Ok(()) };
    let mtls = &snapshot.settings.mtls;
    match mtls.forward {
        MtlsForward::Rfc9440 if cert.ca_verified() || self_signed_ok => {
            upstream.insert_header(header::CLIENT_CERT, header::rfc9440(cert.leaf()))?;
            if !cert.chain().is_empty() {
                let chain = header::rfc9440_chain(cert.chain());
                upstream.insert_header(header::CLIENT_CERT_CHAIN, chain)?;
            }
        }
        MtlsForward::Auth0 => {
            // `precheck` refused a certificate too large for the header.
            if let (Some(value), Some(key)) =
                (header::auth0(cert.leaf()), &mtls.auth0_cname_api_key)
            {
                upstream.insert_header(header::AUTH0_CERT, value)?;
                let verified = header::auth0_verified(cert.ca_verified());
                upstream.insert_header(header::AUTH0_VERIFIED, verified)?;
                upstream.insert_header(header::AUTH0_API_KEY, key.expose())?;
            }
        }
        MtlsForward::Rfc9440 | MtlsForward::None => {}
    }
    Ok(())
}
