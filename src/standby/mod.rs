//! The standby: receives the log, replays it continuously, serves reads.
//!
//! | module   | owns                                                              |
//! |----------|-------------------------------------------------------------------|
//! | `replay` | the replay thread: follow the received LSN, apply, delay          |
//! | `node`   | the standby process: start-up, seeding, checkpoints, status       |
//! | `serve`  | read-only RESP: reads from the replayed keyspace, writes refused  |
//! | `state_lock` | the keyspace's lock: reads get in between replay's slices |
//! | `position` | `primary.position`: the primary's last reported position, kept |
//! | `promote` | online promotion: stop receiving, switch timeline, serve as primary |

pub mod node;
pub mod position;
pub mod promote;
pub mod replay;
pub mod serve;
pub mod state_lock;
