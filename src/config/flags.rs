//! What a configuration value is to the flag it names: the flag's shape
//! (switch, one value, repeatable), the file's value as the flag's values,
//! checked by the flag's own parser, and as command-line tokens.

use super::Value;
use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;

/// Flags that do something once rather than configure a role: never settings.
pub const ONE_SHOT: [&str; 6] = ["once", "json", "force", "dry-run", "help", "version"];

/// What kind of flag a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Present or not (`--ship-continuous`): `true` or `false` in the file.
    Switch,
    /// One value.
    One,
    /// Repeatable (`--ship-to`): an array in the file, commas in the environment.
    Many,
}

pub fn shape(arg: &Arg) -> Shape {
    match arg.get_action() {
        ArgAction::SetTrue => Shape::Switch,
        ArgAction::Append => Shape::Many,
        _ => Shape::One,
    }
}

/// The flag's values for a file value of the right TOML type.
pub fn flag_values(arg: &Arg, value: &Value) -> Result<Vec<String>, String> {
    let scalar = |v: &Value| match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        v => Err(format!(
            "expected a string or an integer, found {}",
            v.type_name()
        )),
    };
    match (shape(arg), value) {
        (Shape::Switch, Value::Bool(b)) => Ok(vec![b.to_string()]),
        (Shape::Switch, v) => Err(format!("expected true or false, found {}", v.type_name())),
        (Shape::Many, Value::List(items)) => items.iter().map(scalar).collect(),
        (Shape::One, Value::List(_)) => Err("expected one value, found an array".into()),
        (_, v) => scalar(v).map(|s| vec![s]),
    }
}

/// Runs the flag's own value parser on each value.
pub fn check_values(arg: &Arg, values: &[String]) -> Result<(), String> {
    if shape(arg) == Shape::Switch {
        return Ok(());
    }
    for v in values {
        let probe = Arg::new("value")
            .long("value")
            .value_parser(arg.get_value_parser().clone());
        let cmd = Command::new("logship").no_binary_name(true).arg(probe);
        if let Err(e) = cmd.try_get_matches_from([format!("--value={v}")]) {
            return Err(clap_reason(&e));
        }
    }
    Ok(())
}

/// A value parser's complaint in a few words.
fn clap_reason(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    if let Some(source) = std::error::Error::source(e) {
        return format!("invalid value: {source}");
    }
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        return format!("invalid value (possible values: {})", valid.join(", "));
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid value");
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// The command-line tokens of a flag's values: `--key=V` per value, `--key`
/// for a switch that is on, nothing for one that is off.
pub fn flag_tokens(arg: &Arg, key: &str, values: &[String]) -> Vec<OsString> {
    if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
        let on = values.iter().any(|v| v == "true");
        return on.then(|| format!("--{key}").into()).into_iter().collect();
    }
    values
        .iter()
        .map(|v| format!("--{key}={v}").into())
        .collect()
}
