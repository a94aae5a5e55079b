//! The standby's side of shipping.
//!
//! | module     | owns                                                        |
//! |------------|-------------------------------------------------------------|
//! | `accept`   | the listener: TLS or plain, the handshake limit             |
//! | `limit`    | the per-IP limit on failed handshakes                       |
//! | `intake`   | the receiving state, its hooks, how a shipment may end      |
//! | `session`  | one connection: authenticate, check, write, acknowledge     |
//! | `commit`   | the group commit: one fsync and one ack per batch           |
//! | `report`   | telling the primary of this node's downstreams              |
//! | `seed`     | receiving a snapshot when seeded                            |
//! | `history`  | a primary's timeline history: checked, installed or refused |
//! | `local`    | the log delivered on this node (an archive followed): same path as a link |

pub mod accept;
pub mod commit;
mod history;
pub mod intake;
pub mod limit;
pub mod local;
mod report;
pub mod seed;
pub mod session;

pub use history::HistoryRefusal;
