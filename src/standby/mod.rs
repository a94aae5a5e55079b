//! The standby: receives the log, replays it continuously, serves reads.
//!
//! | module   | owns                                                        |
//! |----------|-------------------------------------------------------------|
//! | `replay` | the replay thread: follow the received LSN, apply, delay    |

pub mod replay;
