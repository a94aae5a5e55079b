//! A running standby, promoted through its admin socket.

use super::*;
use crate::promote::remote::RemoteError;
use crate::standby::promote_online::{Report, Request};
use std::time::Instant;

pub(super) async fn online(
    o: &Options,
    first: NodeStatus,
    n: &dyn Narrator,
) -> anyhow::Result<Ended> {
    let started = Instant::now();
    let key = o.key.as_ref();
    let mut sum = Summary {
        mode: "online",
        dry_run: o.dry_run,
        ..Summary::default()
    };
    let now = crate::clock::now_unix_ms();
    let s0 = first.standing();
    report_position(
        n,
        &s0,
        first.last_receive_unix_ms.map(|t| now.saturating_sub(t)),
    );
    sum.old_timeline = s0.timeline;
    if let Some(url) = &first.restore_from {
        report_archive(n, url, first.archive_age_seconds);
    }
    // Step 2: the old primary, if reachable.
    let mut fenced_durable: Option<u64> = None;
    let mut fenced: Option<String> = None;
    if let Some(addr) = &o.primary {
        let reached = tokio::task::block_in_place(|| -> Result<PrimaryAnswer, RemoteError> {
            let mut p = Primary::connect(addr, o.wait)?;
            Ok(if o.dry_run {
                PrimaryAnswer::Position(p.position()?)
            } else {
                PrimaryAnswer::Fence(p.fence(key, first.ship_listen.as_deref(), &o.reason)?)
            })
        });
        match reached {
            Ok(PrimaryAnswer::Position(v)) => {
                let d = v.durable_lsn;
                n.step(
                    "primary",
                    &format!(
                        "{addr} is reachable, durable LSN {}: a promotion would take its final shipment ({} bytes this standby lacks) and fence it",
                        lsn(s0.timeline, d),
                        d.saturating_sub(s0.received_lsn)
                    ),
                );
                sum.primary = Some(PrimaryAnswer::Position(v));
            }
            Ok(PrimaryAnswer::Fence(v)) => {
                let d = v.durable_lsn;
                n.step(
                    "primary",
                    &format!(
                        "{addr} fenced at LSN {} (it refuses writes now); final shipment up to {}",
                        lsn(s0.timeline, v.fenced_lsn),
                        lsn(s0.timeline, d)
                    ),
                );
                fenced_durable = Some(d);
                fenced = Some(addr.clone());
                sum.primary = Some(PrimaryAnswer::Fence(v));
            }
            Err(e) if o.force => {
                n.step("primary", &format!("{e}; going on (--force)"));
            }
            Err(e) => {
                let hint = match e {
                    RemoteError::Unreachable { .. } => "the standby was not promoted. If the primary is down for good, promote without --primary (or add --force); if the link broke after the request was sent, the primary may be fenced already: re-run this command once it answers (fencing again is harmless)",
                    RemoteError::Refused { .. } => "the standby was not promoted and the primary was not fenced; check --auth-key-file (the primary's ship key)",
                };
                return Ok(Ended::failed(
                    Outcome::PrimaryNotFenced,
                    format!("{e}; {hint}"),
                ));
            }
        }
    } else {
        n.step(
            "primary",
            "not contacted (no --primary): promoting from what was received",
        );
    }
    // Step 3: the final shipment arrives.
    let deadline = Instant::now() + o.wait;
    let mut st = first;
    while let Some(d) = fenced_durable {
        if st.received_lsn.unwrap_or(0) >= d || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        st = match status(&o.data_dir).await {
            Ok(s) => s,
            Err(e) => {
                unfence(o, n, &fenced);
                return Ok(Ended::failed(
                    Outcome::Unreachable,
                    format!("standby not reachable: {e}"),
                ));
            }
        };
    }
    let mut s = st.standing();
    if let Some(d) = fenced_durable {
        s.primary_durable_lsn = s.primary_durable_lsn.max(d);
    }
    let unapplied = s.received_lsn.saturating_sub(s.applied_lsn);
    n.step(
        "apply",
        &if unapplied == 0 {
            format!("everything received is applied ({})", lsn(s.timeline, s.applied_lsn))
        } else {
            format!(
                "{unapplied} bytes received are not applied yet (applied {}, received {}): the promotion applies them first, whatever --apply-delay says",
                lsn(s.timeline, s.applied_lsn),
                lsn(s.timeline, s.received_lsn)
            )
        },
    );
    sum.received_lsn = s.received_lsn;
    sum.applied_lsn = s.applied_lsn;
    sum.primary_durable_lsn = s.primary_durable_lsn;
    // Step 4: the check (the node repeats it on its final numbers).
    let v = check(
        &Standing {
            applied_lsn: s.received_lsn,
            ..s
        },
        crate::clock::now_unix_ms(),
    );
    sum.verdict(&v);
    say_verdict(n, &v);
    if o.dry_run {
        return Ok(dry_run_verdict(n, sum));
    }
    if !v.ready && !o.force {
        unfence(o, n, &fenced);
        n.step(
            "refused",
            "not promoted; --force promotes anyway, losing what is stated above",
        );
        return Ok(Ended::report(Outcome::Behind, sum));
    }
    // Steps 5 and 6: the node applies what is left, switches and serves writes;
    // meanwhile its status shows the apply progress.
    let req = Request {
        force: o.force,
        reason: o.reason.clone(),
        wait_ms: deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as u64,
        primary_durable_lsn: fenced_durable,
    };
    let mut body = serde_json::to_value(&req)?;
    body["cmd"] = json!("promote");
    let dir = o.data_dir.clone();
    let mut call =
        tokio::spawn(async move { request(&dir, body, Duration::from_secs(3600)).await });
    let mut progress =
        (unapplied > 0).then(|| crate::progress::Progress::new("promote: applying", unapplied));
    let answer = loop {
        tokio::select! {
            r = &mut call => break r,
            _ = tokio::time::sleep(Duration::from_millis(100)), if progress.is_some() => {
                if let (Some(p), Ok(now)) = (progress.as_mut(), status(&o.data_dir).await) {
                    let applied = now.applied_lsn.unwrap_or(0);
                    p.set(applied.saturating_sub(s.applied_lsn), Some(applied));
                }
            }
        }
    };
    drop(progress);
    let r: Report = match answer {
        Ok(Ok(v)) => serde_json::from_value(v)?,
        Ok(Err(AdminError::Node(e))) => {
            unfence(o, n, &fenced);
            return Ok(Ended::failed(
                Outcome::Error,
                format!("promotion failed: {e}"),
            ));
        }
        Ok(Err(e)) => {
            unfence(o, n, &fenced);
            return Ok(Ended::failed(
                Outcome::Unreachable,
                format!("standby not reachable: {e}"),
            ));
        }
        Err(e) => {
            return Ok(Ended::failed(
                Outcome::Error,
                format!("promotion request failed: {e}"),
            ))
        }
    };
    sum.verdict(&r.verdict);
    sum.applied_lsn = r.applied_lsn;
    if !r.promoted {
        say_verdict(n, &r.verdict);
        unfence(o, n, &fenced);
        n.step(
            "refused",
            "not promoted: the standby's final check found it behind",
        );
        return Ok(Ended::report(Outcome::Behind, sum));
    }
    sum.promoted = true;
    sum.apply_ms = r.apply_ms;
    sum.new_timeline = r.new_timeline;
    sum.promotion_lsn = r.promotion_lsn;
    sum.took_ms = started.elapsed().as_millis() as u64;
    n.step(
        "switch",
        &format!(
            "timeline {} begins at {} (history written before any write); serving writes on {}",
            r.new_timeline,
            lsn(r.new_timeline, r.promotion_lsn),
            st.listen.as_deref().unwrap_or("its RESP address")
        ),
    );
    say_done(n, &sum);
    Ok(Ended::report(Outcome::Promoted, sum))
}
