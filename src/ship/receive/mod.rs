//! The standby's side of shipping.
//!
//! | module     | owns                                                        |
//! |------------|-------------------------------------------------------------|
//! | `accept`   | the listener: TLS or plain, the handshake limit             |
//! | `limit`    | the per-IP limit on failed handshakes                       |
//! | `intake`   | the receiving state, its hooks, how a shipment may end      |
//! | `session`  | one connection: authenticate, check, write, acknowledge     |
//! | `commit`   | the group commit: one fsync and one ack per batch           |
//! | `seed`     | receiving a snapshot when seeded                            |
//! | `history`  | a primary's timeline history: checked, installed or refused |

pub mod accept;
pub mod commit;
mod history;
pub mod intake;
pub mod limit;
pub mod seed;
pub mod session;
