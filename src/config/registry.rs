//! `clients.json`, the client registry (SPEC §4): Auth0-shaped client objects turned into
//! `Client`s whose keys are parsed and checked once. Errors name the client and the field.

use crate::keys::{Alg, Credential, CredentialSet, PublicKey};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One registered client, ready for request-time checks.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: Option<String>,
    /// `token_endpoint_auth_method = "private_key_jwt"`: other methods are refused.
    pub requires_private_key_jwt: bool,
    /// `signed_request_object.required`.
    pub requires_signed_request: bool,
    /// Keys for request objects (JAR) only.
    pub jar_keys: CredentialSet,
    /// Keys for client assertions only.
    pub auth_keys: CredentialSet,
    /// Remote JWK Sets named by `jwks_uri` credentials, per use.
    pub jar_jwks_uris: Vec<String>,
    pub auth_jwks_uris: Vec<String>,
    /// Secret presented upstream in legacy mode; never logged.
    pub upstream_client_secret: Option<String>,
    /// `client_metadata.jargate_enforcement`: overrides `enforcement.mode` for this client.
    pub enforcement: Option<super::EnforcementMode>,
}

/// All clients by `client_id`, plus warnings for `jargate check`.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    clients: HashMap<String, Arc<Client>>,
    pub warnings: Vec<String>,
    /// Key files named by `pem_file`, watched for changes.
    pub files: Vec<PathBuf>,
}

impl Registry {
    pub fn get(&self, client_id: &str) -> Option<&Arc<Client>> {
        self.clients.get(client_id)
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn clients(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.clients.values()
    }

    /// Parses a registry document. `base` resolves `pem_file` paths.
    pub fn from_json(mut doc: Value, base: &Path) -> Result<Registry, String> {
        super::env::expand_json(&mut doc)?;
        let file: RegistryFile =
            serde_json::from_value(doc).map_err(|e| format!("bad registry: {e}"))?;
        let mut registry = Registry::default();
        for (index, raw) in file.clients.into_iter().enumerate() {
            let id = raw.client_id.clone();
            if id.is_empty() {
                return Err(format!("clients[{index}]: client_id is empty"));
            }
            let client = build_client(raw, base, &mut registry)
                .map_err(|e| format!("client {id:?}: {e}"))?;
            if registry
                .clients
                .insert(id.clone(), Arc::new(client))
                .is_some()
            {
                return Err(format!("client {id:?} is listed twice"));
            }
        }
        Ok(registry)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    clients: Vec<RawClient>,
}

/// Unknown members of a client object are ignored: a client exported from the Auth0 Management
/// API carries many fields jargate has no use for. Credential objects, where a typo would
/// silently drop a key, are strict.
#[derive(Deserialize)]
struct RawClient {
    client_id: String,
    name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    signed_request_object: Option<RawSignedRequestObject>,
    client_authentication_methods: Option<RawAuthMethods>,
    upstream_client_secret: Option<String>,
    client_metadata: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignedRequestObject {
    #[serde(default)]
    required: bool,
    #[serde(default)]
    credentials: Vec<RawCredential>,
}

#[derive(Deserialize)]
struct RawAuthMethods {
    private_key_jwt: Option<RawPrivateKeyJwt>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivateKeyJwt {
    #[serde(default)]
    credentials: Vec<RawCredential>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    credential_type: String,
    name: Option<String>,
    pem: Option<String>,
    pem_file: Option<String>,
    jwk: Option<Value>,
    uri: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    expires_at: Option<String>,
    // Auth0 credential metadata, accepted so exported objects load unchanged.
    #[serde(rename = "id")]
    _id: Option<String>,
    #[serde(rename = "created_at")]
    _created_at: Option<String>,
    #[serde(rename = "updated_at")]
    _updated_at: Option<String>,
}

fn build_client(raw: RawClient, base: &Path, registry: &mut Registry) -> Result<Client, String> {
    let enforcement = enforcement_override(raw.client_metadata.as_ref())?;
    let (jar_required, jar_raw) = match raw.signed_request_object {
        Some(s) => (s.required, s.credentials),
        None => (false, Vec::new()),
    };
    let auth_raw = raw
        .client_authentication_methods
        .and_then(|m| m.private_key_jwt)
        .map(|p| p.credentials)
        .unwrap_or_default();
    let files = &mut registry.files;
    let (jar_keys, jar_jwks_uris) =
        build_set(jar_raw, base, files, "signed_request_object.credentials")?;
    let (auth_keys, auth_jwks_uris) = build_set(
        auth_raw,
        base,
        files,
        "client_authentication_methods.private_key_jwt.credentials",
    )?;
    for jar in jar_keys.all() {
        if auth_keys.all().iter().any(|a| a.key == jar.key) {
            registry.warnings.push(format!(
                "client {:?}: credential {:?} is registered for both request objects and client \
                 assertions; one key pair per use is recommended",
                raw.client_id, jar.name
            ));
        }
    }
    let requires_private_key_jwt =
        raw.token_endpoint_auth_method.as_deref() == Some("private_key_jwt");
    if requires_private_key_jwt && auth_keys.is_empty() && auth_jwks_uris.is_empty() {
        return Err("token_endpoint_auth_method is private_key_jwt but no client assertion credential is registered".into());
    }
    if jar_required && jar_keys.is_empty() && jar_jwks_uris.is_empty() {
        return Err(
            "signed_request_object.required is true but no request object credential is registered"
                .into(),
        );
    }
    Ok(Client {
        id: raw.client_id,
        name: raw.name,
        requires_private_key_jwt,
        requires_signed_request: jar_required,
        jar_keys,
        auth_keys,
        jar_jwks_uris,
        auth_jwks_uris,
        upstream_client_secret: raw.upstream_client_secret,
        enforcement,
    })
}

/// `client_metadata.jargate_enforcement` (Auth0's free-form per-client data, so an exported
/// client carries it): `"enforce"` or `"report"`; any other value is an error, never a silent
/// fallback to either mode.
fn enforcement_override(
    metadata: Option<&Value>,
) -> Result<Option<super::EnforcementMode>, String> {
    let Some(value) = metadata.and_then(|m| m.get("jargate_enforcement")) else {
        return Ok(None);
    };
    match value.as_str() {
        Some("enforce") => Ok(Some(super::EnforcementMode::Enforce)),
        Some("report") => Ok(Some(super::EnforcementMode::Report)),
        _ => Err(format!(
            "client_metadata.jargate_enforcement: {value} is not \"enforce\" or \"report\""
        )),
    }
}

fn build_set(
    raw: Vec<RawCredential>,
    base: &Path,
    files: &mut Vec<PathBuf>,
    field: &str,
) -> Result<(CredentialSet, Vec<String>), String> {
    let mut keys = Vec::new();
    let mut uris = Vec::new();
    for (i, cred) in raw.into_iter().enumerate() {
        let at = format!("{field}[{i}]");
        match cred.credential_type.as_str() {
            "public_key" => {
                if let Some(file) = &cred.pem_file {
                    files.push(base.join(file));
                }
                keys.push(build_credential(cred, base).map_err(|e| format!("{at}.{e}"))?)
            }
            "jwks_uri" => {
                let uri = cred.uri.ok_or_else(|| format!("{at}.uri: missing"))?;
                if !(uri.starts_with("https://") || uri.starts_with("http://")) {
                    return Err(format!("{at}.uri: must be an http(s) URL"));
                }
                uris.push(uri);
            }
            other => {
                return Err(format!(
                    "{at}.credential_type: {other:?} is not public_key or jwks_uri"
                ))
            }
        }
    }
    Ok((CredentialSet::new(keys), uris))
}

/// Errors are returned as `field: reason` so the caller can prefix the credential's position.
fn build_credential(raw: RawCredential, base: &Path) -> Result<Credential, String> {
    let sources = [raw.pem.is_some(), raw.pem_file.is_some(), raw.jwk.is_some()];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err("pem: exactly one of pem, pem_file or jwk is required".into());
    }
    let key = if let Some(pem) = &raw.pem {
        PublicKey::from_pem(pem).map_err(|e| format!("pem: {e}"))?
    } else if let Some(file) = &raw.pem_file {
        let path = base.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("pem_file: cannot read {}: {e}", path.display()))?;
        PublicKey::from_pem(&text).map_err(|e| format!("pem_file: {}: {e}", path.display()))?
    } else {
        let jwk = raw.jwk.as_ref().ok_or("jwk: missing")?;
        if jwk.get("use").and_then(Value::as_str) == Some("enc") {
            return Err("jwk: an encryption key (use: enc) cannot verify signatures".into());
        }
        PublicKey::from_jwk(jwk).map_err(|e| format!("jwk: {e}"))?
    };
    let jwk_alg = raw
        .jwk
        .as_ref()
        .and_then(|j| j.get("alg"))
        .and_then(Value::as_str);
    let alg_name = match (raw.alg.as_deref(), jwk_alg) {
        (Some(a), Some(j)) if Alg::parse(a) != Alg::parse(j) => {
            return Err(format!("alg: {a:?} differs from the jwk's alg {j:?}"))
        }
        (Some(a), _) | (None, Some(a)) => a.to_string(),
        (None, None) => return Err("alg: missing".into()),
    };
    let alg = Alg::parse(&alg_name).ok_or_else(|| {
        format!(
            "alg: {alg_name:?} is not one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA"
        )
    })?;
    if !key.fits(alg) {
        return Err(format!("alg: {alg} does not fit a {} key", key.kind()));
    }
    let jwk_kid = raw
        .jwk
        .as_ref()
        .and_then(|j| j.get("kid"))
        .and_then(Value::as_str);
    let kid = raw
        .kid
        .clone()
        .or_else(|| jwk_kid.map(str::to_owned))
        .unwrap_or_else(|| key.thumbprint().to_owned());
    let expires_at = match &raw.expires_at {
        None => None,
        Some(text) => Some(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("expires_at: {text:?} is not RFC 3339: {e}"))?
                .unix_timestamp(),
        ),
    };
    Ok(Credential {
        name: raw.name.clone().unwrap_or_else(|| kid.clone()),
        kid,
        alg,
        expires_at,
        key,
    })
}
