//! Background tasks that keep the serving state fresh: the configuration reloader (file
//! watching with `notify`, Kubernetes ConfigMap `..data` swaps, editors' rename-into-place,
//! `SIGHUP`) and the refresher of remote JWK Sets. A new configuration is read and validated
//! whole, off the request path, then swapped in; a broken one is refused and the last good one
//! keeps serving. Requests in flight keep the snapshot they started with.

use crate::app::App;
use crate::config::Snapshot;
use crate::keys::Refresh;
use async_trait::async_trait;
use notify::{Event, EventKind, RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// Quiet time after the last file event before reloading: editors and `kubectl` write in bursts.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// A burst that never goes quiet still reloads after this long.
const DEBOUNCE_MAX: Duration = Duration::from_millis(600);

pub struct Reloader {
    pub app: Arc<App>,
    pub config_path: PathBuf,
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (tx, mut events) = mpsc::unbounded_channel::<Event>();
        let mut watch = WatchSet::default();
        // Events are filtered on the watcher's own thread: a busy unrelated file in a watched
        // directory (a log) never wakes this task nor restarts the debounce.
        let names = watch.names.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
            if let Ok(event) = res {
                if is_relevant(&names, &event) {
                    let _ = tx.send(event);
                }
            }
        });
        let mut watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "file watching unavailable; reload with SIGHUP");
                None
            }
        };
        if let Some(w) = watcher.as_mut() {
            watch.update(w, &self.watched_files());
        }
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP");
                None
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = recv_signal(&mut hangup) => {
                    self.reload("SIGHUP").await;
                }
                Some(_) = events.recv() => {
                    settle(&mut events).await;
                    self.reload("file change").await;
                }
            }
            // Watch what the newest version names, refused or not: a key file written after
            // the registry that names it must still be noticed.
            if let Some(w) = watcher.as_mut() {
                watch.update(w, &self.watched_files());
            }
        }
    }
}

/// Waits until no file event came for `DEBOUNCE` (at most `DEBOUNCE_MAX` in all).
async fn settle(events: &mut mpsc::UnboundedReceiver<Event>) {
    let deadline = tokio::time::Instant::now() + DEBOUNCE_MAX;
    loop {
        let quiet = tokio::time::sleep(DEBOUNCE);
        tokio::select! {
            _ = quiet => return,
            _ = tokio::time::sleep_until(deadline) => return,
            event = events.recv() => if event.is_none() { return },
        }
    }
}

async fn recv_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

impl Reloader {
    fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = self.app.snapshot().files.clone();
        files.extend(crate::config::named_files(&self.config_path));
        files.sort();
        files.dedup();
        files
    }

    /// Loads, validates and swaps in the configuration; `true` when it was swapped.
    async fn reload(&self, cause: &str) -> bool {
        let path = self.config_path.clone();
        let loaded = tokio::task::spawn_blocking(move || Snapshot::load(&path)).await;
        let metrics = &self.app.metrics;
        match loaded {
            Ok(Ok(new)) => {
                let old = self.app.snapshot();
                if old.proxy_addr != new.proxy_addr || old.admin_addr != new.admin_addr {
                    tracing::warn!(
                        "listen addresses change only on restart; still serving the old ones"
                    );
                }
                if old.settings.store.backend != new.settings.store.backend
                    || old.redis != new.redis
                    || old.settings.store.redis_wait_replicas
                        != new.settings.store.redis_wait_replicas
                {
                    tracing::warn!(
                        "the store backend changes only on restart; still using the old one"
                    );
                }
                let clients = new.registry.len();
                self.app.swap(new);
                metrics.reloads.with_label_values(&["ok"]).inc();
                metrics.config_reload_ok.set(1);
                tracing::info!(cause, clients, "configuration reloaded");
                crate::gate::report::log_unenforced(&self.app.snapshot());
                true
            }
            Ok(Err(reason)) => {
                metrics.reloads.with_label_values(&["failed"]).inc();
                metrics.config_reload_ok.set(0);
                tracing::error!(cause, %reason, "configuration refused; the last good one keeps serving");
                false
            }
            Err(e) => {
                metrics.reloads.with_label_values(&["failed"]).inc();
                metrics.config_reload_ok.set(0);
                tracing::error!(cause, error = %e, "configuration reload failed");
                false
            }
        }
    }
}

/// The directories watched and the file names in them that matter (shared with the watcher's
/// callback, which drops every other event).
#[derive(Default)]
struct WatchSet {
    dirs: HashSet<PathBuf>,
    names: Arc<RwLock<HashSet<OsString>>>,
}

impl WatchSet {
    /// Watches the directory of every file, and of the file a symbolic link points to:
    /// renames into place and ConfigMap `..data` swaps are directory events.
    fn update(&mut self, watcher: &mut notify::RecommendedWatcher, files: &[PathBuf]) {
        let mut dirs = HashSet::new();
        let names: HashSet<OsString> = files
            .iter()
            .filter_map(|f| f.file_name().map(OsString::from))
            .collect();
        // Before any new directory is watched, so its first events are judged by these names.
        if let Ok(mut shared) = self.names.write() {
            *shared = names;
        }
        for file in files {
            let target = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
            for path in [file.as_path(), target.as_path()] {
                if let Some(dir) = path.parent() {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    dirs.insert(dir.to_path_buf());
                }
            }
        }
        for gone in self.dirs.difference(&dirs) {
            let _ = watcher.unwatch(gone);
        }
        for new in dirs.difference(&self.dirs) {
            if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %new.display(), error = %e, "cannot watch directory");
            }
        }
        self.dirs = dirs;
    }
}

/// An event about a watched file name, or a ConfigMap `..data` swap; reads are not changes.
fn is_relevant(names: &RwLock<HashSet<OsString>>, event: &Event) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    let Ok(names) = names.read() else {
        return true;
    };
    event.paths.iter().any(|p| {
        p.file_name()
            .is_some_and(|name| names.contains(name) || name.as_encoded_bytes().starts_with(b".."))
    })
}

/// Fetches every client's remote JWK Sets at start and keeps them fresh.
pub struct KeyRefresher {
    pub app: Arc<App>,
}

#[async_trait]
impl BackgroundService for KeyRefresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => {
                    let snapshot = self.app.snapshot();
                    let clients = &snapshot.settings.clients;
                    let refresh = Refresh {
                        every: Duration::from_secs(clients.jwks_refresh_secs),
                        min_interval: Duration::from_secs(clients.jwks_min_refetch_secs),
                    };
                    let mut uris: Vec<&str> = Vec::new();
                    for client in snapshot.registry.clients() {
                        uris.extend(client.jar_jwks_uris.iter().map(String::as_str));
                        uris.extend(client.auth_jwks_uris.iter().map(String::as_str));
                    }
                    self.app.jwks.refresh_due(uris, refresh).await;
                }
            }
        }
    }
}
