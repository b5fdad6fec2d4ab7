//! Criterion benchmarks of validation, next to the bare signature check it contains.
//!
//! For each algorithm (RS256, PS256, ES256, EdDSA) and each token kind:
//! - `assertion/full/<ALG>`: reading the token (`jose::Jws::read`) and `rules::check_assertion`
//!   (size, shape, header, kid/alg, signature, claims, times, audience, typ, iss/sub, jti) plus
//!   the single-use insert into the memory store, as the gate does it;
//! - `assertion/ring/<ALG>`: `ring` alone verifying the same signature over the same signing
//!   input (`RsaPublicKeyComponents` for RSA, `UnparsedPublicKey` otherwise);
//! - `request_object/full/<ALG>` and `request_object/ring/<ALG>`: the same for request objects.
//!
//! `full` / `ring` is the cost of everything that is not the signature; `benches/ratio.py`
//! prints that table from `target/criterion/*/*/*/new/estimates.json`.
//!
//! On a shared machine two criterion benchmarks a few seconds apart can see different loads,
//! so after criterion the same ratio is measured once more, paired: 300 rounds of about 4 ms,
//! each timing `n` full validations and `n` raw verifies back to back; the median of the
//! per-round ratios goes to `target/criterion/paired.json` (`ratio.py` shows both).
//! `cargo bench --bench validation -- paired` runs only that; `JARGATE_BENCH_PAIRED=0` skips it.
//!
//! Tokens come from a pool of `POOL` distinct signed tokens (distinct `jti`) that the
//! benchmark cycles through; each iteration's store key is made unique by appending an
//! iteration counter to the token's `jti` key, so every insert is a fresh single-use entry
//! (as for real traffic), however many iterations criterion runs.
//!
//! - `dpop/full/<ALG>` (ES256, PS256, EdDSA): a DPoP proof as the gate checks it
//!   (`rules::dpop::check`: header, embedded `jwk`, signature, claims, `htu`, `iat`) plus its
//!   replay insert; `dpop/ring/<ALG>`: `ring` alone on the same signature. A token request
//!   with a proof costs its assertion's `full` plus this `full`.
//!
//! Also: the parts of a validation (`parts/*`), form and query parsing (`params/*`) and path
//! routing (`path/*`) on realistic inputs.
//!
//! Run: `cargo bench --bench validation` (then `python3 benches/ratio.py`).

mod common;

use common::{authorize_target, token_body, Case, ISSUER};
use criterion::{criterion_group, BenchmarkId, Criterion};
use jargate::config::{parse_settings, Client, Registry, Snapshot, TokenPolicies};
use jargate::jose::Jws;
use jargate::keys::Alg;
use jargate::request::params::Origin;
use jargate::request::path::normalize;
use jargate::request::Params;
use jargate::rules::{check_assertion, check_request_object, TokenKind};
use jargate::store::memory::MemoryStore;
use jargate::store::{jti_key, Store};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::path::Path;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Distinct signed tokens per algorithm and kind.
const POOL: usize = 256;

/// Runs a future that completes without waiting (the memory store never waits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the memory store returned Pending"),
    }
}

fn snapshot(cases: &[Case]) -> Snapshot {
    let settings = parse_settings(
        r#"
        [upstream]
        url = "http://127.0.0.1:3000"
        [issuer]
        identifier = "https://login.example.com/"
        [clients]
        file = "clients.json"
        "#,
    )
    .expect("settings");
    let registry =
        Registry::from_json(common::registry_json(cases), Path::new(".")).expect("registry");
    Snapshot::build(settings, registry).expect("snapshot")
}

/// The bare `ring` check of one token: the verifying key, signing input and signature, all
/// decoded beforehand.
struct Raw {
    input: Vec<u8>,
    signature: Vec<u8>,
}

enum RawKey {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        params: &'static signature::RsaParameters,
    },
    Other {
        bytes: Vec<u8>,
        alg: &'static dyn signature::VerificationAlgorithm,
    },
}

impl RawKey {
    fn of(case: &Case) -> RawKey {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use base64::Engine;
        let jwk = case.key.public_key().to_jwk();
        let member = |name: &str| B64.decode(jwk[name].as_str().unwrap()).unwrap();
        match case.alg {
            Alg::RS256 | Alg::PS256 => RawKey::Rsa {
                n: member("n"),
                e: member("e"),
                params: if case.alg == Alg::RS256 {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &signature::RSA_PSS_2048_8192_SHA256
                },
            },
            Alg::ES256 => {
                let mut point = vec![4u8];
                point.extend(member("x"));
                point.extend(member("y"));
                RawKey::Other {
                    bytes: point,
                    alg: &signature::ECDSA_P256_SHA256_FIXED,
                }
            }
            Alg::EdDSA => RawKey::Other {
                bytes: member("x"),
                alg: &signature::ED25519,
            },
            other => panic!("no raw key for {other}"),
        }
    }

    fn verify(&self, raw: &Raw) -> bool {
        match self {
            RawKey::Rsa { n, e, params } => RsaPublicKeyComponents { n, e }
                .verify(params, &raw.input, &raw.signature)
                .is_ok(),
            RawKey::Other { bytes, alg } => UnparsedPublicKey::new(*alg, bytes)
                .verify(&raw.input, &raw.signature)
                .is_ok(),
        }
    }
}

fn raw_parts(token: &str) -> Raw {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let dot = token.rfind('.').unwrap();
    Raw {
        input: token.as_bytes()[..dot].to_vec(),
        signature: B64.decode(&token[dot + 1..]).unwrap(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Assertion,
    RequestObject,
}

impl Kind {
    fn group(self) -> &'static str {
        match self {
            Kind::Assertion => "assertion",
            Kind::RequestObject => "request_object",
        }
    }

    fn token(self, case: &Case, jti: &str, now: i64) -> String {
        match self {
            Kind::Assertion => case.assertion(jti, now, now + 300),
            Kind::RequestObject => case.request_object(jti, now, now + 600),
        }
    }
}

/// One algorithm and token kind: a pool of tokens, and the two things compared on them.
struct Bench {
    kind: Kind,
    alg: Alg,
    client: &'static Client,
    policies: &'static TokenPolicies,
    store: &'static MemoryStore,
    now: i64,
    pool: Vec<String>,
    raw: Vec<Raw>,
    key: RawKey,
    counter: u64,
}

impl Bench {
    fn new(
        kind: Kind,
        case: &Case,
        snapshot: &'static Snapshot,
        store: &'static MemoryStore,
    ) -> Bench {
        let now = common::now();
        let seed = 0xbe0c_0000 + case.alg as u64 * 2 + (kind == Kind::RequestObject) as u64;
        let pool: Vec<String> = (0..POOL as u64)
            .map(|n| kind.token(case, &common::jti(seed, n), now))
            .collect();
        let raw: Vec<Raw> = pool.iter().map(|t| raw_parts(t)).collect();
        let key = RawKey::of(case);
        assert!(
            raw.iter().all(|r| key.verify(r)),
            "raw verify of {}",
            case.alg
        );
        Bench {
            kind,
            alg: case.alg,
            client: snapshot.registry.get(case.client_id).expect("client"),
            policies: &snapshot.policies,
            store,
            now,
            pool,
            raw,
            key,
            counter: 0,
        }
    }

    /// What the gate does with one token: every rule, then the single-use insert.
    fn full(&mut self) {
        self.counter += 1;
        let token = &self.pool[self.counter as usize % POOL];
        let (client, policies, now) = (self.client, self.policies, self.now);
        let jws = Jws::read(token);
        let (jti, exp, kind) = match self.kind {
            Kind::Assertion => {
                let checked = check_assertion(&jws, &policies.assertion, client, now);
                let checked = checked.expect("valid token");
                (checked.jti, Some(checked.exp), TokenKind::Assertion)
            }
            Kind::RequestObject => {
                let checked = check_request_object(&jws, &policies.request_object, client, now);
                let checked = checked.expect("valid token");
                (
                    checked.jti.unwrap_or_default(),
                    checked.exp,
                    TokenKind::RequestObject,
                )
            }
        };
        let mut key = jti_key(kind.store_use(), &client.id, jti);
        // Unique per iteration: every insert is a new single-use entry.
        let _ = write!(key, "{}", self.counter);
        let ttl = Duration::from_secs((exp.unwrap_or(now) + 10 - now) as u64);
        let fresh = ready(self.store.insert_once(&key, ttl)).expect("store");
        assert!(fresh);
        black_box(&jws);
    }

    /// `ring` alone on the same signing input and signature.
    fn ring(&mut self) {
        self.counter += 1;
        let ok = self
            .key
            .verify(black_box(&self.raw[self.counter as usize % POOL]));
        assert!(ok);
    }
}

fn benches_of(kind: Kind) -> Vec<Bench> {
    let cases = Case::all();
    let snapshot: &'static Snapshot = Box::leak(Box::new(snapshot(&cases)));
    let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new(u64::MAX)));
    cases
        .iter()
        .map(|case| Bench::new(kind, case, snapshot, store))
        .collect()
}

fn full_vs_ring(c: &mut Criterion, kind: Kind) {
    let mut group = c.benchmark_group(kind.group());
    for mut bench in benches_of(kind) {
        let alg = bench.alg.name();
        group.bench_function(BenchmarkId::new("full", alg), |b| b.iter(|| bench.full()));
        group.bench_function(BenchmarkId::new("ring", alg), |b| b.iter(|| bench.ring()));
    }
    group.finish();
}

fn assertions(c: &mut Criterion) {
    full_vs_ring(c, Kind::Assertion);
}

fn request_objects(c: &mut Criterion) {
    full_vs_ring(c, Kind::RequestObject);
}

/// The ratio measured a second way, robust to a machine whose load changes from one second
/// to the next: rounds of `n` full validations then `n` raw verifies (and the reverse order
/// on odd rounds), each round about 4 ms, so both halves of a round see the same machine. The
/// median of the per-round ratios goes to `<criterion dir>/paired.json` for `ratio.py`.
fn paired() {
    let rounds = 300;
    let mut results = Vec::new();
    for kind in [Kind::Assertion, Kind::RequestObject] {
        for mut bench in benches_of(kind) {
            // Calibrate n so that one half-round takes about 2 ms.
            let started = Instant::now();
            for _ in 0..20 {
                bench.ring();
            }
            let per = started.elapsed().as_secs_f64() / 20.0;
            let n = ((0.002 / per) as usize).clamp(1, 10_000);
            let mut ratios = Vec::with_capacity(rounds);
            let (mut full_ns, mut ring_ns) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                let time = |f: &mut dyn FnMut()| {
                    let t = Instant::now();
                    for _ in 0..n {
                        f();
                    }
                    t.elapsed().as_nanos() as f64 / n as f64
                };
                let (full, ring) = if round % 2 == 0 {
                    let full = time(&mut || bench.full());
                    (full, time(&mut || bench.ring()))
                } else {
                    let ring = time(&mut || bench.ring());
                    (time(&mut || bench.full()), ring)
                };
                ratios.push(full / ring);
                full_ns.push(full);
                ring_ns.push(ring);
            }
            let q = |v: &mut Vec<f64>, p: f64| {
                v.sort_by(f64::total_cmp);
                v[((v.len() - 1) as f64 * p) as usize]
            };
            let line = format!(
                "{{\"kind\":\"{}\",\"alg\":\"{}\",\"rounds\":{rounds},\"n\":{n},\"ratio_median\":{:.4},\"ratio_p25\":{:.4},\"ratio_p75\":{:.4},\"full_ns_median\":{:.0},\"ring_ns_median\":{:.0}}}",
                kind.group(),
                bench.alg,
                q(&mut ratios, 0.5),
                q(&mut ratios, 0.25),
                q(&mut ratios, 0.75),
                q(&mut full_ns, 0.5),
                q(&mut ring_ns, 0.5),
            );
            println!("paired: {line}");
            results.push(line);
        }
    }
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = Path::new(&dir).join("criterion").join("paired.json");
    let _ = std::fs::create_dir_all(path.parent().unwrap());
    let text = format!("[\n{}\n]\n", results.join(",\n"));
    match std::fs::write(&path, text) {
        Ok(()) => println!("paired: written to {}", path.display()),
        Err(e) => eprintln!("paired: {}: {e}", path.display()),
    }
}

/// The steps of a validation other than the signature, on ES256 tokens.
fn parts(c: &mut Criterion) {
    let case = Case::new(Alg::ES256);
    let cases = [Case::new(Alg::ES256)];
    let snapshot = snapshot(&cases);
    let now = common::now();
    let assertion = case.assertion(&common::jti(1, 1), now, now + 300);
    let object = case.request_object(&common::jti(1, 2), now, now + 600);
    let mut group = c.benchmark_group("parts");
    // Reading decodes and parses once; every rule after that reads the decoding.
    let read = |t: &str| {
        let jws = Jws::read(t);
        jws.shape().unwrap();
        jws.header().unwrap();
        jws.claims().unwrap();
    };
    group.bench_function("jws_read/assertion", |b| {
        b.iter(|| read(black_box(&assertion)))
    });
    group.bench_function("jws_read/request_object", |b| {
        b.iter(|| read(black_box(&object)))
    });
    let jws_a = Jws::read(&assertion);
    let client = snapshot.registry.get(case.client_id).unwrap();
    let sets = [&client.auth_keys];
    group.bench_function("jws_verify/assertion", |b| {
        b.iter(|| {
            let jws = black_box(&jws_a);
            let alg = jws.alg_allowed(&sets, now).unwrap();
            let kid = jws.kid(&sets, now).unwrap();
            jws.signature(&sets, alg, kid, now).unwrap();
        })
    });
    group.bench_function("unverified_sub/assertion", |b| {
        b.iter(|| Jws::read(black_box(&assertion)).unverified("sub").is_some())
    });
    let store = MemoryStore::new(u64::MAX);
    let mut n: u64 = 0;
    group.bench_function("store_insert_once", |b| {
        b.iter(|| {
            n += 1;
            let key = jti_key(
                TokenKind::Assertion.store_use(),
                "bench-es256",
                &common::jti(7, n),
            );
            ready(store.insert_once(&key, Duration::from_secs(310))).unwrap()
        })
    });
    group.finish();
}

/// Form bodies and query strings as clients send them.
fn params(c: &mut Criterion) {
    let case = Case::new(Alg::ES256);
    let now = common::now();
    let body = token_body(&case.assertion(&common::jti(2, 1), now, now + 300));
    let target = authorize_target(
        case.client_id,
        &case.request_object(&common::jti(2, 2), now, now + 600),
    );
    let query = target.split_once('?').unwrap().1.to_owned();
    let browser = "response_type=code&client_id=s6BhdRkqt3&state=xyz%20abc&redirect_uri=https%3A%2F%2Fclient.example.org%2Fcb&scope=openid+profile+email&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let mut group = c.benchmark_group("params");
    for (name, text, origin) in [
        ("add_form/token_body", body.as_str(), Origin::Form),
        (
            "add_form/authorize_query_jar",
            query.as_str(),
            Origin::Query,
        ),
        ("add_form/authorize_query_plain", browser, Origin::Query),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut params = Params::default();
                params.add_form(black_box(text.as_bytes()), origin).unwrap();
                params
            })
        });
    }
    group.finish();
}

/// SPEC §5: reading a 64 KiB form costs about the same whether it holds one parameter or
/// 16 384 distinct names (no quadratic duplicate search). `default` and `cap` are the gate's own
/// reading (`limits.max_parameters` = 100, and its largest allowed value, 1000: the many-name
/// body is refused once the limit is passed); `unlimited`, which the gate never does, shows
/// that the reading itself is linear (16 384 names cost 16 384 times one name's bookkeeping).
/// `cargo bench --bench validation -- params_64k` runs only this group.
fn params_64k(c: &mut Criterion) {
    const SIZE: usize = 64 * 1024;
    let mut many = String::with_capacity(SIZE);
    let mut i = 0usize;
    while many.len() + 5 <= SIZE {
        // Three-letter names (26^3 > 16 384), each piece `abc&`: 4 bytes.
        let name: String = [i / 676, (i / 26) % 26, i % 26]
            .iter()
            .map(|d| char::from(b'a' + *d as u8))
            .collect();
        many.push_str(&name);
        many.push('&');
        i += 1;
    }
    let one = format!("a={}", "x".repeat(SIZE - 2));
    let mut group = c.benchmark_group("params_64k");
    let cap = jargate::config::MAX_PARAMETERS_LIMIT;
    for (limit_name, limit) in [("default", 100), ("cap", cap), ("unlimited", usize::MAX)] {
        for (body_name, body) in [("one_name", &one), ("many_names", &many)] {
            group.bench_function(BenchmarkId::new(limit_name, body_name), |b| {
                b.iter(|| {
                    let mut params = Params::with_limit(limit);
                    let _ = params.add_form(black_box(body.as_bytes()), Origin::Form);
                    params
                })
            });
        }
    }
    group.finish();
}

/// Routing of request paths: the exact intercepted path, ordinary passthrough paths, and the
/// encoded spellings that must be refused as ambiguous.
fn paths(c: &mut Criterion) {
    let cases = [Case::new(Alg::ES256)];
    let snapshot = snapshot(&cases);
    let routes = &snapshot.routes;
    let inputs = [
        ("intercepted", "/oauth/token"),
        ("passthrough", "/api/v1/users/42/profile"),
        ("well_known", "/.well-known/openid-configuration"),
        ("ambiguous_encoded", "/oauth/%2574oken"),
        ("ambiguous_dots", "/oauth/x/../token;jsessionid=1/"),
    ];
    let mut group = c.benchmark_group("path");
    for (name, path) in inputs {
        group.bench_function(BenchmarkId::new("normalize", name), |b| {
            b.iter(|| normalize(black_box(path)))
        });
        group.bench_function(BenchmarkId::new("classify", name), |b| {
            b.iter(|| routes.classify(black_box(path)))
        });
    }
    group.finish();
    assert_eq!(ISSUER, snapshot.settings.issuer.identifier);
}

/// DPoP proofs (SPEC §11) next to the bare signature check, as for the two token kinds.
fn dpop_proofs(c: &mut Criterion) {
    use jargate::rules::dpop::{check, DpopProof, Target};
    use jargate::store::dpop_key;
    let cases: Vec<Case> = Case::all()
        .into_iter()
        .filter(|c| matches!(c.alg, Alg::ES256 | Alg::PS256 | Alg::EdDSA))
        .collect();
    let snapshot: &'static Snapshot = Box::leak(Box::new(snapshot(&cases)));
    let store = MemoryStore::new(u64::MAX);
    let target = Target {
        method: "POST",
        path: "/oauth/token",
    };
    let htu = format!("{}oauth/token", ISSUER);
    let mut group = c.benchmark_group("dpop");
    for case in &cases {
        let now = common::now();
        let header = serde_json::json!({"typ": "dpop+jwt", "jwk": case.key.public_key().to_jwk()});
        let pool: Vec<String> = (0..POOL as u64)
            .map(|n| {
                let jti = common::jti(0xd0b0_0000 + case.alg as u64, n);
                let claims = serde_json::json!({"jti": jti, "htm": "POST", "htu": htu, "iat": now});
                case.key.sign(&header, &claims).expect("sign")
            })
            .collect();
        let raw: Vec<Raw> = pool.iter().map(|t| raw_parts(t)).collect();
        let key = RawKey::of(case);
        let mut counter = 0u64;
        group.bench_function(BenchmarkId::new("full", case.alg.name()), |b| {
            b.iter(|| {
                counter += 1;
                let proof = DpopProof::read(&pool[counter as usize % POOL]);
                let valid = check(&proof, &snapshot.dpop, target, now).expect("valid proof");
                let mut key = dpop_key(&valid.thumbprint, &valid.jti);
                let _ = write!(key, "{counter}");
                let ttl = Duration::from_secs(snapshot.dpop.replay_ttl_secs(valid.iat, now));
                assert!(ready(store.insert_once(&key, ttl)).expect("store"));
            })
        });
        group.bench_function(BenchmarkId::new("ring", case.alg.name()), |b| {
            b.iter(|| {
                counter += 1;
                assert!(key.verify(black_box(&raw[counter as usize % POOL])));
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .noise_threshold(0.03);
    targets = assertions, request_objects, dpop_proofs, parts, params, params_64k, paths
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Not under `cargo test --benches` (one quick pass of each benchmark), nor when a filter
    // names other benchmarks, nor with JARGATE_BENCH_PAIRED=0.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let testing = args.iter().any(|a| a == "--test" || a == "--list");
    let filtered = args
        .iter()
        .any(|a| !a.starts_with('-') && !"paired".contains(a.as_str()));
    let disabled = std::env::var("JARGATE_BENCH_PAIRED").is_ok_and(|v| v == "0");
    if !(testing || filtered || disabled) {
        paired();
    }
}
