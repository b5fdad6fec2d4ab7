//! The `jargate` command line (SPEC §2).

use clap::{Parser, Subcommand, ValueEnum};
use jargate::config::Snapshot;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "jargate", version, about = "Enforce JAR and private_key_jwt in front of an OAuth server")]
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

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (the default).
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate the configuration, the registry and every key; exit 1 with reasons.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Some(Command::Serve { config }) => serve(config),
        None => match cli.config {
            Some(config) => serve(config),
            None => {
                eprintln!("jargate: --config FILE is required (see jargate --help)");
                ExitCode::from(2)
            }
        },
        Some(Command::Check { config }) => check(config),
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(config: PathBuf) -> ExitCode {
    let snapshot = match Snapshot::load(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("jargate: {e}");
            return ExitCode::FAILURE;
        }
    };
    match jargate::server::run(snapshot) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jargate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(config: PathBuf) -> ExitCode {
    match Snapshot::load(&config) {
        Ok(snapshot) => {
            for warning in &snapshot.registry.warnings {
                println!("warning: {warning}");
            }
            println!(
                "ok: {} ({} clients)",
                config.display(),
                snapshot.registry.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
