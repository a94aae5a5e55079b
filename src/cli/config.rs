//! `logship config check`: the configuration (file and environment) checked,
//! and every setting's effective value with where it came from. The checking
//! itself happens before any command runs (`config::argv::prepare`); an
//! invalid configuration never gets here.

use crate::config::cluster::{Cluster, Node};
use crate::config::layers::{Effective, Layered, Shape};
use crate::config::{Section, Source};
use clap::{Args, CommandFactory, Subcommand};
use serde_json::{json, Value};
use std::process::ExitCode;

/// What a secret's value is printed as.
const REDACTED: &str = "(redacted)";

/// `logship config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration file and the LOGSHIP_* environment, and print
    /// every setting's effective value and its source (default, file:LINE,
    /// env VAR, flag). Secrets are redacted. Exits 0 when the configuration
    /// is valid, 78 (with one line naming the key and line) when it is not.
    Check(CheckArgs),
}

/// Arguments of `config check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only this section: primary, standby, ship, archive, status or log.
    #[arg(long, value_name = "SECTION", value_parser = section)]
    pub role: Option<Section>,
    /// Print one JSON object: {"file", "sections": {NAME: [{key, value, source, line|var}]}}.
    #[arg(long)]
    pub json: bool,
}

fn section(s: &str) -> Result<Section, String> {
    Section::from_name(s).ok_or_else(|| {
        let all: Vec<&str> = Section::ALL.iter().map(|s| s.name()).collect();
        format!("not a section (sections: {})", all.join(", "))
    })
}

/// Prints the effective configuration.
///
/// # Errors
/// None today: an invalid configuration stopped the command before it ran.
pub fn run(cmd: ConfigCommand, layered: &Layered, log_format: &str) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Check(a) = cmd;
    let clap_cmd = crate::config::argv::built(&super::Cli::command());
    let sections: Vec<Section> = match a.role {
        Some(s) => vec![s],
        None => Section::ALL.to_vec(),
    };
    let file = layered.file.as_ref().map(|p| p.display().to_string());
    let report: Vec<(Section, Vec<Effective>)> = sections
        .into_iter()
        .map(|s| (s, layered.effective(&clap_cmd, s, log_format)))
        .collect();
    if a.json {
        let sections: serde_json::Map<String, Value> = report
            .iter()
            .map(|(s, e)| (s.name().to_string(), e.iter().map(json_entry).collect()))
            .collect();
        let mut out = json!({ "file": file, "sections": sections });
        if let (Some(c), None) = (&layered.cluster, a.role) {
            out["nodes"] = c.nodes.iter().map(|n| node_json(c, n)).collect();
        }
        crate::say!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    crate::say!(
        "# configuration file: {}",
        file.as_deref().unwrap_or("none")
    );
    for (s, entries) in &report {
        crate::say!("\n[{}]", s.name());
        let lines: Vec<(String, &Source)> =
            entries.iter().map(|e| (toml_line(e), &e.source)).collect();
        let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (line, source) in lines {
            crate::say!("{line:<width$}  # {source}");
        }
    }
    if let (Some(c), None) = (&layered.cluster, a.role) {
        for n in &c.nodes {
            print_node(c, n);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The ship addresses of `nodes`.
fn ship_addrs(nodes: Vec<&Node>) -> Vec<String> {
    nodes.iter().map(|n| n.ship_listen.clone()).collect()
}

/// A `[[node]]` as TOML, with where it ships in each role.
fn print_node(c: &Cluster, n: &Node) {
    crate::say!("\n[[node]]  # file:{}", n.line);
    crate::say!("name = {:?}", n.name);
    crate::say!("data-dir = {:?}", n.data_dir.display().to_string());
    crate::say!("listen = {:?}", n.listen);
    crate::say!("ship-listen = {:?}", n.ship_listen);
    if let Some(u) = &n.upstream {
        crate::say!("upstream = {u:?}");
    }
    for s in &n.settings {
        crate::say!("{} = {:?}  # file:{}", s.key, s.values.join(","), s.line);
    }
    crate::say!(
        "# as primary, ships to: {:?}",
        ship_addrs(c.fed_by_primary(&n.name))
    );
    crate::say!(
        "# as standby, cascades to: {:?}",
        ship_addrs(c.fed_by_standby(&n.name))
    );
}

fn node_json(c: &Cluster, n: &Node) -> Value {
    json!({
        "name": n.name,
        "line": n.line,
        "data_dir": n.data_dir,
        "listen": n.listen,
        "ship_listen": n.ship_listen,
        "upstream": n.upstream,
        "settings": n.settings.iter().map(|s| json!({"key": s.key, "values": s.values, "line": s.line})).collect::<Vec<_>>(),
        "ships_to_as_primary": ship_addrs(c.fed_by_primary(&n.name)),
        "cascades_to_as_standby": ship_addrs(c.fed_by_standby(&n.name)),
    })
}

/// `key = value` in TOML's spelling; `# key (no value)` when unset.
fn toml_line(e: &Effective) -> String {
    let Some(values) = &e.values else {
        return format!("# {} (no value)", e.key);
    };
    let quote = |v: &String| format!("{:?}", if e.secret { REDACTED } else { v });
    let value = match e.shape {
        Shape::Switch => values.first().cloned().unwrap_or_else(|| "false".into()),
        Shape::Many => format!(
            "[{}]",
            values.iter().map(quote).collect::<Vec<_>>().join(", ")
        ),
        Shape::One => values.first().map(quote).unwrap_or_default(),
    };
    format!("{} = {value}", e.key)
}

fn json_entry(e: &Effective) -> Value {
    let text = |v: &String| Value::from(if e.secret { REDACTED } else { v.as_str() });
    let value = match (&e.values, e.shape) {
        (None, _) => Value::Null,
        (Some(v), Shape::Switch) => Value::Bool(v.iter().any(|x| x == "true")),
        (Some(v), Shape::Many) => v.iter().map(text).collect(),
        (Some(v), Shape::One) => v.first().map_or(Value::Null, text),
    };
    let mut entry = json!({ "key": e.key, "value": value });
    let (kind, detail) = match &e.source {
        Source::Default => ("default", None),
        Source::Flag => ("flag", None),
        Source::File { line } => ("file", Some(("line", json!(line)))),
        Source::Env { var } => ("env", Some(("var", json!(var)))),
    };
    entry["source"] = json!(kind);
    if let Some((k, v)) = detail {
        entry[k] = v;
    }
    entry
}
