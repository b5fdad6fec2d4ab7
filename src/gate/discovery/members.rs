//! Edits to a discovery document's top-level members: read a member (as edited so far), set
//! it, add to or narrow a list, then render the document with every member jargate did not set
//! in its place and with its exact text, and new members at the end.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub(super) struct Edits<'a> {
    members: &'a [(String, Box<RawValue>)],
    /// Members set so far, in the order first set.
    set: Vec<(&'static str, Value)>,
}

impl<'a> Edits<'a> {
    pub fn new(members: &'a [(String, Box<RawValue>)]) -> Edits<'a> {
        Edits {
            members,
            set: Vec::new(),
        }
    }

    /// The member's value as edited so far; `None` when absent (or not JSON, which the parser
    /// already excluded).
    pub fn get(&self, name: &str) -> Option<Value> {
        if let Some((_, v)) = self.set.iter().find(|(n, _)| *n == name) {
            return Some(v.clone());
        }
        let (_, raw) = self.members.iter().find(|(n, _)| n == name)?;
        serde_json::from_str(raw.get()).ok()
    }

    pub fn put(&mut self, name: &'static str, value: Value) {
        match self.set.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.set.push((name, value)),
        }
    }

    /// The member as a list; absent `token_endpoint_auth_methods_supported` means
    /// `client_secret_basic` only (RFC 8414 §2), any other absent list is empty. `None`: the
    /// member is not an array, and the document is not one to rewrite.
    fn list(&self, name: &str) -> Option<Vec<Value>> {
        match self.get(name) {
            None if name == super::AUTH_METHODS => Some(vec![Value::from("client_secret_basic")]),
            None => Some(Vec::new()),
            Some(Value::Array(values)) => Some(values),
            Some(_) => None,
        }
    }

    /// Appends each of `values` the list lacks (a value is never removed).
    pub fn add_to_list(&mut self, name: &'static str, values: &[&str]) -> Option<()> {
        if values.is_empty() {
            return Some(());
        }
        let mut list = self.list(name)?;
        for value in values {
            if !list.iter().any(|v| v == value) {
                list.push(Value::from(*value));
            }
        }
        self.put(name, Value::Array(list));
        Some(())
    }

    /// Keeps only the list's values that are in `allowed`; an absent list stays absent.
    pub fn keep_in_list(&mut self, name: &'static str, allowed: &[&str]) -> Option<()> {
        if self.get(name).is_none() {
            return Some(());
        }
        let mut list = self.list(name)?;
        list.retain(|v| v.as_str().is_some_and(|s| allowed.contains(&s)));
        self.put(name, Value::Array(list));
        Some(())
    }

    /// `mtls_endpoint_aliases` (RFC 8705 §5): for each endpoint member `wanted(name, path)`
    /// selects, the same path and query on `base`; aliases the upstream already lists are kept.
    pub fn add_aliases(
        &mut self,
        name: &'static str,
        base: &str,
        wanted: impl Fn(&str, &str) -> bool,
    ) -> Option<()> {
        let mut aliases = match self.get(name) {
            None => Map::new(),
            Some(Value::Object(map)) => map,
            Some(_) => return None,
        };
        let mut endpoints: Vec<(String, String)> = Vec::new();
        let names = self
            .members
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(self.set.iter().map(|(n, _)| *n));
        for member in names {
            if !member.ends_with("_endpoint") || endpoints.iter().any(|(n, _)| n == member) {
                continue;
            }
            let Some(Value::String(url)) = self.get(member) else {
                continue;
            };
            let Ok(uri) = url.parse::<http::Uri>() else {
                continue;
            };
            if wanted(member, uri.path()) {
                let tail = uri.path_and_query().map_or("/", |pq| pq.as_str());
                endpoints.push((
                    member.to_string(),
                    format!("{}{tail}", base.trim_end_matches('/')),
                ));
            }
        }
        for (member, alias) in endpoints {
            aliases.entry(member).or_insert(Value::String(alias));
        }
        self.put(name, Value::Object(aliases));
        Some(())
    }

    /// The document: members in their place (the set ones with their new value), then the
    /// new members in the order they were set.
    pub fn render(self) -> Vec<u8> {
        let mut set = self.set;
        let mut out = Vec::with_capacity(1024);
        out.push(b'{');
        let mut first = true;
        let mut member = |out: &mut Vec<u8>, name: &str, value: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(Value::from(name).to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        };
        for (name, raw) in self.members {
            match set.iter().position(|(n, _)| n == name) {
                Some(i) => {
                    let (n, v) = set.remove(i);
                    member(&mut out, n, &v.to_string());
                }
                None => member(&mut out, name, raw.get()),
            }
        }
        for (name, value) in set {
            member(&mut out, name, &value.to_string());
        }
        out.push(b'}');
        out
    }
}
