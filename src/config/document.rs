//! Reading a configuration document (the TOML settings, the JSON registry and credentials)
//! into typed structs, with every error placed: a syntax error, an unknown field, a wrong type
//! or a bad enum value says `file:line:column`, the key path and, for a misspelt name, the
//! closest known one; an unset `${VAR}` names the key it was used in.
//!
//! The document is parsed untyped first (syntax), `${VAR}` expanded on that tree (so the key
//! is known), then deserialized typed. When the typed step fails, it is run again on the raw
//! text, whose deserializer knows positions; the tree alone does not.

use super::env;
use super::position::{at, humanize, json_message, line_column};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

/// Parses the JSON `text` of `file` into `T`. `context` names what a path belongs to (e.g.
/// `client "app-1": `) from the untyped document.
pub fn json<T: DeserializeOwned>(
    text: &str,
    file: &Path,
    context: impl Fn(&Value, &str) -> String,
) -> Result<T, String> {
    // Without a `$` in any string there is nothing to expand: read the types straight from
    // the text, so that a registry of 10 000 clients never exists as a tree too (the load's
    // peak memory halves). `$` may also be written `\u0024`, which the tree would decode and
    // expand. Any error takes the path below, which places it.
    let expandable = text.contains('$') || text.contains("\\u0024");
    if !expandable && super::locate::no_duplicate_members(text).is_ok() {
        if let Ok(value) = serde_json::from_str::<T>(text) {
            return Ok(value);
        }
    }
    let mut doc: Value = serde_json::from_str(text)
        .map_err(|e| at(file, e.line(), e.column(), &json_message(&e)))?;
    super::locate::no_duplicate_members(text)
        .map_err(|e| at(file, e.line(), e.column(), &json_message(&e)))?;
    let untouched = doc.clone();
    env::expand_json_at(&mut doc).map_err(|(path, e)| {
        format!(
            "{}: {}{path}: {e}",
            file.display(),
            context(&untouched, &path)
        )
    })?;
    let err = match serde_path_to_error::deserialize::<_, T>(doc) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let mut raw = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, T>(&mut raw) {
        Err(e) => {
            let path = e.path().to_string();
            let message = humanize(&json_message(e.inner()));
            let where_ = full_path(&path, &message);
            let what = format!("{}{where_}{message}", context(&untouched, &path));
            Err(at(file, e.inner().line(), e.inner().column(), &what))
        }
        // Only the expanded document fails: a position in the raw text would not mean much.
        Ok(_) => {
            let path = err.path().to_string();
            let message = humanize(&json_message(err.inner()));
            let where_ = full_path(&path, &message);
            Err(format!(
                "{}: {}{where_}{message}",
                file.display(),
                context(&untouched, &path)
            ))
        }
    }
}

/// Parses the TOML `text` of `file` into `T`.
pub fn toml<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, String> {
    let place = |e: &toml::de::Error, what: &str| match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            at(file, line, column, what)
        }
        None => format!("{}: {what}", file.display()),
    };
    let mut doc: toml::Value =
        toml::from_str(text).map_err(|e| place(&e, e.message().trim_end()))?;
    env::expand_toml(&mut doc).map_err(|e| format!("{}: {e}", file.display()))?;
    let err = match serde_path_to_error::deserialize::<_, T>(doc) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let describe = |path: &str, message: &str| {
        let message = humanize(message.trim_end());
        format!("{}{message}", full_path(path, &message))
    };
    match serde_path_to_error::deserialize::<_, T>(toml::Deserializer::new(text)) {
        Err(e) => Err(place(
            e.inner(),
            &describe(&e.path().to_string(), e.inner().message()),
        )),
        Ok(_) => Err(format!(
            "{}: {}",
            file.display(),
            describe(&err.path().to_string(), err.inner().message())
        )),
    }
}

/// `path: ` for a message, the unknown field's own name appended when serde stopped at the
/// object holding it. Empty at the document root.
fn full_path(path: &str, message: &str) -> String {
    let mut path = if path == "." {
        String::new()
    } else {
        path.to_string()
    };
    if let Some(field) = message
        .strip_prefix("unknown field \"")
        .and_then(|rest| rest.split('"').next())
    {
        if !path.ends_with(field) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(field);
        }
    }
    if path.is_empty() {
        path
    } else {
        format!("{path}: ")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    fn read(text: &str) -> Result<BTreeMap<String, String>, String> {
        super::json(text, Path::new("clients.json"), |_, _| String::new())
    }

    #[test]
    fn a_variable_is_expanded_however_its_dollar_and_brace_are_written() {
        let path = std::env::var("PATH").expect("PATH is set");
        for text in [
            r#"{"a": "${PATH}"}"#,
            r#"{"a": "\u0024{PATH}"}"#,
            r#"{"a": "$\u007bPATH}"}"#,
        ] {
            assert_eq!(read(text).expect(text)["a"], path, "{text}");
        }
        assert_eq!(read(r#"{"a": "plain"}"#).expect("plain")["a"], "plain");
    }

    #[test]
    fn errors_read_straight_from_the_text_are_placed_as_before() {
        let repeated = read("{\"a\": \"x\",\n \"a\": \"y\"}").unwrap_err();
        assert!(repeated.starts_with("clients.json:2:"), "{repeated}");
        let wrong_type = read(r#"{"a": 1}"#).unwrap_err();
        assert!(wrong_type.starts_with("clients.json:1:"), "{wrong_type}");
    }
}
