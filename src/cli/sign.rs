//! `jargate sign`: builds and signs a client assertion (RFC 7523) or a request object
//! (RFC 9101) with a PKCS#8 private key, for trying a client or the proxy by hand. The claim
//! sets built here are the ones the demo sends too.

use super::{alg_arg, read_text, EXIT_FAILURE};
use crate::clock::unix_now;
use crate::jose::sign::SigningKey;
use crate::keys::Alg;
use crate::rules::TokenKind;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// The command-line names of the token kinds (`sign assertion`, `explain --as request`).
impl ValueEnum for TokenKind {
    fn value_variants<'a>() -> &'a [Self] {
        &[TokenKind::Assertion, TokenKind::RequestObject]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            TokenKind::Assertion => PossibleValue::new("assertion")
                .help("A client assertion for private_key_jwt (RFC 7523)"),
            TokenKind::RequestObject => {
                PossibleValue::new("request").help("A request object (JAR, RFC 9101)")
            }
        })
    }
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// What to build.
    #[arg(value_enum)]
    pub kind: TokenKind,
    /// PKCS#8 private key PEM (as written by `jargate keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Signing algorithm; must fit the key.
    #[arg(long, value_parser = alg_arg)]
    pub alg: Alg,
    /// The client: iss and sub of an assertion, iss and client_id of a request object.
    #[arg(long)]
    pub client_id: String,
    /// Audience: the authorization server's issuer identifier. Repeat for an array.
    #[arg(long, required = true)]
    pub aud: Vec<String>,
    /// Lifetime in seconds (exp = now + ttl; negative for an already expired token).
    #[arg(long, default_value_t = 60, allow_negative_numbers = true)]
    pub ttl: i64,
    /// JOSE header kid.
    #[arg(long)]
    pub kid: Option<String>,
    /// JOSE header typ (default: none for assertions, oauth-authz-req+jwt for request objects).
    #[arg(long)]
    pub typ: Option<String>,
    /// Extra or replacing claim NAME=VALUE; VALUE is JSON when it parses as JSON, else a string.
    #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = name_value)]
    pub claims: Vec<(String, String)>,
    /// Authorization parameter NAME=VALUE inside a request object (response_type=code, ...).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = name_value)]
    pub params: Vec<(String, String)>,
}

fn name_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

pub fn run(args: &SignArgs) -> ExitCode {
    match sign(args, unix_now()) {
        Ok(token) => {
            outln!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("jargate sign: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn sign(args: &SignArgs, now: i64) -> Result<String, String> {
    if args.kind == TokenKind::Assertion && !args.params.is_empty() {
        return Err("--param is for request objects; use --claim for assertion claims".into());
    }
    let text = read_text(&args.key)?;
    let key = SigningKey::from_pkcs8_pem(&text, args.alg)
        .map_err(|e| format!("{}: {e}", args.key.display()))?;
    let aud = match args.aud.as_slice() {
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    };
    let mut claims = match args.kind {
        TokenKind::Assertion => assertion_claims(&args.client_id, aud, now, args.ttl)?,
        TokenKind::RequestObject => {
            let params: Vec<(&str, &str)> = args
                .params
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            request_claims(&args.client_id, aud, now, args.ttl, &params)?
        }
    };
    for (name, value) in &args.claims {
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value.as_str()));
        claims.insert(name.clone(), value);
    }
    let typ = match (&args.typ, args.kind) {
        (Some(t), _) => Some(t.as_str()),
        (None, TokenKind::RequestObject) => Some(TokenKind::RequestObject.typ()),
        (None, TokenKind::Assertion) => None,
    };
    key.sign(&header(typ, args.kid.as_deref()), &Value::Object(claims))
}

/// A JOSE header with optional `typ` and `kid` (`alg` is added by the signer).
pub fn header(typ: Option<&str>, kid: Option<&str>) -> Value {
    let mut header = Map::new();
    if let Some(typ) = typ {
        header.insert("typ".into(), Value::from(typ));
    }
    if let Some(kid) = kid {
        header.insert("kid".into(), Value::from(kid));
    }
    Value::Object(header)
}

/// A fresh `jti`: 128 random bits, base64url.
pub fn random_jti() -> Result<String, String> {
    let bytes = crate::random::bytes::<16>().map_err(|e| e.to_string())?;
    Ok(B64.encode(bytes))
}

/// RFC 7523 §3: `iss` = `sub` = the client, `aud`, a fresh `jti`, `iat` = now, `exp` = now + ttl.
pub fn assertion_claims(
    client_id: &str,
    aud: Value,
    now: i64,
    ttl: i64,
) -> Result<Map<String, Value>, String> {
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "jti": random_jti()?,
        "iat": now,
        "exp": now + ttl,
    });
    Ok(into_map(claims))
}

/// RFC 9101 §4: `iss` and `client_id` = the client, `aud`, `iat`, `exp`, a fresh `jti`, and the
/// authorization parameters as string claims.
pub fn request_claims(
    client_id: &str,
    aud: Value,
    now: i64,
    ttl: i64,
    params: &[(&str, &str)],
) -> Result<Map<String, Value>, String> {
    let mut claims = into_map(json!({
        "iss": client_id,
        "client_id": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + ttl,
        "jti": random_jti()?,
    }));
    for (name, value) in params {
        claims.insert((*name).to_owned(), Value::from(*value));
    }
    Ok(claims)
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
