//! No parser differential (SPEC §5): whatever server stack runs behind jargate, it reads exactly
//! what jargate validated, or nothing reaches it. A recording upstream keeps the raw bytes of
//! every forwarded request and hands them to re-parsers: Python (urllib.parse, Werkzeug), Node
//! (qs, body-parser), and written models of PHP, Rack, ASP.NET, Go and Spring/Symfony
//! (`differential/models.rs`). A table of hostile requests, sent over raw sockets, covers
//! request targets, framing, headers, parameter names, client identities, tunnels and legacy
//! rewrites: each is either refused with its status and error and nothing forwarded, or
//! forwarded and read identically by every re-parser.
//!
//! Two stacks were added after issue 22 found them behind a real IdP: one that hands every
//! body to its form parser whatever the `Content-Type` (`models::form_any_body`), and one that
//! reads a POST's parameters from its body only (`models::body_only_post`). Looking at how the
//! modelled servers read bodies of unusual types gave the further classes of
//! `issue_22_cases`, each refused, with the argument for it:
//! - `multipart/form-data`: Werkzeug, Django, Spring, PHP and ASP.NET read its parts as
//!   parameters, jargate reads none: refused as an unsupported type;
//! - `text/plain`: a form parser for every body reads a form in it: refused likewise;
//! - a `charset` on JSON other than UTF-8: ASP.NET and Jackson decode UTF-16 JSON, so names
//!   jargate compared as bytes would read differently: refused;
//! - a GET with a body: Werkzeug and body-parser read a form body whatever the method, Go
//!   does not: refused;
//! - DELETE, PUT and other methods with a body: frameworks that route every method to one
//!   handler (Express `app.all`, Rails `via: :all`) would read it: 405;
//! - HEAD on `/authorize`: most stacks run the GET handler, whose `Location` still carries a
//!   code, so HEAD is validated exactly as GET (tests/it/request_shape.rs).
//!
//! Still out of reach of any model: a stack that reads JSON members from a form-typed body
//! (none found), and HTTP/2 specifics (jargate's listener speaks HTTP/1.1 to the upstream).

mod models;
mod reparsers;
mod rules;
mod upstream;

use crate::common::*;
use models::View;
use reparsers::Reparser;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use upstream::RawUpstream;

/// The authority of the absolute-form targets below.
const HOST: (&str, &str) = ("Host", "as.example");
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
/// The upstream secret of every client in the legacy registry.
const SECRET: &str = "up-secret";

/// The names jargate interprets (`request::params::INTERPRETED`): a server that looks them up
/// ignoring case must find exactly what jargate validated.
const INTERPRETED: [&str; 6] = [
    "client_id",
    "client_assertion",
    "client_assertion_type",
    "client_secret",
    "request",
    "request_uri",
];

enum Expect {
    /// Answered by jargate with this status and (when jargate itself answers) error code;
    /// the upstream receives nothing.
    Refused(u16, Option<&'static str>),
    /// Forwarded: every re-parser routes to `path`, reads exactly `params` and authenticates
    /// `client`; none of `absent` headers reach the upstream.
    Forwarded {
        path: &'static str,
        params: Vec<(&'static str, String)>,
        client: Option<&'static str>,
        absent: &'static [&'static str],
    },
}

struct Case {
    name: &'static str,
    raw: Vec<u8>,
    expect: Expect,
}

fn refused(name: &'static str, raw: Vec<u8>, status: u16, error: &'static str) -> Case {
    Case {
        name,
        raw,
        expect: Expect::Refused(status, Some(error)),
    }
}

fn forwarded(
    name: &'static str,
    raw: Vec<u8>,
    path: &'static str,
    params: Vec<(&'static str, String)>,
    client: Option<&'static str>,
) -> Case {
    Case {
        name,
        raw,
        expect: Expect::Forwarded {
            path,
            params,
            client,
            absent: &["x-original-url", "x-rewrite-url"],
        },
    }
}

/// A request over a raw socket: exact bytes, `Host` and `Content-Length` added when missing.
fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    build_request(addr, method, target, headers, body.as_bytes())
}

fn form(addr: SocketAddr, target: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut all = vec![FORM];
    all.extend_from_slice(headers);
    raw(addr, "POST", target, &all, body)
}

fn valid() -> String {
    app1_assertion(valid_assertion_claims("app-1"))
}

/// Signed by a key app-1 never registered: any server that reads it as app-1's assertion
/// without jargate's check has been fooled.
fn forged() -> String {
    Jwt::signed(&TestKey::load("rsa-c"), "RS256")
        .claims(valid_assertion_claims("app-1"))
        .build()
}

/// The token-endpoint parameters of a valid app-1 request, and its form text.
fn token_params(assertion: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_assertion_type", ASSERTION_TYPE.into()),
        ("client_assertion", assertion.into()),
    ]
}

fn clients() -> Value {
    let mut registry = default_clients();
    let list = registry["clients"].as_array_mut().expect("clients");
    list.push(json!({
        "client_id": "app-jar",
        "token_endpoint_auth_method": "client_secret_basic",
        "signed_request_object": {"required": true,
            "credentials": [pem_credential("rsa-b", "PS256")]},
    }));
    registry
}

/// The hostile requests against a passthrough jargate at `a`.
fn passthrough_cases(a: SocketAddr) -> Vec<Case> {
    let v = valid();
    let valid_body = assertion_form(&v);
    let forged_body = assertion_form(&forged());
    // A fresh valid assertion each time: were the case forwarded, the re-parsers would see it.
    let with = |extra: &str| format!("{}&{extra}", assertion_form(&valid()));
    let bad = |name, raw| refused(name, raw, 400, "invalid_request");
    let mut cases = vec![
        // 1. Request targets that are not origin form.
        bad("scheme_only_target", form(a, "foo:/oauth/token", &[], &forged_body)),
        bad("relative_target", form(a, "oauth/token", &[], &forged_body)),
        bad("asterisk_post", form(a, "*", &[], &forged_body)),
        bad("asterisk_get", raw(a, "GET", "*", &[], "")),
        bad("scheme_only_authorize", raw(a, "GET", "foo:/authorize?client_id=app-jar&response_type=code", &[], "")),
        // Pingora refuses these itself (its own 400, no JSON body): nothing forwarded.
        Case { name: "userinfo_authority", raw: form(a, "http://u@as.example/oauth/token", &[], &forged_body), expect: Expect::Refused(400, None) },
        Case { name: "absolute_form_authority_other_than_host", raw: form(a, "http://other.example/oauth/token", &[], &forged_body), expect: Expect::Refused(400, None) },
        refused("absolute_form_is_classified", form(a, "http://as.example/oauth/token", &[HOST], &forged_body), 401, "invalid_client"),
        forwarded("absolute_form_goes_upstream_in_origin_form", form(a, "HTTP://as.example/oauth/token", &[HOST], &valid_body), TOKEN, token_params(&v), Some("app-1")),
        forwarded("absolute_form_passthrough", raw(a, "GET", "http://as.example/userinfo?x=1", &[HOST], ""), "/userinfo", vec![("x", "1".into())], None),
        // 7. Path suffixes.
        bad("json_suffix", form(a, "/oauth/token.json", &[], &forged_body)),
        bad("dot_suffix", form(a, "/oauth/token.", &[], &forged_body)),
        bad("encoded_dot_suffix", form(a, "/oauth/token%2ejson", &[], &forged_body)),
        bad("par_suffix", form(a, "/oauth/par.json", &[], &forged_body)),
        bad("authorize_suffix", raw(a, "GET", "/authorize.html?client_id=app-jar&response_type=code", &[], "")),
        // 9. Rewrite headers are dropped on every path.
        forwarded("rewrite_headers_removed", raw(a, "GET", "/userinfo", &[("X-Original-URL", "/oauth/token"), ("X-Rewrite-URL", "/oauth/token")], ""), "/userinfo", vec![], None),
        // 2. Duplicate headers.
        bad("form_then_multipart", raw(a, "POST", TOKEN, &[FORM, ("Content-Type", "multipart/form-data; boundary=b")], &valid_body)),
        bad("form_then_json", raw(a, "POST", TOKEN, &[FORM, ("Content-Type", "application/json")], &valid_body)),
        bad("two_authorizations", form(a, TOKEN, &[("Authorization", &basic("app-post", "s")), ("Authorization", &basic("app-1", "s"))], "grant_type=client_credentials")),
        bad("two_content_encodings", form(a, TOKEN, &[("Content-Encoding", "identity"), ("Content-Encoding", "identity")], &valid_body)),
        bad("transfer_coding_other_than_chunked", form(a, TOKEN, &[("Transfer-Encoding", "gzip, chunked")], "0\r\n\r\n")),
        // 3. Media-type parameters.
        bad("charset_star", raw(a, "POST", TOKEN, &[("Content-Type", "application/x-www-form-urlencoded; charset*=utf-7''x")], &with("client+AF8-assertion=x"))),
        bad("boundary_on_a_form", raw(a, "POST", TOKEN, &[("Content-Type", "application/x-www-form-urlencoded; boundary=x")], &valid_body)),
        bad("charset_twice", raw(a, "POST", TOKEN, &[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8; charset=utf-7")], &valid_body)),
        // 4. Hop-by-hop nomination; 8. tunnels on intercepted paths.
        bad("connection_names_content_type", raw(a, "POST", TOKEN, &[("Content-Type", "application/json"), ("Connection", "keep-alive, Content-Type")], &json!({"grant_type": "client_credentials"}).to_string())),
        bad("upgrade_on_token", form(a, TOKEN, &[("Connection", "Upgrade"), ("Upgrade", "websocket")], &valid_body)),
        bad("upgrade_header_alone", form(a, TOKEN, &[("Upgrade", "h2c")], &valid_body)),
        // 5. Names other parsers rewrite, next to a valid assertion (PHP takes the last).
        bad("dot_name", form(a, TOKEN, &[], &with(&format!("client.assertion={}", forged())))),
        bad("space_name", form(a, TOKEN, &[], &with("client+assertion=x"))),
        bad("encoded_space_name", form(a, TOKEN, &[], &with("client%20assertion=x"))),
        bad("open_bracket_name", form(a, TOKEN, &[], &with("client[assertion=x"))),
        bad("nul_name", form(a, TOKEN, &[], &with("client_assertion%00=x"))),
        bad("leading_space_name", form(a, TOKEN, &[], &with("%20client_assertion=x"))),
        bad("bom_name", form(a, TOKEN, &[], &with("%EF%BB%BFclient_assertion=x"))),
        bad("array_name", form(a, TOKEN, &[], &with("client_assertion[]=x"))),
        bad("bracketed_name", form(a, TOKEN, &[], &with("[client_assertion]=x"))),
        bad("case_variant_name", form(a, TOKEN, &[], &with("Client_Assertion=x"))),
        bad("case_variant_pair", form(a, TOKEN, &[], &with("scope=a&SCOPE=b"))),
        bad("semicolon_separator", form(a, TOKEN, &[], &with("scope=a;client_assertion=x"))),
        bad("raw_body_bom", form(a, TOKEN, &[], &format!("\u{feff}{valid_body}"))),
        bad("nul_in_value", form(a, TOKEN, &[], &with("scope=a%00b"))),
        bad("client_secret_smuggled", form(a, TOKEN, &[], "grant_type=client_credentials&client_id=app-post&client.secret=x")),
        bad("client_id_smuggled", form(a, TOKEN, &[], "grant_type=client_credentials&client_id=app-post&Client_Id=app-1")),
        bad("request_uri_smuggled_authorize", raw(a, "GET", "/authorize?client_id=app-1&response_type=code&request.uri=https://evil.example/ro", &[], "")),
        bad("request_smuggled_authorize", raw(a, "GET", "/authorize?client_id=app-1&response_type=code&Request=x.y.z", &[], "")),
        bad("request_array_authorize", raw(a, "GET", "/authorize?client_id=app-1&response_type=code&request[]=x.y.z", &[], "")),
        bad("semicolon_in_authorize_query", raw(a, "GET", "/authorize?client_id=app-1&response_type=code;request_uri=x", &[], "")),
        bad("request_smuggled_par", form(a, PAR, &[], &format!("{valid_body}&client_id=app-1&response_type=code&Request=x.y.z"))),
        bad("json_dot_name", raw(a, "POST", TOKEN, &[("Content-Type", "application/json")], &json!({"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": v, "client.assertion": forged()}).to_string())),
        bad("json_case_variant", raw(a, "POST", TOKEN, &[("Content-Type", "application/json")], &json!({"grant_type": "client_credentials", "client_id": "app-post", "Client_ID": "app-1"}).to_string())),
        // 11. Cost: more than max_parameters, also a 64 KiB body of distinct names.
        bad("too_many_parameters", form(a, TOKEN, &[], &with(&(0..100).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&")))),
        bad("many_names_64k", form(a, TOKEN, &[], &many_names(65536))),
        // 6. Basic versus client_id, and strict Basic.
        bad("basic_other_than_client_id", form(a, TOKEN, &[("Authorization", &basic("app-post", "s"))], "grant_type=client_credentials&client_id=app-1")),
        bad("basic_other_than_client_id_par", form(a, PAR, &[("Authorization", &basic("app-post", "s"))], "client_id=app-jar&response_type=code")),
        bad("basic_names_a_jar_client_at_par", form(a, PAR, &[("Authorization", &basic("app-jar", "s"))], "response_type=code")),
        refused("basic_tab_is_read", form(a, TOKEN, &[("Authorization", &basic("app-1", "s").replace(' ', "\t"))], "grant_type=client_credentials"), 401, "invalid_client"),
        refused("basic_lower_case_is_read", form(a, TOKEN, &[("Authorization", &basic("app-1", "s").replacen("Basic", "basic", 1))], "grant_type=client_credentials"), 401, "invalid_client"),
        refused("basic_unpadded", form(a, TOKEN, &[("Authorization", basic("app-post", "se").trim_end_matches('='))], "grant_type=client_credentials"), 401, "invalid_client"),
        refused("basic_without_colon", form(a, TOKEN, &[("Authorization", &format!("Basic {}", b64std(b"app-post")))], "grant_type=client_credentials"), 401, "invalid_client"),
        refused("assertion_for_another_client_id", form(a, TOKEN, &[], &format!("{valid_body}&client_id=app-post")), 401, "invalid_client"),
    ];
    // Found on the way: framing and header spellings, JSON escapes.
    let forged_one = forged();
    let token_params_forged = token_params(&forged_one);
    let te_cl = |a, path| {
        let body = assertion_form(&forged_one);
        let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
        form(
            a,
            path,
            &[("Transfer-Encoding", "chunked"), ("Content-Length", "4")],
            &chunked,
        )
    };
    let pingora_refuses = |name, raw| Case {
        name,
        raw,
        expect: Expect::Refused(400, None),
    };
    cases.extend([
        // Pingora drops the Content-Length of a chunked request (RFC 9112 §6.3): jargate and the
        // upstream both read the chunked body.
        refused(
            "chunked_and_content_length",
            te_cl(a, TOKEN),
            401,
            "invalid_client",
        ),
        Case {
            name: "chunked_and_content_length_passthrough",
            raw: te_cl(a, "/userinfo"),
            expect: Expect::Forwarded {
                path: "/userinfo",
                params: token_params_forged.clone(),
                client: Some("app-1"),
                absent: &["content-length"],
            },
        },
        pingora_refuses("folded_header", raw(a, "POST", TOKEN, &[("Content-Type", "application/json\r\n x")], &valid_body)),
        pingora_refuses("space_before_colon", raw(a, "POST", TOKEN, &[("Content-Type ", "multipart/form-data")], &valid_body)),
        bad("comma_list_content_type", raw(a, "POST", TOKEN, &[("Content-Type", "application/x-www-form-urlencoded, multipart/form-data; boundary=b")], &valid_body)),
        bad("json_escaped_duplicate", raw(a, "POST", TOKEN, &[("Content-Type", "application/json")], r#"{"client_id":"app-post","client\u005fid":"app-1","grant_type":"client_credentials"}"#)),
        bad("json_bom", raw(a, "POST", TOKEN, &[("Content-Type", "application/json")], &format!("\u{feff}{}", json!({"grant_type": "client_credentials", "client_id": "app-post"})))),
        bad("percent_encoded_name_variant", form(a, TOKEN, &[], &with("client%5Fassertion%2Ex=1"))),
    ]);
    cases.extend(issue_22_cases(a));
    // What is legitimate keeps working, and every stack reads it as jargate did.
    let v2 = valid();
    let mut params = token_params(&v2);
    params.push(("scope", "a;b openid email".into()));
    params.push(("ext-foo", "bar".into()));
    cases.push(forwarded(
        "encoded_semicolon_plus_and_ext",
        form(
            a,
            TOKEN,
            &[],
            &format!(
                "{}&scope=a%3Bb+openid%20email&ext-foo=bar",
                assertion_form(&v2)
            ),
        ),
        TOKEN,
        params,
        Some("app-1"),
    ));
    let v3 = valid();
    cases.push(forwarded(
        "quoted_charset",
        raw(
            a,
            "POST",
            TOKEN,
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=\"utf-8\"",
            )],
            &assertion_form(&v3),
        ),
        TOKEN,
        token_params(&v3),
        Some("app-1"),
    ));
    let v4 = valid();
    cases.push(forwarded(
        "charset_without_space",
        raw(
            a,
            "POST",
            TOKEN,
            &[
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded;charset=UTF-8",
                ),
                ("Connection", "keep-alive, close"),
            ],
            &assertion_form(&v4),
        ),
        TOKEN,
        token_params(&v4),
        Some("app-1"),
    ));
    let v5 = valid();
    let chunked_body = assertion_form(&v5);
    let chunked = format!("{:x}\r\n{chunked_body}\r\n0\r\n\r\n", chunked_body.len());
    cases.push(forwarded(
        "chunked_body",
        form(a, TOKEN, &[("Transfer-Encoding", "chunked")], &chunked),
        TOKEN,
        token_params(&v5),
        Some("app-1"),
    ));
    let v6 = valid();
    cases.push(forwarded("json_body", raw(a, "POST", TOKEN, &[("Content-Type", "application/json")], &json!({"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": v6}).to_string()), TOKEN, token_params(&v6), Some("app-1")));
    cases.push(forwarded(
        "basic_agrees_with_client_id",
        form(
            a,
            TOKEN,
            &[("Authorization", &basic("app-post", "s"))],
            "grant_type=client_credentials&client_id=app-post",
        ),
        TOKEN,
        vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", "app-post".into()),
        ],
        Some("app-post"),
    ));
    cases.push(forwarded(
        "plain_authorize",
        raw(
            a,
            "GET",
            "/authorize?client_id=app-post&response_type=code&scope=openid+email&state=a%2Bb",
            &[],
            "",
        ),
        "/authorize",
        vec![
            ("client_id", "app-post".into()),
            ("response_type", "code".into()),
            ("scope", "openid email".into()),
            ("state", "a+b".into()),
        ],
        Some("app-post"),
    ));
    cases
}

/// A valid request object of app-jar (JAR key rsa-b, PS256).
fn app_jar_object() -> String {
    object_by("rsa-b", "PS256", object_claims("app-jar", json!({})))
}

/// The JSON body of issue 22: a valid assertion `a` as a member, a second assertion `b` in a
/// value that a form parser reads as parameters.
fn json_with_form_inside(a: &str, b: &str) -> String {
    json!({
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": a,
        "x": format!("&grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={b}&"),
    })
    .to_string()
}

/// Issue 22's two differentials, and the classes of body reading found looking for more
/// (see `models::form_any_body` and `models::body_only_post`):
/// - a JSON body read as a form by a stack that hands every body to its form parser;
/// - a POST to `/authorize` with a query, read by a stack that reads a POST's body only;
/// - bodies of other types a lenient stack still parses (`multipart/form-data`: Werkzeug,
///   Django, Spring, PHP all read it as parameters; `text/plain`: a form parser for every
///   body reads it; JSON in UTF-16: ASP.NET and Jackson decode it, jargate's bytes differ);
/// - a body on a GET (Werkzeug and body-parser read a form body whatever the method) and
///   methods other than those of the endpoint (DELETE with a body: Express routes
///   `app.all`, Rails matches `match via: :all`).
fn issue_22_cases(a: SocketAddr) -> Vec<Case> {
    let bad = |name, raw| refused(name, raw, 400, "invalid_request");
    let json_type = ("Content-Type", "application/json");
    let jar_form = "client_id=app-jar&response_type=code&scope=openid";
    let multipart = format!(
        "--b\r\nContent-Disposition: form-data; name=\"client_assertion\"\r\n\r\n{}\r\n--b--\r\n",
        forged()
    );
    vec![
        bad("json_body_reads_as_a_form", raw(a, "POST", TOKEN, &[json_type], &json_with_form_inside(&valid(), &forged()))),
        bad("json_body_reads_as_a_form_par", raw(a, "POST", PAR, &[json_type], &json!({"client_id": "app-jar", "x": format!("&request={}&", app_jar_object())}).to_string())),
        bad("json_semicolon_reads_as_a_form", raw(a, "POST", TOKEN, &[json_type], &json!({"grant_type": "client_credentials", "client_id": "app-post", "x": ";client_id=app-1"}).to_string())),
        bad("post_authorize_with_query", form(a, &format!("/authorize?request={}", app_jar_object()), &[], jar_form)),
        bad("post_authorize_with_query_client_id", form(a, "/authorize?client_id=app-jar", &[], &format!("response_type=code&request={}", app_jar_object()))),
        bad("multipart_body", raw(a, "POST", TOKEN, &[("Content-Type", "multipart/form-data; boundary=b")], &multipart)),
        bad("text_plain_body", raw(a, "POST", TOKEN, &[("Content-Type", "text/plain")], &assertion_form(&forged()))),
        bad("json_in_utf16", raw(a, "POST", TOKEN, &[("Content-Type", "application/json; charset=utf-16")], &json!({"grant_type": "client_credentials"}).to_string())),
        bad("get_authorize_with_body", raw(a, "GET", "/authorize?client_id=app-jar&response_type=code", &[FORM], &format!("request={}", app_jar_object()))),
        refused("delete_token_with_body", raw(a, "DELETE", TOKEN, &[FORM], &assertion_form(&forged())), 405, "invalid_request"),
        refused("delete_authorize", raw(a, "DELETE", "/authorize?client_id=app-jar&response_type=code", &[], ""), 405, "invalid_request"),
        refused("put_par", raw(a, "PUT", PAR, &[FORM], jar_form), 405, "invalid_request"),
    ]
}

/// A form of distinct three-letter names, `abc&` each, of `size` bytes.
fn many_names(size: usize) -> String {
    let mut out = String::with_capacity(size);
    let mut i = 0usize;
    while out.len() + 4 <= size {
        for d in [i / 676 % 26, i / 26 % 26, i % 26] {
            out.push(char::from(b'a' + d as u8));
        }
        out.push('&');
        i += 1;
    }
    out
}

/// Runs the table: each case over a fresh connection, then every re-parser on what was
/// forwarded. All disagreements are collected and reported together.
async fn run(cases: Vec<Case>, jargate: &Jargate, upstream: &RawUpstream) {
    let mut python = Reparser::python();
    let mut node = Reparser::node();
    let mut failures = Vec::new();
    for case in cases {
        let before = upstream.count();
        let resp = try_send_raw(jargate.proxy_addr(), &case.raw, CALL_TIMEOUT).await;
        match (&case.expect, resp) {
            (_, Err(e)) => failures.push(format!("{}: no response: {e}", case.name)),
            (Expect::Refused(status, error), Ok(resp)) => {
                let body: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
                let got = body["error"].as_str();
                if resp.status != *status || (error.is_some() && got != *error) {
                    failures.push(format!(
                        "{}: expected {status} {error:?}, got {} {}",
                        case.name,
                        resp.status,
                        resp.text()
                    ));
                }
                if upstream.count() != before {
                    failures.push(format!("{}: refused but forwarded", case.name));
                }
            }
            (
                Expect::Forwarded {
                    path,
                    params,
                    client,
                    absent,
                },
                Ok(resp),
            ) => {
                if resp.status != 200 || upstream.count() != before + 1 {
                    failures.push(format!(
                        "{}: expected forwarded, got {} {} ({} forwarded)",
                        case.name,
                        resp.status,
                        resp.text(),
                        upstream.count() - before
                    ));
                    continue;
                }
                let sent = upstream.nth(before);
                let head = String::from_utf8_lossy(&sent).to_ascii_lowercase();
                if !head.split(' ').nth(1).is_some_and(|t| t.starts_with('/')) {
                    failures.push(format!(
                        "{}: the upstream got a target not in origin form",
                        case.name
                    ));
                }
                for header in *absent {
                    if head.contains(&format!("\r\n{header}:")) {
                        failures.push(format!(
                            "{}: header {header} reached the upstream",
                            case.name
                        ));
                    }
                }
                let mut views: Vec<(String, View)> = models::all(&sent)
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v))
                    .collect();
                views.extend(python.views(&sent));
                views.extend(node.views(&sent));
                for (stack, view) in views {
                    if let Some(diff) = disagreement(&view, path, params, *client) {
                        failures.push(format!("{}: {stack} reads {diff}", case.name));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// How `view` differs from what jargate validated, if it does.
fn disagreement(
    view: &View,
    path: &str,
    params: &[(&str, String)],
    client: Option<&str>,
) -> Option<String> {
    if view.path != path {
        return Some(format!("path {:?} instead of {path:?}", view.path));
    }
    let fold = |n: &str| {
        if view.case_insensitive {
            n.to_ascii_lowercase()
        } else {
            n.to_owned()
        }
    };
    if view.partial {
        return partial_disagreement(view, params, client, fold);
    }
    let expected: BTreeMap<String, Vec<String>> = params
        .iter()
        .map(|(n, v)| (fold(n), vec![v.clone()]))
        .collect();
    if view.params != expected {
        return Some(format!(
            "parameters {:?} instead of {expected:?}",
            view.params
        ));
    }
    // A case-insensitive lookup of an interpreted name finds exactly jargate's value.
    for name in INTERPRETED {
        let mine = params.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
        if view.params.get(&fold(name)).and_then(|v| v.first()) != mine {
            return Some(format!("{name} differently"));
        }
    }
    if view.client.as_deref() != client {
        return Some(format!("client {:?} instead of {client:?}", view.client));
    }
    None
}

/// A stack that read noise (a JSON body through its form parser) agrees when whatever it
/// reads under an interpreted name, and the client it finds, are what jargate validated: it
/// may find nothing, never something else.
fn partial_disagreement(
    view: &View,
    params: &[(&str, String)],
    client: Option<&str>,
    fold: impl Fn(&str) -> String,
) -> Option<String> {
    for name in INTERPRETED {
        let mine = params.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
        if let Some(theirs) = view.params.get(&fold(name)).and_then(|v| v.first()) {
            if Some(theirs) != mine {
                return Some(format!("{name} differently"));
            }
        }
    }
    match &view.client {
        Some(theirs) if Some(theirs.as_str()) != client => {
            Some(format!("client {theirs:?} instead of {client:?}"))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stack_reads_what_jargate_validated_or_nothing_passthrough() {
    let upstream = RawUpstream::start().await;
    let jargate =
        Jargate::start(upstream.addr(), "[paths]\nupgrade = [\"/ws\"]\n", clients()).await;
    run(passthrough_cases(jargate.proxy_addr()), &jargate, &upstream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stack_reads_what_jargate_validated_or_nothing_legacy() {
    let upstream = RawUpstream::start().await;
    let mut registry = clients();
    for client in registry["clients"].as_array_mut().expect("clients") {
        client["upstream_client_secret"] = json!(SECRET);
    }
    let jargate =
        Jargate::start(upstream.addr(), "[upstream]\nmode = \"legacy\"\n", registry).await;
    let a = jargate.proxy_addr();
    let v = valid();
    let legacy_params = vec![
        ("grant_type", "client_credentials".into()),
        ("scope", "a b".into()),
        ("client_id", "app-1".into()),
        ("client_secret", SECRET.into()),
    ];
    let cases = vec![
        // 10. Raw pieces never survive a rewrite; the client's Authorization is dropped.
        refused("semicolon_next_to_the_injected_secret", form(a, TOKEN, &[], &format!("{}&scope=a;client_id=other", assertion_form(&v))), 400, "invalid_request"),
        Case {
            name: "own_authorization_removed_in_post_mode",
            raw: form(a, TOKEN, &[("Authorization", "Bearer own-token")], &format!("grant_type=client_credentials&scope=a%20b&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}", valid())),
            expect: Expect::Forwarded {
                path: TOKEN,
                params: legacy_params.clone(),
                client: Some("app-1"),
                absent: &["authorization"],
            },
        },
        Case {
            name: "rewritten_form_is_canonical",
            raw: form(a, TOKEN, &[], &format!("grant_type=client_credentials&scope=a+b&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={}", valid())),
            expect: Expect::Forwarded {
                path: TOKEN,
                params: legacy_params,
                client: Some("app-1"),
                absent: &["authorization"],
            },
        },
    ];
    run(cases, &jargate, &upstream).await;
}

/// A raw request and how jargate's old parser read it: name, bytes, path, parameters, client.
type OldReading = (
    &'static str,
    Vec<u8>,
    &'static str,
    Vec<(&'static str, String)>,
    Option<&'static str>,
);

/// The re-parsers and models can tell: fed directly the hostile requests that jargate used to
/// forward, each class is read differently from what jargate's own parser read by at least one
/// stack. (Without this, a table of refusals would pass with blind models too.)
#[test]
fn the_stacks_see_each_differential_of_the_issue() {
    let mut python = Reparser::python();
    let mut node = Reparser::node();
    let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let f = forged();
    let v = valid();
    let jar = app_jar_object();
    let body = assertion_form(&v);
    let p = |extra: Vec<(&'static str, String)>| {
        let mut all = token_params(&v);
        all.extend(extra);
        all
    };
    // (name, raw request as forwarded, jargate's old reading: path, parameters, client)
    let cases: Vec<OldReading> = vec![
        ("scheme_only_target", form(a, "foo:/oauth/token", &[], &body), "/", p(vec![]), Some("app-1")),
        ("dot_name", form(a, TOKEN, &[], &format!("{body}&client.assertion={f}")), TOKEN, p(vec![("client.assertion", f.clone())]), Some("app-1")),
        ("case_variant", form(a, TOKEN, &[], "grant_type=client_credentials&Client_Id=app-1"), TOKEN, vec![("grant_type", "client_credentials".into()), ("Client_Id", "app-1".into())], None),
        ("semicolon", form(a, TOKEN, &[], &format!("{body}&scope=a;client_id=app-post")), TOKEN, p(vec![("scope", "a;client_id=app-post".into())]), Some("app-1")),
        ("leading_bracket", form(a, TOKEN, &[], "grant_type=x&[client_id]=app-1"), TOKEN, vec![("grant_type", "x".into()), ("[client_id]", "app-1".into())], None),
        ("array_name", form(a, TOKEN, &[], "grant_type=x&client_id[]=app-1"), TOKEN, vec![("grant_type", "x".into()), ("client_id[]", "app-1".into())], None),
        ("basic_versus_client_id", form(a, TOKEN, &[("Authorization", &basic("app-1", "s"))], "grant_type=x&client_id=app-post"), TOKEN, vec![("grant_type", "x".into()), ("client_id", "app-post".into())], Some("app-post")),
        ("form_then_multipart", raw(a, "POST", TOKEN, &[FORM, ("Content-Type", "multipart/form-data; boundary=b")], "--b\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\napp-1\r\n--b--\r\n"), TOKEN, vec![], None),
        ("format_suffix", form(a, "/oauth/token.json", &[], &body), "/oauth/token.json", p(vec![]), Some("app-1")),
        ("rewrite_header", raw(a, "GET", "/userinfo", &[("X-Original-URL", "/oauth/token")], ""), "/userinfo", vec![], None),
        // Issue 22: the JSON members were read; a form parser for every body reads `f`.
        ("json_body_reads_as_a_form", raw(a, "POST", TOKEN, &[("Content-Type", "application/json")], &json_with_form_inside(&v, &f)), TOKEN, {
            let mut all = token_params(&v);
            all.push(("x", format!("&grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE_FORM}&client_assertion={f}&")));
            all
        }, Some("app-1")),
        // Issue 22: query and form were one set; a stack reading a POST's body only misses
        // the request object.
        ("post_authorize_with_query", form(a, &format!("/authorize?request={jar}"), &[], "client_id=app-jar&response_type=code&scope=openid"), "/authorize", vec![
            ("request", jar.clone()),
            ("client_id", "app-jar".into()),
            ("response_type", "code".into()),
            ("scope", "openid".into()),
        ], Some("app-jar")),
    ];
    for (name, raw_request, path, params, client) in cases {
        let mut views: Vec<(String, View)> = models::all(&raw_request)
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect();
        views.extend(python.views(&raw_request));
        views.extend(node.views(&raw_request));
        let seen: Vec<String> = views
            .iter()
            .filter(|(_, view)| disagreement(view, path, &params, client).is_some())
            .map(|(stack, _)| stack.clone())
            .collect();
        assert!(!seen.is_empty(), "{name}: no stack reads it differently");
    }
}

/// 8. Tunnels: a `101` is relayed only on `paths.upgrade`; elsewhere the answer never reaches
/// the client and the connection is closed, so no later request bypasses jargate.
#[tokio::test]
async fn switching_protocols_is_relayed_only_on_upgrade_paths() {
    let upstream = RawUpstream::start().await;
    let jargate =
        Jargate::start(upstream.addr(), "[paths]\nupgrade = [\"/ws\"]\n", clients()).await;
    let a = jargate.proxy_addr();
    let upgrade = [("Connection", "Upgrade"), ("Upgrade", "websocket")];
    let resp = send_raw(a, &raw(a, "GET", "/ws", &upgrade, "")).await;
    assert_eq!(resp.status, 101, "{resp:?}");

    // Outside paths.upgrade: the upstream's 101 is not relayed, and a request written after it
    // on the same connection never reaches the upstream unvalidated.
    let mut bytes = raw(
        a,
        "GET",
        "/chat",
        &[("Connection", "Upgrade"), ("Upgrade", "websocket")],
        "",
    );
    bytes.extend_from_slice(&form(a, TOKEN, &[], &assertion_form(&forged())));
    let before = upstream.count();
    let resp = try_send_raw(a, &bytes, CALL_TIMEOUT).await;
    if let Ok(resp) = &resp {
        assert_ne!(resp.status, 101, "a 101 outside paths.upgrade was relayed");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        upstream.count(),
        before + 1,
        "only the /chat request may reach the upstream"
    );
    assert!(
        !String::from_utf8_lossy(&upstream.nth(before)).contains("client_assertion"),
        "the forged assertion went through the tunnel"
    );
}
