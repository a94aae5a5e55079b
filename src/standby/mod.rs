//! The standby: receives the log, replays it continuously, serves reads.
//!
//! | module   | owns                                                              |
//! |----------|-------------------------------------------------------------------|
//! | `replay` | the replay thread: follow the received LSN, apply, delay          |
//! | `node`   | what the standby's tasks share: identity, checkpoints, status     |
//! | `start`  | the standby process: start-up, listeners, housekeeping, hand-over |
//! | `apply`  | replay's target: decode and apply received records in slices     |
//! | `follow` | a standby following an archive: new WAL objects into the receiver |
//! | `cascade` | a cascading standby: what it received, shipped onward            |
//! | `seeds`  | seeding: a received snapshot installed; the newest one loaded     |
//! | `serve`  | its part of a client session: reads from the replayed keyspace, writes refused |
//! | `state_lock` | the keyspace's lock: reads get in between replay's slices |
//! | `promote_online` | online promotion: stop receiving, switch timeline, serve as primary |
//! | `reload` | SIGHUP: the configuration re-read, what may change switched over |
//! | `spare_segment` | the new timeline's first segment, prepared ahead of a promotion |

mod apply;
pub mod cascade;
pub mod follow;
pub mod node;
pub mod promote_online;
mod reload;
pub mod replay;
pub mod seeds;
pub mod serve;
pub mod spare_segment;
pub mod start;
pub mod state_lock;
