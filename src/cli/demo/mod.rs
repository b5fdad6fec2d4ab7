//! `jargate demo`: the whole job on loopback, with nothing to install. It generates a client's
//! keys, starts a recording stub authorization server ([`upstream`]) and two real jargate
//! processes ([`setup`]: passthrough and legacy mode), then walks accepted and refused requests
//! ([`http`]) and prints one row per step: the verdict, the answer, and what reached the
//! upstream. Exit 0 when every verdict is the expected one, 1 otherwise.

mod http;
mod requests;
mod setup;
mod table;
mod upstream;

use super::sign::{assertion_claims, header, request_claims};
use super::{pad, Style, EXIT_FAILURE};
use crate::clock::unix_now;
use crate::jose::sign::SigningKey;
use crate::rules::JWT_BEARER;
use requests::{
    authorize_query, has_assertion, has_request, has_secret, is_translated, pairs, tamper,
    token_request,
};
use serde_json::Value;
use setup::{Jargate, Keys, CLIENT_ID, ISSUER};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use table::{describe, print_table, Row, Show};
use upstream::{Seen, StubServer};

pub fn run() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("jargate demo: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(demo(Style::stdout())) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_FAILURE),
        Err(e) => {
            eprintln!("jargate demo: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The upstream received the request.
    Forwarded,
    /// jargate answered an error itself; the upstream received nothing.
    Refused,
    /// jargate answered a success itself (PAR in legacy mode).
    Answered,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Forwarded => "forwarded",
            Verdict::Refused => "refused",
            Verdict::Answered => "answered",
        }
    }
}

/// What a step should produce.
struct Expect {
    verdict: Verdict,
    status: u16,
    error: Option<&'static str>,
    /// For a forwarded request: how the upstream must have seen it, and how to say so.
    upstream: Option<SeenAs>,
}

/// How the upstream must have seen a forwarded request, and how to describe it.
type SeenAs = (fn(&Seen) -> bool, Show);

/// The demo; `Ok(true)` when every step went as expected.
async fn demo(style: Style) -> Result<bool, String> {
    let started = Instant::now();
    let dir = setup::TempDir::new()?;
    let keys = Keys::generate()?;
    setup::write_registry(dir.path(), &keys)?;
    let stub = StubServer::start().await?;
    let instances = start_instances(dir.path(), stub.addr).await?;
    let (pass, legacy) = (&instances[0], &instances[1]);

    outln!("{}", style.bold("jargate demo"));
    outln!(
        "  stub authorization server  http://{}  (records what reaches it)",
        stub.addr
    );
    for j in &instances {
        outln!(
            "  {}  http://{}  (admin http://{}/healthz)",
            pad(&format!("jargate ({})", j.name), 25),
            j.proxy,
            j.admin
        );
    }
    outln!(
        "  client {CLIENT_ID}: ES256 key for client assertions, EdDSA key for request objects; \
         issuer {ISSUER}\n"
    );

    let mut demo = Walk {
        stub: &stub,
        rows: Vec::new(),
    };
    let now = unix_now();
    let aud = || Value::from(ISSUER);
    let params = [
        ("response_type", "code"),
        ("redirect_uri", "https://app.example/cb"),
        ("scope", "openid"),
        ("state", "xyz"),
    ];
    let assertion = |key: &SigningKey, iat: i64, ttl: i64| -> Result<String, String> {
        key.sign(
            &header(None, None),
            &Value::Object(assertion_claims(CLIENT_ID, aud(), iat, ttl)?),
        )
    };
    let request_object = || -> Result<String, String> {
        keys.request.sign(
            &header(Some("oauth-authz-req+jwt"), None),
            &Value::Object(request_claims(CLIENT_ID, aud(), now, 300, &params)?),
        )
    };
    let kept = |note| Some((has_assertion as fn(&Seen) -> bool, Show::Path(note)));

    // Passthrough: client authentication.
    let valid = assertion(&keys.assertion, now, 60)?;
    demo.step(
        "token request",
        http::post_form(pass.proxy, "/oauth/token", &pairs(&token_request(&valid))),
        expect(
            Verdict::Forwarded,
            200,
            None,
            kept("(client_assertion kept)"),
        ),
    )
    .await;
    demo.step(
        "same assertion replayed",
        http::post_form(pass.proxy, "/oauth/token", &pairs(&token_request(&valid))),
        expect(Verdict::Refused, 401, Some("invalid_client"), None),
    )
    .await;
    let expired = assertion(&keys.assertion, now - 600, 300)?;
    demo.step(
        "expired assertion",
        http::post_form(pass.proxy, "/oauth/token", &pairs(&token_request(&expired))),
        expect(Verdict::Refused, 401, Some("invalid_client"), None),
    )
    .await;
    let stranger = assertion(&keys.stranger, now, 60)?;
    demo.step(
        "assertion, unregistered key",
        http::post_form(
            pass.proxy,
            "/oauth/token",
            &pairs(&token_request(&stranger)),
        ),
        expect(Verdict::Refused, 401, Some("invalid_client"), None),
    )
    .await;

    // Passthrough: request objects.
    let object = request_object()?;
    demo.step(
        "JAR /authorize",
        http::get(pass.proxy, &authorize_query(&[("request", &object)])),
        expect(
            Verdict::Forwarded,
            200,
            None,
            Some((has_request, Show::Path("(request object kept)"))),
        ),
    )
    .await;
    let tampered = tamper(&request_object()?)?;
    demo.step(
        "JAR /authorize, tampered",
        http::get(pass.proxy, &authorize_query(&[("request", &tampered)])),
        expect(Verdict::Refused, 400, Some("invalid_request_object"), None),
    )
    .await;

    // Legacy: PAR emulated by jargate, translated /authorize, upstream client secret.
    let par_assertion = assertion(&keys.assertion, now, 60)?;
    let par_object = request_object()?;
    let par_form = [
        ("client_id", CLIENT_ID),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", par_assertion.as_str()),
        ("request", par_object.as_str()),
    ];
    let pushed = demo
        .step(
            "PAR push (legacy)",
            http::post_form(legacy.proxy, "/oauth/par", &par_form),
            expect(Verdict::Answered, 201, None, None),
        )
        .await;
    let request_uri = pushed
        .and_then(|r| r.json_str("request_uri"))
        .unwrap_or_else(|| "urn:ietf:params:oauth:request_uri:none".into());
    let redeem = authorize_query(&[("request_uri", &request_uri)]);
    demo.step(
        "/authorize request_uri (legacy)",
        http::get(legacy.proxy, &redeem),
        expect(
            Verdict::Forwarded,
            200,
            None,
            Some((is_translated, Show::Query)),
        ),
    )
    .await;
    demo.step(
        "same request_uri again (legacy)",
        http::get(legacy.proxy, &redeem),
        expect(Verdict::Refused, 400, Some("invalid_request_uri"), None),
    )
    .await;
    let legacy_assertion = assertion(&keys.assertion, now, 60)?;
    demo.step(
        "token request (legacy)",
        http::post_form(
            legacy.proxy,
            "/oauth/token",
            &pairs(&token_request(&legacy_assertion)),
        ),
        expect(
            Verdict::Forwarded,
            200,
            None,
            Some((
                has_secret,
                Show::Path("(client_secret instead of the assertion)"),
            )),
        ),
    )
    .await;

    let ok = print_table(&demo.rows, style);
    let total = demo.rows.len();
    let good = demo.rows.iter().filter(|r| r.expected.is_none()).count();
    let secs = started.elapsed().as_secs_f64();
    if ok {
        outln!(
            "\n{} {good} of {total} verdicts as expected ({secs:.1} s)",
            style.good("ok:")
        );
    } else {
        outln!(
            "\n{} {} of {total} verdicts NOT as expected ({secs:.1} s)",
            style.bad("FAILED:"),
            total - good
        );
        for j in &instances {
            eprintln!("---- jargate ({}) log ----\n{}", j.name, j.log());
        }
    }
    Ok(ok)
}

/// Starts the passthrough and the legacy jargate on free loopback ports and waits until both
/// are healthy. Ports are found by bind-and-release, so another process may take one in
/// between: that case is retried.
async fn start_instances(
    dir: &std::path::Path,
    upstream: SocketAddr,
) -> Result<Vec<Jargate>, String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let ports = setup::free_ports(4)?;
        let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i]));
        let mut instances = Vec::new();
        for (i, mode) in ["passthrough", "legacy"].into_iter().enumerate() {
            let (proxy, admin) = (addr(2 * i), addr(2 * i + 1));
            let config = setup::write_config(dir, mode, proxy, admin, upstream, mode)?;
            instances.push(Jargate::spawn(mode, &config, proxy, admin)?);
        }
        let mut started = Ok(());
        for j in instances.iter_mut() {
            started = j.wait_healthy(Duration::from_secs(10)).await;
            if started.is_err() {
                break;
            }
        }
        match started {
            Ok(()) => return Ok(instances),
            Err(e) if attempt < 3 && e.to_ascii_lowercase().contains("in use") => continue,
            Err(e) => return Err(e),
        }
    }
}

fn expect(
    verdict: Verdict,
    status: u16,
    error: Option<&'static str>,
    upstream: Option<SeenAs>,
) -> Expect {
    Expect {
        verdict,
        status,
        error,
        upstream,
    }
}

struct Walk<'a> {
    stub: &'a StubServer,
    rows: Vec<Row>,
}

impl Walk<'_> {
    /// Sends one request, compares what happened with `expect`, adds a row; returns the answer.
    async fn step(
        &mut self,
        step: &'static str,
        call: impl std::future::Future<Output = Result<http::Response, String>>,
        expect: Expect,
    ) -> Option<http::Response> {
        let before = self.stub.seen().len();
        let result = call.await;
        let seen: Vec<Seen> = self.stub.seen().into_iter().skip(before).collect();
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                self.rows.push(Row {
                    step,
                    why: None,
                    verdict: "error".into(),
                    status: "-".into(),
                    error: "-".into(),
                    upstream: e,
                    expected: Some(format!(
                        "expected {} {}",
                        expect.verdict.name(),
                        expect.status
                    )),
                });
                return None;
            }
        };
        let verdict = match (seen.is_empty(), resp.status) {
            (false, _) => Verdict::Forwarded,
            (true, 200..=299) => Verdict::Answered,
            (true, _) => Verdict::Refused,
        };
        let error = resp.json_str("error");
        let mut upstream_ok = seen.len() <= 1;
        let upstream = match (seen.first(), expect.upstream) {
            (None, _) if verdict == Verdict::Answered => "nothing (jargate answered)".to_string(),
            (None, _) => "nothing".to_string(),
            (Some(s), Some((check, show))) => {
                upstream_ok &= check(s);
                describe(s, show)
            }
            (Some(s), None) => describe(s, Show::Path("")),
        };
        let matched = verdict == expect.verdict
            && resp.status == expect.status
            && error.as_deref() == expect.error
            && upstream_ok;
        self.rows.push(Row {
            step,
            why: resp.json_str("error_description"),
            verdict: verdict.name().into(),
            status: resp.status.to_string(),
            error: error.unwrap_or_else(|| "-".into()),
            upstream,
            expected: (!matched).then(|| {
                format!(
                    "expected {} {} {}",
                    expect.verdict.name(),
                    expect.status,
                    expect.error.unwrap_or("-")
                )
            }),
        });
        Some(resp)
    }
}
