//! The request-target and path normaliser: classification of any path never panics, and a
//! path that classifies as intercepted is already in its normal form (anything else that
//! normalises to an intercepted path is ambiguous, never passthrough).
#![no_main]

use jargate::config::settings::Paths;
use jargate::request::path::normalize;
use jargate::request::{Route, Routes};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let paths = Paths::default();
        Routes::new(paths.intercepted(), &paths.upgrade).expect("default paths")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let route = routes().classify(raw);
    let normal = normalize(raw);
    if matches!(routes().classify(&normal), Route::Intercept(_)) {
        // Its normal form is intercepted: the raw path must be caught, never passed through.
        assert_ne!(route, Route::Passthrough, "{raw:?} slips past as passthrough");
    }
    if let Ok(uri) = raw.parse::<http::Uri>() {
        let _ = routes().classify(uri.path());
    }
});
