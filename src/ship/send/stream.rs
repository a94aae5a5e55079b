//! A continuous stream ([`ShipMode::Continuous`](super::options::ShipMode::Continuous)):
//! the link stays open and records go out as soon as they are durable. It
//! ends only on error.
//!
//! A backlog goes out from the log through the read-ahead, pipelined up to
//! the window. Once caught up, a plain, uncapped link hands its socket to a
//! [`LinkTap`](super::link_tap::LinkTap), which sends from the WAL writer's thread
//! right after each fsync; this task then only takes acknowledgements, books
//! what the tap sent as in flight, and sends a `Status` each idle second. When
//! the tap stops (window full, a partial write, the log ahead of it), this
//! task takes the link back and carries on from where the tap left it.

use super::error::ShipError;
use super::link_tap::Taken;
use super::shipment::Shipment;
use crate::clock::now_unix_ms;
use crate::ship::protocol::message::Message;
use std::convert::Infallible;
use std::time::{Duration, Instant};

/// Ships until an error ends the link.
///
/// # Errors
/// [`ShipError`] naming the standby and what went wrong: the only way out.
pub(super) async fn run(mut sh: Shipment<'_>) -> Result<Infallible, ShipError> {
    // A capped link sends every chunk through the cap: the WAL writer's
    // thread, which feeds a tap, must never wait for one.
    if sh.cap.is_none() {
        sh.link.attach_tap(sh.src, sh.opts);
    }
    loop {
        // What the tap sent since last time is in flight like the rest.
        let mut tapping = match sh.link.tap.clone() {
            Some(tap) => {
                let t = tap.take(false);
                absorb(&mut sh, t).await?
            }
            None => false,
        };
        if !tapping {
            sh.pump().await?;
        }
        // Caught up: the WAL writer's thread sends what becomes durable next.
        if let Some(tap) = sh
            .link
            .tap
            .clone()
            .filter(|_| !tapping && sh.next >= sh.until)
        {
            if sh.position.borrow().failed {
                return Err(sh.log_failed());
            }
            let window = sh.opts.window_bytes.saturating_sub(sh.flight.bytes);
            tapping = tap.start(sh.next, window, || sh.position.borrow().durable_lsn);
            if !tapping {
                let p = *sh.position.borrow_and_update();
                if p.failed {
                    return Err(sh.log_failed());
                }
                if p.durable_lsn > sh.until {
                    sh.until = p.durable_lsn;
                    continue;
                }
            }
        }
        if let Some(tap) = sh.link.tap.clone().filter(|_| tapping) {
            let wait = if sh.flight.is_empty() {
                Duration::from_secs(3600)
            } else {
                sh.opts.ack_timeout
            };
            let msg = tokio::select! {
                // Stopped on its own: the next turn takes over.
                _ = tap.stopped() => None,
                m = sh.link.recv(wait, "an acknowledgement") => Some(m?),
                // Idle: a Status each second, as without the tap (the
                // standby answers one only once all before it is durable).
                _ = tokio::time::sleep(Duration::from_secs(1).saturating_sub(sh.last_status.elapsed())), if sh.flight.is_empty() => {
                    let t = tap.take(true);
                    absorb(&mut sh, t).await?;
                    heartbeat(&mut sh).await?;
                    None
                }
            };
            if let Some(msg) = msg {
                // The acknowledgement may cover chunks the tap sent meanwhile.
                let t = tap.take(false);
                absorb(&mut sh, t).await?;
                sh.ack(msg)?;
                tap.set_window(sh.opts.window_bytes.saturating_sub(sh.flight.bytes));
            }
            if sh.position.has_changed().is_err() {
                return Err(sh.log_closed());
            }
            if sh.position.borrow().failed {
                return Err(sh.log_failed());
            }
            continue;
        }
        let mut idle_msg = None;
        if sh.flight.is_empty() && sh.next >= sh.until {
            tokio::select! {
                changed = sh.position.changed() => {
                    if changed.is_err() {
                        return Err(sh.log_closed());
                    }
                    let p = *sh.position.borrow_and_update();
                    if p.failed {
                        return Err(sh.log_failed());
                    }
                    sh.until = p.durable_lsn;
                }
                // An Ack may come while nothing is in flight (one that
                // repeats the durable LSN after a checkpoint's fsync, say):
                // it is handled below like any other.
                m = sh.link.recv(Duration::from_secs(3600), "a message") => idle_msg = Some(m?),
                _ = tokio::time::sleep(Duration::from_secs(1).saturating_sub(sh.last_status.elapsed())) => {
                    heartbeat(&mut sh).await?;
                }
            }
            if idle_msg.is_none() {
                continue;
            }
        }
        // Continuous shipping keeps the pipe full: newly durable records go out
        // while earlier chunks await their acknowledgement (up to the window),
        // rather than queueing behind a round trip and the standby's fsync.
        let msg = if let Some(m) = idle_msg.take() {
            m
        } else if sh.flight.is_empty() {
            continue;
        } else {
            tokio::select! {
                m = sh.link.recv(sh.opts.ack_timeout, "an acknowledgement") => m?,
                changed = sh.position.changed() => {
                    if changed.is_err() {
                        return Err(sh.log_closed());
                    }
                    let p = *sh.position.borrow_and_update();
                    if p.failed {
                        return Err(sh.log_failed());
                    }
                    sh.until = sh.until.max(p.durable_lsn);
                    continue;
                }
            }
        };
        sh.ack(msg)?;
        if sh.flight.is_empty() {
            sh.until = sh.until.max(sh.position.borrow().durable_lsn);
        }
    }
}

/// Books what the tap sent as in flight and sends the rest of its last
/// frame; returns whether the tap still runs.
async fn absorb(sh: &mut Shipment<'_>, t: Taken) -> Result<bool, ShipError> {
    for s in &t.sent {
        sh.report.records += s.records;
        sh.report.raw_bytes += s.end_lsn - s.start_lsn;
        sh.report.wire_bytes += s.wire_bytes;
        sh.flight.push(s.end_lsn, s.end_lsn - s.start_lsn);
        sh.next = s.end_lsn;
        sh.until = sh.until.max(s.end_lsn);
    }
    if let Some(e) = t.error {
        return Err(sh.link.failed(e).await);
    }
    if !t.residual.is_empty() {
        sh.link.send_bytes(&t.residual).await?;
    }
    Ok(t.active)
}

/// Sends an idle link's `Status`: the primary's positions, not done.
async fn heartbeat(sh: &mut Shipment<'_>) -> Result<(), ShipError> {
    let p = *sh.position.borrow();
    sh.link
        .send(&Message::Status {
            primary_durable_lsn: p.durable_lsn,
            primary_write_lsn: p.written_lsn,
            unix_ms: now_unix_ms(),
            done: false,
        })
        .await?;
    sh.last_status = Instant::now();
    Ok(())
}
