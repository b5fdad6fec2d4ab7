//! A store wrapper that counts every call and its result in
//! `jargate_store_operations_total{op,result}`. Here rather than in `store`, so the store
//! backends know nothing of the metrics.

use super::Metrics;
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

pub struct CountedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl CountedStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> CountedStore {
        CountedStore { inner, metrics }
    }

    fn count<T>(&self, op: &str, result: &Result<T, StoreError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(StoreError::Full) => "full",
            Err(StoreError::Timeout) => "timeout",
            Err(StoreError::Unavailable(_)) => "unavailable",
        };
        self.metrics
            .store_ops
            .with_label_values(&[op, outcome])
            .inc();
    }
}

#[async_trait]
impl Store for CountedStore {
    async fn insert_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let result = self.inner.insert_once(key, ttl).await;
        self.count("insert_once", &result);
        result
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        let result = self.inner.put(key, value, ttl).await;
        self.count("put", &result);
        result
    }

    async fn take(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let result = self.inner.take(key).await;
        self.count("take", &result);
        result
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let result = self.inner.remove(key).await;
        self.count("remove", &result);
        result
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}
