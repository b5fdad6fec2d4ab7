//! The redis store on a Sentinel set (SPEC §7): one primary, one replica and three sentinels on
//! loopback ([`SentinelSet`]), two jargate replicas asking the sentinels for the primary.
//!
//! * a forced failover (`SENTINEL FAILOVER`) under traffic: every request answered within the
//!   timeout budget, refusals (503) only around the switch, service back on its own; the idle
//!   replica's first request after the switch goes to the new primary; a replay of any jti the
//!   new primary holds is refused at both replicas, and only records accepted in the switch's
//!   window can be missing there (the replay window docs/replicas.md describes);
//! * `redis_wait_replicas = 1` closes that window: an accepted jti is on the replica when the
//!   answer leaves, and nothing passes while no replica acknowledges;
//! * the primary killed: the sentinels promote the replica and both jargate replicas follow;
//! * `check --online` names the primary the sentinels report.

use super::redis_store::{fresh_assertion, token, wait_readyz_store};
use crate::common::*;
use jargate::store::jti_key;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sentinel_toml(set: &SentinelSet, wait_replicas: u32) -> String {
    format!(
        "[store]\nbackend = \"redis\"\nredis_sentinels = {}\nredis_master = \"{SENTINEL_MASTER}\"\n\
         redis_wait_replicas = {wait_replicas}\non_error = \"reject\"\ntimeout_ms = 1000\n",
        set.toml_list()
    )
}

/// The Redis key of `app-1`'s assertion `jti`.
fn assertion_key(jti: &str) -> String {
    format!("jargate:{}", jti_key("assertion", "app-1", jti))
}

async fn holds(port: u16, key: &str) -> bool {
    redis_cmd::<bool>(port, redis::cmd("EXISTS").arg(key))
        .await
        .unwrap_or(false)
}

/// One request of the traffic loop.
struct Sent {
    assertion: String,
    jti: String,
    at: Instant,
    took: Duration,
    status: u16,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_failover_under_traffic_is_followed_and_no_replay_the_new_primary_saw_passes() {
    let set = SentinelSet::start().await;
    let toml = sentinel_toml(&set, 0);
    let upstream = StubUpstream::start().await;
    let busy = Jargate::start(upstream.addr(), &toml, default_clients()).await;
    let idle = Jargate::start(upstream.addr(), &toml, default_clients()).await;
    wait_readyz_store(&busy, 200, Duration::from_secs(5)).await;
    wait_readyz_store(&idle, 200, Duration::from_secs(5)).await;
    let (old, new) = (set.primary.port(), set.replica.port());

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let busy = busy.proxy_addr();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            // Bounded: at most 30 s and 3000 requests, whatever happens.
            let end = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < end && sent.len() < 3000 {
                let (assertion, jti) = fresh_assertion(120);
                let at = Instant::now();
                let resp = post_form(busy, TOKEN, &assertion_form(&assertion)).await;
                if resp.status != 200 {
                    assert_error(&resp, 503, "temporarily_unavailable");
                }
                sent.push(Sent {
                    assertion,
                    jti,
                    at,
                    took: at.elapsed(),
                    status: resp.status,
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sent
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let failover_at = Instant::now();
    set.force_failover().await;
    set.wait_primary(new, Duration::from_secs(15)).await;
    let switched_at = Instant::now();
    // Once the sentinels agree, every replica moves within a probe interval (1 s) and a
    // store timeout (1 s).
    let settled = switched_at + Duration::from_millis(2000);

    // The idle replica's first request since the switch: its probe has moved it, so the
    // write lands on the new primary (the old one still takes writes for a few seconds, until
    // the sentinels turn it into a replica).
    tokio::time::sleep(settled - Instant::now()).await;
    let (assertion, jti) = fresh_assertion(120);
    let resp = token(&idle, &assertion).await;
    assert_eq!(
        resp.status,
        200,
        "idle replica after the switch: {}",
        resp.text()
    );
    assert!(
        holds(new, &assertion_key(&jti)).await,
        "the idle replica still writes to the old primary"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let sent = traffic.await.expect("traffic task");

    let mut on_new = Vec::new();
    let mut lost = Vec::new();
    for s in sent.iter().filter(|s| s.status == 200) {
        if holds(new, &assertion_key(&s.jti)).await {
            on_new.push(s);
        } else {
            lost.push(s);
        }
    }
    let refused: Vec<&Sent> = sent.iter().filter(|s| s.status == 503).collect();
    eprintln!(
        "failover: {} requests, {} accepted ({} of them lost with the old primary), {} refused; \
         sentinels agreed {:?} after SENTINEL FAILOVER",
        sent.len(),
        on_new.len() + lost.len(),
        lost.len(),
        refused.len(),
        switched_at - failover_at
    );
    let slowest = sent.iter().map(|s| s.took).max().unwrap_or_default();
    assert!(
        slowest < Duration::from_millis(2000),
        "a request took {slowest:?}: beyond store.timeout_ms (1 s) and its margin"
    );
    let late: Vec<Duration> = refused
        .iter()
        .filter(|s| s.at > settled)
        .map(|s| s.at - switched_at)
        .collect();
    assert!(
        late.is_empty(),
        "refused after the switch settled: {late:?}"
    );
    // What the old primary took before the failover had reached the replica; only writes in
    // the window between the promotion and the move can be lost, and none after it.
    for s in &lost {
        assert!(
            s.at > failover_at && s.at < settled,
            "a record accepted {:?} after SENTINEL FAILOVER was lost",
            s.at.saturating_duration_since(failover_at)
        );
    }
    assert!(
        on_new.iter().any(|s| s.at > settled) && on_new.iter().any(|s| s.at < failover_at),
        "traffic must run before the failover and after the switch"
    );

    // No replay of a jti the new primary holds passes, at either replica.
    let forwarded = upstream.count();
    assert_eq!(forwarded, on_new.len() + lost.len() + 1);
    for (i, s) in on_new.iter().enumerate() {
        let at = if i % 2 == 0 { &busy } else { &idle };
        assert_error(&token(at, &s.assertion).await, 401, "invalid_client");
    }
    assert_error(&token(&busy, &assertion).await, 401, "invalid_client");
    assert_eq!(upstream.count(), forwarded, "a replay reached the upstream");
    assert_ne!(old, new);
}

/// `redis_wait_replicas = 1` on a primary with one replica (`redis_url`): an accepted jti is on
/// the replica by the time the answer leaves; with the replica gone, no write is acknowledged
/// and the request is refused within the timeout, never forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_wait_replicas_an_accepted_jti_is_on_the_replica_and_without_one_nothing_passes() {
    let primary = RedisServer::start().await;
    let replica_args = vec![
        "--replicaof".to_string(),
        "127.0.0.1".to_string(),
        primary.port().to_string(),
    ];
    let mut replica = RedisServer::start_with(replica_args).await;
    wait_until("replica in sync", Duration::from_secs(10), || async {
        let info: String = redis_cmd(primary.port(), redis::cmd("INFO").arg("replication"))
            .await
            .unwrap_or_default();
        info.contains("state=online")
    })
    .await;
    let toml = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\nredis_wait_replicas = 1\ntimeout_ms = 1000\n",
        primary.url()
    );
    let (upstream, j) = start_with(&toml, default_clients()).await;
    wait_readyz_store(&j, 200, Duration::from_secs(5)).await;
    for _ in 0..20 {
        let (assertion, jti) = fresh_assertion(120);
        assert_eq!(token(&j, &assertion).await.status, 200);
        // Read at once: WAIT returned only after the replica had it.
        assert!(holds(replica.port(), &assertion_key(&jti)).await);
    }

    replica.stop();
    let (assertion, _) = fresh_assertion(120);
    let started = Instant::now();
    assert_error(&token(&j, &assertion).await, 503, "temporarily_unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream.count(), 20, "an unreplicated record was forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_is_replaced_and_both_replicas_follow_without_a_restart() {
    let mut set = SentinelSet::start().await;
    let toml = sentinel_toml(&set, 0);
    let upstream = StubUpstream::start().await;
    let a = Jargate::start(upstream.addr(), &toml, default_clients()).await;
    let b = Jargate::start(upstream.addr(), &toml, default_clients()).await;
    wait_readyz_store(&a, 200, Duration::from_secs(5)).await;
    let (before, jti_before) = fresh_assertion(120);
    assert_eq!(token(&a, &before).await.status, 200);
    let new = set.replica.port();
    wait_until("replicated", Duration::from_secs(5), || async {
        holds(new, &assertion_key(&jti_before)).await
    })
    .await;

    set.primary.stop();
    // Meanwhile: refused within the timeout, never forwarded.
    let (during, _) = fresh_assertion(120);
    let started = Instant::now();
    let resp = token(&b, &during).await;
    assert_error(&resp, 503, "temporarily_unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream.count(), 1);

    // down-after-milliseconds 500, then the vote and the promotion.
    set.wait_primary(new, Duration::from_secs(20)).await;
    wait_readyz_store(&a, 200, Duration::from_secs(3)).await;
    wait_readyz_store(&b, 200, Duration::from_secs(3)).await;
    assert_error(&token(&b, &before).await, 401, "invalid_client");
    let (after, jti_after) = fresh_assertion(120);
    assert_eq!(token(&b, &after).await.status, 200);
    assert_error(&token(&a, &after).await, 401, "invalid_client");
    assert!(holds(new, &assertion_key(&jti_after)).await);
    assert_eq!(upstream.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn check_online_names_the_primary_the_sentinels_report() {
    let set = SentinelSet::start().await;
    let dir = ConfigDir::new(&sentinel_toml(&set, 0), &default_clients());
    let Ran {
        code,
        stdout,
        stderr,
    } = dir.check_online();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let expected = format!(
        "redis sentinel service \"{SENTINEL_MASTER}\" via 127.0.0.1:{}, 127.0.0.1:{}, 127.0.0.1:{}: primary 127.0.0.1:{} answered PING",
        set.sentinels[0].port(),
        set.sentinels[1].port(),
        set.sentinels[2].port(),
        set.primary.port()
    );
    assert!(stdout.contains(&expected), "{stdout}");
    drop(set);
    let Ran { code, stdout, .. } = dir.check_online();
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("redis sentinel service"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_reach_the_servers_and_the_sentinels_and_are_never_printed() {
    let set = SentinelSet::start_with(Passwords {
        servers: Some("hunter2".into()),
        sentinels: Some("s3ntinel".into()),
    })
    .await;
    let toml = format!(
        "{}redis_password = \"hunter2\"\nredis_sentinel_password = \"s3ntinel\"\n",
        sentinel_toml(&set, 0)
    );
    let (upstream, j) = start_with(&toml, default_clients()).await;
    wait_readyz_store(&j, 200, Duration::from_secs(5)).await;
    let (assertion, _) = fresh_assertion(120);
    assert_eq!(token(&j, &assertion).await.status, 200);
    assert_error(&token(&j, &assertion).await, 401, "invalid_client");
    assert_eq!(upstream.count(), 1);

    let dir = ConfigDir::new(&toml, &default_clients());
    let Ran {
        code,
        stdout,
        stderr,
    } = dir.check_online();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("answered PING"), "{stdout}");
    assert!(!format!("{stdout}{stderr}").contains("hunter2"));

    // The sentinels' password wrong: no primary can be found, nothing passes.
    let wrong = toml.replace("s3ntinel", "wrong");
    let (upstream, j) = start_with(&wrong, default_clients()).await;
    let (assertion, _) = fresh_assertion(120);
    assert_error(&token(&j, &assertion).await, 503, "temporarily_unavailable");
    assert_eq!(upstream.count(), 0);
    let dir = ConfigDir::new(&wrong, &default_clients());
    let Ran {
        code,
        stdout,
        stderr,
    } = dir.check_online();
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(!format!("{stdout}{stderr}").contains("s3ntinel"));
    assert!(
        !j.stderr().contains("hunter2") && !j.stderr().contains("wrong@"),
        "a password is logged"
    );
}
