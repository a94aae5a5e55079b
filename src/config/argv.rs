//! The command line's side of the configuration: which file to read
//! (`--config`, `--no-config`), which subcommand runs, and the command line
//! clap parses, with the file's and the environment's values added.

use super::cluster::{Cluster, Node, NODE_ENV};
use super::file::ConfigFile;
use super::flags::flag_tokens;
use super::layers::{resolve, settings, shape, Choice, Effective, Layered};
use super::{ConfigError, Section, Source, DEFAULT_PATH, PATH_ENV};
use clap::parser::ValueSource;
use clap::{Arg, Command};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// Global flags that take a value, as they may come before the subcommand.
const GLOBAL_WITH_VALUE: [&str; 3] = ["--config", "--log-format", "--node"];

/// The tokens of `argv` (less the program name) up to `--`.
fn tokens(argv: &[OsString]) -> impl Iterator<Item = &OsStr> {
    argv.iter()
        .skip(1)
        .map(OsString::as_os_str)
        .take_while(|t| *t != "--")
}

/// The global flags among `args` (with their values), in order: what a
/// command line gives every subcommand, wherever it is written.
pub fn global_flags(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut it = args.iter().take_while(|t| *t != "--");
    while let Some(t) = it.next() {
        let s = t.to_string_lossy();
        if GLOBAL_WITH_VALUE.contains(&s.as_ref()) {
            out.push(t.clone());
            out.extend(it.next().cloned());
        } else if s == "--no-config"
            || GLOBAL_WITH_VALUE
                .iter()
                .any(|g| s.starts_with(&format!("{g}=")))
        {
            out.push(t.clone());
        }
    }
    out
}

/// The value of the flag `--name VALUE` or `--name=VALUE`, wherever it is.
fn flag_value(argv: &[OsString], name: &str) -> Option<OsString> {
    let mut it = tokens(argv);
    while let Some(t) = it.next() {
        let s = t.to_string_lossy();
        if s == name {
            return it.next().map(OsStr::to_os_string);
        }
        if let Some(v) = s.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(v.into());
        }
    }
    None
}

fn has_flag(argv: &[OsString], name: &str) -> bool {
    tokens(argv).any(|t| {
        let s = t.to_string_lossy();
        s == name || s.starts_with(&format!("{name}="))
    })
}

/// The index in `argv` of the subcommand's name, and the name: the first
/// token that is not a global flag (or its value). `None` when that token is
/// another flag (`--help`) or no command.
pub fn subcommand_at(cmd: &Command, argv: &[OsString]) -> Option<(usize, String)> {
    let mut i = 1;
    while let Some(t) = argv.get(i) {
        let s = t.to_string_lossy();
        if GLOBAL_WITH_VALUE.contains(&s.as_ref()) {
            i += 2;
        } else if s == "--no-config"
            || GLOBAL_WITH_VALUE
                .iter()
                .any(|g| s.starts_with(&format!("{g}=")))
        {
            i += 1;
        } else if s.starts_with('-') {
            return None;
        } else {
            return cmd
                .find_subcommand(s.as_ref())
                .map(|c| (i, c.get_name().to_string()));
        }
    }
    None
}

/// The configuration file to read: `--config`, else [`PATH_ENV`], else
/// [`DEFAULT_PATH`] when it exists; none with `--no-config`.
pub fn config_path(argv: &[OsString], env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if has_flag(argv, "--no-config") {
        return None;
    }
    if let Some(p) = flag_value(argv, "--config") {
        return Some(p.into());
    }
    if let Some(p) = env(PATH_ENV).filter(|p| !p.is_empty()) {
        return Some(p.into());
    }
    let default = PathBuf::from(DEFAULT_PATH);
    default.exists().then_some(default)
}

/// `cmd` built, as the functions here and in `layers` need it: the groups of
/// its flags exist and global flags are on every subcommand.
pub fn built(cmd: &Command) -> Command {
    let mut cmd = cmd.clone();
    cmd.build();
    cmd
}

/// Reads the configuration for the command line `argv` of `cmd` (the whole
/// `logship` command) and the environment `env`.
///
/// # Errors
/// The file cannot be read or is not valid; a variable's value is refused.
pub fn prepare(
    cmd: &Command,
    argv: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Layered, ConfigError> {
    let cmd = &built(cmd);
    let path = config_path(&argv, env);
    let file = path.as_deref().map(ConfigFile::load).transpose()?;
    let choices = resolve(cmd, file.as_ref(), env)?;
    let cluster = match &file {
        Some(f) => Cluster::from_file(cmd, f)?,
        None => None,
    };
    let node = node_name(&argv, env);
    let argv = match (&node, &cluster) {
        (Some(name), Some(c)) => with_node(cmd, argv, c, c.node(name)?, env),
        (Some(name), None) => {
            return Err(ConfigError::NoCluster {
                name: name.clone(),
                path,
            })
        }
        (None, _) => argv,
    };
    let log_format_flag = has_flag(&argv, "--log-format");
    let argv = with_choices(cmd, argv, &choices, log_format_flag);
    Ok(Layered {
        argv,
        file: path,
        choices,
        log_format_flag,
        cluster,
        node,
    })
}

/// The node this command runs for: `--node NAME`, else [`NODE_ENV`].
pub fn node_name(argv: &[OsString], env: &dyn Fn(&str) -> Option<OsString>) -> Option<String> {
    flag_value(argv, "--node")
        .or_else(|| env(NODE_ENV).filter(|v| !v.is_empty()))
        .map(|v| v.to_string_lossy().into_owned())
}

/// `argv` with the flags `node` gives its subcommand added after the
/// subcommand's name, but not those on the command line or set by the
/// environment (`LOGSHIP_<SECTION>_<KEY>` of the subcommand's section).
fn with_node(
    cmd: &Command,
    mut argv: Vec<OsString>,
    cluster: &Cluster,
    node: &Node,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Vec<OsString> {
    let Some((at, name)) = subcommand_at(cmd, &argv) else {
        return argv;
    };
    let Some(sub) = cmd.find_subcommand(&name) else {
        return argv;
    };
    let Some(given) = given(sub, &argv[at..]) else {
        return argv;
    };
    let section = Section::from_name(&name);
    let env_set =
        |key: &str| section.is_some_and(|s| env(&s.env_var(key)).is_some_and(|v| !v.is_empty()));
    let tokens = cluster.tokens(node, sub, &given, &env_set);
    argv.splice(at + 1..at + 1, tokens);
    argv
}

/// The ids of the flags of `sub` given in `args` (`args[0]` its name), by a
/// parse that requires nothing; `None` when that parse fails (clap will say
/// why) or a subcommand of `sub` runs (`archive list`: the settings of
/// `archive` do not apply).
fn given(sub: &Command, args: &[OsString]) -> Option<Vec<String>> {
    let mut probe = sub.clone().mut_args(|a| {
        a.required(false)
            .required_unless_present(clap::builder::Resettable::<clap::Id>::Reset)
    });
    let groups: Vec<String> = sub.get_groups().map(|g| g.get_id().to_string()).collect();
    for g in groups {
        probe = probe.mut_group(g, |g| g.required(false));
    }
    let m = probe.try_get_matches_from(args).ok()?;
    if m.subcommand().is_some() {
        return None;
    }
    let ids = sub.get_arguments().map(|a| a.get_id().to_string());
    Some(
        ids.filter(|id| m.value_source(id) == Some(ValueSource::CommandLine))
            .collect(),
    )
}

/// `argv` with the choices that apply to its subcommand added after the
/// subcommand's name (and `[log] format` as `--log-format` first), but not
/// those whose flag, or a flag they conflict with, is on the command line.
fn with_choices(
    cmd: &Command,
    mut argv: Vec<OsString>,
    choices: &[Choice],
    log_format_flag: bool,
) -> Vec<OsString> {
    if let Some((at, name)) = subcommand_at(cmd, &argv) {
        let sub = cmd.find_subcommand(&name);
        let flags = sub.and_then(|s| given(s, &argv[at..]).map(|g| (s, g)));
        if let Some((sub, given)) = flags {
            let mut extra: Vec<OsString> = Vec::new();
            for c in choices
                .iter()
                .filter(|c| super::layers::applies(c.section, &c.key, &name))
            {
                let Some(arg) = sub
                    .get_arguments()
                    .find(|a| a.get_long() == Some(c.key.as_str()))
                else {
                    continue;
                };
                let id = arg.get_id().as_str();
                if given
                    .iter()
                    .any(|g| g == id || super::layers::conflicting(sub, g, id))
                {
                    continue;
                }
                extra.extend(flag_tokens(arg, &c.key, &c.values));
            }
            argv.splice(at + 1..at + 1, extra);
        }
    }
    let format = choices
        .iter()
        .find(|c| c.section == Section::Log && c.key == "format");
    if let (Some(c), false) = (format, log_format_flag) {
        argv.insert(1, format!("--log-format={}", c.values.join("")).into());
    }
    argv
}

/// Whether `key`'s value is a secret that is never printed: its name holds
/// `password`, `secret` or `key`, unless it names a file (`-file`, or a
/// FILE value such as `tls-key`).
pub fn is_secret(key: &str, arg: &Arg) -> bool {
    let named = ["password", "secret", "key"]
        .iter()
        .any(|w| key.contains(w));
    let file = key.ends_with("-file")
        || arg
            .get_value_names()
            .is_some_and(|n| n.iter().any(|n| n.as_str() == "FILE"));
    named && !file
}

impl Layered {
    /// `[log] level`, from `LOGSHIP_LOG`, `LOGSHIP_LOG_LEVEL` or the file.
    pub fn log_level(&self) -> Option<&str> {
        self.choice(Section::Log, "level")
            .and_then(|c| c.values.first())
            .map(String::as_str)
    }

    /// The values the file or the environment give `[section] key`.
    pub fn value(&self, section: Section, key: &str) -> Option<&[String]> {
        self.choice(section, key).map(|c| c.values.as_slice())
    }

    fn choice(&self, section: Section, key: &str) -> Option<&Choice> {
        self.choices
            .iter()
            .find(|c| c.section == section && c.key == key)
    }

    /// Every setting of `section` of `cmd` (built) with its effective value, as
    /// the command `config check` itself runs (no flag of the section is on
    /// its command line; `--log-format` may be).
    pub fn effective(&self, cmd: &Command, section: Section, log_format: &str) -> Vec<Effective> {
        settings(cmd, section)
            .into_iter()
            .map(|(key, arg)| {
                let secret = is_secret(&key, &arg);
                if section == Section::Log && key == "format" && self.log_format_flag {
                    let values = Some(vec![log_format.to_string()]);
                    return Effective {
                        key,
                        values,
                        source: Source::Flag,
                        secret,
                        shape: shape(&arg),
                    };
                }
                if let Some(c) = self.choice(section, &key) {
                    let values = Some(c.values.clone());
                    return Effective {
                        key,
                        values,
                        source: c.source.clone(),
                        secret,
                        shape: shape(&arg),
                    };
                }
                let defaults: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                let values = if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
                    Some(vec!["false".to_string()])
                } else {
                    Some(defaults).filter(|d| !d.is_empty())
                };
                Effective {
                    key,
                    values,
                    source: Source::Default,
                    secret,
                    shape: shape(&arg),
                }
            })
            .collect()
    }
}
