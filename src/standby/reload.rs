//! SIGHUP on a standby: the configuration is re-read and what may change at
//! runtime is switched over — the downstreams it cascades to and their
//! schedule, the event hooks and thresholds, the metrics address, the log
//! level — and how it will serve once promoted (its `--ship-to` and
//! schedule) is kept for the promotion. The rest is compared, and what
//! differs is named as needing a restart.

use super::node::{Node, StandbyConfig};
use crate::node::reload::{self as node_reload, apply_log_level, RestartNeeded};
use std::sync::Arc;

/// Settings of a running standby that only a restart changes, by flag name.
fn restart_needed(old: &StandbyConfig, new: &StandbyConfig) -> RestartNeeded {
    let mut r = RestartNeeded::default();
    r.check("data-dir", &old.data_dir, &new.data_dir);
    r.check(
        "ship-listen, restore-from, restore-every",
        &old.intake,
        &new.intake,
    );
    r.check("listen", &old.listen, &new.listen);
    r.check("apply-delay", &old.apply_delay, &new.apply_delay);
    let fp = |k: &Option<crate::ship::AuthKey>| k.as_ref().map(|k| k.fingerprint());
    r.check("auth-key-file", &fp(&old.key), &fp(&new.key));
    r.check(
        "max-query-bytes",
        &old.max_query_bytes,
        &new.max_query_bytes,
    );
    r.check(
        "checkpoint-interval",
        &old.checkpoint_interval,
        &new.checkpoint_interval,
    );
    r.check("keep-snapshots", &old.keep_snapshots, &new.keep_snapshots);
    r.check("tls-*", &old.tls, &new.tls);
    r.check("requirepass-file", &old.requirepass, &new.requirepass);
    r.check("fsync", &old.as_primary.sync, &new.as_primary.sync);
    r
}

/// Re-reads the configuration (on a blocking thread) and applies it;
/// `running` is the configuration in force and becomes the new one for what
/// was applied (its `as_primary` is what a promotion serves with). An
/// invalid configuration changes nothing. Every outcome is logged, sent as
/// an event, and ends with `READY=1` to systemd.
pub async fn reload(node: &Arc<Node>, running: &mut StandbyConfig) {
    let reloader = running.reload.clone();
    node_reload::reload(reloader, &node.monitor.events, |new| async move {
        let cfg = new.config;
        let restart = restart_needed(running, &cfg);
        let mut changed = node.cascade.reconfigure(cfg.cascade.clone()).describe();
        changed.extend(node.monitor.reconfigure(cfg.monitor.clone()).await);
        apply_log_level(new.log_level.as_deref(), &mut changed);
        let promoted = |c: &StandbyConfig| {
            c.as_primary
                .ship
                .as_ref()
                .map(|s| (s.standbys.clone(), s.schedule.describe()))
        };
        if promoted(running) != promoted(&cfg) {
            changed.push("shipping once promoted".to_string());
        }
        // Kept for the promotion: the reloader it runs with, the primary's
        // settings as now configured (fsync excepted: a restart).
        let reload_as_primary = running.as_primary.reload.clone();
        let sync = running.as_primary.sync;
        running.as_primary = cfg.as_primary;
        running.as_primary.reload = reload_as_primary;
        running.as_primary.sync = sync;
        running.cascade = cfg.cascade;
        running.monitor = node.monitor.cfg();
        (changed, restart)
    })
    .await;
}
