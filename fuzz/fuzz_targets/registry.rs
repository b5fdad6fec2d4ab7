//! The `clients.json` loader on arbitrary JSON: an error or a registry, never a panic. Key
//! files named by the input resolve under a directory that does not exist.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = jargate::config::registry::Registry::from_json(doc, Path::new("/nonexistent"));
    }
});
