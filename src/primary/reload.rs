//! SIGHUP on a node serving as primary (started as one, or a standby
//! promoted in place): the configuration is re-read and what may change at
//! runtime is switched over — the standbys shipped to and the schedule with
//! their link options, the event hooks and thresholds, the metrics address,
//! the log level. The rest is compared, and what differs is named as
//! needing a restart.

use super::{PrimaryConfig, Shared};
use crate::node::reload::{self as node_reload, apply_log_level, RestartNeeded};
use std::sync::Arc;

/// Settings of a running primary that only a restart changes, by flag name.
fn restart_needed(old: &PrimaryConfig, new: &PrimaryConfig) -> RestartNeeded {
    let mut r = RestartNeeded::default();
    r.check("data-dir", &old.data_dir, &new.data_dir);
    r.check("listen", &old.listen, &new.listen);
    r.check("fsync", &old.sync, &new.sync);
    r.check(
        "max-bulk-bytes, max-args, max-inline-bytes",
        &old.limits,
        &new.limits,
    );
    r.check(
        "max-query-bytes",
        &old.max_query_bytes,
        &new.max_query_bytes,
    );
    r.check(
        "max-output-bytes",
        &old.max_output_bytes,
        &new.max_output_bytes,
    );
    r.check("max-clients", &old.max_clients, &new.max_clients);
    r.check(
        "checkpoint-wal-bytes",
        &old.checkpoint_wal_bytes,
        &new.checkpoint_wal_bytes,
    );
    r.check(
        "checkpoint-interval",
        &old.checkpoint_interval,
        &new.checkpoint_interval,
    );
    r.check("keep-snapshots", &old.keep_snapshots, &new.keep_snapshots);
    r.check("runtime", &old.runtime, &new.runtime);
    r.check(
        "shutdown-timeout",
        &old.shutdown_timeout,
        &new.shutdown_timeout,
    );
    r.check(
        "max-retained-wal",
        &old.max_retained_wal_bytes,
        &new.max_retained_wal_bytes,
    );
    r.check("archive-*", &old.archive, &new.archive);
    r.check("requirepass-file", &old.requirepass, &new.requirepass);
    r.check("maxmemory", &old.maxmemory_bytes, &new.maxmemory_bytes);
    r
}

/// Re-reads the configuration (on a blocking thread) and applies it;
/// `running` is the configuration in force (as configured: its `listen` as
/// given, not as bound) and becomes the new one for what was applied. An
/// invalid configuration changes nothing. Every outcome is logged, sent as
/// an event, and ends with `READY=1` to systemd.
pub async fn reload(shared: &Arc<Shared>, running: &mut PrimaryConfig) {
    let reloader = running.reload.clone();
    node_reload::reload(reloader, &shared.monitor.events, |new| async move {
        let restart = restart_needed(running, &new.config);
        let mut changed = shared
            .shipping
            .reconfigure(new.config.ship.as_ref())
            .describe();
        changed.extend(shared.monitor.reconfigure(new.config.monitor).await);
        apply_log_level(new.log_level.as_deref(), &mut changed);
        running.ship = new.config.ship;
        running.monitor = shared.monitor.cfg();
        (changed, restart)
    })
    .await;
}
