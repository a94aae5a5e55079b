//! The standby: receives the log, replays it continuously, serves reads.
//!
//! | module   | owns                                                              |
//! |----------|-------------------------------------------------------------------|
//! | `replay` | the replay thread: follow the received LSN, apply, delay          |
//! | `node`   | the standby process: start-up, seeding, checkpoints, status       |
//! | `serve`  | read-only RESP: reads from the replayed keyspace, writes refused  |

pub mod node;
pub mod replay;
pub mod serve;
