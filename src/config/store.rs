//! `[store]`'s redis keys (SPEC §3) into one typed [`Topology`]: which of the three forms is
//! meant, its addresses parsed, its credentials gathered. Every combination SPEC §3 calls a
//! configuration error is refused here, by key name, so a mistake never leaves a replica on a
//! store other than the one meant (or on none).
//!
//! Decision: the connection keys (`redis_username`, `redis_password`, `redis_tls`, `redis_db`)
//! next to `redis_url` are errors rather than overrides: the URL carries them for one server,
//! and two places for one password is an ambiguity.

use super::settings::{Backend, StoreSettings};
use crate::store::topology::{parse_address, Address, Auth, Topology};

/// The redis topology `[store]` names: `None` for `backend = "memory"`.
pub fn redis_topology(store: &StoreSettings) -> Result<Option<Topology>, String> {
    if store.backend == Backend::Memory {
        if let Some(key) = redis_keys_set(store).first() {
            return Err(format!(
                "store.{key}: only with store.backend = \"redis\" (the backend is \"memory\")"
            ));
        }
        return Ok(None);
    }
    if store.timeout_ms == 0 {
        return Err("store.timeout_ms: must be at least 1".into());
    }
    let forms: Vec<&str> = [
        ("redis_url", store.redis_url.is_some()),
        ("redis_sentinels", store.redis_sentinels.is_some()),
        ("redis_cluster", store.redis_cluster.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect();
    if forms.len() > 1 {
        return Err(format!(
            "store: {} name different stores; keep exactly one of redis_url, redis_sentinels, \
             redis_cluster",
            forms.join(" and ")
        ));
    }
    if store.redis_master.is_some() && store.redis_sentinels.is_none() {
        return Err("store.redis_master: only with store.redis_sentinels".into());
    }
    if store.redis_sentinel_password.is_some() && store.redis_sentinels.is_none() {
        return Err("store.redis_sentinel_password: only with store.redis_sentinels".into());
    }
    if let Some(url) = &store.redis_url {
        return single(store, url).map(Some);
    }
    if let Some(sentinels) = &store.redis_sentinels {
        return sentinel(store, sentinels).map(Some);
    }
    if let Some(nodes) = &store.redis_cluster {
        let auth = auth(store)?;
        if auth.db != 0 {
            return Err("store.redis_db: a cluster has only database 0".into());
        }
        let nodes = addresses("redis_cluster", nodes)?;
        return Ok(Some(Topology::Cluster { nodes, auth }));
    }
    Err("store: backend = \"redis\" needs one of redis_url, redis_sentinels, redis_cluster".into())
}

fn single(store: &StoreSettings, url: &str) -> Result<Topology, String> {
    if url.is_empty() {
        return Err("store.redis_url: must not be empty".into());
    }
    for (key, set) in [
        ("redis_username", store.redis_username.is_some()),
        ("redis_password", store.redis_password.is_some()),
        ("redis_tls", store.redis_tls.is_some()),
        ("redis_db", store.redis_db.is_some()),
    ] {
        if set {
            return Err(format!(
                "store.{key}: not with store.redis_url, which carries it \
                 (redis://user:password@host:port/db, rediss:// for TLS)"
            ));
        }
    }
    crate::store::redis::parse_url(url).map_err(|e| format!("store.redis_url: {e}"))?;
    Ok(Topology::Single {
        url: url.to_owned(),
    })
}

fn sentinel(store: &StoreSettings, sentinels: &[String]) -> Result<Topology, String> {
    let sentinels = addresses("redis_sentinels", sentinels)?;
    let master = match store.redis_master.as_deref() {
        None => {
            return Err(
                "store.redis_master: required with store.redis_sentinels (the service name \
                 the sentinels monitor)"
                    .into(),
            )
        }
        Some(m) if m.is_empty() || m.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            return Err(format!(
                "store.redis_master: {m:?} is not a sentinel service name"
            ))
        }
        Some(m) => m.to_owned(),
    };
    let auth = auth(store)?;
    let sentinel_auth = match store.redis_sentinel_password.as_deref() {
        None => Auth {
            db: 0,
            ..auth.clone()
        },
        Some(password) => Auth {
            username: None,
            password: (!password.is_empty()).then(|| password.to_owned()),
            tls: auth.tls,
            db: 0,
        },
    };
    Ok(Topology::Sentinel {
        sentinels,
        master,
        auth,
        sentinel_auth,
    })
}

fn auth(store: &StoreSettings) -> Result<Auth, String> {
    let db = store.redis_db.unwrap_or(0);
    if db < 0 {
        return Err(format!("store.redis_db: {db} is not a database number"));
    }
    Ok(Auth {
        username: store.redis_username.clone().filter(|u| !u.is_empty()),
        password: store.redis_password.clone().filter(|p| !p.is_empty()),
        tls: store.redis_tls.unwrap_or(false),
        db,
    })
}

fn addresses(key: &str, list: &[String]) -> Result<Vec<Address>, String> {
    if list.is_empty() {
        return Err(format!("store.{key}: must name at least one host:port"));
    }
    let mut parsed: Vec<Address> = Vec::with_capacity(list.len());
    for text in list {
        let address = parse_address(text).map_err(|e| format!("store.{key}: {e}"))?;
        if parsed.contains(&address) {
            return Err(format!("store.{key}: {text:?} is listed twice"));
        }
        parsed.push(address);
    }
    Ok(parsed)
}

/// The `redis_*` keys present in `[store]`.
fn redis_keys_set(store: &StoreSettings) -> Vec<&'static str> {
    [
        ("redis_url", store.redis_url.is_some()),
        ("redis_sentinels", store.redis_sentinels.is_some()),
        ("redis_master", store.redis_master.is_some()),
        ("redis_cluster", store.redis_cluster.is_some()),
        ("redis_username", store.redis_username.is_some()),
        ("redis_password", store.redis_password.is_some()),
        ("redis_tls", store.redis_tls.is_some()),
        ("redis_db", store.redis_db.is_some()),
        (
            "redis_sentinel_password",
            store.redis_sentinel_password.is_some(),
        ),
        ("redis_wait_replicas", store.redis_wait_replicas != 0),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Option<Topology>, String> {
        #[derive(serde::Deserialize)]
        struct Doc {
            store: StoreSettings,
        }
        let doc: Doc = toml::from_str(toml_text).map_err(|e| format!("toml: {e}"))?;
        redis_topology(&doc.store)
    }

    fn err(toml_text: &str) -> String {
        match parse(toml_text) {
            Err(e) => e,
            Ok(t) => panic!("accepted: {t:?}\n{toml_text}"),
        }
    }

    #[test]
    fn memory_needs_no_redis_key_and_refuses_every_one() {
        assert_eq!(parse("[store]\nbackend = \"memory\"\n").unwrap(), None);
        for (key, value) in [
            ("redis_url", "\"redis://127.0.0.1:6379/0\""),
            ("redis_sentinels", "[\"127.0.0.1:26379\"]"),
            ("redis_master", "\"jargate\""),
            ("redis_cluster", "[\"127.0.0.1:7000\"]"),
            ("redis_username", "\"u\""),
            ("redis_password", "\"p\""),
            ("redis_tls", "true"),
            ("redis_db", "0"),
            ("redis_sentinel_password", "\"\""),
            ("redis_wait_replicas", "1"),
        ] {
            let e = err(&format!("[store]\nbackend = \"memory\"\n{key} = {value}\n"));
            assert!(e.starts_with(&format!("store.{key}: only with")), "{e}");
        }
    }

    #[test]
    fn exactly_one_of_url_sentinels_and_cluster() {
        let e = err("[store]\nbackend = \"redis\"\n");
        assert!(
            e.contains("needs one of redis_url, redis_sentinels, redis_cluster"),
            "{e}"
        );
        for (a, b) in [
            (
                "redis_url = \"redis://h:1/0\"",
                "redis_cluster = [\"h:7000\"]",
            ),
            (
                "redis_url = \"redis://h:1/0\"",
                "redis_sentinels = [\"h:26379\"]",
            ),
            (
                "redis_sentinels = [\"h:26379\"]",
                "redis_cluster = [\"h:7000\"]",
            ),
        ] {
            let e = err(&format!(
                "[store]\nbackend = \"redis\"\nredis_master = \"m\"\n{a}\n{b}\n"
            ));
            assert!(e.contains("keep exactly one of"), "{e}");
        }
    }

    #[test]
    fn sentinels_need_a_master_and_a_master_needs_sentinels() {
        let e = err("[store]\nbackend = \"redis\"\nredis_sentinels = [\"h:26379\"]\n");
        assert!(e.starts_with("store.redis_master: required"), "{e}");
        let e = err(
            "[store]\nbackend = \"redis\"\nredis_url = \"redis://h:1/0\"\nredis_master = \"m\"\n",
        );
        assert!(e.starts_with("store.redis_master: only with"), "{e}");
        let e =
            err("[store]\nbackend = \"redis\"\nredis_cluster = [\"h:1\"]\nredis_master = \"m\"\n");
        assert!(e.starts_with("store.redis_master: only with"), "{e}");
        let e = err(
            "[store]\nbackend = \"redis\"\nredis_sentinels = [\"h:26379\"]\nredis_master = \"\"\n",
        );
        assert!(e.starts_with("store.redis_master:"), "{e}");
    }

    #[test]
    fn sentinel_credentials_follow_the_primary_unless_given_their_own() {
        let base = "[store]\nbackend = \"redis\"\nredis_sentinels = [\"10.0.0.1:26379\", \"[::1]:26380\"]\nredis_master = \"jargate\"\nredis_username = \"u\"\nredis_password = \"p\"\nredis_tls = true\nredis_db = 2\n";
        let Some(Topology::Sentinel {
            sentinels,
            master,
            auth,
            sentinel_auth,
        }) = parse(base).unwrap()
        else {
            panic!("not a sentinel topology")
        };
        assert_eq!(sentinels.len(), 2);
        assert_eq!(sentinels[1].host, "::1");
        assert_eq!(master, "jargate");
        assert_eq!(
            (auth.username.as_deref(), auth.password.as_deref()),
            (Some("u"), Some("p"))
        );
        assert!(auth.tls && auth.db == 2);
        assert_eq!(sentinel_auth.password.as_deref(), Some("p"));
        assert_eq!(sentinel_auth.db, 0);

        let own = parse(&format!("{base}redis_sentinel_password = \"s\"\n")).unwrap();
        let Some(Topology::Sentinel { sentinel_auth, .. }) = own else {
            panic!()
        };
        assert_eq!(sentinel_auth.password.as_deref(), Some("s"));
        assert_eq!(sentinel_auth.username, None);
        let none = parse(&format!("{base}redis_sentinel_password = \"\"\n")).unwrap();
        let Some(Topology::Sentinel { sentinel_auth, .. }) = none else {
            panic!()
        };
        assert_eq!(sentinel_auth.password, None);
        assert!(sentinel_auth.tls);

        let e = err("[store]\nbackend = \"redis\"\nredis_cluster = [\"h:1\"]\nredis_sentinel_password = \"s\"\n");
        assert!(
            e.starts_with("store.redis_sentinel_password: only with"),
            "{e}"
        );
    }

    #[test]
    fn a_cluster_has_only_database_zero() {
        let e = err("[store]\nbackend = \"redis\"\nredis_cluster = [\"h:7000\"]\nredis_db = 1\n");
        assert!(
            e.starts_with("store.redis_db: a cluster has only database 0"),
            "{e}"
        );
        let ok = parse("[store]\nbackend = \"redis\"\nredis_cluster = [\"h:7000\", \"h:7001\"]\nredis_db = 0\n");
        assert!(matches!(ok, Ok(Some(Topology::Cluster { .. }))), "{ok:?}");
    }

    #[test]
    fn addresses_are_checked_one_by_one() {
        for (list, needle) in [
            ("[]", "at least one"),
            ("[\"h\"]", "expected host:port"),
            ("[\"h:1\", \"h:1\"]", "listed twice"),
            ("[\"redis://h:1\"]", "write host:port"),
            ("[\"::1:7000\"]", "brackets"),
        ] {
            let e = err(&format!(
                "[store]\nbackend = \"redis\"\nredis_cluster = {list}\n"
            ));
            assert!(
                e.starts_with("store.redis_cluster: ") && e.contains(needle),
                "{e}"
            );
        }
        let e = err(
            "[store]\nbackend = \"redis\"\nredis_sentinels = [\"h:99999\"]\nredis_master = \"m\"\n",
        );
        assert!(e.starts_with("store.redis_sentinels: "), "{e}");
    }

    #[test]
    fn the_url_carries_its_own_credentials() {
        for key in [
            "redis_username = \"u\"",
            "redis_password = \"p\"",
            "redis_tls = true",
            "redis_db = 1",
        ] {
            let e = err(&format!(
                "[store]\nbackend = \"redis\"\nredis_url = \"redis://h:1/0\"\n{key}\n"
            ));
            assert!(e.contains("not with store.redis_url"), "{e}");
        }
        let e = err("[store]\nbackend = \"redis\"\nredis_url = \"\"\n");
        assert!(e.starts_with("store.redis_url"), "{e}");
    }
}
