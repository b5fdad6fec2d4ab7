//! The redis store on a Redis Cluster (SPEC §7): three primaries on loopback made with
//! `redis-cli --cluster create` ([`RedisCluster`]).
//!
//! * keys spread over every primary's slots (no hash tag), and a jti accepted through a replica
//!   seeded with one node is refused through a replica seeded with another;
//! * a slot migrated between primaries while jargate runs: `ASK` during the migration and
//!   `MOVED` after it are followed, the replay still refused;
//! * `check --online` pings every primary.

use super::redis_store::{fresh_assertion, token, wait_readyz_store};
use crate::common::*;
use jargate::store::jti_key;
use std::time::Duration;

fn cluster_toml(seeds: &str) -> String {
    format!(
        "[store]\nbackend = \"redis\"\nredis_cluster = {seeds}\non_error = \"reject\"\ntimeout_ms = 1000\n"
    )
}

fn assertion_key(jti: &str) -> String {
    format!("jargate:{}", jti_key("assertion", "app-1", jti))
}

async fn dbsize(port: u16) -> u64 {
    redis_cmd(port, &redis::cmd("DBSIZE"))
        .await
        .expect("DBSIZE")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_spread_over_every_primary_and_a_replay_is_refused_through_any_node() {
    let cluster = RedisCluster::start().await;
    let upstream = StubUpstream::start().await;
    let seed = |i: usize| format!("[\"127.0.0.1:{}\"]", cluster.nodes[i].port());
    let a = Jargate::start(upstream.addr(), &cluster_toml(&seed(0)), default_clients()).await;
    let b = Jargate::start(upstream.addr(), &cluster_toml(&seed(2)), default_clients()).await;
    wait_readyz_store(&a, 200, Duration::from_secs(5)).await;
    wait_readyz_store(&b, 200, Duration::from_secs(5)).await;

    const N: usize = 30;
    let mut used = Vec::new();
    for i in 0..N {
        let (assertion, jti) = fresh_assertion(120);
        let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(token(first, &assertion).await.status, 200);
        assert_error(&token(second, &assertion).await, 401, "invalid_client");
        assert_error(&token(first, &assertion).await, 401, "invalid_client");
        used.push(jti);
    }
    assert_eq!(upstream.count(), N);
    // Each key lives on the primary of its own slot: all three hold some.
    let mut total = 0;
    for node in &cluster.nodes {
        let keys = dbsize(node.port()).await;
        assert!(keys > 0, "primary {} holds no key of {N}", node.port());
        total += keys;
    }
    assert_eq!(total, N as u64);
    for jti in &used {
        let owner = cluster.owner(&assertion_key(jti)).await;
        let exists: bool = redis_cmd(owner, redis::cmd("EXISTS").arg(assertion_key(jti)))
            .await
            .expect("EXISTS");
        assert!(exists, "{jti} not on the primary of its slot");
    }
}

/// Moves `key`'s slot from its owner to another primary, in two steps so that the caller sees
/// `ASK` (slot migrating, key already moved) and then `MOVED` (slot reassigned).
struct Migration {
    slot: u16,
    from: u16,
    to: u16,
    to_id: String,
}

impl Migration {
    async fn begin(cluster: &RedisCluster, key: &str) -> Migration {
        let slot = cluster.slot(key).await;
        let from = cluster.owner(key).await;
        let to = cluster
            .nodes
            .iter()
            .map(RedisServer::port)
            .find(|p| *p != from)
            .expect("another primary");
        let from_id = RedisCluster::node_id(from).await;
        let to_id = RedisCluster::node_id(to).await;
        let setslot = |state: &str, id: &str| {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SETSLOT").arg(slot).arg(state).arg(id);
            cmd
        };
        let _: () = redis_cmd(to, &setslot("IMPORTING", &from_id))
            .await
            .expect("IMPORTING");
        let _: () = redis_cmd(from, &setslot("MIGRATING", &to_id))
            .await
            .expect("MIGRATING");
        let mut migrate = redis::cmd("MIGRATE");
        migrate.arg("127.0.0.1").arg(to).arg(key).arg(0).arg(5000);
        let _: () = redis_cmd(from, &migrate).await.expect("MIGRATE");
        Migration {
            slot,
            from,
            to,
            to_id,
        }
    }

    async fn finish(&self, cluster: &RedisCluster) {
        for node in &cluster.nodes {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SETSLOT")
                .arg(self.slot)
                .arg("NODE")
                .arg(&self.to_id);
            let _: () = redis_cmd(node.port(), &cmd).await.expect("SETSLOT NODE");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_slot_is_followed_through_ask_and_moved() {
    let cluster = RedisCluster::start().await;
    let (upstream, j) = start_with(&cluster_toml(&cluster.toml_list()), default_clients()).await;
    wait_readyz_store(&j, 200, Duration::from_secs(5)).await;
    let (assertion, jti) = fresh_assertion(120);
    assert_eq!(token(&j, &assertion).await.status, 200);
    let key = assertion_key(&jti);

    // Migrating: the key is already on the target; the source answers ASK.
    let migration = Migration::begin(&cluster, &key).await;
    let on_target: bool = redis_cmd(migration.to, redis::cmd("EXISTS").arg(&key))
        .await
        .unwrap_or(false);
    assert!(
        !on_target,
        "a plain EXISTS on the importing node must not see the key"
    );
    assert_error(&token(&j, &assertion).await, 401, "invalid_client");

    // Reassigned: the source answers MOVED.
    migration.finish(&cluster).await;
    assert_error(&token(&j, &assertion).await, 401, "invalid_client");
    assert_eq!(cluster.owner(&key).await, migration.to);
    let moved: bool = redis_cmd(migration.to, redis::cmd("EXISTS").arg(&key))
        .await
        .expect("EXISTS");
    assert!(moved && migration.from != migration.to);
    // New assertions still land and are refused the second time.
    for _ in 0..5 {
        let (assertion, _) = fresh_assertion(120);
        assert_eq!(token(&j, &assertion).await.status, 200);
        assert_error(&token(&j, &assertion).await, 401, "invalid_client");
    }
    assert_eq!(upstream.count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn check_online_pings_every_primary_of_the_cluster() {
    let cluster = RedisCluster::start().await;
    let dir = ConfigDir::new(&cluster_toml(&cluster.toml_list()), &default_clients());
    let Ran {
        code,
        stdout,
        stderr,
    } = dir.check_online();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("cluster_state ok, 3 primaries serving slots; every primary answered PING"),
        "{stdout}"
    );
    drop(cluster);
    let Ran { code, stdout, .. } = dir.check_online();
    assert_eq!(code, 1, "{stdout}");
}
