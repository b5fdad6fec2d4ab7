//! The running state shared by the proxy, the admin listener and the reloader: the current
//! configuration snapshot (swapped whole, never edited) and the single-use store.

use crate::config::{Backend, Snapshot};
use crate::store::{memory::MemoryStore, Store};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct App {
    snapshot: ArcSwap<Snapshot>,
    pub store: Arc<dyn Store>,
    serving: AtomicBool,
}

impl App {
    pub fn new(snapshot: Snapshot) -> Result<Arc<App>, String> {
        let store: Arc<dyn Store> = match snapshot.settings.store.backend {
            Backend::Memory => Arc::new(MemoryStore::new(snapshot.settings.store.max_entries)),
            Backend::Redis => return Err("store.backend: redis is not available".into()),
        };
        Ok(Arc::new(App {
            snapshot: ArcSwap::from_pointee(snapshot),
            store,
            serving: AtomicBool::new(false),
        }))
    }

    /// The snapshot a request keeps from start to finish, even if a reload swaps in another.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn swap(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    pub fn set_serving(&self) {
        self.serving.store(true, Ordering::Release);
    }

    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }
}

/// Seconds since the Unix epoch; the only clock the request path reads.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
