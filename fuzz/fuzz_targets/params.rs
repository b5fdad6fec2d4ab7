//! Query, form and JSON parameter parsers. Beyond "no panic": every parameter's raw byte range,
//! parsed alone, gives back the same name and value (forwarded requests keep those bytes).
#![no_main]

use jargate::request::params::{Origin, Params};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for origin in [Origin::Query, Origin::Form] {
        let mut params = Params::default();
        if params.add_form(data, origin).is_ok() {
            for p in params.iter() {
                let raw = data.get(p.raw.clone()).expect("raw range inside the input");
                let mut alone = Params::default();
                alone.add_form(raw, origin).expect("a kept parameter parses alone");
                let again = alone.iter().next().expect("one parameter");
                assert_eq!((&again.name, &again.value), (&p.name, &p.value));
            }
        }
    }
    let _ = Params::default().add_json(data);
    // Query and form together are one set, as on POST /authorize.
    let (query, form) = data.split_at(data.len() / 2);
    let mut both = Params::default();
    if both.add_form(query, Origin::Query).is_ok() {
        let _ = both.add_form(form, Origin::Form);
    }
});
