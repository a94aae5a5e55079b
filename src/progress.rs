//! Progress of long work (seeding, catch-up replay): a bar (indicatif) when a
//! person watches stderr, plain periodic log lines when it is not a terminal
//! (systemd, cron, CI), so the journal still shows that work advances.

use std::time::{Duration, Instant};

/// Default time between progress log lines.
pub const DEFAULT_LOG_INTERVAL: Duration = Duration::from_secs(2);
/// Environment variable overriding the log interval, milliseconds (tests).
pub const LOG_INTERVAL_ENV: &str = "LOGSHIP_PROGRESS_LOG_MS";

/// A progress display for `total` bytes of one job (snapshot bytes, or log
/// bytes between two LSNs).
pub struct Progress {
    what: &'static str,
    total: u64,
    done: u64,
    bar: Option<indicatif::ProgressBar>,
    last_log: Instant,
    every: Duration,
}

/// `done` of `total` in whole percent (100 when `total` is 0).
pub fn percent(done: u64, total: u64) -> u64 {
    if total == 0 {
        return 100;
    }
    (u128::from(done.min(total)) * 100 / u128::from(total)) as u64
}

fn log_interval() -> Duration {
    std::env::var(LOG_INTERVAL_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(DEFAULT_LOG_INTERVAL, Duration::from_millis)
}

impl Progress {
    /// Starts showing `what` (e.g. `seeding`, `catch-up replay`).
    pub fn new(what: &'static str, total: u64) -> Progress {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let b = indicatif::ProgressBar::new(total);
            let template = "{prefix} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                b.set_style(style);
            }
            b.set_prefix(what);
            b
        });
        Progress {
            what,
            total,
            done: 0,
            bar,
            last_log: Instant::now(),
            every: log_interval(),
        }
    }

    /// `done` bytes are done; `lsn` (if any) is named in the log line.
    pub fn set(&mut self, done: u64, lsn: Option<u64>) {
        self.done = done.min(self.total);
        if let Some(b) = &self.bar {
            b.set_position(self.done);
        } else if self.last_log.elapsed() >= self.every {
            tracing::info!(
                done = self.done,
                total = self.total,
                lsn = ?lsn,
                "{}: {}%",
                self.what,
                percent(self.done, self.total)
            );
            self.last_log = Instant::now();
        }
    }
}

impl Drop for Progress {
    /// Removes the bar, whatever the outcome (the caller logs it).
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_whole_bounded_and_safe_for_huge_totals() {
        assert_eq!(percent(0, 0), 100);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(5, 3), 100);
        assert_eq!(percent(u64::MAX / 2, u64::MAX), 49);
        let mut p = Progress::new("test", 10);
        p.set(20, None);
        assert_eq!(p.done, 10, "never past the total");
    }
}
