//! `logship restore`: a new standby data directory from the archive, at a
//! point in time, an LSN, or the end of what the archive holds.

use super::exit::Failure;
use super::parse;
use crate::archive::restore::{restore, RestoreRequest, Target, Then, TimelineChoice};
use crate::archive::ArchiveKey;
use crate::fs::StdFs;
use crate::wal::format_lsn;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive: s3://BUCKET/PREFIX or file:///PATH.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The directory to create (missing or empty).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Stop before the first record written after this time: RFC 3339 with a
    /// UTC offset (2026-12-05T10:00:00Z, 2026-12-05T11:00:00+01:00).
    #[arg(long, value_name = "TIME", value_parser = parse_time, group = "target")]
    pub to_time: Option<u64>,
    /// Stop at this LSN (a record boundary; HIGH/LOW hex as status prints, or decimal).
    #[arg(long, value_name = "LSN", value_parser = parse::lsn, group = "target")]
    pub to_lsn: Option<u64>,
    /// Restore everything the archive holds (the default).
    #[arg(long, group = "target")]
    pub to_latest: bool,
    /// With --to-time: stop before records written at the time itself too.
    #[arg(long, requires = "to_time")]
    pub exclusive: bool,
    /// Restore along this timeline (a number, or latest).
    #[arg(long, default_value = "latest", value_parser = parse_timeline)]
    pub timeline: TimelineChoice,
    /// What the directory is afterwards: standby (continues from the archive
    /// or a primary), stop (stays at the target: read-only, promotable), or
    /// primary (a timeline higher than any in the archive begins at the
    /// target, and its history is archived before the first write).
    #[arg(long, value_enum, default_value = "standby")]
    pub then: ThenArg,
    /// Which system, when the archive holds several (16 hex digits).
    #[arg(long, value_parser = parse::system_id)]
    pub system_id: Option<u64>,
    /// The archive's encryption key file, if it is encrypted.
    #[arg(long, value_name = "FILE")]
    pub archive_encryption_key_file: Option<PathBuf>,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `--then`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ThenArg {
    Standby,
    Stop,
    Primary,
}

/// Parses an RFC 3339 time that carries its UTC offset.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).map_err(|_| {
        format!("'{s}' is not an RFC 3339 time with a UTC offset (e.g. 2026-12-05T10:00:00Z or 2026-12-05T11:00:00+01:00); a time without an offset would be read in some zone, so it is refused")
    })?;
    u64::try_from(t.timestamp_millis()).map_err(|_| format!("'{s}' is before 1970"))
}

fn parse_timeline(s: &str) -> Result<TimelineChoice, String> {
    if s == "latest" {
        return Ok(TimelineChoice::Latest);
    }
    s.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .map(TimelineChoice::Number)
        .ok_or_else(|| format!("'{s}' is not a timeline (a number from 1, or latest)"))
}

pub fn run(a: RestoreArgs) -> anyhow::Result<ExitCode> {
    let target = match (a.to_time, a.to_lsn) {
        (Some(t), _) => Target::Time {
            unix_ms: t,
            exclusive: a.exclusive,
        },
        (_, Some(l)) => Target::Lsn(l),
        _ => Target::Latest,
    };
    let req = RestoreRequest {
        url: a.from.clone(),
        data_dir: a.data_dir.clone(),
        target,
        timeline: a.timeline,
        then: match a.then {
            ThenArg::Standby | ThenArg::Primary => Then::Standby,
            ThenArg::Stop => Then::Stop,
        },
        system_id: a.system_id,
        key: match &a.archive_encryption_key_file {
            Some(f) => Some(ArchiveKey::from_file(f)?),
            None => None,
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut bar: Option<crate::progress::Progress> = None;
    let started = std::time::Instant::now();
    let out = rt
        .block_on(restore(&req, StdFs::shared(), |done, total| {
            bar.get_or_insert_with(|| crate::progress::Progress::new("restoring", total))
                .set(done, None);
        }))
        .map_err(|e| Failure::usage(e.to_string()))?;
    drop(bar);
    let promoted = if a.then == ThenArg::Primary {
        let reason = format!(
            "restored from {} to LSN {}",
            a.from,
            format_lsn(out.stop_lsn)
        );
        let p = crate::promote::offline::promote(&a.data_dir, &reason)
            .map_err(|e| Failure::usage(format!("restored, but the promotion failed: {e}")))?;
        rt.block_on(crate::archive::restore::publish_history(
            &a.from,
            req.key.as_ref(),
            &a.data_dir,
            out.system_id,
            p.new_timeline,
        ))
        .map_err(|e| Failure::usage(format!("restored and promoted to timeline {}, but its history could not be archived: {e}; archive it before the first write (start the primary with --archive-to, which archives histories first)", p.new_timeline)))?;
        Some(p)
    } else {
        None
    };
    let secs = started.elapsed().as_secs_f64();
    if a.json {
        crate::say!("{}", serde_json::to_string(&out)?);
    } else {
        crate::say!(
            "restored {} into {}: stopped at LSN {} (timeline {}, last record {}), {} records applied from {} objects ({} bytes) in {:.2} s{}",
            a.from,
            a.data_dir.display(),
            format_lsn(out.stop_lsn),
            out.timeline,
            if out.last_record_unix_ms == 0 { "-".to_string() } else { crate::clock::utc_text_ms(out.last_record_unix_ms) },
            out.records_applied,
            out.objects_read,
            out.bytes_read,
            secs,
            out.snapshot_lsn.map_or(" from LSN 0".to_string(), |l| format!(" on the snapshot at LSN {}", format_lsn(l)))
        );
        crate::say!(
            "{}",
            match (req.then, &promoted) {
                (_, Some(p)) => format!(
                    "promoted: timeline {} begins at LSN {} (its history is in the archive); start it: logship primary --data-dir {} --archive-to {} …",
                    p.new_timeline,
                    format_lsn(p.promotion_lsn),
                    a.data_dir.display(),
                    a.from
                ),
                (Then::Standby, None) => format!("start it: logship standby --data-dir {} …", a.data_dir.display()),
                (Then::Stop, None) => format!("it stays at this point: logship standby --data-dir {} … serves it read-only; logship promote makes it a primary", a.data_dir.display()),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
