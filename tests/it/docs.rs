//! The documentation as text the suite reads: every relative link of README.md and of the guides
//! under docs/ names a file that exists and, with a `#fragment`, a heading of that file (GitHub's
//! anchors); and the configuration reference (docs/configuration.md), the block an operator
//! copies, loads with `jargate check` as written, so that a key renamed or removed in the serde
//! structs (unknown keys are errors) cannot stay documented. The walk-through stays in the README
//! and is run by walkthrough.rs.

use crate::common::*;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let dir = std::fs::read_dir(root().join("docs")).expect("docs/");
    for entry in dir {
        let path = entry.expect("docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The targets of `[text](target)` links.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                targets.push(after[..end].to_owned());
                rest = &after[end..];
            }
            None => break,
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    prose(text)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_link_of_the_readme_and_the_guides_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in documents() {
        let text = std::fs::read_to_string(&file).expect("read document");
        let dir = file.parent().expect("document dir");
        for target in link_targets(&prose(&text)) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            checked += 1;
            if !resolved.exists() {
                broken.push(format!("{}: {target}: no such file", relative(&file)));
                continue;
            }
            if let Some(fragment) = fragment {
                let target_text = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !anchors(&target_text).iter().any(|a| a == fragment) {
                    broken.push(format!("{}: {target}: no such heading", relative(&file)));
                }
            }
        }
    }
    assert!(
        checked > 40,
        "only {checked} links found: is the parser right?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_sees_a_broken_file_and_a_broken_anchor() {
    let text = "[a](docs/nowhere.md) [b](#there)\n```\n[c](inside-code.md)\n```\n";
    let targets = link_targets(&prose(text));
    assert_eq!(targets, ["docs/nowhere.md", "#there"]);
    assert!(!root().join("docs/nowhere.md").exists());
    assert!(anchors("# There\n").contains(&"there".to_owned()));
    assert_eq!(
        anchor(" The client registry: `clients.json`"),
        "the-client-registry-clientsjson"
    );
}

/// The first ```toml block of docs/configuration.md.
fn configuration_reference() -> String {
    let path = root().join("docs").join("configuration.md");
    let text = std::fs::read_to_string(&path).expect("docs/configuration.md");
    let start = text.find("```toml\n").expect("a toml block") + 8;
    let len = text[start..].find("```").expect("the block ends");
    text[start..start + len].to_owned()
}

#[test]
fn the_configuration_reference_loads_as_written() {
    let reference = configuration_reference();
    for table in ["[listen]", "[upstream]", "[store]", "[clients]", "[limits]"] {
        assert!(reference.contains(table), "the reference names {table}");
    }
    let dir = ConfigDir::with_files(&reference, r#"{"clients": []}"#);
    let ran = dir.check();
    assert_eq!(ran.code, 0, "{}", ran.output());

    // The same check refuses a key the structs do not have, so the test can fail.
    let typo = reference.replacen("[listen]\n", "[listen]\nprox = \"0.0.0.0:1\"\n", 1);
    let ran = ConfigDir::with_files(&typo, r#"{"clients": []}"#).check();
    assert_eq!(ran.code, 1, "{}", ran.output());
    assert!(ran.stderr.contains("unknown field"), "{}", ran.stderr);
}

/// The keys of `[table]`s in the configuration reference, commented-out ones included.
fn reference_keys(table: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut current = String::new();
    for line in configuration_reference().lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = name.to_owned();
            continue;
        }
        let line = line.strip_prefix('#').unwrap_or(line).trim_start();
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if current == table
            && !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            keys.push(key.to_owned());
        }
    }
    keys
}

/// The Helm chart's values.schema.json closes the tables of `config` the chart reads; each key
/// of those tables in the reference must be there (or be one the chart writes itself), so a key
/// added to jargate is not refused by `helm install`.
#[test]
fn the_helm_schema_knows_every_key_of_the_tables_it_closes() {
    let path = root().join("deploy/helm/jargate/values.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("values.schema.json"))
            .expect("values.schema.json is JSON");
    let owned_by_the_chart = [
        "proxy",
        "admin",
        "tls_cert",
        "tls_key",
        "mtls",
        "mtls_cert",
        "mtls_key",
        "client_ca_file",
    ];
    let mut missing = Vec::new();
    for table in ["listen", "upstream", "store"] {
        let closed = &schema["properties"]["config"]["properties"][table];
        assert_eq!(
            closed["additionalProperties"], false,
            "config.{table} is closed"
        );
        let keys = reference_keys(table);
        assert!(keys.len() >= 4, "[{table}] in the reference: {keys:?}");
        for key in keys {
            let known = closed["properties"].get(&key).is_some();
            if !(known || (table == "listen" && owned_by_the_chart.contains(&key.as_str()))) {
                missing.push(format!("config.{table}.{key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys of the configuration reference that values.schema.json refuses: {missing:?}"
    );
}
