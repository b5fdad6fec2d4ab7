//! The shapes an Auth0 export comes in (SPEC §4): `{"clients": [...]}`, the bare array of
//! `GET /api/v2/clients`, and its paginated object (`start`, `limit`, `length`, `total`); and
//! `clients.credentials_file`, the credential objects that clients name by `id` only (a bare
//! array or `{"credentials": [...]}`).

use super::raw::{RawClient, RawCredential};
use crate::config::document;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsObject {
    clients: Vec<RawClient>,
    #[serde(rename = "start")]
    _start: Option<IgnoredAny>,
    #[serde(rename = "limit")]
    _limit: Option<IgnoredAny>,
    #[serde(rename = "length")]
    _length: Option<IgnoredAny>,
    #[serde(rename = "total")]
    _total: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsObject {
    credentials: Vec<RawCredential>,
}

/// The client objects of a registry file, in file order.
pub fn clients(text: &str, file: &Path) -> Result<Vec<RawClient>, String> {
    if is_array(text) {
        document::json::<Vec<RawClient>>(text, file, client_context)
    } else {
        let object: ClientsObject = document::json(text, file, client_context)?;
        Ok(object.clients)
    }
}

/// The credential objects of a credentials file by `id`. A `pem_file` in it is relative to
/// the credentials file.
pub fn credentials(text: &str, file: &Path) -> Result<HashMap<String, RawCredential>, String> {
    let context = |_: &Value, _: &str| String::new();
    let list = if is_array(text) {
        document::json::<Vec<RawCredential>>(text, file, context)?
    } else {
        document::json::<CredentialsObject>(text, file, context)?.credentials
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let mut by_id = HashMap::new();
    for (index, mut credential) in list.into_iter().enumerate() {
        let Some(id) = credential.id.clone() else {
            return Err(format!(
                "{}: credentials[{index}]: id: missing (clients name credentials by id)",
                file.display()
            ));
        };
        if credential.is_reference() {
            return Err(format!(
                "{}: credentials[{index}] ({id:?}): names no key (credential_type, pem, …)",
                file.display()
            ));
        }
        if let Some(pem_file) = &credential.pem_file {
            credential.pem_file = Some(base.join(pem_file).display().to_string());
        }
        if by_id.insert(id.clone(), credential).is_some() {
            return Err(format!(
                "{}: credentials[{index}]: id {id:?} is listed twice",
                file.display()
            ));
        }
    }
    Ok(by_id)
}

fn is_array(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('[')
}

/// `client "app-1": ` for a path inside the client at that index, when it has a `client_id`.
fn client_context(doc: &Value, path: &str) -> String {
    let (list, rest) = match path.strip_prefix("clients") {
        Some(rest) => (doc.get("clients"), rest),
        None => (Some(doc), path),
    };
    let index = rest
        .strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.parse::<usize>().ok());
    let id = index
        .and_then(|i| list?.as_array()?.get(i))
        .and_then(|c| c.get("client_id"))
        .and_then(Value::as_str);
    match id {
        Some(id) => format!("client {id:?}: "),
        None => String::new(),
    }
}
