//! logship: a transaction-log-shipping warm-standby replicator.
//!
//! # Layout
//!
//! | module      | owns                                                                   |
//! |-------------|------------------------------------------------------------------------|
//! | [`clock`]   | the wall clock: Unix milliseconds, UTC text                            |
//! | [`memory`]  | memory in use, from the allocator's statistics (`--maxmemory`, `INFO memory`) |
//! | [`durable`] | the shared I/O error (operation, path), the directory fsync, small files read with a limit |
//! | [`fs`]      | the file system behind a trait: the real one, a faulty in-memory one, atomic file replacement |
//! | [`wal`]     | the write-ahead log: format, options, group-commit writer and its taps, reader, recovery, mirror, timelines |
//! | [`store`]   | the key-value state machine: values of every type, sixteen databases, logged effects, apply, watched keys, snapshots |
//! | [`resp`]    | the Redis protocol: bounded parser, replies, command table and keyspace commands, the client session every role serves |
//! | [`node`]    | what every role's node has: data directory, control file, primary.position, retention rule, reloading the configuration (SIGHUP) |
//! | [`primary`] | the primary server: recovery, connections, checkpoints, fencing, shipping |
//! | [`ship`]    | log shipping by side: `protocol` (frames, messages, auth, TLS, the downstream tree a standby reports), `send` (link, one-shot and continuous shipments, read-ahead, link tap, pace, shipper, schedules), `receive` (accept, session, group commit, seeding, the downstreams report) |
//! | [`standby`] | the standby: start-up, receive, replay continuously, seeding, serve reads, cascade onward, promote online |
//! | [`promote`] | the promotion check, offline promotion, fencing, rejoin, drills       |
//! | [`archive`] | the log in object storage: object format, names, the store, the archiver, retention, point-in-time restore |
//! | [`client`]  | talking to a node as a RESP client: the client library's errors in our words |
//! | [`admin`]   | the admin socket (Unix, 0600): JSON requests to a running node          |
//! | [`status`]  | the `status` report: JSON contract and human form; monitoring-plugin checks |
//! | [`metrics`] | watching a node: Prometheus metrics, the status page, sampled history  |
//! | [`notify`]  | telling systemd how the node is doing: READY, STATUS, WATCHDOG, STOPPING, RELOADING |
//! | [`events`]  | event hooks (`--on-event`): JSON on a command's stdin, bounded          |
//! | [`progress`]| progress of long work: a bar on a terminal, periodic log lines otherwise |
//! | [`bench`]   | built-in benchmarks (`logship bench wal`, `ship`, `lag`), library side |
//! | [`config`]  | the configuration: `logship.toml` with each key's line, `LOGSHIP_<SECTION>_<KEY>`, layered under the flags of the clap commands |
//! | [`cli`]     | command-line commands; thin glue                                       |
//! | [`faultproxy`] | a TCP proxy injecting network faults (a testing aid)                |
//!
//! The arrows point one way: `clock`, `durable`, `memory` and `progress` know nothing
//! of the rest (every layer may use them); `config` knows only `durable` (it
//! sees the commands through clap, not `cli`);
//! `fs` knows only `durable`; `wal` knows nothing of the modules above it;
//! `store` knows neither `wal` nor `resp`; `resp` uses `store` only (its
//! session loop is generic over a role, which `primary` and `standby`
//! implement); `ship` uses `wal` only; `archive` uses `wal`, `store`
//! (snapshots, to restore) and the data directory's names from `node`; `node` holds what every role's data
//! directory has; `primary` and `standby` join them; `promote` holds what
//! promotion needs of both (the check and the switch, used by the standby's
//! online promotion too). No two source files import
//! each other, directly or around a circle: `tools/check-cycles.py`, run by
//! `.ci/run`, fails when they do.

/// `println!` that does not panic when stdout is closed (`logship … | head`):
/// the line is lost and the command carries on with its work (a demo stops
/// its processes, a promotion finishes). Every line logship prints goes
/// through it.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that does not panic when stderr is closed: the exit code
/// still tells what happened.
#[macro_export]
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `print!` that does not panic when stdout is closed; see [`say!`].
#[macro_export]
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

pub mod admin;
pub mod archive;
pub mod bench;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod durable;
pub mod events;
pub mod faultproxy;
pub mod fs;
pub mod memory;
pub mod metrics;
pub mod node;
pub mod notify;
pub mod primary;
pub mod progress;
pub mod promote;
pub mod resp;
pub mod ship;
pub mod standby;
pub mod status;
pub mod store;
pub mod wal;
