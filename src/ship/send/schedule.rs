//! When the shipper runs: every N, on a cron expression, or continuously.

use chrono::{DateTime, Utc};
use croner::Cron;
use std::str::FromStr;
use std::time::Duration;

/// What a cron expression may hold, appended to a parse error.
const CRON_FORMS: &str = " (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-7 or SUN-SAT, each a value, range, list or */step; or @hourly, @daily, @weekly, @monthly, @yearly)";

/// How long a cron schedule with no next occurrence waits before it looks again.
const CRON_RETRY: Duration = Duration::from_secs(3600);

/// A cron expression that is refused; each names the expression.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    #[error("cron expression '{expr}' must have 5 fields: minute hour day-of-month month day-of-week{CRON_FORMS}")]
    Fields { expr: String },
    #[error("cron expression '{expr}': {source}{CRON_FORMS}")]
    Parse {
        expr: String,
        #[source]
        source: croner::errors::CronError,
    },
    #[error("cron expression '{expr}' never fires: no date matches it")]
    Never { expr: String },
}

/// A shipping schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Ship every `interval` (`--ship-every 30s`).
    Every(Duration),
    /// Ship at the times of a standard 5-field cron expression, UTC
    /// (`--ship-cron "*/5 * * * *"`).
    Cron(Box<Cron>),
    /// Keep the link open and ship as soon as records are durable.
    Continuous,
}

impl Schedule {
    /// Parses a 5-field cron expression (minute hour day-of-month month
    /// day-of-week), or one of the nicknames `@hourly`, `@daily`, `@weekly`,
    /// `@monthly`, `@yearly` (`@annually`). An expression that never fires
    /// (`0 0 31 2 *`) is refused.
    ///
    /// # Errors
    /// [`CronError`] naming the expression and what is wrong with it.
    pub fn cron(expr: &str) -> Result<Schedule, CronError> {
        let e = expr.trim();
        if !e.starts_with('@') && e.split_whitespace().count() != 5 {
            return Err(CronError::Fields { expr: expr.into() });
        }
        let c = Cron::from_str(e).map_err(|source| CronError::Parse {
            expr: expr.into(),
            source,
        })?;
        if c.find_next_occurrence(&Utc::now(), false).is_err() {
            return Err(CronError::Never { expr: expr.into() });
        }
        Ok(Schedule::Cron(Box::new(c)))
    }

    /// How long to wait, at wall time `now`, until the next scheduled run
    /// (`None` for continuous shipping).
    pub fn wait_from(&self, now: DateTime<Utc>) -> Option<Duration> {
        match self {
            Schedule::Every(d) => Some(*d),
            Schedule::Continuous => None,
            Schedule::Cron(c) => match c.find_next_occurrence(&now, false) {
                Ok(next) => Some((next - now).to_std().unwrap_or(Duration::ZERO)),
                // Refused at parsing; should the search still find nothing,
                // look again later (never fall back to continuous shipping).
                Err(_) => Some(CRON_RETRY),
            },
        }
    }

    /// A short description for logs and status.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Every(d) => format!("every {}", humanize(*d)),
            Schedule::Cron(c) => format!("cron \"{}\"", c.pattern),
            Schedule::Continuous => "continuous".into(),
        }
    }
}

/// `90s` → `1m30s`, `500ms` → `500ms`.
pub fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 || out.is_empty() {
        out += &format!("{s}s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cron_expressions_parse_and_schedule() {
        let s = Schedule::cron("*/5 * * * *").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 14, 3, 20).unwrap();
        assert_eq!(s.wait_from(at), Some(Duration::from_secs(100)));
        let on_the_dot = Utc.with_ymd_and_hms(2026, 11, 22, 14, 5, 0).unwrap();
        assert_eq!(s.wait_from(on_the_dot), Some(Duration::from_secs(300)));
        let nightly = Schedule::cron("30 2 * * *").unwrap();
        assert_eq!(
            nightly.wait_from(at),
            Some(Duration::from_secs((12 * 3600) + (26 * 60) + 40))
        );
        let weekdays = Schedule::cron("0 9 * * 1-5").unwrap();
        // 2026-11-22 is a Sunday: the next run is Monday 09:00.
        let monday = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        assert_eq!(
            weekdays.wait_from(at),
            Some((monday - at).to_std().unwrap())
        );
        assert!(Schedule::cron("*/5 * * *").is_err());
        // Nicknames, as crontab takes them.
        let hourly = Schedule::cron("@hourly").unwrap();
        assert_eq!(
            hourly.wait_from(at),
            Some(Duration::from_secs(56 * 60 + 40))
        );
        let daily = Schedule::cron("@daily").unwrap();
        assert_eq!(
            daily.wait_from(at),
            Some(Duration::from_secs(9 * 3600 + 56 * 60 + 40))
        );
        assert!(Schedule::cron("@reboot").is_err());
        // An expression that never fires is refused, not run continuously.
        let never = Schedule::cron("0 0 31 2 *").unwrap_err().to_string();
        assert!(never.contains("never fires"), "{never}");
        // A leap day fires (every four years).
        assert!(Schedule::cron("0 0 29 2 *").is_ok());
        let bad = Schedule::cron("61 * * * *").unwrap_err().to_string();
        assert!(bad.contains("minute 0-59"), "{bad}");
        assert!(Schedule::cron("every five minutes please").is_err());
        assert_eq!(Schedule::Continuous.wait_from(at), None);
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
    }

    /// Drives the schedule with tokio's paused clock, as the shipper does (sleep
    /// for `wait_from(now)`), over a simulated day: every run lands on a cron
    /// time, none is skipped or doubled, and no real time passes.
    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_runs_the_cron_schedule_on_time() {
        let start_wall = Utc.with_ymd_and_hms(2026, 11, 22, 23, 58, 30).unwrap();
        let started = tokio::time::Instant::now();
        let real = std::time::Instant::now();
        let wall = || start_wall + chrono::Duration::from_std(started.elapsed()).unwrap();
        let s = Schedule::cron("*/15 * * * *").unwrap();
        let mut runs = Vec::new();
        while runs.len() < 96 {
            tokio::time::sleep(s.wait_from(wall()).unwrap()).await;
            runs.push(wall());
        }
        assert_eq!(
            runs[0],
            Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
        );
        for w in runs.windows(2) {
            assert_eq!(w[1] - w[0], chrono::Duration::minutes(15), "{w:?}");
        }
        assert_eq!(
            *runs.last().unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 23, 23, 45, 0).unwrap()
        );
        assert!(
            real.elapsed() < std::time::Duration::from_secs(5),
            "the clock was paused"
        );
        let every = Schedule::Every(Duration::from_secs(30));
        let t0 = tokio::time::Instant::now();
        for _ in 0..10 {
            tokio::time::sleep(every.wait_from(wall()).unwrap()).await;
        }
        assert_eq!(t0.elapsed(), Duration::from_secs(300));
    }
}
