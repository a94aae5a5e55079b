//! Command-line interface: argument parsing (clap) and one module per command.
//! Commands print one clear line on error and exit non-zero; never a backtrace.

mod bench;
mod init;
pub mod parse;
mod primary;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// logship: transaction-log shipping for warm standbys.
#[derive(Debug, Parser)]
#[command(name = "logship", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Built-in benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Create a primary data directory.
    Init(init::InitArgs),
    /// Serve a primary data directory over the Redis protocol.
    Primary(primary::PrimaryArgs),
}

/// Parses the command line, runs the command and maps errors to one line on
/// stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Bench(cmd) => bench::run(cmd),
        Command::Init(a) => init::run(a),
        Command::Primary(a) => primary::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("logship: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGSHIP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
