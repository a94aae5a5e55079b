//! `logship run --node NAME`: a node of the cluster that `logship.toml`
//! describes (`[[node]]`), as whatever its data directory says it is.
//!
//! The node starts as a primary when its control file says primary, and as a
//! standby otherwise (a missing or empty directory is a new standby, seeded
//! by the primary). Its flags come from the file as for `logship primary
//! --node NAME` or `logship standby --node NAME`: the node's own values, the
//! role's section, where to ship from the cluster. Then, in one process:
//!
//! - a standby promoted (`logship promote --node NAME`) serves as the primary
//!   and ships to the other nodes at once;
//! - a primary fenced by that promotion waits until the promoted node serves,
//!   stops serving, and rejoins it as a standby (the steps of `logship
//!   rejoin`), unless its log diverged: then it stops with the divergence
//!   report and exit status 5, which the unit file does not restart;
//! - a primary that was fenced (or superseded: another node serves a later
//!   timeline of the same system) while it was down does the same at start.

use super::exit::{Failure, Status};
use super::parse;
use super::reload::{self, RoleConfig};
use crate::config::cluster::{Cluster, Node};
use crate::config::layers::Layered;
use crate::fs::StdFs;
use crate::node::control::{Control, Role, CONTROL_FILE};
use crate::primary::server::StoppedFenced;
use crate::primary::FencedWatch;
use crate::promote::rejoin::NewPrimary;
use crate::promote::reversal::{self, Reversal};
use clap::{Args, CommandFactory};
use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  stopped cleanly (SIGTERM or SIGINT)
  1  could not start or serve: I/O error, damaged log, address in use
  4  fenced: a promotion elsewhere fenced this primary, and no node of the
     cluster served as the primary promoted in its place within --rejoin-wait
  5  diverged: fenced, and its log holds writes the promoted node never got;
     it did not rejoin. Read the report, then `logship rejoin` (which saves
     those writes under diverged/) and start it again
 78  configuration error: no --node, no [[node]] of that name, or the file,
     a LOGSHIP_* variable or the role's settings are not valid";

/// Arguments of `run` (the node is the global `--node NAME` or `LOGSHIP_NODE`).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// How long a primary found fenced at start looks for the node promoted
    /// in its place (to rejoin it) before it gives up with exit status 4.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse::duration)]
    pub rejoin_wait: Duration,
}

/// What the data directory says the node is.
enum Found {
    Primary(Control),
    /// A standby's, or nothing yet (a new standby).
    Standby,
}

fn found(dir: &Path) -> anyhow::Result<Found> {
    if !dir.join(CONTROL_FILE).exists() {
        return Ok(Found::Standby);
    }
    let c = Control::read(&StdFs, dir)?;
    Ok(match c.role {
        Role::Primary => Found::Primary(c),
        Role::Standby => Found::Standby,
    })
}

/// Runs the node until it is stopped, changing role as promotions go.
///
/// # Errors
/// A configuration that cannot work (exit 78), a failure of the role, a
/// divergence (exit 5), a fence with no promoted node to rejoin (exit 4).
pub fn run(a: RunArgs, layered: &Layered, argv: &[OsString]) -> anyhow::Result<ExitCode> {
    let (cluster, node) = cluster_node(layered).map_err(Failure::config)?;
    let peers: Vec<String> = cluster
        .peers(&node.name)
        .map(|n| n.listen.clone())
        .collect();
    tracing::info!(node = %node.name, data_dir = %node.data_dir.display(), nodes = %cluster.names(), "running a node of the cluster");
    loop {
        match found(&node.data_dir)? {
            Found::Primary(control) => {
                let superseded = match &control.fenced {
                    Some(f) => Some(wait_for_promoted(
                        &peers,
                        &control,
                        f.timeline,
                        a.rejoin_wait,
                    )?),
                    // Down while another node was promoted without fencing it.
                    None => {
                        reversal::promoted_in_place(&peers, control.system_id, control.timeline)
                    }
                };
                if let Some(new) = superseded {
                    reverse(node, &new)?;
                    continue;
                }
                let RoleConfig::Primary(mut cfg) = role_config(argv, Role::Primary)? else {
                    return unreachable_role();
                };
                cfg.reload = Some(reload::primary_reloader(&super::this_process()));
                if ended(node, crate::primary::run(*cfg))? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Found::Standby => {
                let RoleConfig::Standby(mut cfg) = role_config(argv, Role::Standby)? else {
                    return unreachable_role();
                };
                let this = super::this_process();
                cfg.reload = Some(reload::standby_reloader(&this));
                cfg.as_primary.reload = Some(reload::primary_reloader(&this));
                if ended(node, crate::standby::start::run(*cfg))? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }
}

/// The cluster and this node, or why `run` cannot start.
fn cluster_node(layered: &Layered) -> anyhow::Result<(&Cluster, &Node)> {
    let name = layered.node.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "logship run needs the node's name: --node NAME or {}",
            crate::config::cluster::NODE_ENV
        )
    })?;
    // `prepare` refused a --node without a cluster, and a name that is not a node's.
    let cluster = layered.cluster.as_ref().ok_or_else(|| {
        anyhow::anyhow!("logship run needs a configuration file with [[node]] tables")
    })?;
    Ok((cluster, cluster.node(name)?))
}

fn unreachable_role<T>() -> anyhow::Result<T> {
    anyhow::bail!("the role's command line did not parse as that role")
}

/// The configuration of the node `argv` (a `run` command line) names, in
/// `role`: the cluster's flags, targets that may be none, and for a primary
/// (or a standby once promoted) the watch that lets it rejoin when fenced.
///
/// # Errors
/// The configuration or the role's settings are not valid (exit 78).
pub(super) fn role_config(argv: &[OsString], role: Role) -> anyhow::Result<RoleConfig> {
    let (command, layered) = role_command(argv, &role.to_string())?;
    let (cluster, node) = cluster_node(&layered).map_err(Failure::config)?;
    let peers: Vec<String> = cluster
        .peers(&node.name)
        .map(|n| n.listen.clone())
        .collect();
    let fenced = watch(&peers, &node.data_dir);
    Ok(match command {
        super::Command::Primary(mut p) => {
            p.ship.in_cluster = true;
            let mut c = super::primary::config(p).map_err(Failure::config)?;
            c.fenced_watch = Some(fenced);
            RoleConfig::Primary(Box::new(c))
        }
        super::Command::Standby(mut s) => {
            s.promoted.in_cluster = true;
            let mut c = super::standby::config(s).map_err(Failure::config)?;
            c.as_primary.fenced_watch = Some(fenced);
            RoleConfig::Standby(Box::new(c))
        }
        _ => return unreachable_role(),
    })
}

/// [`role_config`] for the role the node's data directory says now: what a
/// running `logship run` re-reads on SIGHUP.
///
/// # Errors
/// As [`role_config`]; the control file cannot be read.
pub(super) fn current_config(argv: &[OsString]) -> anyhow::Result<RoleConfig> {
    let env = |var: &str| std::env::var_os(var);
    let layered = crate::config::argv::prepare(&super::Cli::command(), argv.to_vec(), &env)?;
    let (_, node) = cluster_node(&layered)?;
    let role = match found(&node.data_dir)? {
        Found::Primary(_) => Role::Primary,
        Found::Standby => Role::Standby,
    };
    role_config(argv, role)
}

/// The command `argv` (a `run` command line) would be as `logship ROLE
/// --node NAME`: the global flags kept, the configuration read again.
///
/// # Errors
/// The configuration or the role's flags are not valid (exit 78).
fn role_command(argv: &[OsString], role: &str) -> anyhow::Result<(super::Command, Layered)> {
    use clap::FromArgMatches;
    let cmd = super::Cli::command();
    let at = crate::config::argv::subcommand_at(&cmd, argv).map_or(argv.len(), |(at, _)| at);
    let mut role_argv: Vec<OsString> = argv[..at].to_vec();
    role_argv.push(role.into());
    // Global flags may follow the command too (`run --config F --node N`,
    // as the unit file has it); `run`'s own flags are not the role's.
    role_argv.extend(crate::config::argv::global_flags(
        argv.get(at + 1..).unwrap_or_default(),
    ));
    let env = |var: &str| std::env::var_os(var);
    let layered = crate::config::argv::prepare(&cmd, role_argv, &env)
        .map_err(|e| Failure::config(e.into()))?;
    let m = cmd.try_get_matches_from(&layered.argv).map_err(|e| {
        let text = e.to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or("invalid settings")
            .to_string();
        Failure::config(anyhow::anyhow!("the {role} settings of this node: {first}"))
    })?;
    let cli = super::Cli::from_arg_matches(&m).map_err(|e| Failure::config(e.into()))?;
    Ok((cli.command, layered))
}

/// How a role ended: `true` when the node stopped for good (SIGTERM),
/// `false` when it stopped fenced to rejoin the promoted node, which it
/// did (the loop starts it again, as a standby).
///
/// # Errors
/// The role's failure (exit 4 for a fence with nowhere to go), or the rejoin's.
fn ended(node: &Node, served: anyhow::Result<()>) -> anyhow::Result<bool> {
    let rejoin_from = served
        .as_ref()
        .err()
        .and_then(|e| e.downcast_ref::<StoppedFenced>())
        .and_then(|f| f.rejoin_from.clone());
    if let Some(addr) = rejoin_from {
        reverse(node, &crate::promote::rejoin::ask(&addr)?)?;
        return Ok(false);
    }
    served.map_err(Failure::from_primary)?;
    Ok(true)
}

/// What a fenced primary of `dir` asks: which of `peers` serves as the
/// primary promoted in its place.
fn watch(peers: &[String], dir: &Path) -> FencedWatch {
    let (peers, dir) = (peers.to_vec(), dir.to_path_buf());
    FencedWatch(Arc::new(move |fence| {
        let system_id = Control::read(&StdFs, &dir).ok()?.system_id;
        reversal::promoted_in_place(&peers, system_id, fence.timeline).map(|n| n.addr)
    }))
}

/// The node promoted in place of the fenced primary `control`, asked of
/// `peers` until one answers or `wait` passes (then exit status 4).
fn wait_for_promoted(
    peers: &[String],
    control: &Control,
    timeline: u32,
    wait: Duration,
) -> anyhow::Result<NewPrimary> {
    let started = Instant::now();
    let mut said = false;
    loop {
        if let Some(n) = reversal::promoted_in_place(peers, control.system_id, timeline) {
            return Ok(n);
        }
        if started.elapsed() >= wait {
            return Err(Failure {
                status: Status::Fenced,
                message: format!(
                    "this primary is fenced, and no other node of the cluster ({}) served as the primary promoted in its place within {}s; it stays out of service (start it again to look again, or `logship rejoin --from ADDR`)",
                    peers.join(", "),
                    wait.as_secs()
                ),
            }
            .into());
        }
        if !said {
            tracing::warn!(peers = %peers.join(", "), "fenced: looking for the node promoted in this primary's place, to rejoin it as a standby");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Rejoins `node`'s stopped primary directory to `new`, or stops with the
/// divergence report (exit status 5).
fn reverse(node: &Node, new: &NewPrimary) -> anyhow::Result<()> {
    let dir = &node.data_dir;
    let say = |s: &str| tracing::warn!(node = %node.name, "rejoin: {s}");
    match reversal::rejoin_unless_diverged(dir, new, say)? {
        Reversal::Rejoined { plan, done } => {
            tracing::warn!(
                node = %node.name,
                new_primary = %new.addr,
                timeline = new.timeline,
                reseed = done.reseed,
                "rejoined as a standby of {}: {}",
                new.addr,
                super::rejoin::verdict(&plan)
            );
            Ok(())
        }
        Reversal::Diverged { plan } => Err(Failure {
            status: Status::Diverged,
            message: format!(
                "{}: fenced, and {}; it did not rejoin {} and stays a fenced primary. Read the log with `logship dump {}`, then `logship rejoin --data-dir {} --from {}` saves them under diverged/ and makes it a standby",
                dir.display(),
                super::rejoin::verdict(&plan),
                new.addr,
                dir.display(),
                dir.display(),
                new.addr
            ),
        }
        .into()),
    }
}
