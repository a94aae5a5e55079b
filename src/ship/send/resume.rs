//! A one-shot shipment that outlasts cuts: `logship ship --once` run from the
//! system's cron is one process per shipment, so the shipper's retries (and
//! the chunk size they learn, [`super::pace`]) would start from scratch each
//! time, and on a link cut every few hundred kilobytes no run would ever
//! finish. [`ship_once_resuming`] tries again at once when the link is cut,
//! from where the standby got to, for as long as attempts make progress.

use super::error::ShipError;
use super::flight::{Acked, ShipReport};
use super::options::{LogSource, ShipMode, ShipOptions};
use super::sender::ship;
use std::time::Instant;
use tokio::sync::watch;

/// Attempts in a row that neither moved the standby nor shrank the chunks
/// before the shipment gives up with the last error.
pub const MAX_STALLED_ATTEMPTS: u32 = 4;

/// A one-shot shipment over one or more attempts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resumed {
    /// The last attempt's report: the one that finished.
    pub last: ShipReport,
    /// Where the standby was when the first attempt started.
    pub from_lsn: u64,
    /// Attempts made, the last included (1 when the link held).
    pub attempts: u32,
    /// From the first attempt's start to the end.
    pub elapsed: std::time::Duration,
}

/// Ships once, like [`ship`] with [`ShipMode::Once`], trying again after a
/// link that came up was cut or timed out, while attempts make progress (the
/// standby's received LSN moves, or the chunks shrink).
///
/// # Errors
/// The first error no retry can mend (a refusal, a wrong key, a damaged log),
/// or the last one after [`MAX_STALLED_ATTEMPTS`] attempts in a row without
/// progress.
pub async fn ship_once_resuming(
    src: &LogSource,
    opts: &ShipOptions,
    acked: &watch::Sender<Acked>,
) -> Result<Resumed, ShipError> {
    let started = Instant::now();
    let mut from_lsn = None;
    let mut attempts = 0;
    let mut stalled = 0;
    loop {
        let (lsn_before, chunk_before) = (acked.borrow().received_lsn, opts.pace.chunk_bytes());
        let links_before = opts.pace.links_started();
        attempts += 1;
        match ship(src, opts, ShipMode::Once, acked).await {
            Ok(last) => {
                return Ok(Resumed {
                    from_lsn: from_lsn.unwrap_or(last.from_lsn),
                    last,
                    attempts,
                    elapsed: started.elapsed(),
                })
            }
            // Only a link that came up and was then cut is tried again: a
            // peer that never greets (a wrong port) or refuses is no cut.
            Err(e @ (ShipError::Link { .. } | ShipError::Timeout { .. }))
                if opts.pace.links_started() > links_before =>
            {
                if from_lsn.is_none() {
                    // Where the standby said it was when the link came up.
                    from_lsn = opts.pace.link_start_lsn();
                }
                let moved = acked.borrow().received_lsn > lsn_before
                    || opts.pace.chunk_bytes() < chunk_before;
                stalled = if moved { 0 } else { stalled + 1 };
                if stalled >= MAX_STALLED_ATTEMPTS {
                    return Err(e);
                }
                tracing::info!(standby = %opts.addr, error = %e, "the link was cut during the shipment; resuming where the standby got to");
            }
            Err(e) => return Err(e),
        }
    }
}
