//! The configuration file: TOML, one table per [`Section`], each key kept with
//! its line so that every later error can say where it is.

use super::{ConfigError, Section, Setting, Value, MAX_FILE_BYTES};
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A parsed configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// Every key of every section, in the order of the file.
    pub settings: Vec<Setting>,
    /// The cluster's nodes (`[[node]]` tables), in the order of the file.
    pub nodes: Vec<NodeTable>,
}

/// One `[[node]]` table as written: its keys are checked by
/// [`super::cluster`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTable {
    /// 1-based line of the table's first key.
    pub line: usize,
    /// Every key, in the order of the file.
    pub keys: Vec<NodeKey>,
}

/// A `key = value` of a `[[node]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeKey {
    pub key: String,
    pub value: Value,
    /// 1-based line of the key.
    pub line: usize,
}

impl ConfigFile {
    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    /// Unreadable, larger than [`MAX_FILE_BYTES`], not UTF-8, not TOML, a
    /// section that does not exist or is not a table.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let bytes = crate::durable::read_small(path, MAX_FILE_BYTES)
            .map_err(ConfigError::Io)?
            .ok_or_else(|| ConfigError::TooLarge { path: path.into() })?;
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::Syntax {
            path: path.into(),
            line: line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to()),
            message: "not UTF-8 text".into(),
        })?;
        ConfigFile::parse(path, &text)
    }

    /// Parses `text`, the contents of `path` (which only names it in errors).
    ///
    /// # Errors
    /// As [`load`](Self::load), but for reading.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        let at = |offset: usize| line_of_offset(text.as_bytes(), offset);
        let syntax = |line: usize, message: String| ConfigError::Syntax {
            path: path.into(),
            line,
            message,
        };
        let root = DeTable::parse(text).map_err(|e| {
            let line = e.span().map_or(1, |s| at(s.start));
            let message = e.message().split_whitespace().collect::<Vec<_>>();
            syntax(line, format!("not TOML: {}", message.join(" ")))
        })?;
        let mut settings = Vec::new();
        let mut nodes = Vec::new();
        for (name, table) in root.get_ref() {
            let line = at(name.span().start);
            if name.get_ref() == super::NODE_TABLE {
                nodes = node_tables(table, &at).map_err(|(line, m)| {
                    syntax(line.unwrap_or_else(|| at(name.span().start)), m)
                })?;
                continue;
            }
            let Some(section) = Section::from_name(name.get_ref()) else {
                let mut known: Vec<&str> = Section::ALL.iter().map(|s| s.name()).collect();
                known.push("[[node]]");
                return Err(syntax(
                    line,
                    format!(
                        "unknown section [{}] (sections: {})",
                        name.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            let Some(table) = table.get_ref().as_table() else {
                return Err(syntax(
                    line,
                    format!("{} must be a section: [{}]", name.get_ref(), name.get_ref()),
                ));
            };
            for (key, value) in table {
                settings.push(Setting {
                    section,
                    key: key.get_ref().to_string(),
                    value: value_of(value),
                    line: at(key.span().start),
                });
            }
        }
        settings.sort_by_key(|s| s.line);
        Ok(ConfigFile {
            path: path.into(),
            settings,
            nodes,
        })
    }

    /// The settings of one section.
    pub fn section(&self, section: Section) -> impl Iterator<Item = &Setting> {
        self.settings.iter().filter(move |s| s.section == section)
    }
}

/// The `[[node]]` tables: an array of tables, each key with its line. The
/// error is the line (when known) and what is wrong.
fn node_tables(
    value: &Spanned<DeValue<'_>>,
    at: &dyn Fn(usize) -> usize,
) -> Result<Vec<NodeTable>, (Option<usize>, String)> {
    let not = |line| {
        (
            line,
            "node must be an array of tables: write each node as [[node]]".to_string(),
        )
    };
    let DeValue::Array(items) = value.get_ref() else {
        return Err(not(None));
    };
    let mut out = Vec::new();
    for item in items {
        let line = at(item.span().start);
        let DeValue::Table(t) = item.get_ref() else {
            return Err(not(Some(line)));
        };
        let mut keys: Vec<NodeKey> = t
            .iter()
            .map(|(k, v)| NodeKey {
                key: k.get_ref().to_string(),
                value: value_of(v),
                line: at(k.span().start),
            })
            .collect();
        keys.sort_by_key(|k| k.line);
        let line = keys.first().map_or(line, |k| k.line);
        out.push(NodeTable { line, keys });
    }
    Ok(out)
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of_offset(text: &[u8], offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text[..end].iter().filter(|&&b| b == b'\n').count()
}

fn value_of(v: &Spanned<DeValue<'_>>) -> Value {
    match v.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => Value::Int(n),
                Err(_) => Value::Other("an integer out of range"),
            }
        }
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Array(a) => Value::List(a.iter().map(value_of).collect()),
        DeValue::Float(_) => Value::Other("a float"),
        DeValue::Datetime(_) => Value::Other("a date"),
        DeValue::Table(_) => Value::Other("a table"),
    }
}
