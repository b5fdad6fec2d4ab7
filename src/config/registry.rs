//! `clients.json`, the client registry (SPEC §4): Auth0-shaped client objects turned into
//! `Client`s whose keys are parsed and checked once. Errors name the client and the field.
//! The file's schema and Auth0's field list live in the submodules; this module gives the
//! fields their meaning.

pub mod auth0_fields;
mod export;
mod mtls;
mod raw;

use super::compliance::{Callbacks, Compliance, ComplianceSettings, Level};
use crate::keys::{Alg, Credential, CredentialSet, PublicKey};
use raw::{AuthMethod, CredentialType, RawClient, RawCredential};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One registered client, ready for request-time checks.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: Option<String>,
    /// private_key_jwt required: other methods are refused (SPEC §4: an explicit
    /// `token_endpoint_auth_method = "private_key_jwt"`, or Auth0's shape, a `null` method
    /// next to `client_authentication_methods.private_key_jwt`).
    pub requires_private_key_jwt: bool,
    /// `signed_request_object.required`.
    pub requires_signed_request: bool,
    /// `require_pushed_authorization_requests`: `/authorize` only with a PAR `request_uri`.
    pub requires_par: bool,
    /// `client_metadata.jargate_enforcement`, overriding `enforcement.mode` for this client.
    pub enforcement: Option<super::EnforcementMode>,
    /// Keys for request objects (JAR) only.
    pub jar_keys: CredentialSet,
    /// Keys for client assertions only.
    pub auth_keys: CredentialSet,
    /// Remote JWK Sets named by `jwks_uri` credentials, per use.
    pub jar_jwks_uris: Vec<String>,
    pub auth_jwks_uris: Vec<String>,
    /// Secret presented upstream in legacy mode; never logged.
    pub upstream_client_secret: Option<String>,
    /// The registry's `compliance_level`: `None` = absent or `null` (the global level applies).
    pub compliance_level: Option<Level>,
    /// The level this client is held to, resolved against `compliance.level` once per
    /// snapshot (`Registry::resolve_levels`).
    pub level: Level,
    /// Auth0's `callbacks`: the registered redirect URIs (SPEC §9).
    pub callbacks: Callbacks,
    /// mTLS credentials and the mTLS methods a certificate may stand for (SPEC §4, §10).
    pub mtls: crate::mtls::MtlsCredentials,
    /// The client must use one of its registered methods (private_key_jwt or mTLS): a request
    /// using none of them is refused (SPEC §4).
    pub auth_required: bool,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2): every token request carries a valid DPoP
    /// proof (SPEC §11).
    pub dpop_bound_access_tokens: bool,
    /// `token_endpoint_auth_method = "none"`: a public client, which no level admits.
    pub public: bool,
    /// `client_authentication_methods` lists `tls_client_auth` or `self_signed_tls_client_auth`.
    pub lists_mtls: bool,
}

/// Credential objects by `id` (`clients.credentials_file`), for clients that name theirs by
/// id only, as Auth0 returns them.
#[derive(Debug, Clone, Default)]
pub struct CredentialsById(pub(super) HashMap<String, RawCredential>);

impl CredentialsById {
    /// Reads a credentials file: a bare array of credential objects or `{"credentials": [...]}`.
    pub fn read(path: &Path) -> Result<CredentialsById, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        export::credentials(&text, path).map(CredentialsById)
    }
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

    /// Resolves every client's level against the global one (SPEC §9: absent or `null` = the
    /// global level, `"none"` opts out), once per snapshot, and sums up the levels in use.
    pub fn resolve_levels(&mut self, settings: &ComplianceSettings) -> Compliance {
        let mut in_use = Vec::new();
        for client in self.clients.values_mut() {
            let level = client.compliance_level.unwrap_or(settings.level);
            if client.level != level {
                Arc::make_mut(client).level = level;
            }
            in_use.push(level);
        }
        in_use.sort();
        in_use.dedup();
        Compliance {
            settings: settings.clone(),
            levels_in_use: in_use,
            policies: Vec::new(),
        }
    }

    /// Parses a registry document built in code. `base` resolves `pem_file` paths.
    pub fn from_json(doc: Value, base: &Path) -> Result<Registry, String> {
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        Registry::parse(
            &text,
            Path::new("clients.json"),
            base,
            &CredentialsById::default(),
        )
    }

    /// Parses the registry `text` read from `file`; `base` resolves `pem_file` paths and
    /// `credentials` resolves credentials given by id only.
    pub fn parse(
        text: &str,
        file: &Path,
        base: &Path,
        credentials: &CredentialsById,
    ) -> Result<Registry, String> {
        let clients = export::clients(text, file)?;
        let mut registry = Registry::default();
        for (index, raw) in clients.into_iter().enumerate() {
            let id = raw.client_id.clone();
            if id.is_empty() {
                return Err(format!(
                    "{}: clients[{index}]: client_id is empty",
                    file.display()
                ));
            }
            let client = build_client(raw, base, credentials, &mut registry)
                .map_err(|e| placed(text, file, index, &format!("client {id:?}: "), &e))?;
            if registry
                .clients
                .insert(id.clone(), Arc::new(client))
                .is_some()
            {
                return Err(format!("{}: client {id:?} is listed twice", file.display()));
            }
        }
        Ok(registry)
    }
}

/// `file:line:column: what e` for an error found after parsing: at the field the error names
/// (`client_authentication_methods…credentials[0].alg: …`), else at the client object.
fn placed(text: &str, file: &Path, index: usize, what: &str, e: &str) -> String {
    let client = if text.trim_start().starts_with('[') {
        format!("[{index}]")
    } else {
        format!("clients[{index}]")
    };
    let position = super::locate::field_path(e)
        .and_then(|f| super::locate::locate(text, &format!("{client}.{f}")))
        .or_else(|| super::locate::locate(text, &client));
    match position {
        Some((line, column)) => super::position::at(file, line, column, &format!("{what}{e}")),
        None => format!("{}: {what}{e}", file.display()),
    }
}

/// Whether private_key_jwt is required, and a warning when an explicit other method stands
/// next to private_key_jwt credentials (both are let through: a migration).
fn auth_requirement(raw: &RawClient) -> (bool, Option<String>) {
    let has_private_key_jwt = raw
        .client_authentication_methods
        .as_ref()
        .is_some_and(|m| m.private_key_jwt.is_some());
    match raw.token_endpoint_auth_method {
        Some(AuthMethod::PrivateKeyJwt) => (true, None),
        // Auth0's model: with mTLS methods listed too, any listed method will do.
        None => (has_private_key_jwt && !mtls::Listed::of(raw).mtls(), None),
        // The certificate is the required method; assertions are not this client's.
        Some(AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth) => (false, None),
        Some(other) if has_private_key_jwt => (
            false,
            Some(format!(
                "client {:?}: token_endpoint_auth_method {:?} next to private_key_jwt credentials: \
                 both are let through (assertions validated when sent); set it to null to \
                 require private_key_jwt",
                raw.client_id,
                other.name()
            )),
        ),
        Some(_) => (false, None),
    }
}

/// `client_metadata.jargate_enforcement` (Auth0's free-form per-client data, so an exported
/// client carries it): `"enforce"` or `"report"`; any other value is an error, never a silent
/// fallback to either mode.
fn enforcement(raw: &RawClient) -> Result<Option<super::EnforcementMode>, String> {
    let value = raw
        .client_metadata
        .as_ref()
        .and_then(|m| m.get("jargate_enforcement"));
    match value.map(String::as_str) {
        None => Ok(None),
        Some("enforce") => Ok(Some(super::EnforcementMode::Enforce)),
        Some("report") => Ok(Some(super::EnforcementMode::Report)),
        Some(other) => Err(format!(
            "client_metadata.jargate_enforcement: {other:?} is not \"enforce\" or \"report\""
        )),
    }
}

fn build_client(
    raw: RawClient,
    base: &Path,
    credentials: &CredentialsById,
    registry: &mut Registry,
) -> Result<Client, String> {
    let (requires_private_key_jwt, warning) = auth_requirement(&raw);
    let listed = mtls::Listed::of(&raw);
    let auth_required = mtls::auth_required(&raw, &listed);
    let mtls_credentials =
        mtls::credentials(&raw, &listed, base, credentials, &mut registry.files)?;
    let public = raw.token_endpoint_auth_method == Some(AuthMethod::None);
    let lists_mtls = raw
        .client_authentication_methods
        .as_ref()
        .is_some_and(|m| m.lists_mtls());
    registry.warnings.extend(warning);
    let enforcement = enforcement(&raw)?;
    let (jar_required, jar_raw) = match raw.signed_request_object {
        Some(s) => (s.required.unwrap_or(false), s.credentials),
        None => (false, Vec::new()),
    };
    let auth_raw = raw
        .client_authentication_methods
        .and_then(|m| m.private_key_jwt)
        .map(|p| p.credentials)
        .unwrap_or_default();
    let mut sources = Sources {
        base,
        credentials,
        files: &mut registry.files,
    };
    let (jar_keys, jar_jwks_uris) =
        sources.build_set(jar_raw, "signed_request_object.credentials")?;
    let (auth_keys, auth_jwks_uris) = sources.build_set(
        auth_raw,
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
    if requires_private_key_jwt && auth_keys.is_empty() && auth_jwks_uris.is_empty() {
        return Err("private_key_jwt is required but no client assertion credential is registered (client_authentication_methods.private_key_jwt.credentials)".into());
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
        requires_par: raw.require_pushed_authorization_requests.unwrap_or(false),
        enforcement,
        jar_keys,
        auth_keys,
        jar_jwks_uris,
        auth_jwks_uris,
        upstream_client_secret: raw.upstream_client_secret,
        compliance_level: raw.compliance_level,
        level: raw.compliance_level.unwrap_or_default(),
        callbacks: Callbacks::new(raw.callbacks.unwrap_or_default()),
        mtls: mtls_credentials,
        auth_required,
        dpop_bound_access_tokens: raw.dpop_bound_access_tokens.unwrap_or(false),
        public,
        lists_mtls,
    })
}

/// Where credentials come from: key files relative to `base`, and objects by id.
struct Sources<'a> {
    base: &'a Path,
    credentials: &'a CredentialsById,
    files: &'a mut Vec<PathBuf>,
}

impl Sources<'_> {
    fn build_set(
        &mut self,
        raw: Vec<RawCredential>,
        field: &str,
    ) -> Result<(CredentialSet, Vec<String>), String> {
        let mut keys = Vec::new();
        let mut uris = Vec::new();
        for (i, cred) in raw.into_iter().enumerate() {
            let mut at = format!("{field}[{i}]");
            let cred = if cred.is_reference() {
                let id = cred.id.unwrap_or_default();
                at = format!("{at} ({id:?})");
                self.credentials.0.get(&id).cloned().ok_or_else(|| {
                    format!(
                        "{at}: credential {id:?} is given by id only and is not in \
                         clients.credentials_file"
                    )
                })?
            } else {
                cred
            };
            match cred.credential_type {
                Some(CredentialType::PublicKey) => {
                    if let Some(file) = &cred.pem_file {
                        self.files.push(self.base.join(file));
                    }
                    keys.push(build_credential(cred, self.base).map_err(|e| format!("{at}.{e}"))?)
                }
                Some(CredentialType::JwksUri) => {
                    let uri = cred.uri.ok_or_else(|| format!("{at}.uri: missing"))?;
                    if !(uri.starts_with("https://") || uri.starts_with("http://")) {
                        return Err(format!("{at}.uri: must be an http(s) URL"));
                    }
                    uris.push(uri);
                }
                Some(kind @ (CredentialType::X509Cert | CredentialType::CertSubjectDn)) => {
                    return Err(format!(
                        "{at}.credential_type: {kind:?} is an mTLS credential; private_key_jwt \
                         and request objects take public_key or jwks_uri"
                    ))
                }
                None => return Err(format!("{at}.credential_type: missing")),
            }
        }
        Ok((CredentialSet::new(keys), uris))
    }
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
    let alg = match (raw.alg, jwk_alg) {
        (Some(a), Some(j)) if Some(a) != Alg::parse(j) => {
            return Err(format!("alg: {a} differs from the jwk's alg {j:?}"))
        }
        (Some(a), _) => a,
        (None, Some(j)) => Alg::parse(j).ok_or_else(|| {
            format!(
                "jwk: alg {j:?} is not one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA"
            )
        })?,
        (None, None) => return Err("alg: missing".into()),
    };
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
