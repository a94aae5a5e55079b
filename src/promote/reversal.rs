//! Role reversal under `logship run`: a primary fenced by a promotion (or
//! superseded while it was down) finds the node promoted in its place among
//! the cluster's nodes and rejoins it as a standby, as `logship rejoin`
//! would — unless its log diverged, which only a person may settle.

use super::rejoin::{self, NewPrimary, Plan, RejoinError, Rejoined};
use super::remote::Primary;
use crate::primary::fence::PositionReply;
use std::path::Path;
use std::time::Duration;

/// How long a node of the cluster may take to answer a probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The first node of `addrs` (RESP addresses) that serves, unfenced, as the
/// primary of system `system_id` on a timeline after `timeline` whose history
/// continues `timeline`: the node promoted in place of a primary of that
/// timeline. Nodes that do not answer, or answer as standbys, are passed over.
pub fn promoted_in_place(addrs: &[String], system_id: u64, timeline: u32) -> Option<NewPrimary> {
    ask_all(addrs, |a| {
        let n = rejoin::ask_within(a, PROBE_TIMEOUT).ok()?;
        let continues = n.history.iter().any(|s| s.timeline == timeline);
        (n.system_id == system_id && !n.fenced && n.timeline > timeline && continues).then_some(n)
    })
    .into_iter()
    .next()
}

/// The nodes of `addrs` that answer as unfenced primaries, with their
/// position.
pub fn primaries(addrs: &[String]) -> Vec<(String, PositionReply)> {
    ask_all(addrs, |a| {
        let p = Primary::connect(a, PROBE_TIMEOUT)
            .and_then(|mut p| p.position())
            .ok()?;
        (!p.fenced).then(|| (a.to_string(), p))
    })
}

/// `ask` of every address at once (a node that is down costs its timeout
/// once, not once per node after it): the answers, in the order of `addrs`.
fn ask_all<T: Send>(addrs: &[String], ask: impl Fn(&str) -> Option<T> + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let asks: Vec<_> = addrs.iter().map(|a| s.spawn(|| ask(a))).collect();
        asks.into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect()
    })
}

/// What [`rejoin_unless_diverged`] did.
pub enum Reversal {
    /// The directory is a standby's of the new primary now.
    Rejoined { plan: Plan, done: Rejoined },
    /// The old log holds writes the new primary never got: nothing changed.
    Diverged { plan: Plan },
}

/// Makes the stopped primary's directory `dir` a standby of `new` (the
/// steps of `logship rejoin`, each told to `step`), unless its log diverged.
///
/// # Errors
/// [`RejoinError`]: the directory is not a stopped primary's, the new
/// primary's history does not continue its timeline, a step failed (the
/// directory then stays fenced, and a new run resumes).
pub fn rejoin_unless_diverged(
    dir: &Path,
    new: &NewPrimary,
    step: impl FnMut(&str),
) -> Result<Reversal, RejoinError> {
    let old = rejoin::open_old(dir)?;
    let plan = rejoin::plan(&old, new)?;
    if plan.divergence.is_some() {
        return Ok(Reversal::Diverged { plan });
    }
    let done = rejoin::apply(&old, new, &plan, step)?;
    Ok(Reversal::Rejoined { plan, done })
}
