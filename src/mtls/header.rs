//! Certificate headers (SPEC §10): the inbound ones removed from every request (a client must
//! never be able to hand the upstream a certificate it does not hold), the `mtls.from_header`
//! dialects read from a trusted proxy, and the forms the upstream receives: RFC 9440
//! (`Client-Cert: :<base64 DER>:`, `Client-Cert-Chain`) or Auth0's customer edge
//! (`client-certificate`: the leaf's PEM URL-encoded as JavaScript's `encodeURIComponent` does,
//! at most 4096 bytes; `client-certificate-ca-verified`: `SUCCESS` or `FAILED`).
//!
//! Header names are compared as WSGI, Rack and PHP read them: case-insensitively with `_`
//! equal to `-` (`SSL_CLIENT_CERT` and `ssl-client-cert` are one header to them).

use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 9440's header names, as jargate sends them.
pub const CLIENT_CERT: &str = "client-cert";
pub const CLIENT_CERT_CHAIN: &str = "client-cert-chain";
/// Auth0's customer-edge header names.
pub const AUTH0_CERT: &str = "client-certificate";
pub const AUTH0_VERIFIED: &str = "client-certificate-ca-verified";
pub const AUTH0_API_KEY: &str = "cname-api-key";
/// Auth0 reads at most this many bytes of `client-certificate`.
pub const AUTH0_MAX_CERT_BYTES: usize = 4096;
/// A `from_header` value longer than this is refused before it is decoded.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Removed from every inbound request, on every listener (SPEC §10), in normal form.
pub const BUILTIN_STRIPPED: [&str; 13] = [
    "client-cert",
    "client-cert-chain",
    "client-certificate",
    "client-certificate-ca-verified",
    "cname-api-key",
    "x-forwarded-client-cert",
    "x-forwarded-tls-client-cert",
    "x-ssl-client-cert",
    "ssl-client-cert",
    "ssl-client-verify",
    // SSL_CLIENT_CERT is ssl-client-cert in normal form.
    "ssl-client-cert",
    "x-amzn-mtls-clientcert",
    "x-arr-clientcert",
];

/// A header name as the servers behind read it: lower case, `_` as `-`.
pub fn normal_name(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'_' => '-',
            b => b.to_ascii_lowercase() as char,
        })
        .collect()
}

/// The names removed from inbound requests: the built-in list, the `from_header` header and
/// `mtls.strip_headers`, in normal form.
#[derive(Debug, Clone, Default)]
pub struct Stripped(Vec<String>);

impl Stripped {
    pub fn new<'a>(extra: impl IntoIterator<Item = &'a str>) -> Stripped {
        let mut names: Vec<String> = BUILTIN_STRIPPED.iter().map(|n| n.to_string()).collect();
        names.extend(extra.into_iter().map(normal_name));
        names.sort();
        names.dedup();
        Stripped(names)
    }

    /// Whether the header `name` (as received) is one of them.
    pub fn covers(&self, name: &str) -> bool {
        // Names are short; the common case (no `_`, already lower case) allocates nothing.
        let plain = name.bytes().all(|b| b != b'_' && !b.is_ascii_uppercase());
        if plain {
            self.0.iter().any(|n| n == name)
        } else {
            let normal = normal_name(name);
            self.0.contains(&normal)
        }
    }
}

/// `mtls.from_header_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum HeaderFormat {
    /// RFC 9440: `:<base64 DER>:`.
    #[serde(rename = "rfc9440")]
    Rfc9440,
    /// nginx's `$ssl_client_escaped_cert`: the PEM, URL-encoded.
    #[serde(rename = "pem-urlencoded")]
    PemUrlencoded,
}

/// Why a `from_header` value cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    TooLong,
    Malformed,
}

/// The DER leaf in a `from_header` value.
pub fn decode(format: HeaderFormat, value: &[u8]) -> Result<Vec<u8>, HeaderError> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(HeaderError::TooLong);
    }
    match format {
        HeaderFormat::Rfc9440 => decode_rfc9440(value),
        HeaderFormat::PemUrlencoded => {
            let decoded: Vec<u8> = percent_encoding::percent_decode(value).collect();
            let text = std::str::from_utf8(&decoded).map_err(|_| HeaderError::Malformed)?;
            let block = pem::parse(text).map_err(|_| HeaderError::Malformed)?;
            if block.tag() != "CERTIFICATE" {
                return Err(HeaderError::Malformed);
            }
            Ok(block.into_contents())
        }
    }
}

/// An RFC 8941 byte sequence (`:base64:`), padding optional.
fn decode_rfc9440(value: &[u8]) -> Result<Vec<u8>, HeaderError> {
    let trimmed = value.trim_ascii();
    let inner = trimmed
        .strip_prefix(b":")
        .and_then(|v| v.strip_suffix(b":"))
        .ok_or(HeaderError::Malformed)?;
    let lenient = GeneralPurpose::new(
        &STANDARD_ALPHABET,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let der = lenient.decode(inner).map_err(|_| HeaderError::Malformed)?;
    if der.is_empty() {
        return Err(HeaderError::Malformed);
    }
    Ok(der)
}

/// `Client-Cert` (RFC 9440 §2.2): the DER leaf as an RFC 8941 byte sequence.
pub fn rfc9440(der: &[u8]) -> String {
    format!(":{}:", STANDARD.encode(der))
}

/// `Client-Cert-Chain` (RFC 9440 §2.3): a list of byte sequences, the leaf's issuer first.
pub fn rfc9440_chain(chain: &[Vec<u8>]) -> String {
    let items: Vec<String> = chain.iter().map(|der| rfc9440(der)).collect();
    items.join(", ")
}

/// What `encodeURIComponent` leaves as it is: letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The leaf as PEM (64-character lines, `\n` endings).
pub fn pem_of(der: &[u8]) -> String {
    let block = pem::Pem::new("CERTIFICATE", der.to_vec());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// `client-certificate` (Auth0 customer edge): the leaf's PEM, URL-encoded; `None` when it
/// exceeds the 4096 bytes Auth0 reads.
pub fn auth0(der: &[u8]) -> Option<String> {
    let value = utf8_percent_encode(&pem_of(der), URI_COMPONENT).to_string();
    (value.len() <= AUTH0_MAX_CERT_BYTES).then_some(value)
}

/// `client-certificate-ca-verified`.
pub fn auth0_verified(ca_verified: bool) -> &'static str {
    if ca_verified {
        "SUCCESS"
    } else {
        "FAILED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_as_wsgi_reads_them() {
        let s = Stripped::new(["X-Client-Verify"]);
        for name in [
            "client-cert",
            "Client-Cert",
            "CLIENT_CERT",
            "ssl_client_cert",
            "SSL_CLIENT_CERT",
            "x_forwarded_client_cert",
            "x-client-verify",
            "X_CLIENT_VERIFY",
            "Cname-Api-Key",
        ] {
            assert!(s.covers(name), "{name}");
        }
        for name in ["client-certs", "authorization", "x-client"] {
            assert!(!s.covers(name), "{name}");
        }
    }

    #[test]
    fn rfc9440_is_a_byte_sequence_both_ways() {
        let der = vec![0x30, 0x82, 0x01, 0xff, 0xfe];
        assert_eq!(rfc9440(&der), ":MIIB//4=:");
        assert_eq!(
            rfc9440_chain(&[vec![1], vec![2, 3]]),
            ":AQ==:, :AgM=:",
            "RFC 8941 list"
        );
        let f = HeaderFormat::Rfc9440;
        assert_eq!(decode(f, b" :MIIB//4=: ").unwrap(), der);
        assert_eq!(decode(f, b":MIIB//4:").unwrap(), der, "padding optional");
        for bad in [&b"MIIB//4="[..], b":MIIB_-4=:", b"::", b":MIIB//4="] {
            assert_eq!(decode(f, bad), Err(HeaderError::Malformed), "{bad:?}");
        }
        assert_eq!(
            decode(f, &vec![b'A'; MAX_HEADER_BYTES + 1]),
            Err(HeaderError::TooLong)
        );
    }

    #[test]
    fn auth0_and_nginx_carry_url_encoded_pem() {
        let der: Vec<u8> = (0u8..=60).collect();
        let value = auth0(&der).unwrap();
        assert_eq!(
            value,
            "-----BEGIN%20CERTIFICATE-----%0AAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJ\
             ygpKissLS4v%0AMDEyMzQ1Njc4OTo7PA%3D%3D%0A-----END%20CERTIFICATE-----%0A",
            "64-character lines, LF endings, encoded as encodeURIComponent does"
        );
        let back = decode(HeaderFormat::PemUrlencoded, value.as_bytes()).unwrap();
        assert_eq!(back, der);
        assert!(
            auth0(&[0u8; 3000]).is_none(),
            "over 4096 bytes once encoded"
        );
        assert_eq!(auth0_verified(true), "SUCCESS");
        assert_eq!(auth0_verified(false), "FAILED");
    }
}
