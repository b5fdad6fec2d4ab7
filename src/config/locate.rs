//! Finds where a JSON path (`clients[0].signed_request_object.credentials[1].alg`) is in a
//! document's text, so that errors found after parsing (a key that does not fit its `alg`)
//! carry a line and column like syntax errors do. It walks the text with serde_json, skipping
//! everything off the path, and stops with an error at the target: serde_json stamps that error
//! with the position it reached. TOML keys are found through `toml_edit`'s spans. The same
//! walk refuses a JSON object that names a member twice (serde_json keeps the last one
//! silently: `"token_endpoint_auth_method"` given twice must not pick a weaker value unseen).

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Line and column of the value at `path` in the JSON `text`, if the path is there.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let target = parse_path(path)?;
    let mut de = serde_json::Deserializer::from_str(text);
    match (Seek { rest: &target }).deserialize(&mut de) {
        Err(e) if e.to_string().starts_with(FOUND) => Some((e.line(), e.column())),
        _ => None,
    }
}

const FOUND: &str = "jargate: found";

/// Refuses a JSON `text` in which an object names a member twice, at the second one.
pub fn no_duplicate_members(text: &str) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    Unique.deserialize(&mut de)
}

struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("member {key:?} is given twice")));
            }
            map.next_value_seed(Unique)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unique)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Line and column of the value of the dotted `key` (`upstream.url`) in the TOML `text`.
pub fn locate_toml(text: &str, key: &str) -> Option<(usize, usize)> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = doc.as_item();
    for part in key.split('.') {
        item = item.get(part)?;
    }
    let span = item.span()?;
    Some(super::position::line_column(text, span.start))
}

/// The key path an error message starts with (`upstream.url: …` → `upstream.url`).
pub fn field_path(e: &str) -> Option<&str> {
    e.split_once(": ").map(|(path, _)| path).filter(|p| {
        p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c))
    })
}

fn parse_path(path: &str) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        while let Some(rest) = indexes.strip_prefix('[') {
            let (n, after) = rest.split_once(']')?;
            out.push(Segment::Index(n.parse().ok()?));
            indexes = after;
        }
        if !indexes.is_empty() {
            return None;
        }
    }
    Some(out)
}

struct Seek<'a> {
    rest: &'a [Segment],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.rest.is_empty() {
            return Err(de::Error::custom(FOUND));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match self.rest.first() {
                Some(Segment::Key(k)) if *k == key => {
                    return map.next_value_seed(Seek {
                        rest: &self.rest[1..],
                    })
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some(Segment::Index(wanted)) = self.rest.first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        for _ in 0..*wanted {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Seek {
            rest: &self.rest[1..],
        })?;
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_found_at_their_line() {
        let text = "{\"clients\": [\n {\"client_id\": \"a\"},\n {\"client_id\": \"b\",\n  \"x\": {\"credentials\": [1,\n   {\"alg\": \"RS256\"}]}}]}";
        assert_eq!(
            locate(text, "clients[1].x.credentials[1].alg").map(|p| p.0),
            Some(5)
        );
        assert_eq!(locate(text, "clients[1]").map(|p| p.0), Some(3));
        assert_eq!(locate(text, "clients[0].client_id").map(|p| p.0), Some(2));
        assert_eq!(locate(text, "clients[7]"), None);
        assert_eq!(locate(text, "nope"), None);
    }

    #[test]
    fn a_member_given_twice_is_refused_at_its_line() {
        assert!(no_duplicate_members(r#"{"a": [{"b": 1, "c": {"b": 2}}]}"#).is_ok());
        let e = no_duplicate_members("{\"a\": 1,\n \"a\": 2}").unwrap_err();
        assert_eq!(e.line(), 2);
        assert!(e.to_string().contains("\"a\" is given twice"));
    }

    #[test]
    fn toml_keys_are_found_at_their_line() {
        let text = "[upstream]\nurl = \"x\"\n\n[clients]\njwks_min_refetch_secs = 0\n";
        assert_eq!(
            locate_toml(text, "clients.jwks_min_refetch_secs"),
            Some((5, 25))
        );
        assert_eq!(locate_toml(text, "upstream.mode"), None);
    }
}
