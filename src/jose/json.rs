//! Strict JSON: like `serde_json::Value`, but a duplicate member name anywhere is an error.
//! serde_json silently keeps the last duplicate; a JWT whose `sub` appears twice must not be read
//! one way by jargate and another way by the authorization server behind it.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// Parses `bytes` as JSON, refusing duplicate member names at any depth.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    match parse_keeping_last(bytes)? {
        (_, Some(name)) => Err(StrictJsonError::Duplicate(name)),
        (value, None) => Ok(value),
    }
}

/// Parses `bytes` as a strict JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, StrictJsonError> {
    match parse_strict(bytes)? {
        Value::Object(map) => Ok(map),
        _ => Err(StrictJsonError::NotObject),
    }
}

/// Parses `bytes` as JSON in one pass, returning both readings: the value as serde_json reads
/// it (the last of duplicate members wins) and the first member name found twice, if any. A
/// syntax error after a duplicate still reports the duplicate, as a parser that stops at the
/// first duplicate would.
pub fn parse_keeping_last(bytes: &[u8]) -> Result<(Value, Option<String>), StrictJsonError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = de
        .deserialize_any(Strict(&duplicate))
        .and_then(|value| de.end().map(|()| value));
    match (parsed, duplicate.into_inner()) {
        (Ok(value), duplicate) => Ok((value, duplicate)),
        (Err(_), Some(name)) => Err(StrictJsonError::Duplicate(name)),
        (Err(_), None) => Err(StrictJsonError::Syntax),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictJsonError {
    Syntax,
    /// The first member name found twice.
    Duplicate(String),
    NotObject,
}

/// Visitor and seed at once; notes the first duplicate member name in the shared cell.
#[derive(Clone, Copy)]
struct Strict<'d>(&'d RefCell<Option<String>>);

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            if out.contains_key(&key) {
                self.0.borrow_mut().get_or_insert_with(|| key.clone());
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

impl<'de> de::DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert_eq!(
            parse_strict(br#"{"sub":"a","sub":"b"}"#),
            Err(StrictJsonError::Duplicate("sub".into()))
        );
        assert_eq!(
            parse_strict(br#"{"x":{"a":1,"a":2}}"#),
            Err(StrictJsonError::Duplicate("a".into()))
        );
        assert_eq!(
            parse_strict(br#"[{"a":1},{"a":1,"a":1}]"#),
            Err(StrictJsonError::Duplicate("a".into()))
        );
    }

    #[test]
    fn ordinary_json_parses_like_serde_json() {
        let text = br#"{"a":[1,2.5,"x",null,true],"b":{"c":-3}}"#;
        let strict = parse_strict(text).unwrap();
        let loose: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(strict, loose);
    }

    #[test]
    fn the_last_duplicate_wins_in_the_lenient_reading() {
        let (value, duplicate) =
            parse_keeping_last(br#"{"sub":"a","x":{"y":1,"y":2},"sub":"b"}"#).unwrap();
        assert_eq!(value["sub"], "b");
        assert_eq!(value["x"]["y"], 2);
        assert_eq!(duplicate.as_deref(), Some("y"));
        assert_eq!(
            parse_strict(br#"{"a":1,"a":2,"#),
            Err(StrictJsonError::Duplicate("a".into()))
        );
    }

    #[test]
    fn trailing_garbage_and_non_objects_are_refused() {
        assert_eq!(parse_strict(br#"{"a":1} x"#), Err(StrictJsonError::Syntax));
        assert_eq!(parse_object(b"[1]"), Err(StrictJsonError::NotObject));
        assert_eq!(parse_object(b"\"s\""), Err(StrictJsonError::NotObject));
    }
}
