//! The configuration: `logship.toml`, the environment, and how they become the
//! settings of a command (issue #25).
//!
//! | module   | owns                                                              |
//! |----------|-------------------------------------------------------------------|
//! | `file`   | the TOML file: sections of settings, each with its line           |
//! | `argv`   | the command line: which file (`--config`, `--no-config`), which subcommand, the values handed to clap |
//! | `layers` | defaults < file < environment < flags, against the clap commands: checks, conflicts, the values handed to clap, where each came from |
//! | `flags`  | a value and its flag: shape, the flag's own parser, command-line tokens |
//! | `cluster`| the `[[node]]` tables: one file for every node, what `--node NAME` gives a command, where each node ships |
//!
//! A section holds the settings of a long-running role or concern: `[primary]`,
//! `[standby]`, `[ship]`, `[archive]` (the `archive` command, and the
//! `--archive-*` flags of `primary` and `standby`), `[status]`, `[log]`. Every
//! key is the long name of a flag of that command (`fsync`, `ship-to`); its
//! environment variable is `LOGSHIP_<SECTION>_<KEY>` (`LOGSHIP_PRIMARY_FSYNC`).
//! One-shot switches (`--once`, `--json`, `--force`, `--dry-run`) are not
//! settings. docs/configuration.md is the user's side of this.

pub mod argv;
pub mod cluster;
pub mod file;
pub mod flags;
pub mod layers;

use std::path::PathBuf;

/// Where a configuration file is looked for when no `--config` is given; a
/// missing file there is no error.
pub const DEFAULT_PATH: &str = "/etc/logship/logship.toml";

/// The array of tables holding the cluster's nodes: `[[node]]`.
pub const NODE_TABLE: &str = "node";

/// The environment variable naming the configuration file (as `--config`).
pub const PATH_ENV: &str = "LOGSHIP_CONFIG";

/// The largest configuration file read: a file of every key of every section
/// is under 8 KiB, so 1 MiB is a mistake (a log, a binary), not a config.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A section of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    Primary,
    Standby,
    Ship,
    Archive,
    Status,
    Log,
}

impl Section {
    /// Every section, in the order `config check` prints them.
    pub const ALL: [Section; 6] = [
        Section::Primary,
        Section::Standby,
        Section::Ship,
        Section::Archive,
        Section::Status,
        Section::Log,
    ];

    /// The name in the file (`[primary]`), and of the command whose flags the
    /// keys name (but `log`, whose keys are `format` and `level`).
    pub fn name(self) -> &'static str {
        match self {
            Section::Primary => "primary",
            Section::Standby => "standby",
            Section::Ship => "ship",
            Section::Archive => "archive",
            Section::Status => "status",
            Section::Log => "log",
        }
    }

    /// The section named `name`.
    pub fn from_name(name: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The environment variable of `key` in this section:
    /// `LOGSHIP_PRIMARY_SHIP_TO` for `[primary] ship-to`.
    pub fn env_var(self, key: &str) -> String {
        format!("LOGSHIP_{}_{}", self.name(), key)
            .to_ascii_uppercase()
            .replace('-', "_")
    }
}

/// A value as the file wrote it, reduced to what a flag can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Value>),
    /// A float, date, inline table, or a list of those: never a flag's value.
    Other(&'static str),
}

impl Value {
    /// The TOML type's name, for errors ("expected a string, found an array").
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Bool(_) => "a boolean",
            Value::List(_) => "an array",
            Value::Other(t) => t,
        }
    }
}

impl std::fmt::Display for Value {
    /// TOML's spelling: `"always"`, `3`, `true`, `["a", "b"]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(l) => {
                let items: Vec<String> = l.iter().map(Value::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Value::Other(t) => write!(f, "({t})"),
        }
    }
}

/// One `key = value` line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub section: Section,
    pub key: String,
    pub value: Value,
    /// 1-based line of the key in the file.
    pub line: usize,
}

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The flag's built-in default (or no value at all).
    Default,
    /// The configuration file, at this line.
    File { line: usize },
    /// This environment variable.
    Env { var: String },
    /// The command line.
    Flag,
}

impl std::fmt::Display for Source {
    /// `default`, `file:7`, `env LOGSHIP_PRIMARY_FSYNC`, `flag`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File { line } => write!(f, "file:{line}"),
            Source::Env { var } => write!(f, "env {var}"),
            Source::Flag => write!(f, "flag"),
        }
    }
}

/// A configuration that cannot be used. Each is one line naming the file and
/// line, or the environment variable, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file: {0}")]
    Io(crate::durable::IoError),
    #[error("configuration file {}: larger than {} bytes", path.display(), MAX_FILE_BYTES)]
    TooLarge { path: PathBuf },
    #[error("{} line {line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A key of a section: unknown, of the wrong type, a bad value, or in
    /// conflict with another.
    #[error("{} line {line}: [{}] {key} = {value}: {reason}", path.display(), section.name())]
    Key {
        path: PathBuf,
        line: usize,
        section: Section,
        key: String,
        value: Value,
        reason: String,
    },
    /// A `[[node]]` table that cannot work.
    #[error("{} line {line}: [[node]] {}: {reason}", path.display(), if node.is_empty() { "(no name)" } else { node.as_str() })]
    Node {
        path: PathBuf,
        line: usize,
        node: String,
        reason: String,
    },
    /// `--node NAME` names no node of the file.
    #[error("{}: no [[node]] is named \"{name}\" (nodes: {names})", path.display())]
    NoNode {
        path: PathBuf,
        name: String,
        names: String,
    },
    /// `--node NAME` without a file describing the cluster.
    #[error("--node {name} (or {}) needs a configuration file with [[node]] tables: {}", cluster::NODE_ENV, match path { Some(p) => format!("{} has none", p.display()), None => "no file was read (--config FILE)".into() })]
    NoCluster { name: String, path: Option<PathBuf> },
    #[error("environment {var}={value:?}: {reason}")]
    Env {
        var: String,
        value: String,
        reason: String,
    },
}

/// Whether `name` is a variable of the configuration: `LOGSHIP_CONFIG` or a
/// `LOGSHIP_<SECTION>_<KEY>`.
pub fn is_config_var(name: &std::ffi::OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    name == PATH_ENV
        || name == cluster::NODE_ENV
        || Section::ALL.iter().any(|s| {
            let prefix = format!("LOGSHIP_{}_", s.name().to_ascii_uppercase());
            name.starts_with(&prefix)
        })
}

/// A command running `program` (a logship binary) with no configuration:
/// `--no-config` and none of the configuration's variables. A drill's scratch
/// primary and a demo's nodes run so, so that an operator's settings (a
/// `ship-to`, an `archive-to`) never reach them; tests run the binary so, so
/// that a developer's /etc/logship and environment never reach a test.
pub fn hermetic(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.arg("--no-config");
    for (name, _) in std::env::vars_os() {
        if is_config_var(&name) {
            cmd.env_remove(name);
        }
    }
    cmd
}

#[cfg(test)]
mod tests;
