//! The wall clock, read in one place. Everything that decides reads the time as a parameter
//! (`now`), so tests pass their own; only the callers at the edge (a request arriving, a
//! metric being rendered, a CLI command starting) call [`unix_now`]. Imports no other module.

use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 3339 (UTC) text of Unix seconds, or the number itself when out of range.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// A span of seconds in words.
pub fn span(secs: f64) -> String {
    match secs.abs().round() as i64 {
        s @ 0..=119 => format!("{s} s"),
        s @ 120..=7199 => format!("{} min", s / 60),
        s @ 7200..=172_799 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// Seconds since the Unix epoch; the only clock the request path reads.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
