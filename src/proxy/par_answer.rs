//! The upstream's answer to a push jargate forwarded in passthrough mode: a bounded copy of a
//! `201` body, handed to `gate::pushed` at its end. The answer itself goes to the client
//! unchanged, chunk by chunk; an answer that is not a plain `201` (another status, a
//! `Content-Encoding`, a body over `pushed::MAX_ANSWER_BYTES`) is only forwarded.

use crate::gate::pushed::{self, Record};
use crate::store::Store;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use std::sync::Arc;

/// A `201` being copied until its end.
pub(super) struct ParAnswer {
    record: Record,
    copy: Vec<u8>,
    /// The body outgrew the bound: nothing will be remembered.
    overflow: bool,
}

impl ParAnswer {
    /// Starts copying when `upstream` answered a push (`record`) with a plain `201`.
    pub(super) fn watch(upstream: &ResponseHeader, record: Option<Record>) -> Option<ParAnswer> {
        let record = record?;
        let encoded = upstream
            .headers
            .get(http::header::CONTENT_ENCODING)
            .is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity"));
        (upstream.status.as_u16() == 201 && !encoded).then(|| ParAnswer {
            record,
            copy: Vec::new(),
            overflow: false,
        })
    }

    pub(super) fn copy(&mut self, chunk: Option<&Bytes>) {
        let Some(chunk) = chunk else { return };
        if self.overflow || self.copy.len() + chunk.len() > pushed::MAX_ANSWER_BYTES {
            self.overflow = true;
            self.copy = Vec::new();
            return;
        }
        self.copy.extend_from_slice(chunk);
    }

    /// At the end of the body: remembers the push under the answer's `request_uri`.
    pub(super) fn finish(self, store: Arc<dyn Store>) {
        if self.overflow {
            tracing::info!("PAR answer over the size bound: nothing remembered");
            return;
        }
        pushed::remember(store, self.record, &self.copy);
    }
}
