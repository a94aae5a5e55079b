//! A stopped standby's data directory, promoted in place.

use super::*;
use crate::promote::offline::{self as dir, OfflineError};
use std::time::Instant;

/// The end of a promotion that `e` stopped.
fn failed(e: OfflineError) -> Ended {
    let outcome = if e.is_not_standby() {
        Outcome::NotStandby
    } else {
        Outcome::Error
    };
    Ended::failed(outcome, e.to_string())
}

pub(super) fn offline(o: &Options, n: &dyn Narrator) -> Ended {
    let started = Instant::now();
    let mut sum = Summary {
        mode: "offline",
        dry_run: o.dry_run,
        ..Summary::default()
    };
    // What the directory is comes first: a missing or wrong one is the
    // error to fix, whatever the other flags.
    let found = match dir::inspect(&o.data_dir) {
        Ok(f) => f,
        Err(e) => return failed(e),
    };
    if o.primary.is_some() && !o.dry_run {
        return Ended::failed(
            Outcome::Error,
            format!(
                "--primary needs the standby running (it receives the final shipment); start `logship standby --data-dir {}` first, or promote offline without --primary",
                o.data_dir.display()
            ),
        );
    }
    let s = found.standing;
    n.step(
        "mode",
        "no standby process runs: promoting the data directory offline",
    );
    let age = crate::clock::now_unix_ms().saturating_sub(s.last_receive_unix_ms);
    report_position(n, &s, (s.last_receive_unix_ms > 0).then_some(age));
    sum.old_timeline = s.timeline;
    sum.received_lsn = s.received_lsn;
    sum.applied_lsn = s.applied_lsn;
    sum.primary_durable_lsn = s.primary_durable_lsn;
    if let Some(addr) = &o.primary {
        match tokio::task::block_in_place(|| Primary::connect(addr, o.wait)?.position()) {
            Ok(v) => n.step(
                "primary",
                &format!(
                    "{addr} is reachable (durable LSN {}): start the standby so a promotion can take its final shipment",
                    v.durable_lsn
                ),
            ),
            Err(e) => n.step("primary", &e.to_string()),
        }
    }
    n.step(
        "apply",
        &format!(
            "{} bytes received after the newest checkpoint are applied by the promotion",
            s.received_lsn - s.applied_lsn
        ),
    );
    let v = dir::verdict(&found, None);
    sum.verdict(&v);
    say_verdict(n, &v);
    if o.dry_run {
        return dry_run_verdict(n, sum);
    }
    if !v.ready && !o.force {
        n.step(
            "refused",
            "not promoted; --force promotes anyway, losing what is stated above",
        );
        return Ended::report(Outcome::Behind, sum);
    }
    let p = match dir::promote(&o.data_dir, &o.reason) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let rate = if p.replay_ms > 0 {
        format!(
            " ({:.2} M records/s)",
            p.replayed_records as f64 / p.replay_ms as f64 / 1000.0
        )
    } else {
        String::new()
    };
    n.step(
        "switch",
        &format!(
            "applied {} records in {} ms{rate}; timeline {} begins at {}; checkpoint written; {} keys",
            p.replayed_records,
            p.replay_ms,
            p.new_timeline,
            lsn(p.new_timeline, p.promotion_lsn),
            p.keys
        ),
    );
    sum.promoted = true;
    sum.apply_ms = p.replay_ms;
    sum.applied_lsn = s.received_lsn;
    sum.new_timeline = p.new_timeline;
    sum.promotion_lsn = p.promotion_lsn;
    sum.took_ms = started.elapsed().as_millis() as u64;
    say_done(n, &sum);
    n.step(
        "next",
        &format!(
            "serve it: logship primary --data-dir {}",
            o.data_dir.display()
        ),
    );
    Ended::report(Outcome::Promoted, sum)
}
