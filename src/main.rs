//! The `jargate` command line (SPEC §2): `serve` runs the proxy; the operator tools (`check`,
//! `demo`, `keygen`, `sign`, `explain`) live in `jargate::cli`, one module each.

// One `unsafe` call, allowed where it is made: an allocator option (`purge_freed_memory_at_once`).
#![deny(unsafe_code)]

use clap::{Parser, Subcommand};
use jargate::cli;
use jargate::config::Snapshot;
use jargate::logs::{self, Format as LogFormat};
use jargate::server::ServeOptions;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc rather than the system allocator: a proxied request allocates and frees many small
/// buffers across threads (see Cargo.toml for the measured gain).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (v3's `mi_option_e`; the sys crate names only v2's).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed pages go back to the system at once instead of after mimalloc's delay, which runs only
/// when the thread that owns them allocates again: a configuration load frees its temporary
/// trees on a thread that then goes idle, and the process kept ~60 MiB it no longer used with
/// 10 000 clients (`benches/memory.sh`). Under load this costs ~0.02 `madvise` per request.
#[allow(unsafe_code)]
fn purge_freed_memory_at_once() {
    // SAFETY: `mi_option_set` takes no pointer; an option may be set at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

#[derive(Parser)]
#[command(
    name = "jargate",
    version,
    about = "Enforce JAR, PAR and private_key_jwt in front of an OAuth authorization server"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// Configuration file, for `serve` when no subcommand is given.
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (the default).
    Serve {
        #[arg(long, short)]
        config: PathBuf,
        /// Take the listening sockets over from the running jargate, which hands them over
        /// when it receives SIGQUIT (graceful upgrade, no connection refused).
        #[arg(long)]
        upgrade: bool,
        /// Where the old and the new process of an upgrade meet (the same for both).
        #[arg(long, default_value = jargate::server::UPGRADE_SOCK)]
        upgrade_sock: String,
    },
    /// Validate the configuration, the registry and every key, and summarise them.
    Check(cli::check::CheckArgs),
    /// Walk accepted and refused requests through jargate on loopback (no setup needed).
    Demo,
    /// Generate a key pair: private.pem, public.pem, public.jwk.json, jwks.json.
    Keygen(cli::keygen::KeygenArgs),
    /// Build and sign a client assertion or a request object, for testing.
    Sign(cli::sign::SignArgs),
    /// Dry-run every rule on a token and show the verdict the proxy would give.
    Explain(cli::explain::ExplainArgs),
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
    let cli = Cli::parse();
    logs::init(cli.log_format);
    let code = match cli.command {
        Some(Command::Serve {
            config,
            upgrade,
            upgrade_sock,
        }) => serve(
            config,
            ServeOptions {
                upgrade,
                upgrade_sock,
            },
        ),
        None => match cli.config {
            Some(config) => serve(
                config,
                ServeOptions {
                    upgrade: false,
                    upgrade_sock: jargate::server::UPGRADE_SOCK.into(),
                },
            ),
            None => {
                logs::fatal("--config FILE is required (see jargate --help)");
                ExitCode::from(cli::EXIT_USAGE)
            }
        },
        Some(Command::Check(args)) => cli::check::run(&args),
        Some(Command::Demo) => cli::demo::run(),
        Some(Command::Keygen(args)) => cli::keygen::run(&args),
        Some(Command::Sign(args)) => cli::sign::run(&args),
        Some(Command::Explain(args)) => cli::explain::run(&args),
    };
    logs::flush();
    code
}

fn serve(config: PathBuf, options: ServeOptions) -> ExitCode {
    let snapshot = match Snapshot::load(&config) {
        Ok(s) => s,
        Err(e) => {
            logs::fatal(&e.to_string());
            return ExitCode::FAILURE;
        }
    };
    match jargate::server::run_with(&config, snapshot, &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            logs::fatal(&e);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// The option number is v3's purge delay: the only option near it whose default is 1000 ms.
    /// A mimalloc upgrade that renumbers the options fails here rather than setting another one.
    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reads an option; no pointer involved.
        let default = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1000);
    }
}
