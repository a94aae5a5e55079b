//! Defaults < file < environment < flags, against the clap commands.
//!
//! Before clap parses the command line, [`prepare`](super::argv::prepare) finds the configuration
//! file (`--config`, `--no-config`, `LOGSHIP_CONFIG`, `/etc/logship/logship.toml`), checks
//! every key of the file and every `LOGSHIP_<SECTION>_<KEY>` variable against
//! the flag it names (the flag's own value parser decides), drops a file value
//! that the environment overrides, and hands the rest to clap as if typed
//! right after the subcommand's name, unless the command line gives that flag
//! or one it conflicts with. So clap's own rules (required, conflicts,
//! requires) see every value, a flag always wins, and `--help` shows the
//! built-in defaults.

use super::file::ConfigFile;
use super::flags::{check_values, flag_values};
pub use super::flags::{shape, Shape, ONE_SHOT};
use super::{ConfigError, Section, Setting, Source, Value};
use clap::{Arg, Command};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A value given to a setting by the file or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub section: Section,
    pub key: String,
    /// The flag's values as typed on a command line, one per occurrence; a
    /// switch's is `true` or `false`.
    pub values: Vec<String>,
    /// [`Source::File`] or [`Source::Env`].
    pub source: Source,
}

/// The configuration a command runs with.
#[derive(Debug, Clone)]
pub struct Layered {
    /// The command line for clap: the given one, with the file's and the
    /// environment's values added.
    pub argv: Vec<OsString>,
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    /// Every value of the file and the environment that is in force (a file
    /// value overridden by the environment is not here).
    pub choices: Vec<Choice>,
    /// `--log-format` is on the command line.
    pub log_format_flag: bool,
    /// The cluster the file describes (`[[node]]`), if it does.
    pub cluster: Option<super::cluster::Cluster>,
    /// The node named by `--node` or `LOGSHIP_NODE`.
    pub node: Option<String>,
}

/// A setting's effective value, as `logship config check` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub key: String,
    /// `None`: no value (an optional flag not given).
    pub values: Option<Vec<String>>,
    pub source: Source,
    /// A secret: its value is never printed.
    pub secret: bool,
    pub shape: Shape,
}

/// The command whose flags a section's keys name (`[log]` has none).
fn section_command(cmd: &Command, section: Section) -> Option<&Command> {
    match section {
        Section::Log => None,
        s => cmd.find_subcommand(s.name()),
    }
}

/// Whether `[section] key` applies to the subcommand `sub`: its own section,
/// and `[archive]`'s `archive-*` keys for `primary` and `standby`.
pub(super) fn applies(section: Section, key: &str, sub: &str) -> bool {
    section.name() == sub
        || (section == Section::Archive
            && matches!(sub, "primary" | "standby")
            && key.starts_with("archive-"))
}

/// `[log] level`: a tracing filter (`info`, `warn,logship::ship=debug`).
fn log_level(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("not a log level or filter: {e}"))
}

/// The settings of a section: key and the flag it names. `cmd` is built
/// ([`built`](super::argv::built)).
pub fn settings(cmd: &Command, section: Section) -> Vec<(String, Arg)> {
    let Some(sub) = section_command(cmd, section) else {
        let format = cmd.get_arguments().find(|a| a.get_id() == "log_format");
        let level = Arg::new("level")
            .long("level")
            .default_value("info")
            .value_parser(log_level);
        let format = format.map(|a| ("format".to_string(), a.clone()));
        return format
            .into_iter()
            .chain([("level".into(), level)])
            .collect();
    };
    sub.get_arguments()
        .filter(|a| !a.is_global_set() && !a.is_positional())
        .filter_map(|a| Some((a.get_long()?.to_string(), a.clone())))
        .filter(|(k, _)| !ONE_SHOT.contains(&k.as_str()))
        // The `--archive-*` flags of primary and standby are [archive]'s.
        .filter(|(k, _)| {
            !(matches!(section, Section::Primary | Section::Standby) && k.starts_with("archive-"))
        })
        .collect()
}

/// Why `[section] key` is not a setting, in a few words.
fn unknown_reason(cmd: &Command, section: Section, key: &str) -> String {
    if ONE_SHOT.contains(&key) {
        return format!("a one-shot switch, not a setting: give --{key} on the command line");
    }
    let elsewhere: Vec<String> = Section::ALL
        .into_iter()
        .filter(|s| settings(cmd, *s).iter().any(|(k, _)| k == key))
        .map(|s| format!("[{}]", s.name()))
        .collect();
    if elsewhere.is_empty() {
        format!(
            "unknown key (see `logship config check --role {}`)",
            section.name()
        )
    } else {
        format!(
            "not a key of [{}]; it belongs in {}",
            section.name(),
            elsewhere.join(" or ")
        )
    }
}

/// The file's value for `setting`, checked.
fn from_file(cmd: &Command, path: &Path, s: &Setting) -> Result<Choice, ConfigError> {
    let err = |reason: String| ConfigError::Key {
        path: path.into(),
        line: s.line,
        section: s.section,
        key: s.key.clone(),
        value: s.value.clone(),
        reason,
    };
    let all = settings(cmd, s.section);
    let Some((_, arg)) = all.iter().find(|(k, _)| *k == s.key) else {
        return Err(err(unknown_reason(cmd, s.section, &s.key)));
    };
    let values = flag_values(arg, &s.value).map_err(err)?;
    check_values(arg, &values).map_err(err)?;
    Ok(Choice {
        section: s.section,
        key: s.key.clone(),
        values,
        source: Source::File { line: s.line },
    })
}

/// The variables that set `[section] key`, the first set one winning:
/// `LOGSHIP_LOG` (the filter it always was) before `LOGSHIP_LOG_LEVEL`.
pub fn env_vars(section: Section, key: &str) -> Vec<String> {
    let mut vars = vec![section.env_var(key)];
    if section == Section::Log && key == "level" {
        vars.insert(0, "LOGSHIP_LOG".into());
    }
    vars
}

/// Every setting given by the environment (an empty variable is unset).
fn from_env(
    cmd: &Command,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Vec<Choice>, ConfigError> {
    let mut out = Vec::new();
    for section in Section::ALL {
        for (key, arg) in settings(cmd, section) {
            let Some((var, raw)) = env_vars(section, &key)
                .into_iter()
                .find_map(|v| env(&v).filter(|x| !x.is_empty()).map(|x| (v, x)))
            else {
                continue;
            };
            let err = |value: String, reason: String| ConfigError::Env {
                var: var.clone(),
                value,
                reason,
            };
            let raw = raw
                .into_string()
                .map_err(|r| err(r.to_string_lossy().into(), "not UTF-8".into()))?;
            let values = match shape(&arg) {
                Shape::Switch => match raw.as_str() {
                    "true" | "1" => vec!["true".to_string()],
                    "false" | "0" => vec!["false".to_string()],
                    _ => return Err(err(raw, "expected true, false, 1 or 0".into())),
                },
                Shape::Many => raw.split(',').map(|v| v.trim().to_string()).collect(),
                Shape::One => vec![raw.clone()],
            };
            check_values(&arg, &values).map_err(|reason| err(raw.clone(), reason))?;
            out.push(Choice {
                section,
                key,
                values,
                source: Source::Env { var },
            });
        }
    }
    Ok(out)
}

/// A switch set to `false` is absent: it conflicts with nothing.
fn active(c: &Choice) -> bool {
    c.values.first().is_none_or(|v| v != "false")
}

/// Whether flags `a` and `b` of `cmd` (by id) exclude each other: a
/// `conflicts_with` either way, or one group of which only one may be given.
pub(super) fn conflicting(cmd: &Command, a: &str, b: &str) -> bool {
    let find = |id: &str| cmd.get_arguments().find(|x| x.get_id() == id);
    let (Some(x), Some(y)) = (find(a), find(b)) else {
        return false;
    };
    let names = |p: &Arg, q: &Arg| {
        cmd.get_arg_conflicts_with(p)
            .iter()
            .any(|c| c.get_id() == q.get_id())
    };
    names(x, y)
        || names(y, x)
        || cmd.get_groups().any(|g| {
            !g.clone().is_multiple()
                && g.get_args().any(|i| i == x.get_id())
                && g.get_args().any(|i| i == y.get_id())
        })
}

/// The id of the flag `key` of `sub`.
fn arg_id(sub: &Command, key: &str) -> Option<String> {
    sub.get_arguments()
        .find(|a| a.get_long() == Some(key))
        .map(|a| a.get_id().to_string())
}

/// Whether choices `a` and `b` (of one section) conflict.
fn choices_conflict(cmd: &Command, a: &Choice, b: &Choice) -> bool {
    let Some(sub) = section_command(cmd, a.section) else {
        return false;
    };
    match (arg_id(sub, &a.key), arg_id(sub, &b.key)) {
        (Some(x), Some(y)) => {
            a.section == b.section && active(a) && active(b) && conflicting(sub, &x, &y)
        }
        _ => false,
    }
}

/// The line of a file value (0 for another source).
fn line_of(c: &Choice) -> usize {
    match c.source {
        Source::File { line } => line,
        _ => 0,
    }
}

/// The variable of an environment value (empty for another source).
fn var_of(c: &Choice) -> String {
    match &c.source {
        Source::Env { var } => var.clone(),
        _ => String::new(),
    }
}

/// The first two values of one layer that exclude each other.
fn first_conflict<'a>(cmd: &Command, layer: &'a [Choice]) -> Option<(&'a Choice, &'a Choice)> {
    layer.iter().enumerate().find_map(|(i, a)| {
        let b = layer[i + 1..]
            .iter()
            .find(|b| choices_conflict(cmd, a, b))?;
        Some((a, b))
    })
}

/// The file's and the environment's values, checked; a file value is dropped
/// when the environment sets its key or one it conflicts with.
///
/// # Errors
/// A key that is not a setting, a value of the wrong type or refused by the
/// flag's parser, two values of one layer that conflict.
pub fn resolve(
    cmd: &Command,
    file: Option<&ConfigFile>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Vec<Choice>, ConfigError> {
    let mut from_file_layer = Vec::new();
    if let Some(f) = file {
        for s in &f.settings {
            from_file_layer.push(from_file(cmd, &f.path, s)?);
        }
    }
    if let (Some((a, b)), Some(f)) = (first_conflict(cmd, &from_file_layer), file) {
        let (la, lb) = (line_of(a), line_of(b));
        let setting = f.settings.iter().find(|s| s.line == lb && s.key == b.key);
        return Err(ConfigError::Key {
            path: f.path.clone(),
            line: lb,
            section: b.section,
            key: b.key.clone(),
            value: setting.map_or(Value::Str(b.values.join(",")), |s| s.value.clone()),
            reason: format!("conflicts with {} (line {la}); keep one", a.key),
        });
    }
    let mut out = from_env(cmd, env)?;
    if let Some((a, b)) = first_conflict(cmd, &out) {
        return Err(ConfigError::Env {
            var: var_of(b),
            value: b.values.join(","),
            reason: format!("conflicts with {} ({}); keep one", a.key, a.source),
        });
    }
    let overridden = |f: &Choice| {
        out.iter()
            .any(|e| (e.section == f.section && e.key == f.key) || choices_conflict(cmd, e, f))
    };
    let kept: Vec<Choice> = from_file_layer
        .into_iter()
        .filter(|f| !overridden(f))
        .collect();
    out.extend(kept);
    Ok(out)
}
