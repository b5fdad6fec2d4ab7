//! The operator tools of SPEC §2 other than `serve`, one file per subcommand:
//!
//! - [`check`]: load a configuration and summarise it (clients, credentials, warnings);
//! - [`demo`]: a stub authorization server plus two real jargate processes, walked through
//!   accepted and refused requests;
//! - [`keygen`]: new key pairs (PEM, JWK, JWK Set);
//! - [`sign`]: client assertions and request objects for testing;
//! - [`explain`]: every §5 rule on one token, with the proxy's verdict.
//!
//! [`online`] contacts what a configuration names (`check --online`, `explain`); [`spki`] encodes public keys as SPKI PEM. Shared here: exit codes, argument parsers and the
//! few helpers for plain-text output.

/// `println!` that ignores a closed stdout (`jargate explain ... | head`): no panic, no noise.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

pub mod check;
pub mod check_mtls;
pub mod compliance;
pub mod demo;
pub mod explain;
pub mod keygen;
pub mod online;
pub mod sign;
pub mod spki;

use crate::keys::Alg;
use std::io::IsTerminal;
use std::path::Path;

/// Something was refused or failed (invalid token, broken config, existing file, ...).
pub const EXIT_FAILURE: u8 = 1;
/// The command line or its inputs could not be used.
pub const EXIT_USAGE: u8 = 2;

/// clap value parser for a JWS algorithm name.
pub fn alg_arg(text: &str) -> Result<Alg, String> {
    Alg::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Alg::ALL.iter().map(|a| a.name()).collect();
        format!("{text:?} is not one of {}", names.join(" "))
    })
}

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub use crate::clock::rfc3339;

/// How output is decorated: ANSI colours only on a terminal (and never with `NO_COLOR`).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn stdout() -> Style {
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn good(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn bad(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// Pads `text` with spaces to `width` characters (colour codes excluded by the caller).
pub fn pad(text: &str, width: usize) -> String {
    let len = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(len)))
}
