//! Process logging (SPEC §8): the stderr format (text, or one flat JSON object per line), the
//! non-blocking, batching writer in front of stderr (`batch`), and the bridge that carries Pingora's `log` records
//! into `tracing` with anything of the request beyond method and path removed.
//!
//! Nothing secret may reach a log line, also from inside Pingora: its error lines end with a
//! request summary (see `proxy::Gateway::request_summary`, method and path only), and every
//! record it emits is scrubbed here of query strings and JWT-shaped text as a second guard.

mod batch;

use batch::Batched;
use clap::ValueEnum;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use tracing_subscriber::fmt::writer::{EitherWriter, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Pingora's own debug logs print whole request headers (an upstream `Authorization: Basic`
/// carrying a client's secret in legacy mode, bearer tokens): they are capped at `info`,
/// whatever `RUST_LOG` asks for.
const NEVER_DEBUG: [&str; 3] = [
    "pingora_proxy=info",
    "pingora_core=info",
    "pingora_http=info",
];

static FORMAT: OnceLock<Format> = OnceLock::new();
/// The buffer in front of stderr (`None` only if its thread could not start: then lines go
/// straight to stderr).
static BATCHED: OnceLock<Batched> = OnceLock::new();
/// Until the proxy serves, lines are written straight to stderr: a start-up failure that ends
/// the process at once (some inside Pingora) is never left in the buffer.
static BUFFERED: AtomicBool = AtomicBool::new(false);

/// Installs the subscriber and the `log` bridge. Called once, before anything logs.
pub fn init(format: Format) {
    let _ = FORMAT.set(format);
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let max_level = filter.max_level_hint();
    if let Ok(batched) = Batched::start("jargate-log", std::io::stderr()) {
        let _ = BATCHED.set(batched);
    }
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(Switch)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let registry = tracing_subscriber::registry().with(filter);
    // Not `try_init`: that would install the plain `log` bridge instead of `Scrubbed`.
    let installed = match format {
        Format::Text => tracing::subscriber::set_global_default(registry.with(layer)),
        Format::Json => tracing::subscriber::set_global_default(
            registry.with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false),
            ),
        ),
    };
    if installed.is_ok() {
        let level = max_level
            .map(level_filter)
            .unwrap_or(log::LevelFilter::Trace);
        if log::set_boxed_logger(Box::new(Scrubbed {
            inner: tracing_log::LogTracer::new(),
        }))
        .is_ok()
        {
            log::set_max_level(level);
        }
    }
}

/// The filter of `RUST_LOG` (`info` when unset or invalid), Pingora's crates capped at `info`.
fn filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let mut filter = rust_log
        .and_then(|spec| tracing_subscriber::EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    // Only a level above info is capped: added to `RUST_LOG=warn`, the caps would raise
    // Pingora's own lines to info instead.
    let above_info = filter
        .max_level_hint()
        .is_some_and(|level| level > tracing::level_filters::LevelFilter::INFO);
    for directive in NEVER_DEBUG.iter().filter(|_| above_info) {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// From now on, lines go through the buffer (called once the proxy is about to serve).
pub fn buffer_from_now() {
    BUFFERED.store(true, Ordering::Release);
}

/// Straight to stderr before [`buffer_from_now`], through the batching buffer after.
struct Switch;

impl<'a> MakeWriter<'a> for Switch {
    type Writer = EitherWriter<&'static Batched, std::io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        match BATCHED.get() {
            Some(batched) if BUFFERED.load(Ordering::Acquire) => EitherWriter::A(batched),
            _ => EitherWriter::B(std::io::stderr()),
        }
    }
}

/// Writes out every buffered line. Call right before the process exits.
pub fn flush() {
    if let Some(batched) = BATCHED.get() {
        batched.flush_now(&mut std::io::stderr());
    }
}

/// Lines dropped because stderr could not keep up.
pub fn dropped_lines() -> usize {
    BATCHED.get().map_or(0, Batched::dropped_lines)
}

/// A fatal start-up error: `jargate: …` as text, or one JSON object in the JSON format.
pub fn fatal(message: &str) {
    if FORMAT.get() == Some(&Format::Json) {
        tracing::error!(fatal = true, "{message}");
        flush();
    } else {
        flush();
        eprintln!("jargate: {message}");
    }
}

fn level_filter(level: tracing::level_filters::LevelFilter) -> log::LevelFilter {
    use tracing::level_filters::LevelFilter as L;
    match level {
        L::OFF => log::LevelFilter::Off,
        L::ERROR => log::LevelFilter::Error,
        L::WARN => log::LevelFilter::Warn,
        L::INFO => log::LevelFilter::Info,
        L::DEBUG => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Forwards `log` records (Pingora's) to `tracing`, scrubbed, and without the source file of
/// the build machine.
struct Scrubbed {
    inner: tracing_log::LogTracer,
}

impl log::Log for Scrubbed {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        log::Log::enabled(&self.inner, metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        let text = scrub(&text);
        self.inner.log(
            &log::Record::builder()
                .args(format_args!("{text}"))
                .level(record.level())
                .target(record.target())
                .build(),
        );
    }

    fn flush(&self) {}
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `work` (a request's decision) with its request id available to [`request_id`], so
/// that a line logged deep inside (a store failure) still names its request.
pub async fn with_request_id<F: std::future::Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// The id of the request being decided on this task, `""` outside one.
pub fn request_id() -> String {
    REQUEST_ID.try_with(String::clone).unwrap_or_default()
}

/// Removes what may be secret from a free-text line: every query string (from `?` to the next
/// white space) and every JWT-shaped run (`eyJ…`).
pub fn scrub(text: &str) -> Cow<'_, str> {
    if !text.contains('?') && !text.contains("eyJ") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['?', 'e']) {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        if let Some(query) = tail.strip_prefix('?') {
            out.push_str("?[redacted]");
            rest = skip_while(query, |c| !c.is_whitespace());
        } else if tail.starts_with("eyJ") {
            out.push_str("[redacted]");
            rest = skip_while(tail, |c| c.is_ascii_alphanumeric() || "-_.=".contains(c));
        } else {
            out.push('e');
            rest = tail.strip_prefix('e').unwrap_or_default();
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn skip_while(text: &str, keep: impl Fn(char) -> bool) -> &str {
    let end = text.find(|c: char| !keep(c)).unwrap_or(text.len());
    &text[end..]
}

#[cfg(test)]
mod tests {
    use super::{filter, scrub};
    use tracing::level_filters::LevelFilter;

    #[test]
    fn pingora_is_capped_at_info_and_never_raised() {
        // The caps must not make `warn` verbose: no filter directive above `warn` is added.
        assert_eq!(
            filter(Some("warn")).max_level_hint(),
            Some(LevelFilter::WARN)
        );
        assert_eq!(filter(None).max_level_hint(), Some(LevelFilter::INFO));
        let debug = filter(Some("debug")).to_string();
        for cap in super::NEVER_DEBUG {
            assert!(debug.contains(cap), "{debug}");
        }
    }

    #[test]
    fn scrub_removes_query_strings_and_jwts() {
        assert_eq!(
            scrub("Fail to proxy: x, GET /authorize?request=eyJa.b.c&x=1, Host: h"),
            "Fail to proxy: x, GET /authorize?[redacted] Host: h"
        );
        assert_eq!(
            scrub("token eyJhbGc.eyJzdWI.sig end"),
            "token [redacted] end"
        );
        assert_eq!(scrub("nothing here"), "nothing here");
        assert_eq!(scrub("ends with?"), "ends with?[redacted]");
        assert_eq!(scrub("é e?x é"), "é e?[redacted] é");
    }
}
