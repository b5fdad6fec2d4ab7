//! The buffer in front of stderr once the proxy serves: worker threads append their lines to
//! it, and one thread writes it out in batches, at most every [`FLUSH_EVERY`].
//!
//! Why not a channel to a writer thread (tracing-appender's `NonBlocking`): that thread wakes
//! for every line, and writes every line with a system call of its own. At thousands of
//! requests a second on few cores, each line then costs a context switch, a `write`, and a
//! file event for whoever watches the directory of the log (the reloader watches the
//! configuration's). Here a line is a copy into memory under a short lock; the writer wakes
//! once per batch (the first line into an empty buffer wakes it) and writes at most once
//! every `FLUSH_EVERY`: a line after a quiet spell is written at once, lines that follow
//! within `FLUSH_EVERY` gather into the next batch. So at any rate there are at most
//! `1 / FLUSH_EVERY` writes a second, and a lone line is not delayed. A line is never waited for: when stderr cannot keep up and [`MAX_PENDING`] bytes
//! wait, further lines are dropped and counted (`jargate_log_lines_dropped_total`).

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The least time between two writes to stderr: the most a line waits in memory.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Bytes waiting for stderr beyond which new lines are dropped (about 30 000 lines).
pub const MAX_PENDING: usize = 8 << 20;

/// The shared buffer; lines are appended through `&Batched` (it implements `Write`).
pub struct Batched {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<Vec<u8>>,
    /// The writer thread waits here for the first line of the next batch.
    wake: Condvar,
    /// Held while a batch is taken and written, so that batches reach stderr in order (the
    /// writer thread's and a final [`Batched::flush_now`]'s).
    out: Mutex<()>,
    dropped: AtomicUsize,
}

impl Batched {
    /// Starts the writer thread (named `name`), which writes batches to `sink`.
    pub fn start<W: Write + Send + 'static>(name: &str, sink: W) -> io::Result<Batched> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            out: Mutex::new(()),
            dropped: AtomicUsize::new(0),
        });
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || writer.run(sink))?;
        Ok(Batched { shared })
    }

    /// Lines dropped so far because stderr could not keep up.
    pub fn dropped_lines(&self) -> usize {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes out what is buffered now, on the calling thread (before the process exits).
    pub fn flush_now(&self, sink: &mut impl Write) {
        let _order = lock(&self.shared.out);
        let batch = std::mem::take(&mut *lock(&self.shared.pending));
        let _ = sink.write_all(&batch);
        let _ = sink.flush();
    }
}

impl Shared {
    fn run<W: Write>(&self, mut sink: W) {
        let mut batch = Vec::new();
        let mut last_write: Option<Instant> = None;
        loop {
            {
                let mut pending = lock(&self.pending);
                while pending.is_empty() {
                    pending = self.wake.wait(pending).unwrap_or_else(|e| e.into_inner());
                }
            }
            if let Some(wait) = last_write.and_then(|at| FLUSH_EVERY.checked_sub(at.elapsed())) {
                std::thread::sleep(wait);
            }
            last_write = Some(Instant::now());
            let _order = lock(&self.out);
            std::mem::swap(&mut batch, &mut *lock(&self.pending));
            // A failing stderr (closed) loses the batch, as an unbuffered write would.
            let _ = sink.write_all(&batch);
            let _ = sink.flush();
            // Keep the allocation for the next batch, unless one burst made it large.
            batch.clear();
            if batch.capacity() > 1 << 20 {
                batch = Vec::new();
            }
        }
    }
}

/// A poisoned lock only means a thread panicked while appending bytes: the buffer is still a
/// buffer.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Write for &Batched {
    /// Appends `buf` (the fmt layer writes one whole line per call), or drops and counts it.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut pending = lock(&self.shared.pending);
        if pending.len() + buf.len() > MAX_PENDING {
            drop(pending);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(buf.len());
        }
        let first = pending.is_empty();
        pending.extend_from_slice(buf);
        drop(pending);
        if first {
            self.shared.wake.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A sink the test can read while the writer thread owns a clone.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn written(sink: &Sink) -> String {
        String::from_utf8_lossy(&lock(&sink.0)).into_owned()
    }

    #[test]
    fn lines_reach_the_sink_in_order_within_a_batch_period() {
        let sink = Sink::default();
        let log = Batched::start("test-log", sink.clone()).expect("thread");
        let mut log = &log;
        for i in 0..1000 {
            writeln!(log, "line {i}").expect("append");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !written(&sink).contains("line 999\n") {
            assert!(Instant::now() < deadline, "not written: {}", written(&sink));
            std::thread::sleep(FLUSH_EVERY);
        }
        let text = written(&sink);
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
        assert_eq!(log.dropped_lines(), 0);
    }

    #[test]
    fn a_full_buffer_drops_and_counts_instead_of_blocking() {
        /// A stderr nobody reads: every write blocks until the test ends.
        struct Stuck(Arc<Mutex<()>>);
        impl Write for Stuck {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let _held = lock(&self.0);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new(Mutex::new(()));
        let held = lock(&gate);
        let log = Batched::start("test-log", Stuck(Arc::clone(&gate))).expect("thread");
        let mut log = &log;
        let line = vec![b'x'; 1024];
        let started = Instant::now();
        for _ in 0..(3 * MAX_PENDING / line.len()) {
            log.write_all(&line).expect("never an error");
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "appending blocked"
        );
        assert!(
            log.dropped_lines() >= MAX_PENDING / line.len(),
            "{}",
            log.dropped_lines()
        );
        drop(held);
    }

    #[test]
    fn flush_now_writes_what_is_pending_once() {
        let sink = Sink::default();
        let log = Batched::start("test-log", sink.clone()).expect("thread");
        let mut log = &log;
        writeln!(log, "first").expect("append");
        std::thread::sleep(FLUSH_EVERY * 5);
        log.write_all(b"last words\n").expect("append");
        log.flush_now(&mut sink.clone());
        assert!(
            written(&sink).ends_with("last words\n"),
            "{}",
            written(&sink)
        );
        // The writer thread finds nothing left to write twice.
        std::thread::sleep(FLUSH_EVERY * 5);
        assert_eq!(written(&sink), "first\nlast words\n");
    }
}
