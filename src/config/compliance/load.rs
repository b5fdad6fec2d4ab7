//! SPEC §9 "Configuration", checked once per snapshot: a client that cannot meet its level is a
//! configuration error naming the client, the level and the rule; nothing is silently relaxed.
//! What is not an error but changes what a level means (legacy mode cannot bind tokens, a
//! client opting out of a global level) is a warning for `check` and the start-up log.

use super::{AlgUse, Level, LevelAuth, SenderConstraint};
use crate::config::registry::{Client, Registry};
use crate::config::{Mode, OutsideParameters, Settings, Unregistered};
use crate::keys::CredentialSet;

/// The errors, the first of which refuses the snapshot, or the warnings.
pub fn check(settings: &Settings, registry: &Registry) -> Result<Vec<String>, String> {
    let global = settings.compliance.level;
    if global.is_set() && settings.clients.unregistered == Unregistered::Passthrough {
        return Err(format!(
            "compliance.level {global}: clients.unregistered = \"passthrough\" would let \
             unregistered clients past every rule of the level; set it to \"reject\""
        ));
    }
    let mut clients: Vec<&Client> = registry.clients().map(|c| c.as_ref()).collect();
    clients.sort_by(|a, b| a.id.cmp(&b.id));
    let mut warnings = Vec::new();
    let mut unbound = Vec::new();
    for client in clients {
        if global.is_set() && client.compliance_level == Some(Level::None) {
            warnings.push(format!(
                "client {:?}: compliance_level \"none\" opts out of the global level {global}",
                client.id
            ));
        }
        if !client.level.is_set() {
            continue;
        }
        client_meets_level(settings, client).map_err(|(rule, why)| {
            format!(
                "client {:?} at compliance level {}: {rule}: {why}",
                client.id, client.level
            )
        })?;
        if client.level.sender_constraint() != SenderConstraint::None {
            unbound.push(client.id.as_str());
        }
    }
    if settings.upstream.mode == Mode::Legacy && !unbound.is_empty() {
        warnings.push(format!(
            "legacy mode: the upstream mints bearer tokens, so the sender-constraining of these \
             clients' levels cannot bind them (jargate only checks that a certificate or proof \
             was sent): {}",
            unbound.join(", ")
        ));
    }
    Ok(warnings)
}

type Failure = (&'static str, String);

fn client_meets_level(settings: &Settings, client: &Client) -> Result<(), Failure> {
    let level = client.level;
    if settings.jar.outside_parameters == OutsideParameters::Allow {
        return Err((
            "outside parameters",
            "jar.outside_parameters = \"allow\" would forward parameters outside the request \
             object to an upstream that may merge them; use \"strip\" or \"reject\""
                .into(),
        ));
    }
    callbacks(client)?;
    credential_algs(
        level,
        AlgUse::RequestObject,
        &client.jar_keys,
        "signed_request_object",
    )?;
    credential_algs(
        level,
        AlgUse::Assertion,
        &client.auth_keys,
        "client_authentication_methods.private_key_jwt",
    )?;
    if client.public {
        return Err((
            "confidential client",
            "token_endpoint_auth_method \"none\" (a public client) cannot meet any level".into(),
        ));
    }
    match level.client_auth() {
        LevelAuth::PrivateKeyJwt
            if client.auth_keys.is_empty() && client.auth_jwks_uris.is_empty() =>
        {
            return Err((
                "client authentication",
                "the level requires private_key_jwt and no \
                 client_authentication_methods.private_key_jwt credential is registered"
                    .into(),
            ))
        }
        LevelAuth::Mtls if !client.lists_mtls => {
            return Err((
                "client authentication",
                "the level requires mTLS and client_authentication_methods lists neither \
                 tls_client_auth nor self_signed_tls_client_auth"
                    .into(),
            ))
        }
        _ => {}
    }
    sender_constraining(settings, client)?;
    if level.is_fapi2() {
        let skew = settings.limits.clock_skew_secs;
        if !(10..=60).contains(&skew) {
            return Err((
                "time claims",
                format!(
                    "limits.clock_skew_secs = {skew}: fapi2 accepts iat and nbf up to 10 s in \
                     the future and refuses them beyond 60 s, so it must be 10..60"
                ),
            ));
        }
        let ttl = settings.par.request_uri_ttl_secs;
        if ttl >= 600 {
            return Err((
                "request_uri lifetime",
                format!("par.request_uri_ttl_secs = {ttl}: fapi2 needs expires_in < 600"),
            ));
        }
    }
    Ok(())
}

/// What the level's sender-constraining and the client's mTLS credentials need from the
/// configuration (SPEC §9 "Configuration", §10, §11).
fn sender_constraining(settings: &Settings, client: &Client) -> Result<(), Failure> {
    let level = client.level;
    match level.sender_constraint() {
        SenderConstraint::Mtls
            if settings.listen.mtls.is_none() && settings.mtls.from_header.is_none() =>
        {
            return Err((
                "sender-constraining",
                "the level binds tokens to a client certificate, and jargate has no \
                 certificate source: set listen.mtls or mtls.from_header"
                    .into(),
            ))
        }
        SenderConstraint::Dpop => {
            let row = level.algs(AlgUse::DpopProof).unwrap_or_default();
            let shared = settings
                .dpop
                .algs
                .iter()
                .filter_map(|a| crate::keys::Alg::parse(a))
                .any(|a| row.contains(&a));
            if !shared {
                return Err((
                    "sender-constraining",
                    format!(
                        "dpop.algs {:?} shares no algorithm with the level's DPoP row {:?}",
                        settings.dpop.algs,
                        row.iter().map(|a| a.name()).collect::<Vec<_>>()
                    ),
                ));
            }
        }
        _ => {}
    }
    if client.mtls.tls_client_auth && settings.listen.client_ca_file.is_none() {
        return Err((
            "client authentication",
            "tls_client_auth needs CA trust anchors: set listen.client_ca_file".into(),
        ));
    }
    Ok(())
}

/// Each callback is `https`, or `http` to a loopback address; none holds a wildcard.
fn callbacks(client: &Client) -> Result<(), Failure> {
    if client.callbacks.is_empty() {
        return Err((
            "redirect_uri",
            "callbacks is empty: the level compares redirect_uri with the registered callbacks"
                .into(),
        ));
    }
    for uri in client.callbacks.iter() {
        let loopback = super::without_loopback_port(uri).is_some();
        if uri.contains('*') || !(uri.starts_with("https://") || loopback) {
            return Err((
                "redirect_uri",
                format!(
                    "callback {uri:?} must be https, or http to 127.0.0.1 or [::1], without a \
                     wildcard"
                ),
            ));
        }
    }
    Ok(())
}

/// A registered key whose `alg` the level does not allow is a load error (a `jwks_uri` key is
/// fetched later and refused per request).
fn credential_algs(
    level: Level,
    kind: AlgUse,
    keys: &CredentialSet,
    field: &str,
) -> Result<(), Failure> {
    match keys.all().iter().find(|c| !level.allows_alg(kind, c.alg)) {
        None => Ok(()),
        Some(c) => {
            let allowed = match level.alg_names(kind) {
                names if names.is_empty() => "none (the level has no such token)".to_string(),
                names => names,
            };
            Err((
                "algorithms",
                format!(
                    "{field} credential {:?} has alg {}; the level allows {allowed}",
                    c.name, c.alg
                ),
            ))
        }
    }
}
