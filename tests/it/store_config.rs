//! `[store]`'s redis keys through `jargate check` (SPEC §3): each combination SPEC §3 calls a
//! configuration error exits 1 naming the key, and never prints a password; each valid form
//! passes without contacting anything.

use crate::common::*;

async fn refused(store_toml: &str, expected: &str) {
    let dir = ConfigDir::new(&format!("[store]\n{store_toml}"), &default_clients());
    let out = dir.check();
    assert_eq!(out.code, 1, "accepted:\n{store_toml}\n{}", out.stdout);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(expected),
        "expected {expected:?} for\n{store_toml}\n{text}"
    );
    assert!(!text.contains("hunter2"), "a password is printed:\n{text}");
}

async fn accepted(store_toml: &str, place: &str) {
    let dir = ConfigDir::new(&format!("[store]\n{store_toml}"), &default_clients());
    let out = dir.check();
    assert_eq!(
        out.code, 0,
        "refused:\n{store_toml}\n{}{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains(&format!("the redis store at {place}")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
}

cases! { refused;
    two_forms_are_an_error:
        "backend = \"redis\"\nredis_url = \"redis://h:6379/0\"\nredis_cluster = [\"h:7000\"]\n",
        "store: redis_url and redis_cluster name different stores";
    sentinels_and_cluster_are_an_error:
        "backend = \"redis\"\nredis_sentinels = [\"h:26379\"]\nredis_master = \"m\"\nredis_cluster = [\"h:7000\"]\n",
        "keep exactly one of redis_url, redis_sentinels, redis_cluster";
    no_form_is_an_error:
        "backend = \"redis\"\n",
        "needs one of redis_url, redis_sentinels, redis_cluster";
    a_master_without_sentinels_is_an_error:
        "backend = \"redis\"\nredis_url = \"redis://h:6379/0\"\nredis_master = \"m\"\n",
        "store.redis_master: only with store.redis_sentinels";
    sentinels_without_a_master_are_an_error:
        "backend = \"redis\"\nredis_sentinels = [\"h:26379\"]\n",
        "store.redis_master: required with store.redis_sentinels";
    a_redis_key_with_the_memory_backend_is_an_error:
        "backend = \"memory\"\nredis_password = \"hunter2\"\n",
        "store.redis_password: only with store.backend = \"redis\"";
    a_database_other_than_0_in_a_cluster_is_an_error:
        "backend = \"redis\"\nredis_cluster = [\"h:7000\"]\nredis_db = 3\n",
        "store.redis_db: a cluster has only database 0";
    an_address_without_a_port_is_an_error:
        "backend = \"redis\"\nredis_cluster = [\"10.0.0.1\"]\n",
        "store.redis_cluster: \"10.0.0.1\": expected host:port";
    an_unbracketed_v6_address_is_an_error:
        "backend = \"redis\"\nredis_sentinels = [\"::1:26379\"]\nredis_master = \"m\"\n",
        "an IPv6 address goes in brackets";
    a_url_in_the_address_list_is_an_error:
        "backend = \"redis\"\nredis_cluster = [\"redis://:hunter2@h:7000\"]\n",
        "store.redis_cluster: ";
    a_password_beside_the_url_is_an_error:
        "backend = \"redis\"\nredis_url = \"redis://h:6379/0\"\nredis_password = \"hunter2\"\n",
        "store.redis_password: not with store.redis_url";
    an_unknown_store_key_is_an_error:
        "backend = \"redis\"\nredis_cluster = [\"h:7000\"]\nredis_sentinal_password = \"x\"\n",
        "redis_sentinal_password";
}

cases! { accepted;
    a_sentinel_set_with_v6_and_credentials:
        "backend = \"redis\"\nredis_sentinels = [\"10.0.0.1:26379\", \"[::1]:26380\"]\nredis_master = \"jargate\"\nredis_password = \"hunter2\"\nredis_wait_replicas = 1\n",
        "sentinel service \"jargate\" via 10.0.0.1:26379, [::1]:26380";
    a_cluster:
        "backend = \"redis\"\nredis_cluster = [\"10.0.0.1:7000\", \"10.0.0.2:7000\"]\nredis_username = \"jargate\"\nredis_password = \"hunter2\"\nredis_tls = true\n",
        "cluster via 10.0.0.1:7000, 10.0.0.2:7000";
}
