//! Where a shipment stands with the standby: the chunks in flight, what the
//! standby acknowledged ([`Acked`]), what it said of its own downstreams
//! ([`Reported`]), and what the shipment did ([`ShipReport`]).

use crate::ship::protocol::tree::DownstreamTree;
use std::collections::VecDeque;
use std::time::Duration;

/// What the standby has acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acked {
    pub received_lsn: u64,
    pub applied_lsn: u64,
    pub unix_ms: u64,
}

/// What the standby last said of the standbys it ships to (its
/// `Downstreams` messages), kept across its links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reported {
    pub tree: DownstreamTree,
    /// When it said so; 0 = never (an older standby never does).
    pub unix_ms: u64,
    /// Its last `Downstreams` did not decode: why. The link goes on shipping.
    pub error: Option<String>,
}

/// What a shipment did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    pub from_lsn: u64,
    pub to_lsn: u64,
    pub records: u64,
    /// Log bytes shipped (uncompressed).
    pub raw_bytes: u64,
    /// Bytes of chunk data on the wire (compressed).
    pub wire_bytes: u64,
    /// Snapshot LSN when the standby was seeded first.
    pub seeded_at_lsn: Option<u64>,
    pub elapsed: Duration,
}

/// Chunks sent and not yet acknowledged: `(end_lsn, bytes)` in LSN order.
#[derive(Default)]
pub(super) struct InFlight {
    chunks: VecDeque<(u64, u64)>,
    pub(super) bytes: u64,
}

impl InFlight {
    pub(super) fn push(&mut self, end_lsn: u64, bytes: u64) {
        self.chunks.push_back((end_lsn, bytes));
        self.bytes += bytes;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Forgets the chunks the standby has received up to `received_lsn`.
    pub(super) fn acked(&mut self, received_lsn: u64) {
        while let Some(&(end, bytes)) = self.chunks.front() {
            if end > received_lsn {
                break;
            }
            self.chunks.pop_front();
            self.bytes -= bytes;
        }
    }
}
