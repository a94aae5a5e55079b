//! Parsers for command-line values: sizes (`64MiB`), durations (`5m`), sync policies.

use crate::wal::SyncPolicy;
use std::time::Duration;

/// A command-line value that does not parse. Each names the value as typed
/// (clap prints the text after `invalid value '…' for '--flag'`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("'{0}' is not a size (e.g. 4096, 64KiB, 16MiB)")]
    Size(String),
    #[error("'{value}': unknown size unit '{unit}' (use KiB, MiB or GiB)")]
    SizeUnit { value: String, unit: String },
    #[error("'{0}' is too large")]
    TooLarge(String),
    #[error("'{0}' is not a rate (e.g. 512KiB, 10MiB or 10MiB/s: bytes per second)")]
    Rate(String),
    #[error("'{0}': a rate must be at least 1 byte per second")]
    ZeroRate(String),
    #[error("'{0}' is not a duration (e.g. 500ms, 30s, 5m, 1h)")]
    Duration(String),
    #[error("'{value}': unknown duration unit '{unit}' (use ms, s, m, h or d)")]
    DurationUnit { value: String, unit: String },
    #[error("the sync interval must be at least 1ms")]
    ZeroInterval,
    #[error("'{0}' is not a sync policy (always, interval, interval:MS, never)")]
    SyncPolicy(String),
    #[error("'{0}' is not an fsync policy (always, everysec, no)")]
    FsyncPolicy(String),
    #[error("'{0}' is not an LSN (e.g. 4096, 0x1000 or 0/1000)")]
    Lsn(String),
    #[error("'{0}' is not a compression (none, zstd, zstd:1..19)")]
    Compression(String),
}

/// Parses a byte size: a number with an optional unit (`k`, `KiB`, `M`, `MiB`,
/// `G`, `GiB`; the units are binary, case-insensitive).
pub fn size(s: &str) -> Result<u64, ValueError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| ValueError::Size(s.into()))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(ValueError::SizeUnit {
                value: s.into(),
                unit: unit.into(),
            })
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| ValueError::TooLarge(s.into()))
}

/// Parses a rate in bytes per second: a size (`10MiB`, `512KiB`), with or
/// without `/s`; at least one byte.
pub fn rate(s: &str) -> Result<u64, ValueError> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let n = size(t).map_err(|_| ValueError::Rate(s.into()))?;
    if n == 0 {
        return Err(ValueError::ZeroRate(s.into()));
    }
    Ok(n)
}

/// Parses a duration: a number with a unit (`ms`, `s`, `m`, `h`, `d`); a bare
/// number is seconds.
pub fn duration(s: &str) -> Result<Duration, ValueError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| ValueError::Duration(s.into()))?;
    let ms = match unit.trim() {
        "ms" => n,
        "" | "s" => n.saturating_mul(1000),
        "m" | "min" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        "d" => n.saturating_mul(86_400_000),
        _ => {
            return Err(ValueError::DurationUnit {
                value: s.into(),
                unit: unit.into(),
            })
        }
    };
    Ok(Duration::from_millis(ms))
}

/// Parses a WAL sync policy: `always`, `never`, `interval` (1 s) or `interval:MS`.
pub fn sync_policy(s: &str) -> Result<SyncPolicy, ValueError> {
    match s {
        "always" => Ok(SyncPolicy::Always),
        "never" | "no" => Ok(SyncPolicy::Never),
        "interval" | "everysec" => Ok(SyncPolicy::Interval { every_ms: 1000 }),
        _ => match s.strip_prefix("interval:") {
            Some(ms) => {
                let d = duration(ms)?;
                let every_ms = d.as_millis() as u64;
                if every_ms == 0 {
                    return Err(ValueError::ZeroInterval);
                }
                Ok(SyncPolicy::Interval { every_ms })
            }
            None => Err(ValueError::SyncPolicy(s.into())),
        },
    }
}

/// Parses an LSN: decimal (`4096`), hex with `0x` (`0x1000`), or `HIGH/LOW` in
/// hex as logship prints them (`0/1000`).
pub fn lsn(s: &str) -> Result<u64, ValueError> {
    let t = s.trim();
    let bad = || ValueError::Lsn(s.into());
    if let Some((hi, lo)) = t.split_once('/') {
        let hi = u32::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u32::from_str_radix(lo, 16).map_err(|_| bad())?;
        return Ok(((hi as u64) << 32) | lo as u64);
    }
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).map_err(|_| bad()),
        None => t.parse().map_err(|_| bad()),
    }
}

/// Parses a wire compression: `none`, `zstd` (level 1) or `zstd:LEVEL` (1–19).
pub fn compression(s: &str) -> Result<crate::ship::Compression, ValueError> {
    use crate::ship::Compression;
    match s {
        "none" => Ok(Compression::None),
        "zstd" => Ok(Compression::Zstd { level: 1 }),
        _ => {
            let level = s
                .strip_prefix("zstd:")
                .and_then(|l| l.parse::<i32>().ok())
                .filter(|l| (1..=19).contains(l))
                .ok_or_else(|| ValueError::Compression(s.into()))?;
            Ok(Compression::Zstd { level })
        }
    }
}

/// Parses a system id (16 hex digits, as status prints it).
pub fn system_id(s: &str) -> Result<u64, String> {
    u64::from_str_radix(s.trim(), 16)
        .ok()
        .filter(|v| *v != 0)
        .ok_or_else(|| format!("'{s}' is not a system id (16 hex digits)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_durations_and_policies_parse() {
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("64KiB"), Ok(65536));
        assert_eq!(size("16m"), Ok(16 << 20));
        assert!(size("12 parsecs").is_err());
        assert!(size("99999999999G").is_err());
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(duration("soon").is_err());
        assert_eq!(
            sync_policy("interval:20ms"),
            Ok(SyncPolicy::Interval { every_ms: 20 })
        );
        assert!(sync_policy("sometimes").is_err());
        assert_eq!(
            compression("zstd:3"),
            Ok(crate::ship::Compression::Zstd { level: 3 })
        );
        assert!(compression("zstd:99").is_err() && compression("gzip").is_err());
        assert_eq!(lsn("4096"), Ok(4096));
        assert_eq!(lsn("0x1000"), Ok(4096));
        assert_eq!(lsn("1/2000"), Ok(0x1_0000_2000));
        assert_eq!(
            lsn(&crate::wal::format_lsn(0xAB_0000_0F88)),
            Ok(0xAB_0000_0F88)
        );
        assert!(lsn("0/xyz").is_err());
        assert!(lsn("-5").is_err());
    }
}
