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
    i64::try_from(unix_ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || format!("{unix_ms} ms after the epoch"),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_reads_as_a_date() {
        assert_eq!(utc_text(1_767_359_045_000), "2026-01-02 13:04:05 UTC");
        assert!(now_unix_ms() > 1_767_359_045_000);
    }
}
