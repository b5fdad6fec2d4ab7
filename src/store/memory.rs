//! The `memory` store, per process. Pushed requests live in a moka cache with per-entry
//! expiry. Single-use keys live in a purpose-built table: a 128-bit digest (SHA-256, truncated;
//! a collision would need ~2^64 entries) and an expiry second per key, in 64 shards swept at
//! most once a second. moka spends ~370 bytes on each entry with its own expiry; this table
//! spends ~40–70, so a million live `jti`s fit in a sidecar.
//!
//! When the store is full it refuses new entries rather than evict live ones: forgetting a
//! `jti` before its expiry would let a replay through.

use super::{Store, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use moka::sync::Cache;
use moka::Expiry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const SHARDS: usize = 64;

/// One shard of single-use keys: digest → second (since the store started) it expires at.
#[derive(Default)]
struct Shard {
    expiries: HashMap<u128, u32>,
    next_sweep: u32,
}

impl Shard {
    /// Drops expired keys, at most once a second; returns how many went.
    fn sweep(&mut self, now: u32, force: bool) -> u64 {
        if !force && now < self.next_sweep {
            return 0;
        }
        self.next_sweep = now + 1;
        let before = self.expiries.len();
        self.expiries.retain(|_, expires| *expires > now);
        (before - self.expiries.len()) as u64
    }
}

/// A pushed request and the instant it expires.
type Pushed = (Bytes, Instant);

struct PushedTtl;

impl Expiry<String, Pushed> for PushedTtl {
    fn expire_after_create(&self, _key: &String, value: &Pushed, now: Instant) -> Option<Duration> {
        Some(value.1.saturating_duration_since(now))
    }
}

pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    started: Instant,
    pushed: Cache<String, Pushed>,
    /// Live entries, both kinds (expired single-use keys count until their shard is swept).
    live: Arc<AtomicU64>,
    max_entries: u64,
}

impl MemoryStore {
    pub fn new(max_entries: u64) -> MemoryStore {
        let live = Arc::new(AtomicU64::new(0));
        let on_evict = live.clone();
        let pushed = Cache::builder()
            .expire_after(PushedTtl)
            .eviction_listener(move |_, _, _| {
                on_evict.fetch_sub(1, Ordering::Relaxed);
            })
            .build();
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            started: Instant::now(),
            pushed,
            live,
            max_entries,
        }
    }

    pub fn len(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        // A poisoned shard only means a panic elsewhere mid-insert; the map is still sound.
        self.shards[index % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Room for one more entry, after sweeping everything expired if needed.
    fn admit(&self) -> Result<(), StoreError> {
        if self.len() < self.max_entries {
            return Ok(());
        }
        let now = self.now();
        for index in 0..SHARDS {
            let swept = self.shard(index).sweep(now, true);
            self.live.fetch_sub(swept, Ordering::Relaxed);
        }
        self.pushed.run_pending_tasks();
        if self.len() < self.max_entries {
            Ok(())
        } else {
            Err(StoreError::Full)
        }
    }
}

fn digest(key: &str) -> u128 {
    let hash = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash.as_ref()[..16]);
    u128::from_le_bytes(first)
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = digest(key);
        let now = self.now();
        let ttl = u32::try_from(ttl.as_secs().max(1)).unwrap_or(u32::MAX);
        // `now` is truncated to the second: one more keeps the key at least `ttl` long.
        let expires = now.saturating_add(ttl).saturating_add(1);
        let mut shard = self.shard(key as usize);
        let swept = shard.sweep(now, false);
        self.live.fetch_sub(swept, Ordering::Relaxed);
        match shard.expiries.get_mut(&key) {
            Some(at) if *at > now => return Ok(false),
            // Expired but not swept yet: the slot is reused, the count is unchanged.
            Some(at) => {
                *at = expires;
                return Ok(true);
            }
            None => {}
        }
        drop(shard);
        self.admit()?;
        let mut shard = self.shard(key as usize);
        // Another request may have taken the key while the shard was unlocked.
        if shard.expiries.get(&key).is_some_and(|at| *at > now) {
            return Ok(false);
        }
        if shard.expiries.insert(key, expires).is_none() {
            self.live.fetch_add(1, Ordering::Relaxed);
        }
        Ok(true)
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let key = digest(key);
        if self.shard(key as usize).expiries.remove(&key).is_some() {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        self.admit()?;
        self.live.fetch_add(1, Ordering::Relaxed);
        self.pushed
            .insert(key.to_owned(), (value, Instant::now() + ttl));
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        // moka's `remove` hands back an entry that expired but was not yet cleaned up.
        let taken = self.pushed.remove(key);
        Ok(taken.and_then(|(value, expires)| (Instant::now() < expires).then_some(value)))
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let found = self.pushed.get(key);
        Ok(found.and_then(|(value, expires)| (Instant::now() < expires).then_some(value)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_removed_key_is_accepted_again() {
        let store = MemoryStore::new(100);
        let ttl = Duration::from_secs(60);
        assert_eq!(store.insert_once("k", ttl).await, Ok(true));
        assert_eq!(store.remove("k").await, Ok(()));
        assert_eq!(store.len(), 0);
        assert_eq!(store.insert_once("k", ttl).await, Ok(true));
        assert_eq!(store.remove("never").await, Ok(()));
    }

    #[tokio::test]
    async fn a_key_is_accepted_once_until_it_expires() {
        let store = MemoryStore::new(100);
        let ttl = Duration::from_secs(1);
        assert_eq!(store.insert_once("k", ttl).await, Ok(true));
        assert_eq!(store.insert_once("k", ttl).await, Ok(false));
        assert_eq!(store.insert_once("other", ttl).await, Ok(true));
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(store.insert_once("k", ttl).await, Ok(true));
    }

    #[tokio::test]
    async fn a_removed_key_can_be_recorded_again() {
        let store = MemoryStore::new(10);
        let ttl = Duration::from_secs(60);
        assert!(store.insert_once("k", ttl).await.unwrap());
        store.remove("k").await.unwrap();
        assert_eq!(store.len(), 0);
        store.remove("never").await.unwrap();
        assert!(store.insert_once("k", ttl).await.unwrap());
        assert!(!store.insert_once("k", ttl).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_store_refuses_instead_of_forgetting() {
        let store = MemoryStore::new(2);
        let ttl = Duration::from_secs(60);
        assert_eq!(store.insert_once("a", ttl).await, Ok(true));
        assert_eq!(store.insert_once("b", ttl).await, Ok(true));
        assert_eq!(store.insert_once("c", ttl).await, Err(StoreError::Full));
        assert_eq!(store.insert_once("a", ttl).await, Ok(false));
    }

    #[tokio::test]
    async fn an_expired_pushed_request_cannot_be_taken() {
        let store = MemoryStore::new(10);
        store
            .put("p", Bytes::from_static(b"x"), Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.take("p").await, Ok(None));
    }

    #[tokio::test]
    async fn pushed_requests_are_taken_once() {
        let store = MemoryStore::new(10);
        let ttl = Duration::from_secs(60);
        store.put("p", Bytes::from_static(b"x"), ttl).await.unwrap();
        assert_eq!(store.take("p").await, Ok(Some(Bytes::from_static(b"x"))));
        assert_eq!(store.take("p").await, Ok(None));
        assert!(store.is_empty());
    }
}
