//! Memory of the single-use store: inserts `JARGATE_JTI_COUNT` (default 1 000 000) live `jti`
//! entries into `store::memory::MemoryStore`, keyed exactly as the gate keys them
//! (`jti_key("assertion", client_id, jti)`, 10 000 distinct client ids, 32-hex-digit `jti`,
//! 310 s time to live), and reports this process's own `VmRSS` before and after, and `VmHWM`.
//!
//! A plain program (`harness = false`): `cargo bench --bench jti_memory`. `benches/memory.sh`
//! runs it and prints the figure next to the idle RSS of `jargate serve`.

mod common;

use jargate::store::memory::MemoryStore;
use jargate::store::{jti_key, Store};
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Runs a future that completes without waiting (the memory store never waits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the memory store returned Pending"),
    }
}

/// A `VmXXX:` line of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let count: u64 = std::env::var("JARGATE_JTI_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let store = MemoryStore::new(count + 1);
    let ttl = Duration::from_secs(310);
    let before = status_kib("VmRSS:");
    let started = Instant::now();
    let seed = 0x5eed_0000_0000_u64;
    let clients: Vec<String> = (0..10_000).map(|i| format!("client-{i:06}")).collect();
    for n in 0..count {
        let client = &clients[(n % 10_000) as usize];
        let key = jti_key("assertion", client, &common::jti(seed, n));
        let fresh = ready(store.insert_once(&key, ttl)).expect("store accepts");
        assert!(fresh, "jti {n} was not new");
    }
    let elapsed = started.elapsed();
    let after = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    let example = jti_key("assertion", &clients[0], &common::jti(seed, 0));
    assert_eq!(store.len(), count);
    println!(
        "jti_memory: entries={count} key_bytes={} insert_s={:.2} ns_per_insert={:.0} rss_before_mib={:.1} rss_after_mib={:.1} rss_delta_mib={:.1} bytes_per_entry={:.0} vm_hwm_mib={:.1}",
        example.len(),
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / count as f64,
        mib(before),
        mib(after),
        mib(after.saturating_sub(before)),
        (after.saturating_sub(before) * 1024) as f64 / count as f64,
        mib(hwm),
    );
    std::hint::black_box(&store);
}
