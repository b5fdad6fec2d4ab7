//! The strict JSON parser (duplicate members refused). Beyond "no panic": a parsed value,
//! printed in canonical form and parsed again, is the same value (floats aside: their last
//! digit may round differently).
#![no_main]

use jargate::jose::json::{parse_object, parse_strict};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = parse_strict(data) {
        let text = serde_json::to_string(&value).expect("a parsed value prints");
        let again = parse_strict(text.as_bytes()).expect("canonical form parses");
        if !has_float(&value) {
            assert_eq!(again, value, "canonical form changed the value");
        }
    }
    let _ = parse_object(data);
});
