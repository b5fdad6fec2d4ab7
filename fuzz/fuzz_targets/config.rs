//! The `jargate.toml` loader on arbitrary text: an error or settings, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jargate::config::parse_settings(text);
    }
});
