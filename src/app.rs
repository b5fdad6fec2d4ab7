//! The running state shared by the proxy, the admin listener and the background tasks: the
//! current configuration snapshot (swapped whole, never edited), the single-use store, the
//! remote key cache and the metrics. Built once per process; reloads swap only the snapshot.

use crate::clock::unix_now;
use crate::config::{Backend, Snapshot};
use crate::jwks::JwksCache;
use crate::metrics::{CountedStore, Metrics};
use crate::store::{memory::MemoryStore, redis::RedisStore, Store};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct App {
    snapshot: ArcSwap<Snapshot>,
    pub store: Arc<dyn Store>,
    pub jwks: JwksCache,
    pub metrics: Arc<Metrics>,
    serving: AtomicBool,
}

impl App {
    pub fn new(snapshot: Snapshot) -> Result<Arc<App>, String> {
        // Built once: a reload does not switch the store (backend, topology, timeout).
        let settings = &snapshot.settings.store;
        let store: Arc<dyn Store> = match (&snapshot.redis, settings.backend) {
            // No I/O: the connection is made in the background.
            (Some(topology), _) => Arc::new(RedisStore::connect(
                topology,
                Duration::from_millis(settings.timeout_ms),
                settings.redis_wait_replicas,
            )?),
            (None, Backend::Memory) => Arc::new(MemoryStore::new(settings.max_entries)),
            (None, Backend::Redis) => return Err("store: redis backend without a topology".into()),
        };
        let metrics = Arc::new(Metrics::new());
        let store = Arc::new(CountedStore::new(store, metrics.clone()));
        let anchors = crate::roots::load(&snapshot.settings.upstream)?;
        let jwks = JwksCache::new(metrics.clone(), crate::roots::root_store(&anchors)?)?;
        let app = App {
            snapshot: ArcSwap::from_pointee(snapshot),
            store,
            jwks,
            metrics,
            serving: AtomicBool::new(false),
        };
        app.record_loaded(&app.snapshot());
        Ok(Arc::new(app))
    }

    /// The snapshot a request keeps from start to finish, even if a reload swaps in another.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn swap(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        self.record_loaded(&snapshot);
        self.snapshot.store(snapshot);
    }

    /// Sets the gauges that describe the serving configuration.
    fn record_loaded(&self, snapshot: &Snapshot) {
        let m = &self.metrics;
        m.config_loaded.set(unix_now() as f64);
        m.record_snapshot(snapshot);
        m.clients.set(snapshot.registry.len() as i64);
        m.unenforced_clients
            .set(crate::gate::report::unenforced_clients(snapshot).len() as i64);
        let count = |f: fn(&crate::config::Client) -> usize| {
            snapshot.registry.clients().map(|c| f(c)).sum::<usize>() as i64
        };
        let set = |use_: &str, source: &str, n: i64| {
            m.credentials.with_label_values(&[use_, source]).set(n);
        };
        set(
            "request_object",
            "registered",
            count(|c| c.jar_keys.all().len()),
        );
        set(
            "client_assertion",
            "registered",
            count(|c| c.auth_keys.all().len()),
        );
        // Remote keys are counted by the cache as their sets arrive.
        let mut remote = Vec::new();
        for client in snapshot.registry.clients() {
            remote.extend(
                client
                    .jar_jwks_uris
                    .iter()
                    .map(|u| (u.clone(), "request_object")),
            );
            remote.extend(
                client
                    .auth_jwks_uris
                    .iter()
                    .map(|u| (u.clone(), "client_assertion")),
            );
        }
        self.jwks.track(remote);
    }

    pub fn set_serving(&self) {
        self.serving.store(true, Ordering::Release);
    }

    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }
}
