//! The metrics that describe the serving configuration, set whenever a version is swapped in:
//! its content hash, the expiry of every registered credential and of the TLS certificate.

use super::Metrics;
use crate::config::Snapshot;
use ring::digest::{Context, SHA256};
use std::path::PathBuf;

/// Hex digits of the SHA-256 shown in `jargate_config_info{hash}`: 48 bits tell versions apart.
const HASH_HEX_DIGITS: usize = 12;

impl Metrics {
    /// Sets the configuration gauges from `snapshot` (the series of a previous version go).
    pub fn record_snapshot(&self, snapshot: &Snapshot) {
        self.config_info.reset();
        self.config_info
            .with_label_values(&[&content_hash(&snapshot.files)])
            .set(1);

        self.credential_expiry.reset();
        for client in snapshot.registry.clients() {
            for (use_, set) in [
                ("client_assertion", &client.auth_keys),
                ("request_object", &client.jar_keys),
            ] {
                for credential in set.all() {
                    if let Some(at) = credential.expires_at {
                        self.credential_expiry
                            .with_label_values(&[&client.id, use_, &credential.kid])
                            .set(at as f64);
                    }
                }
            }
        }

        self.tls_expiry.reset();
        if let Some((_, not_after)) = crate::config::tls::leaf(snapshot) {
            self.tls_expiry
                .with_label_values::<&str>(&[])
                .set(not_after as f64);
        }
    }
}

/// SHA-256 over the bytes of `files` in order (each length-prefixed, an unreadable one marked),
/// as the first [`HASH_HEX_DIGITS`] hex digits. The files are read again after the load (a few
/// small files, at start or on the reloader's task, never on the request path): if one changed
/// in between, the watcher reloads and the hash follows.
pub fn content_hash(files: &[PathBuf]) -> String {
    let mut context = Context::new(&SHA256);
    for file in files {
        match std::fs::read(file) {
            Ok(bytes) => {
                context.update(&(bytes.len() as u64).to_be_bytes());
                context.update(&bytes);
            }
            Err(_) => context.update(&u64::MAX.to_be_bytes()),
        }
    }
    let digest = context.finish();
    let mut hex = crate::random::hex(digest.as_ref());
    hex.truncate(HASH_HEX_DIGITS);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_follows_the_bytes_and_their_split_into_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "ab").unwrap();
        std::fs::write(&b, "c").unwrap();
        let first = content_hash(&[a.clone(), b.clone()]);
        assert_eq!(first.len(), HASH_HEX_DIGITS);
        assert_eq!(first, content_hash(&[a.clone(), b.clone()]));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "bc").unwrap();
        assert_ne!(first, content_hash(&[a, b]));
    }
}
