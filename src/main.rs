//! The `jargate` command line (SPEC §2): `serve` runs the proxy; the operator tools (`check`,
//! `demo`, `keygen`, `sign`, `explain`) live in `jargate::cli`, one module each.

use clap::{Parser, Subcommand, ValueEnum};
use jargate::cli;
use jargate::config::Snapshot;
use std::path::PathBuf;
use std::process::ExitCode;

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
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Some(Command::Serve { config }) => serve(config),
        None => match cli.config {
            Some(config) => serve(config),
            None => {
                eprintln!("jargate: --config FILE is required (see jargate --help)");
                ExitCode::from(cli::EXIT_USAGE)
            }
        },
        Some(Command::Check(args)) => cli::check::run(&args),
        Some(Command::Demo) => cli::demo::run(),
        Some(Command::Keygen(args)) => cli::keygen::run(&args),
        Some(Command::Sign(args)) => cli::sign::run(&args),
        Some(Command::Explain(args)) => cli::explain::run(&args),
    }
}

/// Pingora's own debug logs print whole request headers (an upstream `Authorization: Basic`
/// carrying a client's secret in legacy mode, bearer tokens): they are capped at `info`,
/// whatever `RUST_LOG` asks for.
const NEVER_DEBUG: [&str; 3] = [
    "pingora_proxy=info",
    "pingora_core=info",
    "pingora_http=info",
];

fn init_logs(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for directive in NEVER_DEBUG {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
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
    match jargate::server::run(&config, snapshot) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jargate: {e}");
            ExitCode::FAILURE
        }
    }
}
