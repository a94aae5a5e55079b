//! logship: a transaction-log-shipping warm-standby replicator.
//!
//! # Layout
//!
//! | module  | owns                                                                 |
//! |---------|----------------------------------------------------------------------|
//! | [`ship`] | the ship protocol: frames, auth, sender (primary), receiver (standby) |
//! | [`standby`] | the standby: receive, replay continuously, serve reads          |
//! | [`status`] | the `status` report: JSON contract and human form                |
//! | [`wal`] | the write-ahead log: format, group-commit writer, reader, recovery   |
//! | [`admin`] | the admin socket (Unix, 0600): JSON requests to a running node      |
//! | [`bench`] | built-in benchmarks (`logship bench wal`), library side              |
//! | [`cli`] | command-line commands (`dump`, `verify`, `bench`, `demo`); thin glue |
//!
//! The arrows point one way: `wal` knows nothing of the modules above it.

pub mod admin;
pub mod bench;
pub mod cli;
pub mod ship;
pub mod standby;
pub mod status;
pub mod wal;
