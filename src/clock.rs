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
    }
}
