//! `logship archive list` (what the archive holds and the window it can
//! restore) and `logship archive verify` (every object read and checked).

use super::exit::Failure;
use super::exit::Status;
use crate::archive::catalog::{self, Catalog};
use crate::archive::layout::Name;
use crate::archive::restore::window;
use crate::archive::{ArchiveKey, ArchiveStore};
use crate::clock::utc_text_ms;
use crate::wal::format::{SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::wal::format_lsn;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `archive list` and `archive verify`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The archive: s3://BUCKET/PREFIX or file:///PATH.
    pub url: String,
    /// Which system, when the archive holds several (16 hex digits).
    #[arg(long, value_parser = super::parse::system_id)]
    pub system_id: Option<u64>,
    /// The archive's encryption key file, if it is encrypted.
    #[arg(long, value_name = "FILE")]
    pub archive_encryption_key_file: Option<PathBuf>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One timeline in a listing.
#[derive(Debug, Serialize)]
pub struct TimelineSummary {
    pub timeline: u32,
    pub wal_objects: usize,
    pub wal_bytes: u64,
    pub first_lsn: Option<u64>,
    pub end_lsn: Option<u64>,
    /// Where the timeline ended (from the next timeline's history), if it did.
    pub switch_lsn: Option<u64>,
}

/// The restorable window along the latest timeline.
#[derive(Debug, Serialize)]
pub struct WindowSummary {
    pub timeline: u32,
    pub earliest_lsn: u64,
    pub earliest_unix_ms: u64,
    pub latest_lsn: u64,
    pub latest_unix_ms: u64,
}

/// What `archive list` prints.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub url: String,
    pub system_id: String,
    pub objects: u64,
    pub bytes: u64,
    pub timelines: Vec<TimelineSummary>,
    /// (timeline, LSN, bytes).
    pub snapshots: Vec<(u32, u64, u64)>,
    pub gaps: Vec<(u32, u64, u64)>,
    pub window: Option<WindowSummary>,
}

/// The summary of a loaded catalog (reads a few object headers for times).
///
/// # Errors
/// Store errors.
pub async fn summary(store: &ArchiveStore, c: &Catalog) -> anyhow::Result<Summary> {
    let latest = c.latest_timeline();
    let switches = c.histories.get(&latest).cloned().unwrap_or_default();
    let timelines = c
        .wal
        .iter()
        .map(|(tl, objs)| TimelineSummary {
            timeline: *tl,
            wal_objects: objs.len(),
            wal_bytes: objs.iter().map(|o| o.size).sum(),
            first_lsn: objs.first().map(|o| o.start_lsn),
            end_lsn: objs.iter().map(|o| o.end_lsn).max(),
            switch_lsn: switches
                .iter()
                .find(|s| s.timeline == *tl)
                .map(|s| s.switch_lsn),
        })
        .collect();
    let window = match window(c, latest) {
        Some(w) => {
            let earliest_unix_ms = match c.snapshot_at_or_before(latest, w.earliest_lsn) {
                Some((tl, lsn)) => {
                    catalog::read_header(store, c.system_id, &Name::Snapshot { timeline: tl, lsn })
                        .await?
                        .last_time_unix_ms
                }
                None => match c.chain(latest, 0).steps.first() {
                    Some(s) => header_of(store, c, &s.object).await?.first_time_unix_ms,
                    None => 0,
                },
            };
            let from = c
                .snapshot_at_or_before(latest, u64::MAX)
                .map_or(w.earliest_lsn, |s| s.1);
            let latest_unix_ms = match c.chain(latest, from).steps.last() {
                Some(s) => header_of(store, c, &s.object).await?.last_time_unix_ms,
                None => earliest_unix_ms,
            };
            Some(WindowSummary {
                timeline: latest,
                earliest_lsn: w.earliest_lsn,
                earliest_unix_ms,
                latest_lsn: w.latest_lsn,
                latest_unix_ms,
            })
        }
        None => None,
    };
    Ok(Summary {
        url: store.url().to_string(),
        system_id: format!("{:016x}", c.system_id),
        objects: c.objects,
        bytes: c.total_bytes,
        timelines,
        snapshots: c.snapshots.clone(),
        gaps: c
            .gaps
            .iter()
            .map(|g| (g.timeline, g.start_lsn, g.end_lsn))
            .collect(),
        window,
    })
}

/// Prints a summary for people.
pub fn print_summary(s: &Summary) {
    crate::say!(
        "archive {}: system {}, {} objects, {} bytes",
        s.url,
        s.system_id,
        s.objects,
        s.bytes
    );
    for t in &s.timelines {
        crate::say!(
            "  timeline {}: {} WAL objects ({} bytes), LSN {} to {}{}",
            t.timeline,
            t.wal_objects,
            t.wal_bytes,
            t.first_lsn.map_or("-".into(), format_lsn),
            t.end_lsn.map_or("-".into(), format_lsn),
            t.switch_lsn.map_or(String::new(), |l| format!(
                ", switched at {}",
                format_lsn(l)
            ))
        );
    }
    for (tl, lsn, bytes) in &s.snapshots {
        crate::say!(
            "  snapshot: timeline {tl}, LSN {} ({bytes} bytes)",
            format_lsn(*lsn)
        );
    }
    for (tl, a, b) in &s.gaps {
        crate::say!("  GAP: timeline {tl}, LSN {} to {}: WAL removed before it was archived; no restore crosses it", format_lsn(*a), format_lsn(*b));
    }
    match &s.window {
        Some(w) => crate::say!(
            "  restorable on timeline {}: from LSN {} ({}) to LSN {} ({})",
            w.timeline,
            format_lsn(w.earliest_lsn),
            utc_text_ms(w.earliest_unix_ms),
            format_lsn(w.latest_lsn),
            utc_text_ms(w.latest_unix_ms)
        ),
        None => crate::say!("  restorable: nothing (no snapshot and no WAL from LSN 0)"),
    }
}

/// A problem `verify` found.
#[derive(Debug, Serialize)]
pub struct Problem {
    pub object: String,
    pub lsn: Option<u64>,
    pub problem: String,
}

/// What `archive verify` prints as JSON.
#[derive(Debug, Serialize)]
pub struct Verified {
    pub url: String,
    pub system_id: String,
    pub objects_checked: u64,
    pub bytes_checked: u64,
    pub records_checked: u64,
    pub problems: Vec<Problem>,
}

/// `logship archive verify URL`.
pub fn run(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let key = match &a.archive_encryption_key_file {
        Some(f) => Some(ArchiveKey::from_file(f)?),
        None => None,
    };
    let store = ArchiveStore::open(&a.url)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let v = rt.block_on(async {
        let c = Catalog::load(&store, a.system_id, key.as_ref()).await?;
        verify(&store, &c, key.as_ref()).await
    })?;
    if a.json {
        crate::say!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for p in &v.problems {
            crate::say!(
                "PROBLEM {}{}: {}",
                p.object,
                p.lsn
                    .map_or(String::new(), |l| format!(" at LSN {}", format_lsn(l))),
                p.problem
            );
        }
        crate::say!(
            "archive {}: {} objects, {} bytes, {} records checked: {}",
            v.url,
            v.objects_checked,
            v.bytes_checked,
            v.records_checked,
            if v.problems.is_empty() {
                "sound".to_string()
            } else {
                format!("{} problems", v.problems.len())
            }
        );
    }
    let status = verify_status(v.problems.len());
    if v.problems.is_empty() {
        Ok(status.into())
    } else {
        Err(Failure {
            status,
            message: format!(
                "archive {} has {} problems (listed above)",
                v.url,
                v.problems.len()
            ),
        }
        .into())
    }
}

/// Reads and checks every object of the catalog.
///
/// # Errors
/// Store errors that stop the walk (a damaged object is a problem, not an
/// error).
pub async fn verify(
    store: &ArchiveStore,
    c: &Catalog,
    key: Option<&ArchiveKey>,
) -> anyhow::Result<Verified> {
    let mut v = Verified {
        url: store.url().to_string(),
        system_id: format!("{:016x}", c.system_id),
        objects_checked: 0,
        bytes_checked: 0,
        records_checked: 0,
        problems: Vec::new(),
    };
    let sys = c.system_id;
    for (tl, lsn, size) in &c.snapshots {
        let name = Name::Snapshot {
            timeline: *tl,
            lsn: *lsn,
        };
        v.objects_checked += 1;
        v.bytes_checked += size;
        match catalog::read_object(store, sys, &name, key).await {
            Ok((_, data)) => {
                if let Err(e) = check_snapshot(&data, sys) {
                    v.problems.push(Problem {
                        object: name.path(),
                        lsn: Some(*lsn),
                        problem: e,
                    });
                }
            }
            Err(e) => v.problems.push(Problem {
                object: name.path(),
                lsn: Some(*lsn),
                problem: e.to_string(),
            }),
        }
    }
    for (tl, objs) in &c.wal {
        let mut end: Option<u64> = None;
        for o in objs {
            let name = o.name();
            v.objects_checked += 1;
            v.bytes_checked += o.size;
            if let Some(e) = end.filter(|e| *e < o.start_lsn) {
                let recorded = c
                    .gaps
                    .iter()
                    .any(|g| g.start_lsn <= e && g.end_lsn >= o.start_lsn);
                v.problems.push(Problem {
                    object: name.path(),
                    lsn: Some(e),
                    problem: format!(
                        "timeline {tl}: no WAL from LSN {} to {}{}",
                        format_lsn(e),
                        format_lsn(o.start_lsn),
                        if recorded {
                            " (a gap the archiver recorded)"
                        } else {
                            " (missing objects)"
                        }
                    ),
                });
            }
            end = Some(end.map_or(o.end_lsn, |e| e.max(o.end_lsn)));
            match catalog::read_object(store, sys, &name, key).await {
                Ok((h, content)) => match check_wal(&content, o.start_lsn) {
                    Ok(n) if n == u64::from(h.records) => v.records_checked += n,
                    Ok(n) => v.problems.push(Problem {
                        object: name.path(),
                        lsn: Some(o.start_lsn),
                        problem: format!("holds {n} records, its header says {}", h.records),
                    }),
                    Err(e) => v.problems.push(Problem {
                        object: name.path(),
                        lsn: Some(o.start_lsn),
                        problem: e,
                    }),
                },
                Err(e) => v.problems.push(Problem {
                    object: name.path(),
                    lsn: Some(o.start_lsn),
                    problem: e.to_string(),
                }),
            }
        }
    }
    for g in &c.gaps {
        if !v
            .problems
            .iter()
            .any(|p| p.lsn == Some(g.start_lsn) && p.problem.contains("recorded"))
        {
            v.problems.push(Problem {
                object: Name::Gap {
                    timeline: g.timeline,
                    start_lsn: g.start_lsn,
                    end_lsn: g.end_lsn,
                }
                .path(),
                lsn: Some(g.start_lsn),
                problem: format!(
                    "recorded gap: WAL {} to {} was removed before it was archived",
                    format_lsn(g.start_lsn),
                    format_lsn(g.end_lsn)
                ),
            });
        }
    }
    Ok(v)
}

/// Checks every record of a WAL object's content; returns how many.
fn check_wal(content: &[u8], start_lsn: u64) -> Result<u64, String> {
    let header = SegmentHeader::decode(content).map_err(|e| format!("bad segment header: {e}"))?;
    let records = bytes::Bytes::copy_from_slice(&content[SEGMENT_HEADER_BYTES..]);
    crate::wal::mirror::records_of(&header, start_lsn, &records)
        .map(|r| r.len() as u64)
        .map_err(|e| e.to_string())
}

/// Checks a snapshot file's bytes whole: header, checksums, every item.
fn check_snapshot(data: &[u8], system_id: u64) -> Result<(), String> {
    use crate::store::snapshot::{decode_content, SnapshotHeader, SNAPSHOT_HEADER_BYTES};
    let h = SnapshotHeader::decode(data).map_err(|d| d.to_string())?;
    if h.system_id != system_id {
        return Err(format!("snapshot of system {:016x}", h.system_id));
    }
    let content = &data[SNAPSHOT_HEADER_BYTES.min(data.len())..];
    if content.len() as u64 != h.content_bytes || crc32fast::hash(content) != h.content_crc {
        return Err("snapshot content checksum mismatch".into());
    }
    decode_content(content, h.version, h.items)
        .map(|_| ())
        .map_err(|d| d.to_string())
}

/// The exit status of a verify with `problems`.
pub fn verify_status(problems: usize) -> Status {
    if problems == 0 {
        Status::Sound
    } else {
        Status::Corrupt
    }
}

/// The header of a WAL object, for times in listings.
async fn header_of(
    store: &ArchiveStore,
    c: &Catalog,
    o: &catalog::WalObject,
) -> anyhow::Result<crate::archive::object::ObjectHeader> {
    Ok(catalog::read_header(store, c.system_id, &o.name()).await?)
}
