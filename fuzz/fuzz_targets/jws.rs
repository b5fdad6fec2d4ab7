//! The compact JWS parser: shape, base64url, header checks, claims. No key is involved (a
//! signature is never checked here), so every input reaches the parser.
#![no_main]

use jargate::jose::Jws;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let jws = Jws::read(token);
    let _ = jws.size(16384);
    let _ = jws.alg(16);
    let _ = jws.crit();
    let _ = jws.typ();
    if jws.claims().is_ok() {
        assert!(jws.signing_input().len() < token.len(), "signing input is a prefix");
    }
    let _ = jws.unverified("iss");
});
