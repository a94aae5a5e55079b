//! Axis labels of the status page's charts: values with their unit (bytes in
//! decimal B/KB/MB/GB/TB, durations in ms/s/min/h) and clock times.
//!
//! Clock times are written as UTC `HH:MM:SS UTC` with the Unix time beside them
//! (`data-unix-ms`); the page's script rewrites them in the reader's own time
//! zone, which only the browser knows.

/// What a chart's values measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, shown in decimal multiples (1 KB = 1000 B), as `df -H` does.
    Bytes,
    /// Seconds, shown as ms, s, min or h.
    Seconds,
}

impl Unit {
    /// `v` with its unit, three significant digits at most: `26.4 MB`, `450 ms`.
    pub fn label(self, v: f64) -> String {
        match self {
            Unit::Bytes => bytes_text(v),
            Unit::Seconds => seconds_text(v),
        }
    }
}

/// Decimal byte multiples, each 1000 times the one before.
const BYTE_UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];

/// `v` bytes as `26.4 MB` (decimal multiples).
pub fn bytes_text(v: f64) -> String {
    let mut x = if v.is_finite() { v.max(0.0) } else { 0.0 };
    let mut unit = 0;
    // Rounding may carry into the next unit (999 999 B is 1 MB, not 1000 KB).
    while unit + 1 < BYTE_UNITS.len() && round3(x) >= 1000.0 {
        x /= 1000.0;
        unit += 1;
    }
    format!("{} {}", three_digits(x), BYTE_UNITS[unit])
}

/// `v` seconds as `450 ms`, `2.5 s`, `1.5 min` or `2 h`.
pub fn seconds_text(v: f64) -> String {
    let s = if v.is_finite() { v.max(0.0) } else { 0.0 };
    if s == 0.0 {
        "0 s".into()
    } else if round3(s * 1000.0) < 1000.0 {
        format!("{} ms", three_digits(s * 1000.0))
    } else if round3(s) < 60.0 {
        format!("{} s", three_digits(s))
    } else if round3(s / 60.0) < 60.0 {
        format!("{} min", three_digits(s / 60.0))
    } else {
        format!("{} h", three_digits(s / 3600.0))
    }
}

/// `x` rounded to three significant digits (at most two decimals).
fn round3(x: f64) -> f64 {
    let decimals = decimals3(x);
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// Decimals that leave three significant digits: 123, 12.3, 1.23.
fn decimals3(x: f64) -> i32 {
    if x >= 100.0 {
        0
    } else if x >= 10.0 {
        1
    } else {
        2
    }
}

/// `x` with three significant digits, trailing zeros dropped: `26.4`, `2`.
fn three_digits(x: f64) -> String {
    let text = format!("{:.*}", decimals3(x) as usize, round3(x));
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// `unix_ms` as a UTC clock time, `HH:MM:SS UTC`.
pub fn clock_utc(unix_ms: u64) -> String {
    let day_s = (unix_ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        day_s / 3600,
        day_s / 60 % 60,
        day_s % 60
    )
}

/// The page's script: each `<text class="clock" data-unix-ms="…">` shows its
/// time as `HH:MM:SS` in the browser's time zone. Without scripts the UTC text
/// stays, which is still right.
pub const LOCAL_CLOCK_SCRIPT: &str = "<script>\
for(const t of document.querySelectorAll('text.clock[data-unix-ms]')){\
const d=new Date(Number(t.getAttribute('data-unix-ms')));\
if(isNaN(d))continue;\
const p=n=>String(n).padStart(2,'0');\
t.textContent=p(d.getHours())+':'+p(d.getMinutes())+':'+p(d.getSeconds());}\
</script>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_in_decimal_multiples() {
        for (v, text) in [
            (0.0, "0 B"),
            (0.5, "0.5 B"),
            (999.0, "999 B"),
            (1_000.0, "1 KB"),
            (1_500.0, "1.5 KB"),
            (26_400_000.0, "26.4 MB"),
            (999_999.0, "1 MB"),
            (123_456_789.0, "123 MB"),
            (4.2e9, "4.2 GB"),
            (7e15, "7000 TB"),
            (f64::NAN, "0 B"),
            (-5.0, "0 B"),
        ] {
            assert_eq!(bytes_text(v), text, "{v}");
        }
    }

    #[test]
    fn durations_read_in_ms_s_min_and_h() {
        for (v, text) in [
            (0.0, "0 s"),
            (0.45, "450 ms"),
            (0.0005, "0.5 ms"),
            (0.9999, "1 s"),
            (2.5, "2.5 s"),
            (35.0, "35 s"),
            (90.0, "1.5 min"),
            (7200.0, "2 h"),
            (f64::INFINITY, "0 s"),
        ] {
            assert_eq!(seconds_text(v), text, "{v}");
        }
        assert_eq!(Unit::Seconds.label(35.0), "35 s");
        assert_eq!(Unit::Bytes.label(26_400_000.0), "26.4 MB");
    }

    #[test]
    fn clock_times_are_utc_hours_minutes_seconds() {
        assert_eq!(clock_utc(0), "00:00:00 UTC");
        // 2026-01-02 13:04:05.678 UTC.
        assert_eq!(clock_utc(1_767_359_045_678), "13:04:05 UTC");
    }
}
