//! The decision in process, without a socket: every endpoint in both upstream modes under each
//! outside-parameter policy, then report mode's single-use accounting and legacy PAR. A memory
//! store and a key source without remote sets stand in for the running proxy's.

use super::{decide, Action, Forward, Incoming, Verdict};
use crate::config::{parse_settings, Mode, OutsideParameters, Registry, Snapshot};
use crate::jose::sign::SigningKey;
use crate::keys::{Alg, CredentialSet, KeySource, Refresh};
use crate::reject::{ClientFault, Rejection, RequestFault, RequestUriFault, TokenFault};
use crate::request::Endpoint;
use crate::rules::PAR_URN_PREFIX;
use crate::store::memory::MemoryStore;
use async_trait::async_trait;
use http::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://login.example.com/";
/// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, as a form
/// encodes it.
const BEARER: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// No client of these tests has a `jwks_uri`; a lookup would be a bug in the decision.
struct NoRemoteKeys;

#[async_trait]
impl KeySource for NoRemoteKeys {
    fn cached_keys(&self, uri: &str) -> Option<Arc<CredentialSet>> {
        panic!("no remote set was registered, yet {uri} was looked up")
    }
    async fn refetched_keys(&self, uri: &str, _: Refresh) -> Option<Arc<CredentialSet>> {
        panic!("no remote set was registered, yet {uri} was fetched")
    }
    fn unavailable(&self, _uri: &str) -> bool {
        false
    }
    fn count_hit(&self) {}
}

fn key_path(name: &str) -> String {
    format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Client `app`: assertions with ec-a (ES256), request objects with ed-a (EdDSA), and an
/// upstream secret for legacy mode. `extra` is appended to the settings.
fn snapshot(mode: Mode, policy: OutsideParameters, extra: &str) -> Snapshot {
    let mode = match mode {
        Mode::Passthrough => "passthrough",
        Mode::Legacy => "legacy",
    };
    let policy = match policy {
        OutsideParameters::Strip => "strip",
        OutsideParameters::Reject => "reject",
        OutsideParameters::Allow => "allow",
    };
    let toml = format!(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\nmode = \"{mode}\"\n\
         [issuer]\nidentifier = \"{ISSUER}\"\n[clients]\nfile = \"clients.json\"\n\
         [jar]\noutside_parameters = \"{policy}\"\n{extra}"
    );
    let credential = |file: &str, alg: &str| json!({"credential_type": "public_key", "pem_file": key_path(file), "alg": alg});
    let clients = json!({"clients": [{
        "client_id": "app",
        "token_endpoint_auth_method": "private_key_jwt",
        "client_authentication_methods": {"private_key_jwt": {"credentials": [
            credential("ec-a.pub.pem", "ES256")]}},
        "signed_request_object": {"credentials": [credential("ed-a.pub.pem", "EdDSA")]},
        "upstream_client_secret": "s3cret",
    }]});
    let settings = parse_settings(&toml).expect("settings");
    let registry = Registry::from_json(clients, Path::new("/")).expect("registry");
    Snapshot::build(settings, registry).expect("snapshot")
}

fn signer(name: &str, alg: Alg) -> SigningKey {
    let pem = std::fs::read_to_string(key_path(&format!("{name}.key.pem"))).expect("key");
    SigningKey::from_pkcs8_pem(&pem, alg).expect("signing key")
}

/// A `jti` no other token of the run has.
fn jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn assertion() -> String {
    let claims = json!({"iss": "app", "sub": "app", "aud": ISSUER, "jti": jti(),
                        "iat": NOW, "exp": NOW + 60});
    signer("ec-a", Alg::ES256)
        .sign(&json!({}), &claims)
        .expect("sign")
}

/// A request object whose `state` differs from the one sent outside it, and whose `scope` is
/// the same.
fn request_object() -> String {
    let claims = json!({"iss": "app", "client_id": "app", "aud": ISSUER, "jti": jti(),
                        "response_type": "code", "scope": "openid", "state": "inside",
                        "iat": NOW, "exp": NOW + 300});
    signer("ed-a", Alg::EdDSA)
        .sign(&json!({"typ": "oauth-authz-req+jwt"}), &claims)
        .expect("sign")
}

/// A request as the proxy hands it over: method, query, form body.
struct Request {
    endpoint: Endpoint,
    method: Method,
    query: Option<String>,
    body: String,
}

impl Request {
    /// A valid request to `endpoint`, with one differing outside parameter (`state=outside`)
    /// and one identical (`scope=openid`) where a request object is sent.
    fn valid(endpoint: Endpoint, object: &str) -> Request {
        let auth = format!(
            "client_id=app&client_assertion_type={BEARER}&client_assertion={}",
            assertion()
        );
        let (method, query, body) = match endpoint {
            Endpoint::Authorize => (
                Method::GET,
                Some(format!(
                    "client_id=app&request={object}&scope=openid&state=outside"
                )),
                String::new(),
            ),
            Endpoint::Par => (
                Method::POST,
                None,
                format!("{auth}&request={object}&scope=openid&state=outside"),
            ),
            Endpoint::Token => (
                Method::POST,
                None,
                format!("grant_type=client_credentials&{auth}"),
            ),
            Endpoint::ClientAuth => (Method::POST, None, format!("token=t-1&{auth}")),
            Endpoint::Userinfo => (Method::GET, None, String::new()),
        };
        Request {
            endpoint,
            method,
            query,
            body,
        }
    }

    async fn decide(&self, snapshot: &Snapshot, store: &MemoryStore) -> Verdict {
        let incoming = Incoming {
            endpoint: self.endpoint,
            method: &self.method,
            query: self.query.as_deref().map(str::as_bytes),
            content_type: (!self.body.is_empty())
                .then_some(&b"application/x-www-form-urlencoded"[..]),
            content_encoding: None,
            authorization: None,
            body: self.body.as_bytes(),
            client_cert: None,
            dpop: Default::default(),
        };
        decide(store, &NoRemoteKeys, snapshot, incoming, NOW).await
    }
}

/// What a decision should come to. `Query` and `Body` are forwards that rewrite only that;
/// `OBJECT` and `ASSERTION` in them stand for the request's tokens.
#[derive(Debug)]
enum Want {
    Unchanged,
    Query(&'static str),
    Body(&'static str),
    /// Legacy `/authorize`: a GET with the object's parameters.
    LegacyGet(&'static str),
    /// jargate answers (legacy PAR).
    Answer(u16),
    Refused(Rejection),
}

#[tokio::test]
async fn every_endpoint_in_each_mode_under_each_outside_parameter_policy() {
    use Endpoint::*;
    use Mode::*;
    use OutsideParameters::*;
    use Want::*;
    let outside = || Refused(RequestFault::OutsideParameter("state".into()).into());
    let legacy_query = "client_id=app&response_type=code&scope=openid&state=inside";
    let par_kept = "client_id=app&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=ASSERTION&request=OBJECT&scope=openid";
    let cases = [
        (Authorize, Passthrough, Allow, Unchanged),
        (
            Authorize,
            Passthrough,
            Strip,
            Query("client_id=app&request=OBJECT&scope=openid"),
        ),
        (Authorize, Passthrough, Reject, outside()),
        (Authorize, Legacy, Allow, LegacyGet(legacy_query)),
        (Authorize, Legacy, Strip, LegacyGet(legacy_query)),
        (Authorize, Legacy, Reject, outside()),
        (Par, Passthrough, Allow, Unchanged),
        (Par, Passthrough, Strip, Body(par_kept)),
        (Par, Passthrough, Reject, outside()),
        (Par, Legacy, Allow, Answer(201)),
        (Par, Legacy, Strip, Answer(201)),
        (Par, Legacy, Reject, outside()),
        // No request object: the policy has nothing to apply to.
        (Token, Passthrough, Allow, Unchanged),
        (Token, Passthrough, Strip, Unchanged),
        (Token, Passthrough, Reject, Unchanged),
        (
            Token,
            Legacy,
            Allow,
            Body("grant_type=client_credentials&client_id=app&client_secret=s3cret"),
        ),
        (
            Token,
            Legacy,
            Strip,
            Body("grant_type=client_credentials&client_id=app&client_secret=s3cret"),
        ),
        (
            Token,
            Legacy,
            Reject,
            Body("grant_type=client_credentials&client_id=app&client_secret=s3cret"),
        ),
        (ClientAuth, Passthrough, Allow, Unchanged),
        (ClientAuth, Passthrough, Strip, Unchanged),
        (ClientAuth, Passthrough, Reject, Unchanged),
        (
            ClientAuth,
            Legacy,
            Allow,
            Body("token=t-1&client_id=app&client_secret=s3cret"),
        ),
        (
            ClientAuth,
            Legacy,
            Strip,
            Body("token=t-1&client_id=app&client_secret=s3cret"),
        ),
        (
            ClientAuth,
            Legacy,
            Reject,
            Body("token=t-1&client_id=app&client_secret=s3cret"),
        ),
    ];
    for (endpoint, mode, policy, want) in cases {
        let case = format!("{endpoint:?} {mode:?} {policy:?}");
        let snapshot = snapshot(mode, policy, "");
        let store = MemoryStore::new(1000);
        let object = request_object();
        let request = Request::valid(endpoint, &object);
        let verdict = request.decide(&snapshot, &store).await;
        assert_eq!(verdict.client_id.as_deref(), Some("app"), "{case}");
        let assertion = form_value(&request.body, "client_assertion").unwrap_or_default();
        let tokens = |text: &str| {
            text.replace("OBJECT", &object)
                .replace("ASSERTION", &assertion)
        };
        let mut result = verdict.result;
        if let Ok(Action::Forward(f)) = &mut result {
            // A push forwarded in passthrough mode is remembered, whatever the policy.
            let remembered = f.push.take().is_some();
            let push = endpoint == Par && mode == Passthrough;
            assert_eq!(remembered, push, "{case}: push remembered");
        }
        match (want, result) {
            (Unchanged, Ok(Action::Forward(f))) => assert_eq!(f, Forward::default(), "{case}"),
            (Query(q), Ok(Action::Forward(f))) => {
                let want = Forward {
                    query: Some(tokens(q)),
                    ..Forward::default()
                };
                assert_eq!(f, want, "{case}");
            }
            (Body(b), Ok(Action::Forward(f))) => {
                assert_eq!(f.body.as_deref(), Some(tokens(b).as_bytes()), "{case}");
                assert_eq!((f.query, f.as_get), (None, false), "{case}");
            }
            (LegacyGet(q), Ok(Action::Forward(f))) => {
                let want = Forward {
                    query: Some(q.into()),
                    as_get: true,
                    ..Forward::default()
                };
                assert_eq!(f, want, "{case}");
            }
            (Answer(status), Ok(Action::Answer { status: s, .. })) => {
                assert_eq!(s, status, "{case}")
            }
            (Refused(r), Err(got)) => assert_eq!(got, r, "{case}"),
            (want, got) => panic!("{case}: wanted {want:?}, got {got:?}"),
        }
    }
}

/// The value of `name` in a form, as sent.
fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_owned)
}

#[tokio::test]
async fn report_mode_records_the_single_use_of_a_token_valid_itself() {
    // Refused for an outside parameter, then sent again without it. Enforce mode refused the
    // first request before recording its object, so the second passes; report mode forwarded
    // the first, so the second is the object's replay.
    let cases = [
        ("", Ok(())),
        (
            "[enforcement]\nmode = \"report\"\n",
            Err(Rejection::RequestObject(TokenFault::Replayed)),
        ),
    ];
    for (settings, want) in cases {
        let snapshot = snapshot(Mode::Passthrough, OutsideParameters::Reject, settings);
        let store = MemoryStore::new(1000);
        let object = request_object();
        let first = Request::valid(Endpoint::Authorize, &object);
        let refused = first.decide(&snapshot, &store).await.result;
        let outside = RequestFault::OutsideParameter("state".into()).into();
        assert_eq!(refused, Err(outside), "{settings}");
        let again = Request {
            query: Some(format!("client_id=app&request={object}")),
            ..first
        };
        let second = again.decide(&snapshot, &store).await.result;
        assert_eq!(second.map(|_| ()), want, "{settings}");
    }
}

#[tokio::test]
async fn legacy_par_is_answered_by_jargate_and_redeemed_once() {
    let snapshot = snapshot(Mode::Legacy, OutsideParameters::Strip, "");
    let store = MemoryStore::new(1000);
    let pushed = Request::valid(Endpoint::Par, &request_object());
    let Ok(Action::Answer { status, body }) = pushed.decide(&snapshot, &store).await.result else {
        panic!("legacy PAR is answered by jargate");
    };
    assert_eq!(status, 201);
    let body: Value = serde_json::from_slice(&body).expect("JSON answer");
    let request_uri = body["request_uri"].as_str().expect("request_uri");
    assert!(request_uri.starts_with(PAR_URN_PREFIX), "{request_uri}");
    assert_eq!(
        body["expires_in"],
        json!(snapshot.settings.par.request_uri_ttl_secs)
    );
    let redeem = Request {
        endpoint: Endpoint::Authorize,
        method: Method::GET,
        query: Some(format!("client_id=app&request_uri={request_uri}")),
        body: String::new(),
    };
    let forward = Forward {
        query: Some("client_id=app&response_type=code&scope=openid&state=inside".into()),
        as_get: true,
        ..Forward::default()
    };
    assert_eq!(
        redeem.decide(&snapshot, &store).await.result,
        Ok(forward.into())
    );
    assert_eq!(
        redeem.decide(&snapshot, &store).await.result,
        Err(Rejection::RequestUri(RequestUriFault::UnknownOrUsed))
    );
}

#[tokio::test]
async fn a_replayed_assertion_is_refused_once_recorded() {
    let snapshot = snapshot(Mode::Passthrough, OutsideParameters::Strip, "");
    let store = MemoryStore::new(1000);
    let request = Request::valid(Endpoint::Token, "");
    assert_eq!(
        request.decide(&snapshot, &store).await.result,
        Ok(Forward::default().into())
    );
    assert_eq!(
        request.decide(&snapshot, &store).await.result,
        Err(Rejection::Client(ClientFault::Assertion(
            TokenFault::Replayed
        )))
    );
}

/// Client `fapi` at fapi2_sp_pkj_mtls: the same keys as `app`, ES256 assertions.
fn fapi_snapshot() -> Snapshot {
    let toml = format!(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\n[issuer]\nidentifier = \"{ISSUER}\"\n\
         [clients]\nfile = \"clients.json\"\n\
         [mtls]\nfrom_header = \"client-cert\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n"
    );
    let credential = |file: &str, alg: &str| json!({"credential_type": "public_key", "pem_file": key_path(file), "alg": alg});
    let clients = json!({"clients": [{
        "client_id": "app",
        "compliance_level": "fapi2_sp_pkj_mtls",
        "callbacks": ["https://app.example.com/cb"],
        "client_authentication_methods": {"private_key_jwt": {"credentials": [
            credential("ec-a.pub.pem", "ES256")]}},
        "signed_request_object": {"credentials": [credential("ed-a.pub.pem", "EdDSA")]},
    }]});
    let settings = parse_settings(&toml).expect("settings");
    let registry = Registry::from_json(clients, Path::new("/")).expect("registry");
    Snapshot::build(settings, registry).expect("snapshot")
}

#[tokio::test]
async fn a_pkj_mtls_token_request_passes_with_a_certificate_and_is_refused_without() {
    use super::{decide_with, SenderInputs};
    use crate::reject::ComplianceFault;
    let snapshot = fapi_snapshot();
    let store = MemoryStore::new(1000);
    let request = Request::valid(Endpoint::Token, "");
    fn incoming(r: &Request) -> Incoming<'_> {
        Incoming {
            endpoint: r.endpoint,
            method: &r.method,
            query: None,
            content_type: Some(&b"application/x-www-form-urlencoded"[..]),
            content_encoding: None,
            authorization: None,
            body: r.body.as_bytes(),
            client_cert: None,
            dpop: Default::default(),
        }
    }
    let without = SenderInputs::default();
    let refused = decide_with(
        &store,
        &NoRemoteKeys,
        &snapshot,
        incoming(&request),
        NOW,
        without,
    );
    assert_eq!(
        refused.await.result,
        Err(ComplianceFault::CertificateRequired.into())
    );
    // The refusal left the assertion unspent: the same request with a certificate passes.
    let with = SenderInputs {
        has_client_cert: true,
        dpop_proof_valid: false,
    };
    let passed = decide_with(
        &store,
        &NoRemoteKeys,
        &snapshot,
        incoming(&request),
        NOW,
        with,
    );
    assert_eq!(passed.await.result, Ok(Forward::default().into()));
    assert_eq!(
        store.len(),
        1,
        "the assertion's jti is recorded once it passed"
    );
}

#[tokio::test]
async fn a_replay_of_a_later_item_removes_the_records_the_request_wrote() {
    // A PAR whose assertion is fresh but whose request object was already used: the object's
    // replay refuses it, and the assertion recorded just before is removed again.
    let snapshot = snapshot(Mode::Passthrough, OutsideParameters::Allow, "");
    let store = MemoryStore::new(1000);
    let object = request_object();
    let first = Request::valid(Endpoint::Par, &object);
    assert!(first.decide(&snapshot, &store).await.result.is_ok());
    assert_eq!(store.len(), 2);
    let second = Request::valid(Endpoint::Par, &object);
    assert_eq!(
        second.decide(&snapshot, &store).await.result,
        Err(Rejection::RequestObject(TokenFault::Replayed))
    );
    assert_eq!(store.len(), 2, "the second assertion's record was removed");
}
