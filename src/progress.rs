//! Progress of long work: a bar (indicatif) when a person watches stderr, a
//! log line every few seconds otherwise.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the plain form logs.
const LOG_EVERY: Duration = Duration::from_secs(2);

/// One piece of long work measured in bytes (or any unit), `done` of `total`.
pub struct Progress {
    label: &'static str,
    bar: Option<indicatif::ProgressBar>,
    last_log: Mutex<Instant>,
}

impl Progress {
    /// A bar when stderr is a terminal and `quiet` is false; log lines otherwise.
    pub fn new(label: &'static str, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let b = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                b.set_style(style);
            }
            b.set_message(label);
            b
        });
        Progress {
            label,
            bar,
            last_log: Mutex::new(Instant::now()),
        }
    }

    /// Reports `done` of `total`.
    pub fn update(&self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done.min(total));
            return;
        }
        let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= LOG_EVERY && done < total {
            tracing::info!(
                done,
                total,
                "{}: {}%",
                self.label,
                done * 100 / total.max(1)
            );
            *last = Instant::now();
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
