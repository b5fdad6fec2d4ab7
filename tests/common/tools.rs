//! Programs the tests run (`redis-server`, `node`, `npm`, `python3`): found on `PATH` or the test
//! fails, naming the command that installs it. A missing dependency never skips a test.

use std::ffi::OsStr;
use std::path::PathBuf;

/// What a test that lacks `program` says: the set-up command installs every dependency of the
/// suite (the list is `xtask/src/deps.rs`).
pub fn missing_program_message(program: &str) -> String {
    format!(
        "`{program}` is not installed (not found on PATH); `cargo xtask setup test` installs \
         it, or run the whole suite with `cargo xtask test` (the list: xtask/src/deps.rs)"
    )
}

/// `program` on the search path `path` (a `PATH` value), or the failure message.
pub fn find_program(program: &str, path: &OsStr) -> Result<PathBuf, String> {
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| missing_program_message(program))
}

/// `program` on this process's `PATH`; panics with [`missing_program_message`] otherwise.
pub fn require_program(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    find_program(program, &path).unwrap_or_else(|message| panic!("{message}"))
}
