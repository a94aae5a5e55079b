//! logship: a transaction-log-shipping warm-standby replicator.
//!
//! # Layout
//!
//! | module  | owns                                                                 |
//! |---------|----------------------------------------------------------------------|
//! | [`wal`] | the write-ahead log: format, group-commit writer, reader, recovery   |
//! | [`store`] | the key-value state machine: keyspace, logged effects, apply, snapshots |
//! | [`resp`] | the Redis protocol: bounded parser, replies, command table and keyspace commands |
//! | [`primary`] | the primary server: data directory, recovery, connections, checkpoints |
//! | [`bench`] | built-in benchmarks (`logship bench wal`), library side              |
//! | [`cli`] | command-line commands (`init`, `primary`, `bench`, …); thin glue |
//!
//! The arrows point one way: `wal` knows nothing of the modules above it;
//! `store` knows neither `wal` nor `resp`; `resp` uses `store` only; `primary`
//! joins them.

pub mod bench;
pub mod cli;
pub mod primary;
pub mod resp;
pub mod store;
pub mod wal;
