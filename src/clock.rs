//! The wall clock, read in one place. Everything that decides reads the time as a parameter
//! (`now`), so tests pass their own; only the callers at the edge (a request arriving, a
//! metric being rendered, a CLI command starting) call [`unix_now`]. Imports nothing.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; the only clock the request path reads.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
