//! Every step of SPEC §11 refused on its own, and the accepted variants of the OIDF
//! `dpop-negative-tests` list (header name case is the proxy's; here: `htu` host case, default
//! port, query in `htu`, extra claims).

use super::*;
use crate::config::dpop::NonceKey;
use crate::jose::sign::SigningKey;
use crate::rules::testing::{policies_settings, signer, NOW};
use serde_json::{json, Value};

const HTU: &str = "https://login.example.com/oauth/token";
const TOKEN: Target = Target {
    method: "POST",
    path: "/oauth/token",
};

fn policy(extra: &str) -> DpopPolicy {
    DpopPolicy::new(&policies_settings(extra)).expect("dpop policy")
}

fn header(key: &SigningKey) -> Value {
    json!({"typ": "dpop+jwt", "jwk": key.public_key().to_jwk()})
}

fn claims() -> Value {
    json!({"jti": "p-1", "htm": "POST", "htu": HTU, "iat": NOW})
}

fn proof(key: &SigningKey, header: Value, claims: Value) -> String {
    key.sign(&header, &claims).expect("sign")
}

fn patched(base: Value, patch: Value) -> Value {
    let mut out = base;
    for (k, v) in patch.as_object().expect("object") {
        match v {
            Value::Null => {
                out.as_object_mut().expect("object").remove(k);
            }
            v => out[k] = v.clone(),
        }
    }
    out
}

fn verdict(token: &str, policy: &DpopPolicy) -> Result<ValidProof, Rejection> {
    check(&DpopProof::read(token), policy, TOKEN, NOW)
}

fn fault(token: &str) -> Rejection {
    verdict(token, &policy("")).expect_err("refused")
}

#[test]
fn a_valid_proof_yields_its_thumbprint_jti_and_iat() {
    for (name, alg) in [
        ("ec-a", Alg::ES256),
        ("ed-a", Alg::EdDSA),
        ("rsa-a", Alg::PS256),
    ] {
        let key = signer(name, alg);
        let valid = verdict(&proof(&key, header(&key), claims()), &policy("")).expect(name);
        assert_eq!(valid.thumbprint, key.public_key().thumbprint(), "{name}");
        assert_eq!((valid.jti.as_str(), valid.iat), ("p-1", NOW));
    }
}

#[test]
fn accepted_variants_of_the_negative_test_list() {
    let key = signer("ec-a", Alg::ES256);
    for (htu, extra) in [
        ("HTTPS://Login.Example.COM/oauth/token", json!({})),
        ("https://login.example.com:443/oauth/token", json!({})),
        ("https://login.example.com/oauth/token?q=1#f", json!({})),
        (
            HTU,
            json!({"extra": "claim", "nonce": "from-another-server", "ath": "x"}),
        ),
    ] {
        let c = patched(patched(claims(), json!({ "htu": htu })), extra);
        let h = patched(header(&key), json!({"typ": "DPoP+JWT", "kid": "any"}));
        assert!(verdict(&proof(&key, h, c), &policy("")).is_ok(), "{htu}");
    }
}

#[test]
fn each_header_step_is_refused_with_its_own_rule() {
    let key = signer("ec-a", Alg::ES256);
    let mut private = key.public_key().to_jwk();
    private["d"] = json!("AAAA");
    let cases = [
        (json!({"typ": "JWT"}), "dpop_typ"),
        (json!({"typ": null}), "dpop_typ"),
        (json!({"alg": "ES384"}), "dpop_alg_not_allowed"),
        (json!({"alg": "HS256"}), "dpop_alg_not_allowed"),
        (json!({"alg": "none"}), "dpop_alg_not_allowed"),
        (json!({"crit": ["exp"]}), "dpop_crit"),
        (json!({"jwk": null}), "dpop_jwk"),
        (json!({"jwk": private}), "dpop_jwk_private"),
        (
            json!({"jwk": signer("ed-a", Alg::EdDSA).public_key().to_jwk()}),
            "dpop_jwk_alg_mismatch",
        ),
        (
            json!({"jwk": signer("ec-b", Alg::ES256).public_key().to_jwk()}),
            "dpop_bad_signature",
        ),
    ];
    for (patch, rule) in cases {
        let token = proof(&key, patched(header(&key), patch.clone()), claims());
        assert_eq!(fault(&token).rule(), rule, "{patch}");
        assert_eq!(fault(&token).error(), "invalid_dpop_proof");
    }
}

#[test]
fn shape_size_and_an_rsa_key_below_2048_bits_are_refused() {
    assert_eq!(fault("a.b").rule(), "dpop_malformed");
    assert_eq!(fault("").rule(), "dpop_malformed");
    let key = signer("ec-a", Alg::ES256);
    let big = patched(claims(), json!({"pad": "x".repeat(5000)}));
    assert_eq!(
        fault(&proof(&key, header(&key), big)).rule(),
        "dpop_malformed"
    );
    // ring signs with no key that small: the key is refused before any signature check.
    let rsa = signer("rsa-a", Alg::PS256);
    let small = small_rsa_jwk();
    let token = proof(
        &rsa,
        patched(header(&rsa), json!({ "jwk": small })),
        claims(),
    );
    assert_eq!(
        fault(&token),
        Rejection::Dpop(DpopFault::JwkTooSmall { bits: 1024 })
    );
}

#[test]
fn each_claim_step_is_refused_with_its_own_rule() {
    let key = signer("ec-a", Alg::ES256);
    let skew = 10;
    let cases = [
        (json!({"jti": null}), "dpop_missing_claim"),
        (json!({"htm": null}), "dpop_missing_claim"),
        (json!({"htu": null}), "dpop_missing_claim"),
        (json!({"iat": null}), "dpop_missing_claim"),
        (json!({"iat": "1800000000"}), "dpop_missing_claim"),
        (json!({"jti": "j".repeat(65)}), "dpop_claim_too_long"),
        (json!({"htm": "GET"}), "dpop_htm"),
        (json!({"htm": "post"}), "dpop_htm"),
        (
            json!({"htu": "https://login.example.com/oauth/par"}),
            "dpop_htu",
        ),
        (
            json!({"htu": "https://evil.example/oauth/token"}),
            "dpop_htu",
        ),
        (json!({"iat": NOW - 60 - skew - 1}), "dpop_iat_too_old"),
        (json!({"iat": NOW + skew + 1}), "dpop_iat_in_future"),
    ];
    for (patch, rule) in cases {
        let token = proof(&key, header(&key), patched(claims(), patch.clone()));
        assert_eq!(fault(&token).rule(), rule, "{patch}");
    }
    for iat in [NOW - 60 - skew, NOW + skew] {
        let token = proof(&key, header(&key), patched(claims(), json!({ "iat": iat })));
        assert!(verdict(&token, &policy("")).is_ok(), "iat {iat}");
    }
}

#[test]
fn htu_base_replaces_the_issuer_origin() {
    let key = signer("ec-a", Alg::ES256);
    let p = policy("[dpop]\nhtu_base = \"https://public.example:8443\"\n");
    let at = |htu: &str| proof(&key, header(&key), patched(claims(), json!({ "htu": htu })));
    assert!(verdict(&at("https://public.example:8443/oauth/token"), &p).is_ok());
    assert_eq!(verdict(&at(HTU), &p).unwrap_err().rule(), "dpop_htu");
}

#[test]
fn jargate_nonces_are_required_and_checked() {
    let key = signer("ec-a", Alg::ES256);
    let mut p = policy("[dpop]\nnonce = \"jargate\"\n");
    p.nonce_key = Some(NonceKey(vec![7; 32]));
    let without = proof(&key, header(&key), claims());
    assert_eq!(verdict(&without, &p).unwrap_err(), Rejection::UseDpopNonce);
    let stale = nonce::issue(&p, NOW - 2 * nonce::STEP_SECS).unwrap();
    let old = proof(
        &key,
        header(&key),
        patched(claims(), json!({ "nonce": stale })),
    );
    assert_eq!(verdict(&old, &p).unwrap_err(), Rejection::UseDpopNonce);
    let fresh = nonce::issue(&p, NOW).unwrap();
    let with = proof(
        &key,
        header(&key),
        patched(claims(), json!({ "nonce": fresh })),
    );
    assert!(verdict(&with, &p).is_ok());
    // The nonce step comes after the proof's own checks.
    let bad = proof(&key, header(&key), patched(claims(), json!({"htm": "GET"})));
    assert_eq!(verdict(&bad, &p).unwrap_err().rule(), "dpop_htm");
}

#[test]
fn run_reports_every_failure_the_proof_lets_it_see() {
    let key = signer("ec-a", Alg::ES256);
    let token = proof(
        &key,
        patched(header(&key), json!({"typ": "JWT"})),
        patched(claims(), json!({"htm": "GET", "iat": NOW - 3600})),
    );
    let mut failed = Vec::new();
    let valid = run(
        &DpopProof::read(&token),
        &policy(""),
        TOKEN,
        NOW,
        &mut |s, r| {
            if r.is_err() {
                failed.push(s);
            }
            ControlFlow::Continue(())
        },
    );
    assert_eq!(valid, None);
    assert_eq!(failed, [Step::Typ, Step::Htm, Step::Iat]);
}

#[test]
fn the_replay_record_outlives_the_acceptance_window() {
    let p = policy("");
    // Accepted until iat + 60 + 10; remembered until iat + 60 + 20.
    assert_eq!(p.replay_ttl_secs(NOW, NOW), 80);
    assert_eq!(p.replay_ttl_secs(NOW - 70, NOW), 10);
    assert_eq!(p.replay_ttl_secs(NOW + 10, NOW), 90);
    assert_eq!(p.replay_ttl_secs(NOW - 1000, NOW), 1);
}

#[test]
fn configuration_mistakes_are_errors() {
    for (extra, says) in [
        ("[dpop]\nalgs = [\"HS256\"]\n", "dpop.algs"),
        ("[dpop]\nalgs = []\n", "dpop.algs"),
        ("[dpop]\nhtu_base = \"ftp://x\"\n", "dpop.htu_base"),
        ("[dpop]\nproof_max_age_secs = 0\n", "proof_max_age_secs"),
        (
            "[dpop]\nnonce = \"jargate\"\nnonce_key = \"short\"\n",
            "nonce_key",
        ),
        (
            "[dpop]\nnonce_key = \"0123456789abcdef0123456789abcdef\"\n",
            "nonce_key",
        ),
    ] {
        let e = DpopPolicy::new(&policies_settings(extra)).unwrap_err();
        assert!(e.contains(says), "{extra}: {e}");
        assert!(
            !e.contains("0123456789abcdef"),
            "the key never appears: {e}"
        );
    }
    let unknown = crate::config::parse_settings(
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n[clients]\nfile = \"c.json\"\n[dpop]\nnonces = \"jargate\"\n",
    );
    assert!(unknown.is_err());
}

/// A public RSA JWK of 1024 bits.
fn small_rsa_jwk() -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    json!({"kty": "RSA", "n": b64.encode([0xffu8; 128]), "e": "AQAB"})
}
