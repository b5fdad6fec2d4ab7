//! mTLS (RFC 8705, RFC 9440, SPEC §10): what jargate knows about client certificates, as plain
//! functions over typed data, testable without a socket. It owns certificate parsing and
//! classification ([`cert`]: CA-verified, self-signed or refused; the SHA-256 thumbprint),
//! distinguished names ([`dn`]: Auth0's newline form, RFC 4514, distinguishedNameMatch), the
//! registered credentials and matching ([`credentials`]), the header dialects and the list of
//! inbound certificate headers removed from every request ([`header`]), and the rustls verifier
//! of the `listen.mtls` listener ([`verifier`]). It does not own where a certificate comes
//! from at request time (the Pingora glue in `proxy` and `server`) nor what the decision does
//! with it (`gate`).

pub mod cert;
pub mod credentials;
pub mod dn;
pub mod header;
pub mod verifier;

pub use cert::{thumbprint, CertError, ClientCert, Trust};
pub use credentials::{authenticate, CertMethod, MtlsCredentials};
pub use dn::Dn;
