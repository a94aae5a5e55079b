//! The Redis protocol (RESP2): request parsing with limits, reply encoding, and
//! the command table with the keyspace commands.
//!
//! | module     | owns                                                        |
//! |------------|-------------------------------------------------------------|
//! | `parser`   | framing requests (multibulk and inline), bounded            |
//! | `reply`    | encoding replies                                            |
//! | `glob`     | `KEYS`/`SCAN MATCH` patterns                                |
//! | `commands` | the command table; keyspace commands as reads plus effects |
//! | `auth`     | `requirepass`: the password and the `AUTH`/`NOAUTH` gate    |
//! | `client`   | a connection's id, name and AUTH state; SELECT, COMMAND, CLIENT, HELLO |
//! | `session`  | one client session for every role: batching, limits, MULTI/EXEC, WATCH, QUIT; the `Role` trait for what differs |
//!
//! `resp` uses `store` (keys and effects) and knows nothing of the WAL.

pub mod auth;
pub mod client;
pub mod commands;
pub mod glob;
pub mod parser;
pub mod reply;
pub mod session;

pub use parser::{parse, Frame, Limits, ProtocolError};
pub use reply::Reply;
