//! The operator tools through the real binary (SPEC §2): `demo`, `keygen`, `sign`, `explain`
//! and `check`, their output and exit codes. `explain` is checked on one token per rule it must
//! name, and its first ✗ line must always be the rule of its verdict (which comes from the
//! proxy's own rule functions).

use crate::common::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jargate::jose::sign::SigningKey;
use jargate::keys::{Alg, PublicKey};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn keygen(dir: &Path, alg: &str) -> Ran {
    run_jargate(&[
        "keygen",
        "--alg",
        alg,
        "--out",
        dir.to_str().expect("utf-8 path"),
    ])
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks that a key directory holds one consistent key pair for `alg`.
fn assert_key_dir(dir: &Path, alg: Alg) -> PublicKey {
    let signing = SigningKey::from_pkcs8_pem(&read(&dir.join("private.pem")), alg)
        .expect("ring loads private.pem");
    let public = PublicKey::from_pem(&read(&dir.join("public.pem"))).expect("public.pem loads");
    assert_eq!(
        &public,
        signing.public_key(),
        "public.pem is the private key's"
    );
    let jwk: Value = serde_json::from_str(&read(&dir.join("public.jwk.json"))).expect("jwk json");
    assert_eq!(PublicKey::from_jwk(&jwk).expect("jwk loads"), public);
    assert_eq!(
        jwk["kid"],
        public.thumbprint(),
        "default kid is the RFC 7638 thumbprint"
    );
    assert_eq!(jwk["alg"], alg.name());
    assert_eq!(jwk["use"], "sig");
    assert!(
        jwk.get("d").is_none(),
        "no private member in the public JWK"
    );
    let jwks: Value = serde_json::from_str(&read(&dir.join("jwks.json"))).expect("jwks json");
    assert_eq!(jwks["keys"], json!([jwk]));
    // A signature made with the private key verifies with the written public key.
    let token = signing.sign(&json!({}), &json!({"x": 1})).expect("sign");
    let (input, sig) = token.rsplit_once('.').expect("three parts");
    assert!(public.verify(alg, input.as_bytes(), &B64.decode(sig).expect("b64")));
    public
}

#[test]
fn demo_walks_every_verdict() {
    let out = run_jargate(&["demo"]);
    let stdout = out.stdout;
    assert_eq!(out.code, 0, "{stdout}\n{}", out.stderr);
    for row in [
        "token request",
        "POST /oauth/token (client_assertion kept)",
        "same assertion replayed",
        "expired assertion",
        "assertion, unregistered key",
        "JAR /authorize",
        "invalid_request_object",
        "PAR push (legacy)",
        "201",
        "GET /authorize?client_id=demo-app&",
        "invalid_request_uri",
        "client_secret instead of the assertion",
        "jti already used",
        "10 of 10 verdicts as expected",
    ] {
        assert!(stdout.contains(row), "demo output lacks {row:?}:\n{stdout}");
    }
    let refused = stdout.lines().filter(|l| l.contains(" refused ")).count();
    let forwarded = stdout.lines().filter(|l| l.contains(" forwarded ")).count();
    assert_eq!((refused, forwarded), (5, 4), "{stdout}");
    assert!(!stdout.contains('\x1b'), "no colours when not a terminal");
}

#[test]
fn keygen_writes_loadable_ec_and_ed25519_keys_and_never_overwrites() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, alg) in [
        ("es256", Alg::ES256),
        ("ed", Alg::EdDSA),
        ("es384", Alg::ES384),
    ] {
        let dir = tmp.path().join(name);
        let out = keygen(&dir, alg.name());
        assert_eq!(out.code, 0, "{}", out.stderr);
        let key = assert_key_dir(&dir, alg);
        assert!(out.stdout.contains(key.thumbprint()));
    }
    // Refuses to overwrite, names the file, leaves the key alone.
    let dir = tmp.path().join("es256");
    let before = read(&dir.join("private.pem"));
    let out = keygen(&dir, "ES256");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("private.pem"), "{}", out.stderr);
    assert!(out.stderr.contains("already exists"));
    assert_eq!(read(&dir.join("private.pem")), before);
    // One existing file is enough to refuse (the others are not written either).
    let partial = tmp.path().join("partial");
    std::fs::create_dir_all(&partial).expect("mkdir");
    std::fs::write(partial.join("jwks.json"), "{}").expect("write");
    let out = keygen(&partial, "EdDSA");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("jwks.json"));
    assert!(!partial.join("private.pem").exists());
    // An explicit kid; --bits is for RSA only; none and HS256 are not algorithms.
    let dir = tmp.path().join("kid");
    let out = run_jargate(&[
        "keygen",
        "--alg",
        "EdDSA",
        "--kid",
        "k-1",
        "--out",
        dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.code, 0);
    let jwk: Value = serde_json::from_str(&read(&dir.join("public.jwk.json"))).expect("json");
    assert_eq!(jwk["kid"], "k-1");
    assert_eq!(
        run_jargate(&["keygen", "--alg", "ES256", "--bits", "2048"]).code,
        2
    );
    assert_eq!(run_jargate(&["keygen", "--alg", "HS256"]).code, 2);
    assert_eq!(run_jargate(&["keygen", "--alg", "none"]).code, 2);
}

#[test]
fn keygen_rsa_keys_are_generated_then_accepted_by_ring() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("rsa");
    let out = keygen(&dir, "RS256");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let key = assert_key_dir(&dir, Alg::RS256);
    assert_eq!(key.rsa_bits(), 2048);
    // The same key serves PS256 too.
    SigningKey::from_pkcs8_pem(&read(&dir.join("private.pem")), Alg::PS256).expect("PS256");
    assert_eq!(
        run_jargate(&["keygen", "--alg", "RS256", "--bits", "1024"]).code,
        2
    );
}

/// A configuration with client `app-1`: an ES256 key for assertions and an EdDSA key for
/// request objects, both made by `jargate keygen`.
struct Fixture {
    dir: tempfile::TempDir,
    auth: SigningKey,
    jar: SigningKey,
}

impl Fixture {
    fn new() -> Fixture {
        Self::with_clients(|_| {})
    }

    fn with_clients(edit: impl FnOnce(&mut Value)) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, alg) in [("auth", "ES256"), ("jar", "EdDSA")] {
            let out = keygen(&dir.path().join(name), alg);
            assert_eq!(out.code, 0, "{}", out.stderr);
        }
        let mut clients = json!({"clients": [{
            "client_id": "app-1",
            "name": "Example",
            "token_endpoint_auth_method": "private_key_jwt",
            "signed_request_object": {"required": true, "credentials": [
                {"name": "jar-key", "credential_type": "public_key", "pem_file": "jar/public.pem", "alg": "EdDSA"}]},
            "client_authentication_methods": {"private_key_jwt": {"credentials": [
                {"name": "auth-key", "credential_type": "public_key", "pem_file": "auth/public.pem", "alg": "ES256"}]}}
        }]});
        edit(&mut clients);
        std::fs::write(dir.path().join("clients.json"), clients.to_string()).expect("clients");
        std::fs::write(
            dir.path().join("jargate.toml"),
            format!(
                "[listen]\nproxy = \"127.0.0.1:0\"\nadmin = \"\"\n[upstream]\nurl = \"http://127.0.0.1:9\"\n\
                 [issuer]\nidentifier = \"{ISSUER}\"\n[clients]\nfile = \"clients.json\"\n"
            ),
        )
        .expect("config");
        let load = |name: &str, alg| {
            SigningKey::from_pkcs8_pem(&read(&dir.path().join(name).join("private.pem")), alg)
                .expect("key")
        };
        Fixture {
            auth: load("auth", Alg::ES256),
            jar: load("jar", Alg::EdDSA),
            dir,
        }
    }

    fn config(&self) -> String {
        self.dir.path().join("jargate.toml").display().to_string()
    }

    fn key_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name).join("private.pem")
    }

    fn explain(&self, kind: &str, token: &str) -> Ran {
        run_jargate(&["explain", "--config", &self.config(), "--as", kind, token])
    }
}

fn assertion_claims() -> Value {
    let now = now();
    json!({"iss": "app-1", "sub": "app-1", "aud": ISSUER, "jti": format!("jti-{now}"),
           "iat": now, "exp": now + 60})
}

/// Asserts `explain` refuses with `rule`, as its first ✗ line and in its verdict.
fn assert_refused(out: &Ran, rule: &str) -> String {
    let stdout = &out.stdout;
    assert_eq!(
        out.code, 1,
        "expected exit 1 for {rule}:\n{stdout}{}",
        out.stderr
    );
    let first = stdout
        .lines()
        .find(|l| l.contains('✗'))
        .unwrap_or_else(|| panic!("no ✗ line for {rule}:\n{stdout}"));
    assert!(
        first.ends_with(&format!("[{rule}]")),
        "first ✗ line is not {rule}: {first}\n{stdout}"
    );
    let verdict = stdout
        .lines()
        .find(|l| l.starts_with("verdict:"))
        .unwrap_or_else(|| panic!("no verdict:\n{stdout}"));
    assert!(verdict.contains(&format!("(rule: {rule})")), "{verdict}");
    stdout.clone()
}

/// Signs arbitrary header and payload bytes (duplicate members included) with `key`.
fn sign_raw(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = key.sign_bytes(input.as_bytes()).expect("sign");
    format!("{input}.{}", B64.encode(sig))
}

#[test]
fn sign_output_verifies_through_explain() {
    let f = Fixture::new();
    let auth_key = f.key_path("auth");
    let out = run_jargate(&[
        "sign",
        "assertion",
        "--key",
        auth_key.to_str().expect("utf-8"),
        "--alg",
        "ES256",
        "--client-id",
        "app-1",
        "--aud",
        ISSUER,
        "--ttl",
        "120",
        "--kid",
        f.auth.public_key().thumbprint(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let token = out.stdout.trim().to_string();
    assert_eq!(token.split('.').count(), 3);
    // Kind and client guessed from the claims.
    let explained = run_jargate(&["explain", "--config", &f.config(), &token]);
    let stdout = explained.stdout;
    assert_eq!(explained.code, 0, "{stdout}");
    assert!(stdout.contains("verdict: VALID"), "{stdout}");
    assert!(stdout.contains("client assertion (guessed"), "{stdout}");
    assert!(
        stdout.contains("verifies with credential \"auth-key\""),
        "{stdout}"
    );
    assert!(stdout.contains("not checked offline"), "{stdout}");
    assert!(!stdout.contains('✗'), "{stdout}");

    let jar_key = f.key_path("jar");
    let out = run_jargate(&[
        "sign",
        "request",
        "--key",
        jar_key.to_str().expect("utf-8"),
        "--alg",
        "EdDSA",
        "--client-id",
        "app-1",
        "--aud",
        ISSUER,
        "--param",
        "response_type=code",
        "--param",
        "redirect_uri=https://app.example/cb",
        "--param",
        "scope=openid",
        "--claim",
        "max_age=300",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let token = out.stdout.trim().to_string();
    // From standard input, kind guessed from response_type.
    let mut child = jargate_command()
        .args(["explain", "--config", &f.config(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{token}").expect("write token");
    }
    let explained = Ran::from(child.wait_with_output().expect("explain"));
    let stdout = explained.stdout;
    assert_eq!(explained.code, 0, "{stdout}");
    assert!(stdout.contains("request object (guessed"), "{stdout}");
    assert!(
        stdout.contains("\"max_age\": 300"),
        "--claim values parse as JSON: {stdout}"
    );
    assert!(
        stdout.contains("\"typ\": \"oauth-authz-req+jwt\""),
        "{stdout}"
    );

    // A key that does not fit the algorithm.
    let out = run_jargate(&[
        "sign",
        "assertion",
        "--key",
        jar_key.to_str().expect("utf-8"),
        "--alg",
        "ES256",
        "--client-id",
        "app-1",
        "--aud",
        ISSUER,
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("private.pem"), "{}", out.stderr);
}

#[test]
fn explain_names_the_rule_of_each_bad_token() {
    let f = Fixture::new();
    let now = now();
    let es = |claims: Value| f.auth.sign(&json!({}), &claims).expect("sign");
    let with = |changes: Value| {
        let mut claims = assertion_claims();
        for (k, v) in changes.as_object().expect("object") {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };

    let out = f.explain(
        "assertion",
        &es(with(json!({"iat": now - 400, "exp": now - 100}))),
    );
    let stdout = assert_refused(&out, "expired");
    assert!(stdout.contains("401 invalid_client"), "{stdout}");
    assert!(stdout.contains("must be after now − skew"), "{stdout}");

    let out = f.explain("assertion", &es(with(json!({"aud": "https://evil/"}))));
    let stdout = assert_refused(&out, "aud_mismatch");
    assert!(
        stdout.contains("aud must be \"https://login.example.com/\"")
            && stdout.contains("got \"https://evil/\""),
        "{stdout}"
    );

    let none = format!(
        "{}.{}.c2ln",
        B64.encode(r#"{"alg":"none"}"#),
        B64.encode(assertion_claims().to_string())
    );
    let stdout = assert_refused(&f.explain("assertion", &none), "alg_not_allowed");
    assert!(stdout.contains("\"none\" is never accepted"), "{stdout}");

    let token = es(assertion_claims());
    let (head, _) = token.split_once('.').expect("parts");
    let sig = token.rsplit('.').next().expect("sig");
    let forged = format!(
        "{head}.{}.{sig}",
        B64.encode(with(json!({"sub": "app-1", "jti": "other"})).to_string())
    );
    let stdout = assert_refused(&f.explain("assertion", &forged), "bad_signature");
    assert!(
        stdout.contains("does not verify with \"auth-key\""),
        "{stdout}"
    );

    // The request-object key never verifies an assertion.
    let cross = f.jar.sign(&json!({}), &assertion_claims()).expect("sign");
    let stdout = assert_refused(&f.explain("assertion", &cross), "alg_not_allowed");
    assert!(
        stdout.contains("a credential for request objects"),
        "{stdout}"
    );

    let crit = f
        .auth
        .sign(&json!({"crit": ["exp"]}), &assertion_claims())
        .expect("sign");
    assert_refused(&f.explain("assertion", &crit), "crit");

    let claims = assertion_claims();
    let dup = format!(
        r#"{{"iss":"app-1","sub":"app-1","sub":"app-2","aud":"{ISSUER}","jti":"d","exp":{}}}"#,
        claims["exp"]
    );
    let dup = sign_raw(&f.auth, r#"{"alg":"ES256"}"#, &dup);
    let out = run_jargate(&[
        "explain",
        "--config",
        &f.config(),
        "--as",
        "assertion",
        "--client",
        "app-1",
        &dup,
    ]);
    let stdout = assert_refused(&out, "duplicate_member");
    assert!(stdout.contains("\"sub\" appears twice"), "{stdout}");

    let big = es(with(json!({"padding": "x".repeat(3000)})));
    let stdout = assert_refused(&f.explain("assertion", &big), "too_large");
    assert!(stdout.contains("limits.max_assertion_bytes"), "{stdout}");

    let typed = f
        .auth
        .sign(&json!({"typ": "oauth-authz-req+jwt"}), &assertion_claims())
        .expect("sign");
    let stdout = assert_refused(&f.explain("assertion", &typed), "typ_not_allowed");
    assert!(stdout.contains("types never cross"), "{stdout}");

    let stdout = assert_refused(
        &f.explain("assertion", &es(with(json!({"jti": null})))),
        "missing_claim",
    );
    assert!(stdout.contains("jti is required"), "{stdout}");

    let kid = f
        .auth
        .sign(&json!({"kid": "nope"}), &assertion_claims())
        .expect("sign");
    let stdout = assert_refused(&f.explain("assertion", &kid), "unknown_kid");
    assert!(
        stdout.contains(f.auth.public_key().thumbprint()),
        "lists the current kids: {stdout}"
    );

    let jwe = "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn";
    assert_refused(
        &run_jargate(&[
            "explain",
            "--config",
            &f.config(),
            "--as",
            "assertion",
            "--client",
            "app-1",
            jwe,
        ]),
        "encrypted",
    );

    assert_refused(
        &f.explain(
            "assertion",
            &es(with(json!({"sub": "app-2", "iss": "app-2"}))),
        ),
        "unknown_client",
    );
    let out = run_jargate(&[
        "explain",
        "--config",
        &f.config(),
        "--client",
        "app-1",
        "--as",
        "assertion",
        &es(with(json!({"sub": "app-2"}))),
    ]);
    assert_refused(&out, "iss_sub_differ");
    assert_refused(
        &f.explain("assertion", &es(with(json!({"exp": now + 3600})))),
        "lifetime_too_long",
    );
    assert_refused(
        &f.explain(
            "assertion",
            &es(with(json!({"exp": format!("{}", now + 60)}))),
        ),
        "time_not_number",
    );
}

#[test]
fn explain_request_object_rules() {
    let f = Fixture::new();
    let now = now();
    let object = |extra: Value, typ: &str| {
        let mut claims = json!({"iss": "app-1", "client_id": "app-1", "aud": [ISSUER, "https://other/"],
                                "response_type": "code", "iat": now, "exp": now + 300});
        for (k, v) in extra.as_object().expect("object") {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        f.jar.sign(&json!({"typ": typ}), &claims).expect("sign")
    };
    let ok = f.explain("request", &object(json!({}), "oauth-authz-req+jwt"));
    assert_eq!(ok.code, 0, "{}", ok.stdout);

    let stdout = assert_refused(
        &f.explain("request", &object(json!({"response_type": null}), "JWT")),
        "missing_claim",
    );
    assert!(stdout.contains("400 invalid_request_object"), "{stdout}");
    assert_refused(
        &f.explain("request", &object(json!({"sub": "app-1"}), "JWT")),
        "sub_is_client",
    );
    assert_refused(
        &f.explain(
            "request",
            &object(json!({"request_uri": "https://x/"}), "JWT"),
        ),
        "forbidden_claim",
    );
    assert_refused(
        &f.explain("request", &object(json!({}), "client-authentication+jwt")),
        "typ_not_allowed",
    );
    assert_refused(
        &f.explain("request", &object(json!({"iat": now + 120}), "JWT")),
        "iat_in_future",
    );
    // The assertion key never verifies a request object.
    let crossed = f
        .auth
        .sign(
            &json!({}),
            &json!({"client_id": "app-1", "aud": ISSUER, "response_type": "code", "exp": now + 60}),
        )
        .expect("sign");
    let stdout = assert_refused(&f.explain("request", &crossed), "alg_not_allowed");
    assert!(
        stdout.contains("a credential for client assertions"),
        "{stdout}"
    );
}

#[test]
fn explain_usage_errors_exit_2() {
    let f = Fixture::new();
    let missing = f.dir.path().join("missing.toml");
    let out = run_jargate(&[
        "explain",
        "--config",
        missing.to_str().expect("utf-8"),
        "a.b.c",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("missing.toml"));
    let out = run_jargate(&[
        "explain",
        "--config",
        &f.config(),
        "--as",
        "nonsense",
        "a.b.c",
    ]);
    assert_eq!(out.code, 2);
    let out = run_jargate(&["explain", "--config", &f.config(), "   "]);
    assert_eq!(out.code, 2);
}

#[test]
fn check_summarises_a_good_registry_and_warns() {
    let soon = now() + 5 * 86_400;
    let soon = time::OffsetDateTime::from_unix_timestamp(soon)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let f = Fixture::with_clients(|c| {
        let creds =
            &mut c["clients"][0]["client_authentication_methods"]["private_key_jwt"]["credentials"];
        creds[0]["expires_at"] = json!(soon);
        // The request-object key registered for assertions too.
        creds.as_array_mut().expect("array").push(
            json!({"name": "shared", "credential_type": "public_key", "pem_file": "jar/public.pem", "alg": "EdDSA"}),
        );
        creds
            .as_array_mut()
            .expect("array")
            .push(json!({"credential_type": "jwks_uri", "uri": "https://app.example/jwks.json"}));
    });
    let out = run_jargate(&["check", "--config", &f.config()]);
    let stdout = out.stdout;
    assert_eq!(out.code, 0, "{stdout}{}", out.stderr);
    for expected in [
        "client app-1 (Example)",
        "auth-key",
        f.auth.public_key().thumbprint(),
        "ES256",
        "jar-key",
        "jwks_uri https://app.example/jwks.json",
        "registered for both request objects and client assertions",
        "expires at",
        "(1 client, 2 warnings)",
    ] {
        assert!(
            stdout.contains(expected),
            "check output lacks {expected:?}:\n{stdout}"
        );
    }
}

#[test]
fn check_refuses_a_broken_registry_with_the_precise_error() {
    let f = Fixture::with_clients(|c| {
        c["clients"][0]["client_authentication_methods"]["private_key_jwt"]["credentials"][0]
            ["alg"] = json!("RS256");
    });
    let out = run_jargate(&["check", "--config", &f.config()]);
    let stderr = out.stderr;
    assert_eq!(out.code, 1, "{}{stderr}", out.stdout);
    assert!(stderr.contains("clients.json"), "{stderr}");
    assert!(stderr.contains("client \"app-1\""), "{stderr}");
    assert!(
        stderr.contains(
            "client_authentication_methods.private_key_jwt.credentials[0].alg: RS256 does not fit"
        ),
        "{stderr}"
    );
    let f = Fixture::with_clients(|c| {
        c["clients"][0]["signed_request_object"]["credentials"][0]["pem_file"] =
            json!("nowhere.pem")
    });
    let out = run_jargate(&["check", "--config", &f.config()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("nowhere.pem"), "{}", out.stderr);
}

#[test]
fn the_example_configurations_pass_check() {
    let root = env!("CARGO_MANIFEST_DIR");
    let plain = run_jargate(&["check", "--config", &format!("{root}/config/jargate.toml")]);
    assert_eq!(plain.code, 0, "{}", plain.stdout);
    // The legacy example takes the upstream secret from the environment, and says so without it.
    let legacy_config = format!("{root}/config/legacy/jargate.toml");
    let legacy = Ran::from(
        jargate_command()
            .args(["check", "--config", &legacy_config])
            .env("APP1_UPSTREAM_SECRET", "s3cret")
            .output()
            .expect("run jargate"),
    );
    assert_eq!(legacy.code, 0, "{}", legacy.stderr);
    assert!(
        !legacy.stdout.contains("s3cret"),
        "check printed the secret"
    );
    let missing = Ran::from(
        jargate_command()
            .args(["check", "--config", &legacy_config])
            .env_remove("APP1_UPSTREAM_SECRET")
            .output()
            .expect("run jargate"),
    );
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("APP1_UPSTREAM_SECRET"));
}
