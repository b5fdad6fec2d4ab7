//! `${VAR}` expansion in configuration string values: secrets come from the environment, never
//! from files in a repository. A missing variable is a configuration error, not an empty string.

use serde_json::Value as Json;

/// Expands every `${NAME}` in `text`.
pub fn expand(text: &str) -> Result<String, String> {
    expand_with(text, |name| std::env::var(name).ok())
}

pub fn expand_with(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated ${ in a value".to_string())?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad variable name ${{{name}}}"));
        }
        let value =
            lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands every string inside a TOML document.
pub fn expand_toml(value: &mut toml::Value) -> Result<(), String> {
    match value {
        toml::Value::String(s) => *s = expand(s)?,
        toml::Value::Array(items) => items.iter_mut().try_for_each(expand_toml)?,
        toml::Value::Table(table) => table.iter_mut().try_for_each(|(_, v)| expand_toml(v))?,
        _ => {}
    }
    Ok(())
}

/// Expands every string inside a JSON document.
pub fn expand_json(value: &mut Json) -> Result<(), String> {
    match value {
        Json::String(s) => *s = expand(s)?,
        Json::Array(items) => items.iter_mut().try_for_each(expand_json)?,
        Json::Object(map) => map.iter_mut().try_for_each(|(_, v)| expand_json(v))?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "SECRET").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn variables_are_replaced_and_missing_ones_are_errors() {
        assert_eq!(expand_with("a${SECRET}b", lookup).unwrap(), "as3cr3tb");
        assert_eq!(expand_with("plain $ text", lookup).unwrap(), "plain $ text");
        assert!(expand_with("${NOPE}", lookup).unwrap_err().contains("NOPE"));
        assert!(expand_with("${SECRET", lookup).is_err());
    }
}
