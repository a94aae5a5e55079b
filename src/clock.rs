//! The wall clock, once for every module: Unix milliseconds for what is
//! logged, stored and shown, and the UTC text a DBA reads.
//!
//! Replay never asks it (records carry their times as logged outcomes); it
//! dates records, files, acknowledgements and events.

/// The current time, Unix milliseconds (0 if the clock reads before 1970).
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix milliseconds.
pub fn utc_text(unix_ms: u64) -> String {
    utc_format(unix_ms, "%Y-%m-%d %H:%M:%S UTC")
}

/// `YYYY-MM-DD HH:MM:SS.mmm UTC` from Unix milliseconds: for times that
/// must be told apart within a second (records of a log).
pub fn utc_text_ms(unix_ms: u64) -> String {
    utc_format(unix_ms, "%Y-%m-%d %H:%M:%S%.3f UTC")
}

/// RFC 3339 in UTC with milliseconds, `2026-12-05T23:10:00.123Z`: the form
/// machines and `--from-time` read back.
pub fn rfc3339_ms(unix_ms: u64) -> String {
    utc_format(unix_ms, "%Y-%m-%dT%H:%M:%S%.3fZ")
}

/// Why a time given on the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// A date and time without `Z` or an offset: which zone is meant?
    #[error("'{0}' has no UTC offset, so it is ambiguous: add Z for UTC (2026-12-05T10:00:00Z) or an offset (2026-12-05T10:00:00+01:00)")]
    NoOffset(String),
    /// Not an RFC 3339 time at all.
    #[error("'{0}' is not an RFC 3339 time (e.g. 2026-12-05T10:00:00Z or 2026-12-05T10:00:00.250+01:00)")]
    Malformed(String),
    /// A time before 1970, which no record has.
    #[error("'{0}' is before 1970-01-01T00:00:00Z")]
    BeforeEpoch(String),
}

/// Parses an RFC 3339 time with its UTC offset (`Z`, `+01:00`) into Unix
/// milliseconds.
///
/// # Errors
/// [`TimeError`] for a time without an offset, a malformed one, or one
/// before 1970.
pub fn parse_rfc3339_ms(text: &str) -> Result<u64, TimeError> {
    let t = text.trim();
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(time) => {
            u64::try_from(time.timestamp_millis()).map_err(|_| TimeError::BeforeEpoch(text.into()))
        }
        Err(_) => {
            let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .any(|f| chrono::NaiveDateTime::parse_from_str(t, f).is_ok());
            Err(if naive {
                TimeError::NoOffset(text.into())
            } else {
                TimeError::Malformed(text.into())
            })
        }
    }
}

fn utc_format(unix_ms: u64, format: &str) -> String {
    i64::try_from(unix_ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || format!("{unix_ms} ms after the epoch"),
            |t| t.format(format).to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_reads_as_a_date() {
        assert_eq!(utc_text(1_767_359_045_000), "2026-01-02 13:04:05 UTC");
        assert!(now_unix_ms() > 1_767_359_045_000);
        assert_eq!(utc_text_ms(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            utc_text_ms(1_795_357_761_398),
            "2026-11-22 14:29:21.398 UTC"
        );
        assert_eq!(utc_text_ms(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(rfc3339_ms(1_795_357_761_398), "2026-11-22T14:29:21.398Z");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_times_need_their_offset() {
        let ms = 1_795_357_761_398;
        assert_eq!(parse_rfc3339_ms("2026-11-22T14:29:21.398Z"), Ok(ms));
        assert_eq!(parse_rfc3339_ms("2026-11-22T15:29:21.398+01:00"), Ok(ms));
        assert_eq!(parse_rfc3339_ms("2026-11-22T14:29:21Z"), Ok(ms - 398));
        assert_eq!(parse_rfc3339_ms(&rfc3339_ms(ms)), Ok(ms));
        for naive in ["2026-12-05T10:00:00", "2026-12-05 10:00:00.5"] {
            let e = parse_rfc3339_ms(naive).unwrap_err();
            assert_eq!(e, TimeError::NoOffset(naive.into()));
            assert!(e.to_string().contains("ambiguous"), "{e}");
        }
        assert!(matches!(
            parse_rfc3339_ms("yesterday"),
            Err(TimeError::Malformed(_))
        ));
        assert!(matches!(
            parse_rfc3339_ms("1969-12-31T23:59:59Z"),
            Err(TimeError::BeforeEpoch(_))
        ));
    }
}
