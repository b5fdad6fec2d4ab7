//! The compact JWS parser: shape, base64url, header checks, claims. No key is involved (a
//! signature is never checked here), so every input reaches the parser.
#![no_main]

use jargate::jose::{peek_claim, Jws, ShapeLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let limits = ShapeLimits {
        max_bytes: 16384,
        max_alg_chars: 16,
    };
    if let Ok(jws) = Jws::parse(token, limits) {
        let _ = jws.typ();
        let _ = jws.claims();
        assert!(jws.signing_input.len() < token.len(), "signing input is a prefix");
    }
    let _ = peek_claim(token, "iss");
});
