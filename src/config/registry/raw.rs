//! The registry's file schema: client and credential objects exactly as written, before any key
//! is parsed. Every object jargate interprets is closed: a name outside its schema (Auth0's
//! documented fields included, see [`auth0_fields`]) is a deserialization error, reported at
//! its position with the closest known name.

use super::auth0_fields;
use crate::keys::Alg;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// `token_endpoint_auth_method`: Auth0's values, plus `private_key_jwt` (jargate's own way of
/// saying what Auth0 says with `client_authentication_methods` and a `null` method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    None,
    ClientSecretPost,
    ClientSecretBasic,
    PrivateKeyJwt,
    TlsClientAuth,
    SelfSignedTlsClientAuth,
}

impl AuthMethod {
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }
}

/// `credential_type`: the two kinds jargate verifies with, and Auth0's mTLS kinds, which are
/// recognised so that an error can say what they are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialType {
    PublicKey,
    JwksUri,
    X509Cert,
    CertSubjectDn,
}

#[derive(Debug, Default)]
pub struct RawClient {
    pub client_id: String,
    pub name: Option<String>,
    pub token_endpoint_auth_method: Option<AuthMethod>,
    pub signed_request_object: Option<RawSignedRequestObject>,
    pub client_authentication_methods: Option<RawAuthMethods>,
    pub require_pushed_authorization_requests: Option<bool>,
    pub client_metadata: Option<BTreeMap<String, String>>,
    pub upstream_client_secret: Option<String>,
    /// Auth0's `compliance_level`: `None` when absent or `null` (the global level applies).
    pub compliance_level: Option<crate::config::compliance::Level>,
    /// Auth0's `callbacks`: the registered redirect URIs.
    pub callbacks: Option<Vec<String>>,
    pub dpop_bound_access_tokens: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignedRequestObject {
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub credentials: Vec<RawCredential>,
}

/// Auth0's `client_authentication_methods`: private_key_jwt and the two mTLS methods (SPEC §4,
/// §10), each a list of credentials.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthMethods {
    pub private_key_jwt: Option<RawPrivateKeyJwt>,
    pub tls_client_auth: Option<RawPrivateKeyJwt>,
    pub self_signed_tls_client_auth: Option<RawPrivateKeyJwt>,
}

impl RawAuthMethods {
    /// Whether an mTLS method is listed (SPEC §9's load checks ask for the level's method).
    pub fn lists_mtls(&self) -> bool {
        self.tls_client_auth.is_some() || self.self_signed_tls_client_auth.is_some()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrivateKeyJwt {
    #[serde(default)]
    pub credentials: Vec<RawCredential>,
}

/// A credential object: jargate's key sources (`pem_file`, `jwk`, `uri`) and the fields of
/// Auth0's credential object (`subject_dn` is read for `cert_subject_dn`; `id`,
/// `thumbprint_sha256`, `created_at`,
/// `updated_at`, `parse_expiry_from_cert` are accepted and ignored). One given by `id` alone (as Auth0 returns it inside a client) is
/// resolved from `clients.credentials_file`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredential {
    pub credential_type: Option<CredentialType>,
    pub name: Option<String>,
    pub pem: Option<String>,
    pub pem_file: Option<String>,
    pub jwk: Option<Value>,
    pub uri: Option<String>,
    #[serde(default, deserialize_with = "alg")]
    pub alg: Option<Alg>,
    pub kid: Option<String>,
    pub expires_at: Option<String>,
    pub id: Option<String>,
    /// `cert_subject_dn`: Auth0's newline form or RFC 4514 (for `x509_cert`, Auth0 returns
    /// the certificate's subject here: ignored, the certificate says it).
    pub subject_dn: Option<String>,
    #[serde(rename = "thumbprint_sha256")]
    _thumbprint_sha256: Option<IgnoredAny>,
    #[serde(rename = "created_at")]
    _created_at: Option<IgnoredAny>,
    #[serde(rename = "updated_at")]
    _updated_at: Option<IgnoredAny>,
    #[serde(rename = "parse_expiry_from_cert")]
    _parse_expiry_from_cert: Option<IgnoredAny>,
}

impl RawCredential {
    /// `{"id": "cred_…"}` and nothing that says what the key is.
    pub fn is_reference(&self) -> bool {
        self.id.is_some()
            && self.credential_type.is_none()
            && self.pem.is_none()
            && self.pem_file.is_none()
            && self.jwk.is_none()
            && self.uri.is_none()
            && self.subject_dn.is_none()
    }
}

/// The names serde lists when an `alg` is not one of them.
const ALG_NAMES: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519",
];

fn alg<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Alg>, D::Error> {
    let Some(name) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    Alg::parse(&name)
        .map(Some)
        .ok_or_else(|| de::Error::unknown_variant(&name, ALG_NAMES))
}

/// Hand-written so that Auth0's many documented fields are skipped by name while any other
/// name is refused: serde's derive can either deny all unknown fields or none.
impl<'de> Deserialize<'de> for RawClient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ClientVisitor)
    }
}

struct ClientVisitor;

impl<'de> Visitor<'de> for ClientVisitor {
    type Value = RawClient;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a client object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawClient, A::Error> {
        let mut c = RawClient::default();
        let mut seen = HashSet::new();
        let mut has_id = false;
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate field {key:?}")));
            }
            match key.as_str() {
                "client_id" => {
                    c.client_id = map.next_value()?;
                    has_id = true;
                }
                "name" => c.name = map.next_value()?,
                "token_endpoint_auth_method" => c.token_endpoint_auth_method = map.next_value()?,
                "signed_request_object" => c.signed_request_object = map.next_value()?,
                "client_authentication_methods" => {
                    c.client_authentication_methods = map.next_value()?
                }
                "require_pushed_authorization_requests" => {
                    c.require_pushed_authorization_requests = map.next_value()?
                }
                "client_metadata" => c.client_metadata = map.next_value()?,
                "upstream_client_secret" => c.upstream_client_secret = map.next_value()?,
                "compliance_level" => c.compliance_level = map.next_value()?,
                "callbacks" => c.callbacks = map.next_value()?,
                "dpop_bound_access_tokens" => c.dpop_bound_access_tokens = map.next_value()?,
                known if auth0_fields::CLIENT.contains(&known) => {
                    map.next_value::<IgnoredAny>()?;
                }
                unknown => return Err(de::Error::unknown_field(unknown, auth0_fields::CLIENT)),
            }
        }
        if !has_id {
            return Err(de::Error::missing_field("client_id"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_name_every_field_the_structs_read() {
        for name in [
            "client_id",
            "signed_request_object",
            "require_pushed_authorization_requests",
            "dpop_bound_access_tokens",
        ] {
            assert!(auth0_fields::CLIENT.contains(&name), "{name}");
        }
        let unknown = serde_json::from_str::<RawCredential>(r#"{"pemm": "x"}"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown field `pemm`"));
    }
}
