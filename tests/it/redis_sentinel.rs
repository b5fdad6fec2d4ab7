//! The redis store on a Sentinel set (SPEC §7): one primary, one replica and three sentinels on
//! loopback ([`SentinelSet`]), two jargate replicas asking the sentinels for the primary.
//!
//! * a forced failover (`SENTINEL FAILOVER`) under traffic: every request answered within the
//!   timeout budget, refusals (503) only around the switch, service back on its own; with
//!   `redis_wait_replicas = 1` every accepted assertion is on the new primary and its replay is
//!   refused at both replicas; the idle replica's first request after the switch goes to the
//!   new primary;
//! * the primary killed: the sentinels promote the replica and both jargate replicas follow;
//! * `check --online` names the primary the sentinels report.

use super::redis_store::{fresh_assertion, token, wait_readyz_store};
use crate::common::*;
use jargate::store::jti_key;
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
async fn a_forced_failover_under_traffic_is_followed_and_loses_no_accepted_jti() {
    let set = SentinelSet::start().await;
    let toml = sentinel_toml(&set, 1);
    let upstream = StubUpstream::start().await;
    let busy = Jargate::start(upstream.addr(), &toml, default_clients()).await;
    let idle = Jargate::start(upstream.addr(), &toml, default_clients()).await;
    wait_readyz_store(&busy, 200, Duration::from_secs(5)).await;
    wait_readyz_store(&idle, 200, Duration::from_secs(5)).await;
    let (old, new) = (set.primary.port(), set.replica.port());

    let traffic = {
        let busy = busy.proxy_addr();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut sent = Vec::new();
            // Bounded: at most 30 s and 3000 requests, whatever happens.
            let end = Instant::now() + Duration::from_secs(30);
            while !flag.load(std::sync::atomic::Ordering::Relaxed)
                && Instant::now() < end
                && sent.len() < 3000
            {
                let (assertion, jti) = fresh_assertion(120);
                let at = Instant::now();
                let resp = post_form(busy, TOKEN, &assertion_form(&assertion)).await;
                if resp.status == 503 {
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
        });
        (stop, task)
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let failover_at = Instant::now();
    set.force_failover().await;
    set.wait_primary(new, Duration::from_secs(15)).await;
    let switched_at = Instant::now();

    // The idle replica's first request since the switch: the probe has moved it (within its
    // 1 s interval); a write on the old primary could not be acknowledged by a replica.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (assertion, jti) = fresh_assertion(120);
    let resp = token(&idle, &assertion).await;
    assert_eq!(resp.status, 200, "idle replica after the switch: {}", resp.text());
    assert!(
        holds(new, &assertion_key(&jti)).await,
        "the idle replica wrote elsewhere than the new primary"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    traffic.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = traffic.1.await.expect("traffic task");

    let accepted: Vec<&Sent> = sent.iter().filter(|s| s.status == 200).collect();
    let refused: Vec<&Sent> = sent.iter().filter(|s| s.status == 503).collect();
    eprintln!(
        "failover: {} requests, {} accepted, {} refused (503); sentinels switched {:?} after SENTINEL FAILOVER",
        sent.len(),
        accepted.len(),
        refused.len(),
        switched_at - failover_at
    );
    assert!(
        sent.iter().all(|s| s.status == 200 || s.status == 503),
        "statuses: {:?}",
        sent.iter().map(|s| s.status).collect::<Vec<_>>()
    );
    let slowest = sent.iter().map(|s| s.took).max().unwrap_or_default();
    assert!(
        slowest < Duration::from_millis(2000),
        "a request took {slowest:?}: beyond store.timeout_ms (1 s) and its margin"
    );
    assert!(
        sent.iter().any(|s| s.status == 200 && s.at < failover_at),
        "no traffic before the failover"
    );
    // Refusals only around the switch: none once the sentinels name the new primary and a
    // timeout (1 s) plus a probe interval (1 s) have passed.
    let settled = switched_at + Duration::from_millis(2000);
    let late: Vec<Duration> = refused
        .iter()
        .filter(|s| s.at > settled)
        .map(|s| s.at - switched_at)
        .collect();
    assert!(late.is_empty(), "refused after the switch settled: {late:?}");
    assert!(
        sent.iter().any(|s| s.status == 200 && s.at > settled),
        "no request accepted after the switch"
    );
    if let (Some(first), Some(last)) = (refused.first(), refused.last()) {
        eprintln!(
            "refusal window: {:?} (from {:?} after SENTINEL FAILOVER)",
            last.at + last.took - first.at,
            first.at.saturating_duration_since(failover_at)
        );
    }

    // WAIT 1: every accepted jti reached the replica that is now primary, and no replica
    // accepts it again.
    for s in &accepted {
        assert!(
            holds(new, &assertion_key(&s.jti)).await,
            "accepted jti {} is not on the new primary",
            s.jti
        );
    }
    let forwarded = upstream.count();
    assert_eq!(
        forwarded,
        accepted.len() + 1,
        "the upstream saw other requests than the accepted ones"
    );
    for (i, s) in accepted.iter().enumerate() {
        let at = if i % 2 == 0 { &busy } else { &idle };
        assert_error(&token(at, &s.assertion).await, 401, "invalid_client");
    }
    assert_error(&token(&busy, &assertion).await, 401, "invalid_client");
    assert_eq!(upstream.count(), forwarded, "a replay reached the upstream");
    assert_ne!(old, new);
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
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
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
    let config = dir.config();
    let Ran {
        code,
        stdout,
        stderr,
    } = run_jargate(&["check", "--config", &config, "--online"]);
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
    let Ran { code, stdout, .. } = run_jargate(&["check", "--config", &config, "--online"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("redis sentinel service"), "{stdout}");
}
