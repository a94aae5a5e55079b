//! Keeps the `## Status` tables of docs/monitoring.md (the status contract) in
//! step with what `status --json`
//! serializes: every field of `NodeStatus`, of its `fenced` object
//! (`FenceStatus`), of a `standbys[]` entry (`StandbyStatus`), of a
//! `downstreams[]` entry under it (`TreeNode`), of its `archive`
//! object (`ArchiveStatus`) and of an `archive.gaps[]` entry (`GapInfo`) has a
//! row, and every row names a real field.

use logship::archive::progress::GapInfo;
use logship::archive::ArchiveStatus;
use logship::ship::protocol::tree::TreeNode;
use logship::ship::send::shipper::StandbyStatus;
use logship::status::{FenceStatus, NodeStatus};
use std::collections::BTreeSet;

const MONITORING: &str = include_str!("../docs/monitoring.md");

/// The first-column names (backquoted) of the tables in the `## Status` section
/// whose header row starts with `| field |`, in table order.
fn status_tables() -> Vec<BTreeSet<String>> {
    let a = MONITORING
        .find("\n## Status\n")
        .expect("docs/monitoring.md has a ## Status section");
    let rest = &MONITORING[a + 1..];
    let section = &rest[..rest[1..].find("\n## ").map_or(rest.len(), |e| e + 1)];
    let mut tables = Vec::new();
    let mut current: Option<BTreeSet<String>> = None;
    for line in section.lines() {
        if line.starts_with("| field |") {
            current = Some(BTreeSet::new());
            continue;
        }
        match (&mut current, line.starts_with('|')) {
            (Some(t), true) => {
                let cell = line.trim_matches('|').split('|').next().unwrap().trim();
                // `a`, `b` rows name several fields; `standbys[]` names `standbys`.
                for name in cell.split(',') {
                    let name = name.trim().trim_matches('`').trim_end_matches("[]");
                    if !name.is_empty() && !name.starts_with('-') {
                        t.insert(name.to_string());
                    }
                }
            }
            (Some(_), false) => tables.push(current.take().unwrap()),
            (None, _) => {}
        }
    }
    if let Some(t) = current {
        tables.push(t);
    }
    tables
}

fn keys(v: serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn every_status_field_is_documented_and_every_documented_field_exists() {
    let tables = status_tables();
    assert_eq!(
        tables.len(),
        6,
        "expected the node, the fenced, the standbys[], the downstreams[], the archive and the archive.gaps[] tables"
    );
    let node = NodeStatus {
        write_lsn: Some(1),
        durable_lsn: Some(1),
        standbys: Some(vec![]),
        ship_schedule: Some("every 1s".into()),
        received_lsn: Some(1),
        applied_lsn: Some(1),
        primary_durable_lsn: Some(1),
        last_receive_unix_ms: Some(1),
        last_apply_unix_ms: Some(1),
        lag_bytes: Some(0),
        lag_seconds: Some(0.0),
        apply_delay_seconds: Some(0.0),
        keys: Some(0),
        ship_tls: Some(false),
        started_unix_ms: Some(1),
        records_applied_total: Some(0),
        last_receive_error: Some("x".into()),
        last_receive_error_unix_ms: Some(1),
        restore_from: Some("file:///a".into()),
        archive_age_seconds: Some(1.0),
        fenced: Some(FenceStatus::default()),
        archive: Some(ArchiveStatus::default()),
        ..NodeStatus::default()
    };
    assert_eq!(tables[0], keys(serde_json::to_value(&node).unwrap()));
    assert_eq!(
        tables[1],
        keys(serde_json::to_value(FenceStatus::default()).unwrap())
    );
    let sb = StandbyStatus {
        reseed_reason: Some("x".into()),
        downstreams_note: Some("x".into()),
        ..StandbyStatus::default()
    };
    assert_eq!(tables[2], keys(serde_json::to_value(&sb).unwrap()));
    assert_eq!(
        tables[3],
        keys(serde_json::to_value(TreeNode::default()).unwrap())
    );
    let archive = ArchiveStatus {
        last_error: Some("x".into()),
        create_only_honoured: Some(true),
        ..ArchiveStatus::default()
    };
    assert_eq!(tables[4], keys(serde_json::to_value(&archive).unwrap()));
    let gap = GapInfo {
        timeline: 1,
        start_lsn: 0,
        end_lsn: 1,
        reason: "x".into(),
    };
    assert_eq!(tables[5], keys(serde_json::to_value(&gap).unwrap()));
}
