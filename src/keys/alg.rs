//! The JWS algorithms jargate accepts, and the `ring` verification algorithm behind each.
//! `none` and the HMAC family are not representable: they can never be configured or accepted.

use ring::signature::{self, VerificationAlgorithm};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// The kind of public key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Alg {
    pub const ALL: [Alg; 9] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// Parses a JOSE `alg` name. `Ed25519` is accepted as a synonym of `EdDSA` (RFC 9864).
    pub fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "EdDSA" | "Ed25519" => Alg::EdDSA,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn key_kind(self) -> KeyKind {
        match self {
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                KeyKind::Rsa
            }
            Alg::ES256 => KeyKind::P256,
            Alg::ES384 => KeyKind::P384,
            Alg::EdDSA => KeyKind::Ed25519,
        }
    }

    /// The RSA parameters for RS*/PS*, `None` for other algorithms.
    pub fn rsa_parameters(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    /// ECDSA verification takes the fixed-length `r‖s` form only (JWS, RFC 7515 §A.3), never DER.
    pub fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Alg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Alg::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Alg::EdDSA => &signature::ED25519,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Rsa => "RSA",
            KeyKind::P256 => "P-256",
            KeyKind::P384 => "P-384",
            KeyKind::Ed25519 => "Ed25519",
        })
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_hmac_are_not_algorithms_here() {
        for name in ["none", "HS256", "HS384", "HS512", "rs256", ""] {
            assert_eq!(Alg::parse(name), None, "{name}");
        }
    }

    #[test]
    fn every_name_round_trips() {
        for alg in Alg::ALL {
            assert_eq!(Alg::parse(alg.name()), Some(alg));
        }
        assert_eq!(Alg::parse("Ed25519"), Some(Alg::EdDSA));
    }
}
