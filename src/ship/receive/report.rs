//! Telling the primary what this standby knows of the standbys it ships to
//! (`--cascade-to`): a `Downstreams` message on a link of protocol version 3
//! or newer, after an acknowledgement or a keep-alive, when the tree changed.

use super::intake::ReceiverShared;
use crate::ship::protocol::message::{Message, DOWNSTREAMS_VERSION};
use std::time::{Duration, Instant};

/// Least time between two `Downstreams` on one link: under load a standby
/// acknowledges hundreds of times a second, and the tree is for people.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// What this link last told of the downstreams.
pub(super) struct DownstreamReport {
    /// The primary reads `Downstreams` (its version is 3 or newer) and this
    /// node has downstreams to tell of.
    on: bool,
    /// The body last sent; empty before the first.
    last: Vec<u8>,
    sent_at: Option<Instant>,
}

impl DownstreamReport {
    /// For a link whose primary speaks `link_version`.
    pub(super) fn new(shared: &ReceiverShared, link_version: u16) -> DownstreamReport {
        DownstreamReport {
            on: link_version >= DOWNSTREAMS_VERSION && shared.downstreams_hook().is_some(),
            last: Vec::new(),
            sent_at: None,
        }
    }

    /// The message to send now, if the tree changed since the last one.
    pub(super) fn due(&mut self, shared: &ReceiverShared) -> Option<Message> {
        if !self.on || self.sent_at.is_some_and(|t| t.elapsed() < MIN_INTERVAL) {
            return None;
        }
        let tree = (shared.downstreams_hook()?)();
        let body = tree.encode();
        if body == self.last {
            return None;
        }
        self.last = body;
        self.sent_at = Some(Instant::now());
        Some(Message::Downstreams(tree))
    }
}
