//! Reloading a running node's configuration: the command line re-read from
//! scratch (`logship.toml`, `LOGSHIP_*`, the process's own flags), exactly
//! as at start-up, into the configuration of the role that runs.
//!
//! `crate::cli::reparse` is the one place that knows which commands run a
//! node: a command that runs one gets an arm there, and every role it may
//! take maps the result to its own configuration ([`primary_reloader`],
//! [`standby_reloader`]).

use crate::node::reload::Reloader;
use crate::primary::PrimaryConfig;
use crate::standby::node::StandbyConfig;

/// A node's configuration, whichever role it runs.
#[derive(Debug)]
pub enum RoleConfig {
    Primary(Box<PrimaryConfig>),
    Standby(Box<StandbyConfig>),
}

/// For a node serving as primary: a primary's configuration, or the one a
/// standby promoted in place serves with (its `as_primary`).
pub fn primary_reloader(r: &Reloader<RoleConfig>) -> Reloader<PrimaryConfig> {
    r.map(|c| match c {
        RoleConfig::Primary(p) => Ok(*p),
        RoleConfig::Standby(s) => Ok(s.as_primary),
    })
}

/// For a standby.
pub fn standby_reloader(r: &Reloader<RoleConfig>) -> Reloader<StandbyConfig> {
    r.map(|c| match c {
        RoleConfig::Standby(s) => Ok(*s),
        RoleConfig::Primary(_) => {
            anyhow::bail!("the configuration now runs this node as a primary: that needs a restart")
        }
    })
}
