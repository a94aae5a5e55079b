//! Reloading the configuration of a running node (SIGHUP, `systemctl
//! reload`), the part every role shares: the handle that re-reads the
//! configuration, the log level, and how a reload is told (log line, event,
//! systemd).
//!
//! A [`Reloader`] is handed to a node by whoever built its configuration
//! (the command line re-read from scratch: file, environment, flags). It is
//! typed by the configuration the node runs with, so no role needs to know
//! the others' configurations; `crate::cli::reload` builds one from the
//! process's own command line and maps it to each role.
//!
//! Reloading never half-applies a bad file: the new configuration is built
//! completely first (every key parsed, every file it names read), and only
//! then are the settings that may change at runtime switched over. The
//! settings that need a restart are named once, in one warning, and kept.

use crate::events::{EventKind, Events};
use std::sync::{Arc, OnceLock};

/// What a reload read: the node's configuration and the log level.
#[derive(Debug, Clone)]
pub struct Reloaded<T> {
    pub config: T,
    /// `[log] level`, `LOGSHIP_LOG_LEVEL` or `LOGSHIP_LOG` (`None`: info).
    pub log_level: Option<String>,
}

type Load<T> = dyn Fn() -> anyhow::Result<Reloaded<T>> + Send + Sync;

/// Re-reads a node's configuration from scratch (a cloneable handle).
pub struct Reloader<T>(Arc<Load<T>>);

impl<T> Clone for Reloader<T> {
    fn clone(&self) -> Self {
        Reloader(self.0.clone())
    }
}

impl<T> std::fmt::Debug for Reloader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reloader")
    }
}

impl<T: Send + 'static> Reloader<T> {
    /// A reloader calling `load`, which reads files and must not run on a
    /// tokio worker ([`Reloader::load`] moves it off).
    pub fn new(load: impl Fn() -> anyhow::Result<Reloaded<T>> + Send + Sync + 'static) -> Self {
        Reloader(Arc::new(load))
    }

    /// The same reload, its configuration turned into another role's by `f`
    /// (a standby's into the primary's it serves as once promoted).
    pub fn map<U: Send + 'static>(
        &self,
        f: impl Fn(T) -> anyhow::Result<U> + Send + Sync + 'static,
    ) -> Reloader<U> {
        let inner = self.0.clone();
        Reloader::new(move || {
            let r = inner()?;
            Ok(Reloaded {
                config: f(r.config)?,
                log_level: r.log_level,
            })
        })
    }

    /// Re-reads the configuration on a blocking thread.
    ///
    /// # Errors
    /// The configuration is not valid (the message names the file, line and
    /// key, or the file a key names), or the blocking thread failed.
    pub async fn load(&self) -> anyhow::Result<Reloaded<T>> {
        let f = self.0.clone();
        tokio::task::spawn_blocking(move || f())
            .await
            .map_err(|e| anyhow::anyhow!("the reload thread failed: {e}"))?
    }
}

/// Changes the log level of the running process (installed once by the CLI).
pub type LogLevelSetter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

static LOG_LEVEL: OnceLock<(LogLevelSetter, std::sync::Mutex<String>)> = OnceLock::new();

/// Installs the setter of the log level and the level in force; later calls
/// are ignored (one logger per process).
pub fn install_log_level(level: &str, set: LogLevelSetter) {
    let _ = LOG_LEVEL.set((set, std::sync::Mutex::new(level.to_string())));
}

/// Sets the log level (`None`: info); returns true when it changed.
///
/// # Errors
/// The level is not a valid filter (the file's check refuses that first).
pub fn set_log_level(level: Option<&str>) -> Result<bool, String> {
    let Some((set, current)) = LOG_LEVEL.get() else {
        return Ok(false);
    };
    let level = level.unwrap_or("info");
    let mut cur = current.lock().unwrap_or_else(|p| p.into_inner());
    if *cur == level {
        return Ok(false);
    }
    set(level)?;
    *cur = level.to_string();
    Ok(true)
}

/// Settings that differ but need a restart, by their flag names.
#[derive(Debug, Default)]
pub struct RestartNeeded(Vec<&'static str>);

impl RestartNeeded {
    /// Notes `name` when `old` and `new` differ (compared by their `Debug`
    /// forms, which hide secrets but name the files they came from).
    pub fn check(
        &mut self,
        name: &'static str,
        old: &impl std::fmt::Debug,
        new: &impl std::fmt::Debug,
    ) {
        if format!("{old:?}") != format!("{new:?}") {
            self.0.push(name);
        }
    }

    /// The names, in order.
    pub fn names(&self) -> &[&'static str] {
        &self.0
    }
}

/// How a reload went, told by [`finish`].
#[derive(Debug)]
pub enum Outcome {
    /// No reloader: the node was started without a configuration to re-read.
    Nothing,
    /// The new configuration was not valid: everything stays as it was.
    Failed(anyhow::Error),
    /// Applied: what changed, what needs a restart.
    Applied {
        changed: Vec<String>,
        restart: RestartNeeded,
    },
}

/// A reload from start to end: tells systemd it begins, re-reads the
/// configuration with `reloader` (on a blocking thread; `None`: nothing to
/// re-read), hands a valid one to `apply` (which switches over what may
/// change and says what it did), and tells the outcome ([`finish`]). An
/// invalid configuration never reaches `apply`.
pub async fn reload<T, F>(
    reloader: Option<Reloader<T>>,
    events: &Events,
    apply: impl FnOnce(Reloaded<T>) -> F,
) where
    T: Send + 'static,
    F: std::future::Future<Output = (Vec<String>, RestartNeeded)>,
{
    crate::notify::reloading();
    tracing::info!("SIGHUP: reloading the configuration");
    let outcome = match reloader {
        None => Outcome::Nothing,
        Some(r) => match r.load().await {
            Err(e) => Outcome::Failed(e),
            Ok(new) => {
                let (changed, restart) = apply(new).await;
                Outcome::Applied { changed, restart }
            }
        },
    };
    finish(events, outcome);
}

/// Logs the outcome (one line each: error, warning, info), emits
/// `reload_failed` or `reloaded` and tells systemd the reload is over.
pub fn finish(events: &Events, outcome: Outcome) {
    match outcome {
        Outcome::Nothing => {
            tracing::warn!(
                "SIGHUP: no configuration to reload (this node was started without one)"
            );
        }
        Outcome::Failed(e) => {
            let error = one_line(&e);
            tracing::error!("reload refused, the running configuration is kept: {error}");
            events.emit(
                EventKind::ReloadFailed,
                serde_json::json!({ "error": error }),
            );
        }
        Outcome::Applied { changed, restart } => {
            tracing::debug!(
                changed = ?changed,
                restart_needed = ?restart.names(),
                "reload: the new configuration compared with the running one"
            );
            if !restart.names().is_empty() {
                tracing::warn!(
                    "reload: needs a restart: {}; kept as they were",
                    restart.names().join(", ")
                );
            }
            let what = if changed.is_empty() {
                "nothing changed".to_string()
            } else {
                changed.join("; ")
            };
            tracing::info!("configuration reloaded: {what}");
            events.emit(
                EventKind::Reloaded,
                serde_json::json!({ "changed": changed, "restart_needed": restart.names() }),
            );
        }
    }
    crate::notify::reloaded();
}

/// An error and its causes on one line, each cause once: a message that
/// already quotes its cause (`key file F: No such file…`) is not followed by
/// the cause again.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}

/// Sets the log level a reload read, noting it in `changed`; a level that
/// does not apply is logged and the old one kept.
pub fn apply_log_level(level: Option<&str>, changed: &mut Vec<String>) {
    match set_log_level(level) {
        Ok(true) => changed.push(format!("log level {}", level.unwrap_or("info"))),
        Ok(false) => {}
        Err(e) => tracing::error!("reload: {e}; the log level stays as it was"),
    }
}

/// Ignores SIGHUP until the node's loop handles it (its default action
/// would end the process during a long recovery); the loop's handler
/// replaces this. Event hooks still start with the default action: the
/// handler, not this, is in force by then.
pub fn hold_sighup() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no handler to
    // run, and nothing else in the process relies on SIGHUP's default.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}
