//! What `logship status` reports, and how it prints it. The JSON field names are
//! a public interface (docs/monitoring.md documents them): add fields freely,
//! never rename.

pub mod check;

use crate::node::control::Fence;
use crate::ship::protocol::tree::{walk, TreeNode};
use crate::ship::send::shipper::StandbyStatus;
use serde::{Deserialize, Serialize};

/// The status of a node, primary or standby.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodeStatus {
    /// `"primary"` or `"standby"`.
    pub role: String,
    /// The cluster's identity, 16 hex digits (empty for a standby that has
    /// received nothing yet).
    pub system_id: String,
    pub timeline: u32,
    /// False when the node is not running and this was read from its files.
    pub running: bool,
    pub data_dir: String,

    /// Primary: last written LSN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_lsn: Option<u64>,
    /// Primary: last durable LSN (never shipped past).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durable_lsn: Option<u64>,
    /// Primary: one entry per configured standby.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standbys: Option<Vec<StandbyStatus>>,
    /// Primary: the shipping schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ship_schedule: Option<String>,

    /// Standby: everything below is durably received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_lsn: Option<u64>,
    /// Standby: everything below is applied (readable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_lsn: Option<u64>,
    /// Standby: the primary's durable LSN at the last shipment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_durable_lsn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_receive_unix_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_apply_unix_ms: Option<u64>,
    /// Standby: `primary_durable_lsn - applied_lsn` (0 when caught up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<u64>,
    /// Standby: seconds since the oldest record not yet applied was written
    /// on the primary (0 when everything received is applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<f64>,
    /// Standby: the configured apply delay, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_delay_seconds: Option<f64>,
    /// Standby: keys in the replayed keyspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// Standby: the address primaries ship to (as bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_listen: Option<String>,
    /// The RESP address (as bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Standby: true when shipments must arrive over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_tls: Option<bool>,
    /// When this process started (running nodes): ages of things that never
    /// happened count from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_ms: Option<u64>,
    /// Standby: records replayed since this process started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_applied_total: Option<u64>,
    /// Standby: how the last shipment that ended badly ended (a refusal and
    /// its reason, a cut link), since this process started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_receive_error: Option<String>,
    /// Standby: when that was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_receive_error_unix_ms: Option<u64>,
    /// Primary: set when a promotion elsewhere fenced it (it refuses writes
    /// and will not start as a primary again); omitted when not fenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced: Option<FenceStatus>,
    /// Standby: the archive it follows (`--restore-from`; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<String>,
    /// Standby following an archive: seconds since the newest time the
    /// archive proves its log complete up to this standby's position (the
    /// last record's time, or a later heartbeat of the idle node writing it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_age_seconds: Option<f64>,
    /// The archive this node writes to (`--archive-to`; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<crate::archive::ArchiveStatus>,
}

impl NodeStatus {
    /// Where a running standby stands, as promotion sees it.
    pub fn standing(&self) -> crate::node::standing::Standing {
        crate::node::standing::Standing {
            system_id: u64::from_str_radix(&self.system_id, 16).unwrap_or(0),
            timeline: self.timeline,
            received_lsn: self.received_lsn.unwrap_or(0),
            applied_lsn: self.applied_lsn.unwrap_or(0),
            primary_durable_lsn: self.primary_durable_lsn.unwrap_or(0),
            last_receive_unix_ms: self.last_receive_unix_ms.unwrap_or(0),
            last_record_unix_ms: 0,
        }
    }
}

/// Where and when a primary was fenced (`fenced` of the status).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FenceStatus {
    /// The end of its log when writes stopped: nothing was logged after it.
    pub at_lsn: u64,
    /// When the fence was put up, Unix milliseconds.
    pub since_unix_ms: u64,
    /// The timeline that ended at `at_lsn` on this node.
    pub timeline: u32,
    /// Why it was fenced.
    pub reason: String,
}

impl From<&Fence> for FenceStatus {
    fn from(f: &Fence) -> FenceStatus {
        FenceStatus {
            at_lsn: f.lsn,
            since_unix_ms: f.unix_ms,
            timeline: f.timeline,
            reason: f.reason.clone(),
        }
    }
}

pub use crate::clock::utc_text;

/// The human line of a fence: when, where, and what to do.
pub fn fence_text(f: &FenceStatus, data_dir: &str) -> String {
    format!(
        "since {} at LSN {}; a standby was promoted in its place ({}). It refuses writes: rejoin it as a standby with `logship rejoin --data-dir {data_dir} --from NEW_PRIMARY`",
        utc_text(f.since_unix_ms),
        lsn_text(f.timeline, f.at_lsn),
        f.reason
    )
}

/// An LSN the way PostgreSQL users read it (`HIGH/LOW` in hex), with the
/// timeline it belongs to: `0/5A3F20 (tl 1)`.
pub fn lsn_text(timeline: u32, lsn: u64) -> String {
    format!("{} (tl {timeline})", crate::wal::format_lsn(lsn))
}

fn ago(now_ms: u64, then_ms: u64) -> String {
    if then_ms == 0 {
        return "never".into();
    }
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m{}s ago", s / 60, s % 60),
        _ => format!("{}h{}m ago", s / 3600, (s / 60) % 60),
    }
}

/// The human-readable form of a status.
pub fn render_text(s: &NodeStatus, now_ms: u64) -> String {
    let tl = s.timeline;
    let lsn = |v: Option<u64>| v.map_or("-".to_string(), |l| format!("{} = {l}", lsn_text(tl, l)));
    let mut o = String::new();
    o += &format!(
        "role:           {}{}\n",
        s.role,
        if s.running {
            ""
        } else {
            " (not running; read from its files)"
        }
    );
    o += &format!(
        "system id:      {}\n",
        if s.system_id.is_empty() {
            "-"
        } else {
            &s.system_id
        }
    );
    // Right below the role: a fenced primary is a primary in name only.
    if let Some(f) = &s.fenced {
        o += &format!("fenced:         {}\n", fence_text(f, &s.data_dir));
    }
    o += &format!("timeline:       {tl}\n");
    o += &format!("data directory: {}\n", s.data_dir);
    if s.role == "primary" {
        o += &format!("write LSN:      {}\n", lsn(s.write_lsn));
        o += &format!("durable LSN:    {}\n", lsn(s.durable_lsn));
        o += &downstreams(s, now_ms);
        if let Some(a) = &s.archive {
            o += &format!(
                "archive {}: archived {}, lag {} bytes, last object {}{}\n",
                a.url,
                lsn_text(tl, a.archived_lsn),
                a.lag_bytes,
                ago(now_ms, a.last_archive_unix_ms),
                a.last_error
                    .as_deref()
                    .map_or(String::new(), |e| format!(", failing: {e}"))
            );
            for g in &a.gaps {
                o += &format!(
                    "  GAP {}..{}: {}\n",
                    lsn_text(g.timeline, g.start_lsn),
                    lsn_text(g.timeline, g.end_lsn),
                    g.reason
                );
            }
        }
    } else {
        o += &format!("received LSN:   {}\n", lsn(s.received_lsn));
        o += &format!("applied LSN:    {}\n", lsn(s.applied_lsn));
        o += &format!(
            "primary durable LSN (last shipment): {}\n",
            lsn(s.primary_durable_lsn)
        );
        o += &format!(
            "last receive:   {}\nlast apply:     {}\n",
            ago(now_ms, s.last_receive_unix_ms.unwrap_or(0)),
            ago(now_ms, s.last_apply_unix_ms.unwrap_or(0))
        );
        o += &format!(
            "lag:            {} bytes, {:.1} s\n",
            s.lag_bytes.unwrap_or(0),
            s.lag_seconds.unwrap_or(0.0)
        );
        if let Some(url) = &s.restore_from {
            let proven = s
                .archive_age_seconds
                .map_or("nothing proven yet".to_string(), |a| {
                    format!("log proven complete {a:.1} s ago")
                });
            o += &format!("following:      {url} ({proven})\n");
        }
        o += &downstreams(s, now_ms);
        if let Some(d) = s.apply_delay_seconds.filter(|d| *d > 0.0) {
            o += &format!("apply delay:    {d} s\n");
        }
        // Shown while nothing was received since: the reason receipt stalls.
        if let (Some(e), Some(at)) = (&s.last_receive_error, s.last_receive_error_unix_ms) {
            if at >= s.last_receive_unix_ms.unwrap_or(0) {
                o += &format!("receive error:  {} ({e})\n", ago(now_ms, at));
            }
        }
    }
    o
}

/// The standbys a node ships to (a primary's, a cascading standby's
/// downstreams), one line each.
fn downstreams(s: &NodeStatus, now_ms: u64) -> String {
    let tl = s.timeline;
    let mut o = String::new();
    if let Some(sch) = &s.ship_schedule {
        o += &format!("shipping:       {sch}\n");
    }
    for sb in s.standbys.iter().flatten() {
        o += &format!(
            "standby {}: acked {}, lag {} bytes, last shipment {} ({})\n",
            sb.address,
            lsn_text(tl, sb.acked_lsn),
            sb.lag_bytes,
            ago(now_ms, sb.last_ship_unix_ms),
            sb.last_ship_result
        );
        if sb.needs_reseed {
            o += &format!(
                "  needs re-seeding: {}\n",
                sb.reseed_reason
                    .as_deref()
                    .unwrap_or("WAL it lacked was removed")
            );
        }
        // Its own standbys, as far as it told: indented under it.
        walk(&sb.downstreams, &mut vec![""], &mut |via, t| {
            o += &format!(
                "{}└ standby {}: acked {}, lag {} bytes, last shipment {} ({})\n",
                "  ".repeat(via.len()),
                t.address,
                lsn_text(tl, t.acked_lsn),
                t.lag_bytes,
                ago(now_ms, t.last_ship_unix_ms),
                link_state(t)
            );
        });
        if let Some(n) = &sb.downstreams_note {
            o += &format!("  downstreams: {n}\n");
        }
    }
    o
}

/// How the link to a standby further down the tree stands, in words.
pub fn link_state(t: &TreeNode) -> String {
    match (t.connected, &t.last_error_reason, t.failures_in_row) {
        (true, _, _) => "connected".into(),
        (false, Some(r), n) => format!("not connected: {r}, {n} failure(s) in a row"),
        (false, None, 0) if t.last_ship_unix_ms != 0 => "ok".into(),
        (false, None, _) => "not connected".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_the_contract_names_and_text_shows_lsns_both_ways() {
        let s = NodeStatus {
            role: "standby".into(),
            system_id: "00000000000000aa".into(),
            timeline: 2,
            running: true,
            data_dir: "/d".into(),
            received_lsn: Some(0x5a3f20),
            applied_lsn: Some(0x5a3f00),
            primary_durable_lsn: Some(0x5a3f20),
            lag_bytes: Some(32),
            lag_seconds: Some(0.5),
            last_receive_unix_ms: Some(1000),
            last_apply_unix_ms: Some(0),
            ..NodeStatus::default()
        };
        let v: serde_json::Value = serde_json::to_value(&s).unwrap();
        for f in [
            "role",
            "system_id",
            "timeline",
            "received_lsn",
            "applied_lsn",
            "primary_durable_lsn",
            "last_receive_unix_ms",
            "last_apply_unix_ms",
            "lag_bytes",
            "lag_seconds",
        ] {
            assert!(v.get(f).is_some(), "{f} missing");
        }
        assert!(
            v.get("write_lsn").is_none(),
            "primary fields stay out of a standby's status"
        );
        assert_eq!(v["received_lsn"], 0x5a3f20);
        let t = render_text(&s, 61_000);
        assert!(t.contains("0/5A3F20 (tl 2) = 5914400"), "{t}");
        assert!(t.contains("last receive:   1m0s ago"), "{t}");
        assert!(t.contains("last apply:     never"), "{t}");
        assert!(!t.contains("receive error"), "{t}");
        assert!(v.get("last_receive_error").is_none());

        // A refusal after the last receipt is the reason receipt stalls: shown.
        let mut failing = s.clone();
        failing.last_receive_error = Some("from 127.0.0.1:5: no space left on device".into());
        failing.last_receive_error_unix_ms = Some(31_000);
        let t = render_text(&failing, 61_000);
        assert!(
            t.contains("receive error:  30s ago (from 127.0.0.1:5: no space left on device)"),
            "{t}"
        );
        // Once something was received after it, it is history: JSON only.
        failing.last_receive_unix_ms = Some(41_000);
        assert!(!render_text(&failing, 61_000).contains("receive error"));
        let v = serde_json::to_value(&failing).unwrap();
        assert_eq!(v["last_receive_error_unix_ms"], 31_000);
    }

    #[test]
    fn a_fenced_primary_says_so_in_json_and_text() {
        let mut s = NodeStatus {
            role: "primary".into(),
            system_id: "00000000000000aa".into(),
            timeline: 1,
            data_dir: "/d".into(),
            write_lsn: Some(0x5a3f20),
            durable_lsn: Some(0x5a3f20),
            ..NodeStatus::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert!(v.get("fenced").is_none(), "omitted when not fenced: {v}");
        assert!(!render_text(&s, 0).contains("fenced"));
        s.fenced = Some(FenceStatus {
            at_lsn: 0x5a3f20,
            since_unix_ms: 1_796_518_923_000,
            timeline: 1,
            reason: "promotion of a standby".into(),
        });
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["fenced"]["at_lsn"], 0x5a3f20);
        assert_eq!(v["fenced"]["since_unix_ms"], 1_796_518_923_000u64);
        assert_eq!(v["fenced"]["timeline"], 1);
        let t = render_text(&s, 0);
        assert!(
            t.contains("fenced:         since 2026-12-06 01:02:03 UTC at LSN 0/5A3F20 (tl 1); a standby was promoted in its place (promotion of a standby). It refuses writes: rejoin it as a standby with `logship rejoin --data-dir /d --from NEW_PRIMARY`\n"),
            "{t}"
        );
        assert_eq!(serde_json::from_value::<NodeStatus>(v).unwrap(), s);
    }
}
