//! Log shipping over TCP: versioned, length-prefixed frames; mutual HMAC
//! authentication; zstd-compressed chunks of whole records that the standby
//! checks before writing; acknowledgements of the durable received LSN.
//!
//! | module     | owns                                                       |
//! |------------|------------------------------------------------------------|
//! | `frame`    | the length-prefixed frame codec and its size limit         |
//! | `message`  | the protocol's messages and their byte layouts             |
//! | `auth`     | the shared key and the challenge–response proofs           |
//! | `sender`   | the primary's side: connect, seed, stream, track acks      |
//! | `ahead`    | chunks read and compressed ahead of the link, on all cores |
//! | `pace`     | a link's chunk size, adapted to where it is cut; its rate cap |
//! | `accept`   | the standby's listener: TLS or plain, the handshake limit  |
//! | `resume`   | a one-shot shipment that resumes after cuts while it progresses |
//! | `intake`   | the standby's receiving state, its hooks, how a shipment may end |
//! | `receiver` | the standby's side: authenticate, check, write, acknowledge |
//! | `commit`   | the standby's group commit: one fsync and one ack per batch |
//! | `seed`     | moving a snapshot to a standby that is too far behind      |
//! | `seed_receive` | the standby's side of seeding                          |
//! | `schedule` | every N / cron / continuous                                |
//! | `shipper`  | the primary's per-standby shipping tasks and their status |
//! | `tap`      | continuous chunks sent from the WAL writer's thread       |
//! | `tls`      | TLS on the link (rustls, mutual) and the stream type      |
//! | `limit`    | the standby's per-IP limit on failed handshakes           |

pub mod accept;
pub mod ahead;
pub mod auth;
pub mod commit;
pub mod frame;
pub mod intake;
pub mod limit;
pub mod message;
pub mod pace;
pub mod receiver;
pub mod resume;
pub mod schedule;
pub mod seed;
pub mod seed_receive;
pub mod sender;
pub mod shipper;
pub mod tap;
pub mod tls;

pub use auth::{AuthKey, CommandProof};
pub use intake::{InlineApply, Received, ReceiverShared};
pub use message::Compression;
pub use sender::{ship, Acked, LogSource, ShipError, ShipMode, ShipOptions, ShipReport};
