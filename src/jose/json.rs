//! Strict JSON: like `serde_json::Value`, but a duplicate member name anywhere is an error.
//! serde_json silently keeps the last duplicate; a JWT whose `sub` appears twice must not be read
//! one way by jargate and another way by the authorization server behind it.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `bytes` as JSON, refusing duplicate member names at any depth.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de
        .deserialize_any(StrictVisitor)
        .map_err(|e| classify(&e))?;
    de.end().map_err(|e| classify(&e))?;
    Ok(value)
}

/// Parses `bytes` as a strict JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, StrictJsonError> {
    match parse_strict(bytes)? {
        Value::Object(map) => Ok(map),
        _ => Err(StrictJsonError::NotObject),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictJsonError {
    Syntax,
    /// The first member name found twice.
    Duplicate(String),
    NotObject,
}

/// serde errors carry only text; the duplicate's name travels between these markers.
const DUPLICATE: &str = "duplicate member name\u{1}";
const END: char = '\u{1}';

fn classify(e: &serde_json::Error) -> StrictJsonError {
    let text = e.to_string();
    match text
        .strip_prefix(DUPLICATE)
        .and_then(|rest| rest.split(END).next())
    {
        Some(name) => StrictJsonError::Duplicate(name.to_string()),
        None => StrictJsonError::Syntax,
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
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
        while let Some(item) = seq.next_element_seed(StrictSeed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictSeed)?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("{DUPLICATE}{key}{END}")));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

struct StrictSeed;

impl<'de> de::DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
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
    fn trailing_garbage_and_non_objects_are_refused() {
        assert_eq!(parse_strict(br#"{"a":1} x"#), Err(StrictJsonError::Syntax));
        assert_eq!(parse_object(b"[1]"), Err(StrictJsonError::NotObject));
        assert_eq!(parse_object(b"\"s\""), Err(StrictJsonError::NotObject));
    }
}
