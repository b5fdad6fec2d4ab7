//! The whole decision, `gate::decide`, in process, on arbitrary requests: with unsigned input,
//! and with JWTs signed by a registered key from fuzzed claims (so that the rules behind the
//! signature check are reached too). Beyond "no panic": a forwarded request never carries a
//! body or query that jargate's own parsers refuse.
//!
//! Input: one flag byte, then fields separated by 0xFF: query, body, Authorization, claims
//! (JSON), JOSE header (JSON). With the `sign` flag, every `JWT` in the query and the body is
//! replaced by the claims signed with the client `app-ed`'s key (EdDSA).
#![no_main]

use jargate::app::App;
use jargate::config::{parse_settings, Registry, Snapshot};
use jargate::gate::{decide, Action, Incoming};
use jargate::jose::sign::SigningKey;
use jargate::keys::Alg;
use jargate::request::params::{Origin, Params};
use jargate::request::Endpoint;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The decision's clock; the seeds' claims are valid at this time.
const NOW: i64 = 1_800_000_000;
const PUBLIC: &str = include_str!("../../tests/keys/ed-a.pub.pem");
const PRIVATE: &str = include_str!("../../tests/keys/ed-a.key.pem");

struct World {
    rt: tokio::runtime::Runtime,
    app: Arc<App>,
    passthrough: Snapshot,
    legacy: Snapshot,
    key: SigningKey,
}

fn snapshot(mode: &str) -> Snapshot {
    let toml = format!(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\nmode = \"{mode}\"\n\
         [issuer]\nidentifier = \"https://login.example.com/\"\n\
         [clients]\nfile = \"clients.json\"\n"
    );
    let settings = parse_settings(&toml).expect("fuzz settings");
    let credential = json!({"credential_type": "public_key", "pem": PUBLIC, "alg": "EdDSA"});
    let clients = json!({"clients": [{
        "client_id": "app-ed",
        "token_endpoint_auth_method": "private_key_jwt",
        "client_authentication_methods": {"private_key_jwt": {"credentials": [credential]}},
        "signed_request_object": {"credentials": [credential]},
        "upstream_client_secret": "s3cret",
    }]});
    let registry = Registry::from_json(clients, Path::new(".")).expect("fuzz registry");
    Snapshot::build(settings, registry).expect("fuzz snapshot")
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let app = rt.block_on(async { App::new(snapshot("passthrough")).expect("app") });
        World {
            rt,
            app,
            passthrough: snapshot("passthrough"),
            legacy: snapshot("legacy"),
            key: SigningKey::from_pkcs8_pem(PRIVATE, Alg::EdDSA).expect("key"),
        }
    })
}

/// Signs the fuzzed claims; a `jti` gets a per-run suffix so that a replayed input is not
/// refused only because an earlier run used it.
fn sign(key: &SigningKey, claims: &[u8], header: &[u8]) -> Option<String> {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let mut claims: Value = serde_json::from_slice(claims).ok()?;
    if let Some(Value::String(jti)) = claims.get_mut("jti") {
        jti.push_str(&format!("-{}", RUN.fetch_add(1, Ordering::Relaxed)));
    }
    let header = serde_json::from_slice::<Value>(header).unwrap_or_else(|_| json!({}));
    key.sign(&header, &claims).ok()
}

fn replace_jwt(field: &[u8], jwt: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.windows(3).position(|w| w == b"JWT") {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(jwt.as_bytes());
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest);
    out
}

fn parses(bytes: &[u8], origin: Origin) -> bool {
    Params::default().add_form(bytes, origin).is_ok() || Params::default().add_json(bytes).is_ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.split(|b| *b == 0xFF);
    let mut next = || fields.next().unwrap_or_default();
    let (query, body, authorization, claims, header) = (next(), next(), next(), next(), next());
    let w = world();
    let (query, body) = match (flags & 0x20 != 0).then(|| sign(&w.key, claims, header)).flatten() {
        Some(jwt) => (replace_jwt(query, &jwt), replace_jwt(body, &jwt)),
        None => (query.to_vec(), body.to_vec()),
    };
    let endpoint = match flags & 0x03 {
        0 => Endpoint::Authorize,
        1 => Endpoint::Par,
        2 => Endpoint::Token,
        _ => Endpoint::ClientAuth,
    };
    let method = if flags & 0x04 != 0 {
        http::Method::POST
    } else {
        http::Method::GET
    };
    let snapshot = if flags & 0x08 != 0 {
        &w.legacy
    } else {
        &w.passthrough
    };
    let content_type: &[u8] = match flags & 0x10 != 0 {
        true => b"application/json",
        false => b"application/x-www-form-urlencoded",
    };
    let with_query = flags & 0x40 != 0;
    let incoming = Incoming {
        endpoint,
        method: &method,
        query: with_query.then_some(query.as_slice()),
        content_type: (!body.is_empty()).then_some(content_type),
        content_encoding: None,
        authorization: (!authorization.is_empty()).then_some(authorization),
        body: &body,
        client_cert: None,
        dpop: Default::default(),
    };
    let (store, keys) = (w.app.store.as_ref(), &w.app.jwks);
    let verdict = w.rt.block_on(decide(store, keys, snapshot, incoming, NOW));
    // `FUZZ_SHOW=1 cargo fuzz run decide corpus/decide -- -runs=0` prints what the corpus
    // reaches: a corpus that never forwards tests only the refusals.
    static SHOW: OnceLock<bool> = OnceLock::new();
    if *SHOW.get_or_init(|| std::env::var_os("FUZZ_SHOW").is_some()) {
        eprintln!("decide: {:?}", verdict.result);
    }
    if let Ok(Action::Forward(forward)) = verdict.result {
        // Whatever goes upstream is something jargate parsed.
        if !forward.as_get {
            let sent = forward.body.as_deref().unwrap_or(&body);
            assert!(
                sent.is_empty() || parses(sent, Origin::Form),
                "forwarded a body it does not parse: {sent:?}"
            );
        }
        let sent_query = forward.query.as_deref().map(str::as_bytes);
        if let Some(q) = sent_query.or(with_query.then_some(query.as_slice())) {
            assert!(
                Params::default().add_form(q, Origin::Query).is_ok(),
                "forwarded a query it does not parse: {q:?}"
            );
        }
    }
});
