//! A one-shot shipment ([`ShipMode::Once`](super::options::ShipMode::Once)):
//! everything durable when it started goes out, pipelined up to the window;
//! then a final `Status` asks for the acknowledgement that ends it.

use super::error::ShipError;
use super::flight::{Acked, ShipReport};
use super::shipment::Shipment;
use crate::clock::now_unix_ms;
use crate::ship::protocol::message::Message;

/// Ships up to `sh.until` and returns once the standby acknowledged it all.
///
/// # Errors
/// [`ShipError`] naming the standby and what went wrong.
pub(super) async fn run(mut sh: Shipment<'_>) -> Result<ShipReport, ShipError> {
    loop {
        sh.pump().await?;
        if sh.flight.is_empty() && sh.next >= sh.until {
            return finish(sh).await;
        }
        if sh.flight.is_empty() {
            continue;
        }
        let msg = sh
            .link
            .recv(sh.opts.ack_timeout, "an acknowledgement")
            .await?;
        sh.ack(msg)?;
    }
}

/// Everything is acknowledged: says the shipment is done, waits for the
/// acknowledgement of all of it, and closes the link in order.
async fn finish(mut sh: Shipment<'_>) -> Result<ShipReport, ShipError> {
    let until = sh.until;
    let p = *sh.position.borrow();
    sh.link
        .send(&Message::Status {
            primary_durable_lsn: until,
            primary_write_lsn: p.written_lsn,
            unix_ms: now_unix_ms(),
            done: true,
        })
        .await?;
    loop {
        if let Message::Ack {
            received_lsn,
            applied_lsn,
        } = sh
            .link
            .recv(sh.opts.ack_timeout, "the final acknowledgement")
            .await?
        {
            sh.acked.send_replace(Acked {
                received_lsn,
                applied_lsn,
                unix_ms: now_unix_ms(),
            });
            sh.opts.pace.acked(received_lsn);
            if received_lsn >= until {
                break;
            }
        }
    }
    sh.link.close().await;
    sh.report.to_lsn = until;
    sh.report.elapsed = sh.started.elapsed();
    sh.opts.pace.link_finished();
    Ok(sh.report)
}
