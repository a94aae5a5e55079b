//! The cluster: `[[node]]` tables of `logship.toml`, so that one file serves
//! every node (issue #25).
//!
//! A node has a `name`, a `data-dir`, a RESP address (`listen`), a ship
//! address (`ship-listen`), optionally an `upstream` (the standby that feeds
//! it: a cascade), and any other setting of `primary` or `standby` that is its
//! own (`metrics`, `apply-delay`). A command given `--node NAME` (or
//! `LOGSHIP_NODE`) takes that node's values as if they were its flags, and
//! `primary` and `standby` take where to ship from the cluster:
//!
//! | role of the node | ships to |
//! |------------------|----------|
//! | primary | every other node without an `upstream`, or whose `upstream` is this node |
//! | standby | `--cascade-to` every node whose `upstream` is this node; once promoted (`--ship-to`), as a primary |
//!
//! So whichever node is primary ships to the others, and after a promotion
//! the new primary ships to the rest at once, the old primary included.

use super::file::{ConfigFile, NodeKey, NodeTable};
use super::flags::{check_values, flag_tokens, flag_values, ONE_SHOT};
pub use super::NODE_TABLE;
use super::{ConfigError, Section, Value};
use clap::Command;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable naming this node (as `--node`).
pub const NODE_ENV: &str = "LOGSHIP_NODE";

/// Keys of a node the cluster itself reads.
const OWN_KEYS: [&str; 5] = ["name", "data-dir", "listen", "ship-listen", "upstream"];

/// Keys a node may not set: the cluster decides them.
const DECIDED: [&str; 2] = ["ship-to", "cascade-to"];

/// The commands a node's keys name.
const ROLES: [&str; 2] = ["primary", "standby"];

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// Line of its table's first key.
    pub line: usize,
    pub data_dir: PathBuf,
    /// The RESP address.
    pub listen: String,
    /// The address shipments to it go to.
    pub ship_listen: String,
    /// The node that feeds it while both are standbys.
    pub upstream: Option<String>,
    /// Its other settings: flags of `primary` or `standby`, as a command
    /// line would give them.
    pub settings: Vec<NodeSetting>,
}

/// A setting of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSetting {
    pub key: String,
    pub values: Vec<String>,
    pub line: usize,
}

/// The nodes of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub path: PathBuf,
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// The cluster `file` describes, checked against `cmd` (built); `None`
    /// when it has no `[[node]]`.
    ///
    /// # Errors
    /// A node without a name, data directory or address; two nodes with one
    /// name or address; an `upstream` that is not another node or makes a
    /// circle; a key that is not a setting of `primary` or `standby`, or that
    /// the cluster decides (`ship-to`, `cascade-to`, also in `[primary]` and
    /// `[standby]`).
    pub fn from_file(cmd: &Command, file: &ConfigFile) -> Result<Option<Cluster>, ConfigError> {
        if file.nodes.is_empty() {
            return Ok(None);
        }
        let path = &file.path;
        if let Some(s) = file.settings.iter().find(|s| {
            matches!(s.section, Section::Primary | Section::Standby)
                && DECIDED.contains(&s.key.as_str())
        }) {
            return Err(ConfigError::Key {
                path: path.clone(),
                line: s.line,
                section: s.section,
                key: s.key.clone(),
                value: s.value.clone(),
                reason: "the [[node]] tables decide where each node ships; remove this key".into(),
            });
        }
        let mut nodes: Vec<Node> = Vec::new();
        for t in &file.nodes {
            let node = node(cmd, path, t)?;
            let err = |line, reason: String| ConfigError::Node {
                path: path.clone(),
                line,
                node: node.name.clone(),
                reason,
            };
            if let Some(other) = nodes.iter().find(|n| n.name == node.name) {
                return Err(err(
                    node.line,
                    format!(
                        "a second node of that name (the first is at line {})",
                        other.line
                    ),
                ));
            }
            for (what, addr) in [("listen", &node.listen), ("ship-listen", &node.ship_listen)] {
                let same = nodes
                    .iter()
                    .find(|n| n.listen == *addr || n.ship_listen == *addr);
                if let Some(other) = same {
                    return Err(err(
                        node.line,
                        format!("{what} {addr} is also node {}'s address", other.name),
                    ));
                }
            }
            if node.listen == node.ship_listen {
                return Err(err(
                    node.line,
                    format!(
                        "listen and ship-listen are both {}: Redis clients and shipments need an address each",
                        node.listen
                    ),
                ));
            }
            nodes.push(node);
        }
        let cluster = Cluster {
            path: path.clone(),
            nodes,
        };
        cluster.check_upstreams()?;
        Ok(Some(cluster))
    }

    fn check_upstreams(&self) -> Result<(), ConfigError> {
        for n in &self.nodes {
            let err = |reason: String| ConfigError::Node {
                path: self.path.clone(),
                line: n.line,
                node: n.name.clone(),
                reason,
            };
            let mut seen = vec![n.name.as_str()];
            let mut at = n;
            while let Some(up) = &at.upstream {
                let Some(next) = self.nodes.iter().find(|m| m.name == *up) else {
                    return Err(err(format!(
                        "upstream \"{up}\" is not a node (nodes: {})",
                        self.names()
                    )));
                };
                if seen.contains(&next.name.as_str()) {
                    seen.push(&next.name);
                    return Err(err(format!(
                        "its upstreams go round in a circle: {}",
                        seen.join(" → ")
                    )));
                }
                seen.push(&next.name);
                at = next;
            }
        }
        Ok(())
    }

    /// The names of the nodes, for messages: `a, b, c`.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        names.join(", ")
    }

    /// The node called `name`.
    ///
    /// # Errors
    /// No node has that name.
    pub fn node(&self, name: &str) -> Result<&Node, ConfigError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| ConfigError::NoNode {
                path: self.path.clone(),
                name: name.to_string(),
                names: self.names(),
            })
    }

    /// Every node but `name`.
    pub fn peers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.name != name)
    }

    /// The nodes `name` ships to as the primary.
    pub fn fed_by_primary<'a>(&'a self, name: &'a str) -> Vec<&'a Node> {
        self.peers(name)
            .filter(|n| n.upstream.as_deref().is_none_or(|u| u == name))
            .collect()
    }

    /// The nodes `name` cascades to as a standby.
    pub fn fed_by_standby<'a>(&'a self, name: &'a str) -> Vec<&'a Node> {
        self.peers(name)
            .filter(|n| n.upstream.as_deref() == Some(name))
            .collect()
    }

    /// The flags `node` gives the command `sub` (`primary`, `standby`, or any
    /// other with a `--data-dir`): its addresses and settings, and for the
    /// two roles where it ships. A flag of the command line (`given`, by
    /// id) or of the environment (`env_set`, by key) wins over the node's.
    pub fn tokens(
        &self,
        node: &Node,
        sub: &Command,
        given: &[String],
        env_set: &dyn Fn(&str) -> bool,
    ) -> Vec<OsString> {
        let name = sub.get_name();
        let mut pairs: Vec<(&str, Vec<String>)> = vec![
            ("data-dir", vec![node.data_dir.display().to_string()]),
            ("listen", vec![node.listen.clone()]),
        ];
        let addrs = |nodes: Vec<&Node>| nodes.iter().map(|n| n.ship_listen.clone()).collect();
        match name {
            "primary" => pairs.push(("ship-to", addrs(self.fed_by_primary(&node.name)))),
            "standby" => {
                pairs.push(("ship-listen", vec![node.ship_listen.clone()]));
                pairs.push(("ship-to", addrs(self.fed_by_primary(&node.name))));
                pairs.push(("cascade-to", addrs(self.fed_by_standby(&node.name))));
            }
            _ => {}
        }
        if ROLES.contains(&name) {
            pairs.extend(
                node.settings
                    .iter()
                    .map(|s| (s.key.as_str(), s.values.clone())),
            );
        }
        let mut out = Vec::new();
        for (key, values) in pairs {
            let Some(arg) = sub.get_arguments().find(|a| a.get_long() == Some(key)) else {
                continue;
            };
            if given.iter().any(|g| g == arg.get_id().as_str()) || env_set(key) {
                continue;
            }
            out.extend(flag_tokens(arg, key, &values));
        }
        out
    }
}

/// A `[[node]]` table, checked.
fn node(cmd: &Command, path: &Path, t: &NodeTable) -> Result<Node, ConfigError> {
    let text = |k: &NodeKey| match &k.value {
        Value::Str(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let name = t
        .keys
        .iter()
        .find(|k| k.key == "name")
        .and_then(text)
        .unwrap_or_default();
    let err = |line, reason: String| ConfigError::Node {
        path: path.into(),
        line,
        node: name.clone(),
        reason,
    };
    if name.is_empty() {
        return Err(err(t.line, "a node needs name = \"NAME\"".into()));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(err(
            t.line,
            "a node's name is letters, digits, '-', '_' and '.' (it names a systemd instance)"
                .into(),
        ));
    }
    let own = |key: &str| -> Result<Option<String>, ConfigError> {
        match t.keys.iter().find(|k| k.key == key) {
            None => Ok(None),
            Some(k) => text(k).map(Some).ok_or_else(|| {
                err(
                    k.line,
                    format!("{key} must be a non-empty string, found {}", k.value),
                )
            }),
        }
    };
    let needed =
        |key: &str| own(key)?.ok_or_else(|| err(t.line, format!("a node needs {key} = \"…\"")));
    let data_dir = PathBuf::from(needed("data-dir")?);
    let listen = needed("listen")?;
    let ship_listen = needed("ship-listen")?;
    for (key, addr) in [("listen", &listen), ("ship-listen", &ship_listen)] {
        if !addr.contains(':') {
            let line = t
                .keys
                .iter()
                .find(|k| k.key == key)
                .map_or(t.line, |k| k.line);
            return Err(err(line, format!("{key} \"{addr}\" is not host:port")));
        }
    }
    let upstream = own("upstream")?;
    if upstream.as_deref() == Some(name.as_str()) {
        return Err(err(t.line, "a node cannot be its own upstream".into()));
    }
    let mut settings = Vec::new();
    for k in t
        .keys
        .iter()
        .filter(|k| !OWN_KEYS.contains(&k.key.as_str()))
    {
        settings
            .push(setting(cmd, k).map_err(|reason| err(k.line, format!("{}: {reason}", k.key)))?);
    }
    Ok(Node {
        name,
        line: t.line,
        data_dir,
        listen,
        ship_listen,
        upstream,
        settings,
    })
}

/// A node's own setting: a flag of `primary` or `standby`, its value checked
/// by the flag's parser (of each command that has it).
fn setting(cmd: &Command, k: &NodeKey) -> Result<NodeSetting, String> {
    if DECIDED.contains(&k.key.as_str()) {
        return Err("the cluster decides where each node ships (see upstream)".into());
    }
    if ONE_SHOT.contains(&k.key.as_str()) {
        return Err("a one-shot switch, not a setting".into());
    }
    let mut values = None;
    for role in ROLES {
        let Some(arg) = cmd.find_subcommand(role).and_then(|s| {
            s.get_arguments()
                .find(|a| a.get_long() == Some(k.key.as_str()))
        }) else {
            continue;
        };
        let v = flag_values(arg, &k.value)?;
        check_values(arg, &v)?;
        values = Some(v);
    }
    let values = values.ok_or_else(|| {
        "unknown key: a node's keys are name, data-dir, listen, ship-listen, upstream, and the settings of [primary] and [standby]".to_string()
    })?;
    Ok(NodeSetting {
        key: k.key.clone(),
        values,
        line: k.line,
    })
}
