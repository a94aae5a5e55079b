//! Log shipping over TCP: versioned, length-prefixed frames; mutual HMAC
//! authentication; zstd-compressed chunks of whole records that the standby
//! checks before writing; acknowledgements of the durable received LSN.
//!
//! Split by the side that runs it; the two sides share only the protocol.
//!
//! | module     | owns                                                          |
//! |------------|---------------------------------------------------------------|
//! | `protocol` | what both ends speak: frames, messages, auth, TLS, seed types |
//! | `send`     | the primary's side: link, shipments once or continuous, read-ahead, tap, pace, shipper, schedules |
//! | `receive`  | the standby's side: accept, intake, session, group commit, seeding |
//!
//! The arrows point one way: `send` and `receive` use `protocol`, never each
//! other; `protocol` uses neither.

pub mod protocol;
pub mod receive;
pub mod send;

pub use protocol::auth::{AuthKey, CommandProof};
pub use protocol::compress::Compression;
pub use receive::intake::{InlineApply, Received, ReceiverShared};
pub use send::error::ShipError;
pub use send::flight::{Acked, ShipReport};
pub use send::options::{LogSource, ShipMode, ShipOptions};
pub use send::sender::ship;
