//! The `memory` store: a bounded moka cache per process, each entry expiring at its own time.
//! When it is full it refuses new entries rather than evict live ones: forgetting a `jti`
//! before its expiry would let a replay through.

use super::{Store, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use moka::sync::Cache;
use moka::Expiry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub struct MemoryStore {
    cache: Cache<String, Entry>,
    /// Exact count of entries not yet expired or removed (moka's own count lags behind).
    live: Arc<AtomicU64>,
    max_entries: u64,
}

impl MemoryStore {
    pub fn new(max_entries: u64) -> MemoryStore {
        // No capacity bound in moka itself: eviction must never drop a live jti. The bound is
        // enforced in `admit` instead.
        let live = Arc::new(AtomicU64::new(0));
        let on_evict = live.clone();
        let cache = Cache::builder()
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_key, _value, _cause| {
                on_evict.fetch_sub(1, Ordering::Relaxed);
            })
            .build();
        MemoryStore {
            cache,
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

    fn admit(&self) -> Result<(), StoreError> {
        if self.len() < self.max_entries {
            return Ok(());
        }
        // Expired entries are only counted out when moka's housekeeping runs.
        self.cache.run_pending_tasks();
        if self.len() < self.max_entries {
            Ok(())
        } else {
            Err(StoreError::Full)
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        if self.cache.contains_key(key) {
            return Ok(false);
        }
        self.admit()?;
        let entry = self.cache.entry_by_ref(key).or_insert_with(|| Entry {
            value: Bytes::new(),
            ttl,
        });
        if entry.is_fresh() {
            self.live.fetch_add(1, Ordering::Relaxed);
        }
        Ok(entry.is_fresh())
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        self.admit()?;
        self.live.fetch_add(1, Ordering::Relaxed);
        self.cache.insert(key.to_owned(), Entry { value, ttl });
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        Ok(self.cache.remove(key).map(|e| e.value))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_accepted_once_until_it_expires() {
        let store = MemoryStore::new(100);
        let ttl = Duration::from_millis(200);
        assert_eq!(store.insert_once("k", ttl).await, Ok(true));
        assert_eq!(store.insert_once("k", ttl).await, Ok(false));
        assert_eq!(store.insert_once("other", ttl).await, Ok(true));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(store.insert_once("k", ttl).await, Ok(true));
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
    async fn pushed_requests_are_taken_once() {
        let store = MemoryStore::new(10);
        let ttl = Duration::from_secs(60);
        store.put("p", Bytes::from_static(b"x"), ttl).await.unwrap();
        assert_eq!(store.take("p").await, Ok(Some(Bytes::from_static(b"x"))));
        assert_eq!(store.take("p").await, Ok(None));
    }
}
