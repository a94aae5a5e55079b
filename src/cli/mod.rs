//! Command-line interface: argument parsing (clap) and one module per command.
//! Commands print one clear line on error and exit non-zero; never a backtrace.
//!
//! | module   | owns                                                           |
//! |----------|----------------------------------------------------------------|
//! | `parse`  | parsers for sizes, durations, sync policies, LSNs              |
//! | `exit`   | exit statuses (0 sound, 1 usage/IO, 2 torn tail, 3 corruption, 4 fenced, 78 configuration) |
//! | `config` | `logship config check`: effective settings and their sources (the logic is `crate::config`) |
//! | `target` | what a PATH argument names (WAL dir, data dir, segment file)   |
//! | `verify` | `logship verify`                                               |
//! | `dump`   | `logship dump`: arguments, record sources, the walk; `dump_print` (lines, JSON, the printer), `dump_filter` (`--effect`, `--key`, times) |
//! | `demo`   | `logship demo`: arguments; the stories are `demo_failover` (primary, standby, crash, promote) and `demo_wal` (torn tail, recovery) |
//! | `bench`  | `logship bench wal`, `bench ship`, `bench lag`                 |
//! | `init`   | `logship init`                                                 |
//! | `primary`| `logship primary`                                              |
//! | `standby`| `logship standby`                                              |
//! | `status` | `logship status`                                               |
//! | `ship`   | `logship ship`: a data directory to one standby, once or always |
//! | `promote`| `logship promote`: the LSN check, fencing, online/offline switch |
//! | `faultproxy` | `logship fault-proxy` (hidden): the TCP fault proxy, for tests |
//! | `rejoin` | `logship rejoin`: an old primary becomes a standby of the new one |
//! | `run`    | `logship run --node NAME`: a node of the cluster, as its data directory says; rejoins after a fence |
//! | `drill`  | `logship drill`: a failover rehearsed on a copy of a standby    |
//! | `secure` | flags shared by those: TLS files, the RESP password file       |
//! | `completions` | `logship completions SHELL`, and `logship man DIR` (hidden): what a package installs beside the binary |
//! | `monitor`| `--metrics`, `--on-event` flags of `primary` and `standby`     |
//! | `reload` | SIGHUP: the command line re-read from scratch into the running role's configuration |

pub mod archive;
mod archive_verify;
mod bench;
mod completions;
mod config;
pub mod demo;
mod demo_check;
mod demo_failover;
mod demo_wal;
pub mod drill;
pub mod dump;
pub mod dump_filter;
pub mod dump_print;
pub mod exit;
mod faultproxy;
mod init;
mod monitor;
pub mod parse;
mod primary;
pub mod promote;
pub mod rejoin;
pub mod reload;
pub mod restore;
pub mod run;
pub mod secure;
mod ship;
mod standby;
mod status;
pub mod target;
pub mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  the log is sound
  1  usage or I/O error (bad flag, missing path, not a WAL, unreadable file)
  2  torn tail: recovery would truncate it, after saving a copy (.broken)
  3  corruption: recovery refuses to open the log";

const PRIMARY_EXIT_CODES_HELP: &str = "\
Exit codes:
  0  stopped cleanly (SIGTERM or SIGINT)
  1  could not start or serve: usage or I/O error, damaged log, address in
     use, a failed WAL
  4  fenced: a promotion elsewhere fenced this primary; it refused to start,
     or stopped while fenced. Rejoin it as a standby (logship rejoin).
 78  configuration error: a flag that does not parse or does not fit with
     the others, or a file a flag names (key, password, certificate) missing
     or invalid, or logship.toml or a LOGSHIP_* variable is not valid;
     nothing was started";

const STANDBY_EXIT_CODES_HELP: &str = "\
Exit codes:
  0  stopped cleanly (SIGTERM or SIGINT)
  1  could not start or serve: I/O error, damaged received log, address in
     use, a primary's directory
  4  promoted in place, then fenced in turn (as primary)
 78  configuration error: a flag that does not parse or does not fit with
     the others, or a file a flag names (key, password, certificate) missing
     or invalid, or logship.toml or a LOGSHIP_* variable is not valid;
     nothing was started";

const STATUS_EXIT_CODES_HELP: &str = "\
With any --warn-* or --crit-* threshold, status is a monitoring plugin: its
first line is the verdict (LOGSHIP OK|WARNING|CRITICAL|UNKNOWN - ...), --json
adds it as \"check\", and the exit code is:
  0  OK: every measure is below its thresholds
  1  WARNING: a --warn-* threshold was reached, or the node is a primary
     fenced by a promotion elsewhere (whatever the thresholds)
  2  CRITICAL: a --crit-* threshold was reached
  3  UNKNOWN: the node is stopped or cannot be read
Without thresholds: 0, or 1 when the directory cannot be read.";

/// logship: transaction-log shipping for warm standbys.
#[derive(Debug, Parser)]
#[command(name = "logship", version, about, propagate_version = true)]
pub struct Cli {
    /// Log lines as text (default) or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// The configuration file (default: /etc/logship/logship.toml, when it
    /// exists; see docs/configuration.md).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Read no configuration file (the LOGSHIP_* environment still applies).
    #[arg(long, global = true, conflicts_with = "config")]
    pub no_config: bool,
    /// This node of the cluster the configuration file describes ([[node]]):
    /// its data directory, addresses and settings become the command's
    /// flags (also LOGSHIP_NODE).
    #[arg(long, global = true, value_name = "NAME")]
    pub node: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines (stderr) are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, fields, message).
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every record of a WAL the way recovery would.
    ///
    /// PATH is a WAL directory, a data directory containing wal/, or one segment
    /// file. Prints one summary line (segments, records, first/last LSN, bytes,
    /// scan speed). When the log is not sound, names the file, byte offset and LSN
    /// of the first problem and says whether recovery would truncate a torn tail
    /// or refuse to open the log.
    #[command(after_help = EXIT_CODES_HELP)]
    Verify(verify::VerifyArgs),
    /// Print the records of a WAL, one line each (like pg_waldump).
    ///
    /// PATH is a WAL directory, a data directory containing wal/, or one segment
    /// file. Each line shows the LSN (HIGH/LOW hex and decimal), the time the
    /// record was appended (UTC), kind, payload length, timeline, checksum
    /// verdict and what the record did: its effects separated by "; ", e.g.
    /// "SELECT 2; FLUSHALL" or "SET user:1 (5 bytes, expires
    /// 2026-12-05T23:10:00.000Z)". A payload that does not decode is named
    /// with its first bytes. --effect, --key, --from-time and --to-time
    /// choose records (all must hold). At damage, a last line on stderr names
    /// the file, offset and LSN and says whether it is a torn tail or corruption.
    #[command(after_help = EXIT_CODES_HELP)]
    Dump(dump::DumpArgs),
    /// Show failover end to end, in a temporary directory on loopback.
    ///
    /// Starts a primary and a standby, writes through a real RESP connection,
    /// ships on a short schedule, shows status, kills the primary (SIGKILL),
    /// promotes the standby with the LSN check, verifies that every write
    /// acknowledged before the last completed shipment is on the new primary,
    /// writes to it, and reports RPO, RTO, what was shipped and the compression.
    /// With --wal-crash it shows the write-ahead log surviving a torn write
    /// instead. Exits non-zero if any step did not hold; deletes its directory
    /// unless --keep is given.
    Demo(demo::DemoArgs),
    /// Archive a data directory's log to object storage (--data-dir D --to
    /// URL [--once]), or inspect an archive (list, verify).
    Archive(Box<archive::ArchiveArgs>),
    /// Restore a new standby data directory from an archive, to a time, an
    /// LSN, or the latest point (point-in-time restore).
    Restore(Box<restore::RestoreArgs>),
    /// Built-in benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Create a primary data directory.
    Init(init::InitArgs),
    /// Serve a primary data directory over the Redis protocol.
    #[command(after_help = PRIMARY_EXIT_CODES_HELP)]
    Primary(primary::PrimaryArgs),
    /// Run a node of the cluster (--node NAME) as its data directory says:
    /// a primary, or a standby; promoted, it ships to the other nodes; fenced
    /// by a promotion, it rejoins the promoted node as a standby by itself.
    ///
    /// The configuration file describes the cluster's nodes ([[node]] tables:
    /// name, data-dir, listen, ship-listen, upstream, own settings); the
    /// [primary] and [standby] sections hold the settings of either role. The
    /// same file serves every node, and a node's command line never changes
    /// when roles do. See docs/cluster.md.
    #[command(after_help = run::EXIT_CODES_HELP)]
    Run(run::RunArgs),
    /// Run a warm standby: receive shipments (or follow an archive), replay
    /// them continuously, serve read-only RESP.
    #[command(after_help = STANDBY_EXIT_CODES_HELP)]
    Standby(standby::StandbyArgs),
    /// Show a node's role, position and lag (from the running node, or from its
    /// files when it is stopped).
    #[command(after_help = STATUS_EXIT_CODES_HELP)]
    Status(status::StatusArgs),
    /// Ship a primary's log to a standby, once (--once, for cron) or continuously.
    ///
    /// Works on a running primary (ships up to the durable LSN it reports on its
    /// admin socket) or a stopped one (ships the valid log on disk, changing
    /// nothing). A standby too far behind is first seeded with the newest snapshot.
    Ship(ship::ShipArgs),
    /// Make a standby the primary, with the LSN check.
    ///
    /// Steps, each printed as it goes: read the standby's received and applied
    /// LSN and the primary's last reported durable LSN; with --primary, take the
    /// old primary's final shipment and fence it; wait until everything received
    /// is applied; check that nothing the primary had durable is missing (else
    /// state the loss and refuse, unless --force); write the new timeline's
    /// history, then serve writes — in place when the standby runs, or leaving a
    /// directory for `logship primary` when it does not.
    #[command(after_help = promote::EXIT_CODES_HELP)]
    Promote(promote::PromoteArgs),
    /// A TCP proxy injecting network faults (testing aid).
    #[command(hide = true)]
    FaultProxy(faultproxy::FaultProxyArgs),
    /// Make an old primary's stopped data directory a standby of the new primary.
    ///
    /// Asks the new primary (its RESP address) for its timeline history, checks
    /// the system id, and finds where this directory's timeline ended. If the
    /// old log holds no write past that point, it is kept and follows the new
    /// timeline; if it does, the divergent range is reported, its records are
    /// saved under diverged/ (read them with `logship dump`), and the log and
    /// snapshots are emptied so the new primary re-seeds the standby. Prints the
    /// `logship standby` command to run next.
    #[command(after_help = rejoin::EXIT_CODES_HELP)]
    Rejoin(rejoin::RejoinArgs),
    /// Rehearse a failover on a copy of a standby, leaving the standby untouched.
    ///
    /// Copies the standby's newest snapshot and received log (consistently, even
    /// while it runs) to a scratch directory, promotes the copy, serves it with
    /// `logship primary` on a free loopback port, checks that its keyspace at
    /// the promotion LSN has the standby's digest, writes and reads a key, and
    /// prints the measured RTO (to the first acknowledged write) and RPO (how far
    /// behind the primary the standby was). Removes the copy unless --keep.
    #[command(after_help = drill::EXIT_CODES_HELP)]
    Drill(drill::DrillArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    ///
    /// The .deb package installs all three, where each shell looks for them:
    /// /usr/share/bash-completion/completions/logship,
    /// /usr/share/zsh/vendor-completions/_logship,
    /// /usr/share/fish/vendor_completions.d/logship.fish.
    Completions(completions::CompletionsArgs),
    /// Write the man pages, one per command, to a directory.
    #[command(hide = true)]
    Man(completions::ManArgs),
    /// The configuration file: check it, show every setting and its source.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

/// Parses the command line, runs the command and maps errors to one line on
/// stderr and a non-zero exit code (see [`exit::Status`]).
pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let env = |var: &str| std::env::var_os(var);
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let layered = match crate::config::argv::prepare(&Cli::command(), argv.clone(), &env) {
        Ok(l) => l,
        Err(e) => {
            crate::say_err!("logship: error: {e}");
            return exit::Status::Config.into();
        }
    };
    let parsed = Cli::command().try_get_matches_from(&layered.argv);
    let cli = match parsed.and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(cli.log_format, layered.log_level());
    let result = match cli.command {
        Command::Verify(a) => verify::run(a),
        Command::Dump(a) => dump::run(a),
        Command::Archive(a) => archive::run(*a),
        Command::Restore(a) => restore::run(*a),
        Command::Demo(a) => demo::run(a),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Init(a) => init::run(a),
        Command::Primary(a) => primary::run(a, reload::primary_reloader(&this_process())),
        Command::Standby(a) => {
            let r = this_process();
            standby::run(
                a,
                reload::standby_reloader(&r),
                reload::primary_reloader(&r),
            )
        }
        Command::Run(a) => run::run(a, &layered, &argv),
        Command::Status(a) => status::run(a),
        Command::Ship(a) => ship::run(a),
        Command::Promote(a) => promote::run(a, &layered),
        Command::FaultProxy(a) => faultproxy::run(a),
        Command::Rejoin(a) => rejoin::run(a),
        Command::Drill(a) => drill::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => completions::man(a),
        Command::Config(c) => config::run(c, &layered, log_format_name(cli.log_format)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let status = e
                .downcast_ref::<exit::Failure>()
                .map_or(exit::Status::Usage, |f| f.status);
            crate::say_err!("logship: error: {}", one_line(&e));
            status.into()
        }
    }
}

/// Runs the start-up pipeline again on `argv` and this process's
/// environment: the file is read anew, layered under the environment and the
/// flags, parsed by clap, and turned into the command's configuration (every
/// file it names read and checked).
///
/// # Errors
/// The file, a `LOGSHIP_*` variable or a flag is not valid (the message
/// names the file, line and key), a file a setting names cannot be read, or
/// `argv` does not run a node.
pub fn reparse(
    argv: &[std::ffi::OsString],
) -> anyhow::Result<crate::node::reload::Reloaded<reload::RoleConfig>> {
    use clap::{CommandFactory, FromArgMatches};
    let env = |var: &str| std::env::var_os(var);
    let layered = crate::config::argv::prepare(&Cli::command(), argv.to_vec(), &env)?;
    let cli = Cli::command()
        .try_get_matches_from(&layered.argv)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| anyhow::anyhow!("{}", clap_first_line(&e)))?;
    let config = match cli.command {
        Command::Primary(a) => reload::RoleConfig::Primary(Box::new(primary::config(a)?)),
        Command::Standby(a) => reload::RoleConfig::Standby(Box::new(standby::config(a)?)),
        Command::Run(_) => run::current_config(argv)?,
        _ => anyhow::bail!("this command runs no node: it has no configuration to reload"),
    };
    Ok(crate::node::reload::Reloaded {
        config,
        log_level: layered.log_level().map(str::to_string),
    })
}

/// Re-reads this process's own command line ([`reparse`]), for SIGHUP.
pub(crate) fn this_process() -> crate::node::reload::Reloader<reload::RoleConfig> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    crate::node::reload::Reloader::new(move || reparse(&argv))
}

/// An error and its causes on one line, each cause once: a message that
/// already quotes its cause (`key file F: No such file…`) is not followed by
/// the cause again.
fn one_line(e: &anyhow::Error) -> String {
    crate::node::reload::one_line(e)
}

/// `--help` and `--version` print in full and succeed; a bad command line prints
/// clap's first line and a hint, and exits 1 (2 is reserved for a torn tail).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            exit::Status::Usage.into()
        }
        _ => {
            let first = clap_first_line(&e);
            crate::say_err!("logship: error: {first} (see '{}')", help_hint());
            match invoked().as_deref() {
                // A service's flags: restarting it with them changes nothing.
                Some("primary" | "standby" | "run") => exit::Status::Config.into(),
                _ => exit::Status::Usage.into(),
            }
        }
    }
}

/// clap's first paragraph, on one line ("unexpected argument '--x' found").
fn clap_first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.split("\n\n").next().unwrap_or("invalid command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The command the command line names (its first word that is one).
fn invoked() -> Option<String> {
    use clap::CommandFactory;
    let argv: Vec<_> = std::env::args_os().collect();
    crate::config::argv::subcommand_at(&Cli::command(), &argv).map(|(_, c)| c)
}

/// `logship COMMAND --help` when the command line names a known command.
fn help_hint() -> String {
    match invoked() {
        Some(c) => format!("logship {c} --help"),
        None => "logship --help".into(),
    }
}

fn log_format_name(format: LogFormat) -> &'static str {
    match format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    }
}

/// Logs at `level` (`[log] level`, `LOGSHIP_LOG_LEVEL` or `LOGSHIP_LOG`,
/// checked by `config`; default info) in `format`. The level can be changed
/// later by a reload ([`crate::node::reload::set_log_level`]).
fn init_logging(format: LogFormat, level: Option<&str>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::EnvFilter;
    let level = level.unwrap_or("info");
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Text => registry
            .with(lines.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())))
            .try_init(),
        LogFormat::Json => registry.with(lines.json().flatten_event(true)).try_init(),
    };
    if installed.is_ok() {
        crate::node::reload::install_log_level(
            level,
            Box::new(move |l| {
                let f = EnvFilter::try_new(l).map_err(|e| format!("log level '{l}': {e}"))?;
                handle.reload(f).map_err(|e| e.to_string())
            }),
        );
    }
}
