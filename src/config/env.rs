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

/// Expands every string inside a TOML document; an error names the key (`upstream.url: …`).
pub fn expand_toml(value: &mut toml::Value) -> Result<(), String> {
    expand_toml_at(value, "").map_err(|(path, e)| format!("{path}: {e}"))
}

fn expand_toml_at(value: &mut toml::Value, path: &str) -> Result<(), (String, String)> {
    match value {
        toml::Value::String(s) => *s = expand(s).map_err(|e| (path.to_string(), e))?,
        toml::Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                expand_toml_at(v, &format!("{path}[{i}]"))?
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                expand_toml_at(v, &join(path, k))?
            }
        }
        _ => {}
    }
    Ok(())
}

/// Expands every string inside a JSON document; an error names the JSON path.
pub fn expand_json(value: &mut Json) -> Result<(), String> {
    expand_json_at(value).map_err(|(path, e)| format!("{path}: {e}"))
}

/// As [`expand_json`], the error as (JSON path, message).
pub fn expand_json_at(value: &mut Json) -> Result<(), (String, String)> {
    expand_json_in(value, "")
}

fn expand_json_in(value: &mut Json, path: &str) -> Result<(), (String, String)> {
    match value {
        Json::String(s) => *s = expand(s).map_err(|e| (path.to_string(), e))?,
        Json::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                expand_json_in(v, &format!("{path}[{i}]"))?
            }
        }
        Json::Object(map) => {
            for (k, v) in map.iter_mut() {
                expand_json_in(v, &join(path, k))?
            }
        }
        _ => {}
    }
    Ok(())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
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

    #[test]
    fn a_missing_variable_names_the_key_it_was_used_in() {
        let mut doc: toml::Value =
            toml::from_str("[upstream]\nurl = \"${JARGATE_TEST_UNSET_VAR}\"").unwrap();
        let e = expand_toml(&mut doc).unwrap_err();
        assert!(e.starts_with("upstream.url: "), "{e}");
        let mut doc = serde_json::json!({"clients": [{"upstream_client_secret": "${JARGATE_TEST_UNSET_VAR}"}]});
        let e = expand_json(&mut doc).unwrap_err();
        assert!(e.starts_with("clients[0].upstream_client_secret: "), "{e}");
    }
}
