//! The write-ahead log: segmented, checksummed, crash-safe. Its files go
//! through [`crate::fs`], so the same code runs on the real file system and on
//! the faulty in-memory one.
//!
//! | module     | owns                                                            |
//! |------------|-----------------------------------------------------------------|
//! | `format`   | byte layouts of segment and record headers, naming, checksums   |
//! | `options`  | how a log is opened: identity, segment size, limits, fsync policy |
//! | `spare`    | the next segment's file, prepared off the hot path; claims of it |
//! | `segment`  | turning a prepared file into a segment, writing into it         |
//! | `writer`   | the append/wait API and opening the writer                      |
//! | `queue`    | what appenders and the writer thread share: queue, position, state |
//! | `group_commit` | the writer thread: one write and one fsync per batch, taps, publish |
//! | `tap`      | code told of records on the writer's thread as they become durable |
//! | `scan`     | walking segments, classifying the end of the log and damage     |
//! | `recovery` | opening a log: torn-tail repair, refusing other damage          |
//! | `reader`   | iterating records from any LSN                                  |
//! | `raw`      | cutting shippable chunks of encoded records out of segments     |
//! | `mirror`   | the standby's byte-identical copy: check, write, sync chunks     |
//! | `timeline` | timeline history files: switches, fencing of ended timelines   |
//! | `error`    | [`WalError`], naming file, offset and LSN                       |

pub mod error;
pub mod format;
mod group_commit;
pub mod mirror;
pub mod options;
mod queue;
pub mod raw;
pub mod reader;
pub mod recovery;
pub mod scan;
mod segment;
mod spare;
pub mod tap;
pub mod timeline;
pub mod writer;

pub use error::WalError;
pub use format::{format_lsn, RecordKind};
pub use mirror::{ChunkError, Mirror};
pub use raw::{RawChunk, RawReader};
pub use reader::{Record, WalReader};
pub use recovery::{open, Recovery};
pub use scan::{scan_dir, ScanReport, TornTail};
pub use spare::prepare_segment_file;
pub use writer::{Appended, Position, SyncPolicy, Wal, WalOptions};
