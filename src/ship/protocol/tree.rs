//! The body of a `Downstreams` message (protocol version 3): what a standby
//! knows of the standbys it ships to (`--cascade-to`), and of theirs, so that
//! the primary's status shows the whole replication tree.
//!
//! Layout (all integers little-endian); `wal-format.md` ("Downstreams")
//! mirrors it:
//!
//! | offset | size | type   | field                                           |
//! |-------:|-----:|--------|-------------------------------------------------|
//! | 0      | 1    | u8     | flags: bit 0 = the sender left entries out (a bound) |
//! | 1      | 2    | u16 LE | `n`: number of entries (at most [`MAX_TREE_ENTRIES`]) |
//! | 3      | …    |        | `n` entries, depth first (a node, then its downstreams) |
//!
//! Each entry ([`ENTRY_FIXED_BYTES`] + a + e bytes):
//!
//! | offset | size | type   | field                                           |
//! |-------:|-----:|--------|-------------------------------------------------|
//! | 0      | 1    | u8     | depth: 1 = the sender's own downstream; at most one more than the entry before, at most [`MAX_TREE_DEPTH`] |
//! | 1      | 1    | u8     | flags: bit 0 = the link to it is up             |
//! | 2      | 8    | u64 LE | `acked_lsn`: durable on that node               |
//! | 10     | 8    | u64 LE | `applied_lsn` at its last acknowledgement       |
//! | 18     | 8    | u64 LE | last successful shipment to it, Unix ms (0 = never) |
//! | 26     | 4    | u32 LE | failed shipments to it in a row                 |
//! | 30     | 1    | u8     | `a`: length of the address                      |
//! | 31     | a    | UTF-8  | its ship address                                |
//! | 31+a   | 1    | u8     | `e`: length of the last failure's reason (0 = none) |
//! | 32+a   | e    | UTF-8  | the reason label (`connect`, `timeout`, …)      |

use serde::{Deserialize, Serialize};

/// Deepest level a tree message carries (the sender's downstreams are 1).
pub const MAX_TREE_DEPTH: u8 = 8;
/// Most entries one tree message carries.
pub const MAX_TREE_ENTRIES: usize = 256;
/// Fixed bytes of one entry (without its two strings).
pub const ENTRY_FIXED_BYTES: usize = 32;
/// Longest address or reason carried; longer ones are cut (at a character).
pub const MAX_TREE_TEXT_BYTES: usize = 255;
/// The largest body: within the 1 MiB a primary reads from a standby.
pub const MAX_TREE_BODY_BYTES: usize =
    3 + MAX_TREE_ENTRIES * (ENTRY_FIXED_BYTES + 2 * MAX_TREE_TEXT_BYTES);
const _: () = assert!(MAX_TREE_BODY_BYTES < super::frame::MAX_STANDBY_FRAME_BYTES);

/// One standby of the tree as the node that ships to it knows it (the
/// `downstreams[]` entries of `status --json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TreeNode {
    pub address: String,
    /// Everything below is durable on it.
    pub acked_lsn: u64,
    /// Its applied LSN at its last acknowledgement.
    pub applied_lsn: u64,
    /// The reader's durable LSN minus `acked_lsn` (not on the wire: each
    /// node measures it from its own position).
    #[serde(default)]
    pub lag_bytes: u64,
    /// Last successful shipment to it, Unix ms; 0 = never.
    pub last_ship_unix_ms: u64,
    pub failures_in_row: u32,
    /// True while the link to it is up.
    pub connected: bool,
    /// Short reason label of the last failure.
    pub last_error_reason: Option<String>,
    /// What it ships to, as far as it said.
    #[serde(default)]
    pub downstreams: Vec<TreeNode>,
}

/// The content of a `Downstreams` message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownstreamTree {
    pub nodes: Vec<TreeNode>,
    /// Entries were left out (deeper than [`MAX_TREE_DEPTH`], more than
    /// [`MAX_TREE_ENTRIES`]), here or further down.
    pub truncated: bool,
}

/// A tree body that does not decode: what is wrong and at which entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Downstreams message: {reason}")]
pub struct TreeError {
    pub reason: String,
}

fn bad(reason: String) -> TreeError {
    TreeError { reason }
}

/// `s` cut to at most [`MAX_TREE_TEXT_BYTES`], at a character boundary.
fn cut(s: &str) -> &str {
    let mut end = s.len().min(MAX_TREE_TEXT_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl DownstreamTree {
    /// Encodes the body, depth first, within the bounds: what does not fit
    /// is left out and the truncated flag set.
    pub fn encode(&self) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut n = 0usize;
        let mut truncated = self.truncated;
        let mut stack: Vec<(u8, &TreeNode)> = self.nodes.iter().rev().map(|t| (1, t)).collect();
        while let Some((depth, t)) = stack.pop() {
            if n == MAX_TREE_ENTRIES {
                truncated = true;
                break;
            }
            n += 1;
            entries.push(depth);
            entries.push(u8::from(t.connected));
            entries.extend_from_slice(&t.acked_lsn.to_le_bytes());
            entries.extend_from_slice(&t.applied_lsn.to_le_bytes());
            entries.extend_from_slice(&t.last_ship_unix_ms.to_le_bytes());
            entries.extend_from_slice(&t.failures_in_row.to_le_bytes());
            for s in [
                t.address.as_str(),
                t.last_error_reason.as_deref().unwrap_or(""),
            ] {
                let s = cut(s);
                entries.push(s.len() as u8);
                entries.extend_from_slice(s.as_bytes());
            }
            if depth == MAX_TREE_DEPTH {
                truncated |= !t.downstreams.is_empty();
            } else {
                stack.extend(t.downstreams.iter().rev().map(|c| (depth + 1, c)));
            }
        }
        let mut o = Vec::with_capacity(3 + entries.len());
        o.push(u8::from(truncated));
        o.extend_from_slice(&(n as u16).to_le_bytes());
        o.extend_from_slice(&entries);
        debug_assert!(o.len() <= MAX_TREE_BODY_BYTES);
        o
    }

    /// Decodes a body; `lag_bytes` is left 0 for the reader to measure.
    ///
    /// # Errors
    /// [`TreeError`] naming the entry: a short body, trailing bytes, too many
    /// entries, a depth out of order or past the bound, text not UTF-8.
    pub fn decode(b: &[u8]) -> Result<DownstreamTree, TreeError> {
        if b.len() < 3 {
            return Err(bad(format!("body of {} bytes, at least 3", b.len())));
        }
        if b.len() > MAX_TREE_BODY_BYTES {
            return Err(bad(format!(
                "body of {} bytes, over the limit of {MAX_TREE_BODY_BYTES}",
                b.len()
            )));
        }
        let truncated = b[0] & 1 != 0;
        let n = u16::from_le_bytes([b[1], b[2]]) as usize;
        if n > MAX_TREE_ENTRIES {
            return Err(bad(format!(
                "{n} entries, over the limit of {MAX_TREE_ENTRIES}"
            )));
        }
        let mut at = 3usize;
        // The path from the root to the entry being read.
        let mut path: Vec<TreeNode> = Vec::new();
        let mut roots = Vec::new();
        for i in 0..n {
            let short = || bad(format!("entry {i} ends past the body"));
            let fixed = b.get(at..at + ENTRY_FIXED_BYTES - 2).ok_or_else(short)?;
            let depth = fixed[0];
            if depth == 0 || depth > MAX_TREE_DEPTH || depth as usize > path.len() + 1 {
                let rule = match path.len() {
                    0 => "the first entry is at depth 1".to_string(),
                    n => format!("after an entry at depth {n} (one level deeper at most, and at most {MAX_TREE_DEPTH})"),
                };
                return Err(bad(format!("entry {i} at depth {depth}: {rule}")));
            }
            let u64_at =
                |o: usize| u64::from_le_bytes(fixed[o..o + 8].try_into().unwrap_or_default());
            let mut node = TreeNode {
                connected: fixed[1] & 1 != 0,
                acked_lsn: u64_at(2),
                applied_lsn: u64_at(10),
                last_ship_unix_ms: u64_at(18),
                failures_in_row: u32::from_le_bytes(fixed[26..30].try_into().unwrap_or_default()),
                ..TreeNode::default()
            };
            at += ENTRY_FIXED_BYTES - 2;
            let mut text = || -> Result<String, TreeError> {
                let len = *b.get(at).ok_or_else(short)? as usize;
                let s = b.get(at + 1..at + 1 + len).ok_or_else(short)?;
                at += 1 + len;
                String::from_utf8(s.to_vec())
                    .map_err(|_| bad(format!("entry {i}: text is not UTF-8")))
            };
            node.address = text()?;
            let reason = text()?;
            node.last_error_reason = (!reason.is_empty()).then_some(reason);
            while path.len() >= depth as usize {
                close_level(&mut path, &mut roots);
            }
            path.push(node);
        }
        while !path.is_empty() {
            close_level(&mut path, &mut roots);
        }
        if at != b.len() {
            return Err(bad(format!("{} unexpected trailing bytes", b.len() - at)));
        }
        Ok(DownstreamTree {
            nodes: roots,
            truncated,
        })
    }
}

/// Ends the deepest open entry: it joins its parent's downstreams, or the roots.
fn close_level(path: &mut Vec<TreeNode>, roots: &mut Vec<TreeNode>) {
    if let Some(done) = path.pop() {
        match path.last_mut() {
            Some(parent) => parent.downstreams.push(done),
            None => roots.push(done),
        }
    }
}

/// Every node below `nodes`, depth first, with the addresses of the nodes
/// above it (`via`, outermost first).
pub fn walk<'a>(
    nodes: &'a [TreeNode],
    via: &mut Vec<&'a str>,
    f: &mut dyn FnMut(&[&'a str], &'a TreeNode),
) {
    for t in nodes {
        f(via, t);
        via.push(&t.address);
        walk(&t.downstreams, via, f);
        via.pop();
    }
}

/// Sets every node's `lag_bytes` from `durable_lsn` (LSNs are one log's
/// positions, whichever node holds them).
pub fn measure_lag(nodes: &mut [TreeNode], durable_lsn: u64) {
    for t in nodes {
        t.lag_bytes = durable_lsn.saturating_sub(t.acked_lsn);
        measure_lag(&mut t.downstreams, durable_lsn);
    }
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
