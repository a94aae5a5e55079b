//! A shipment under way, whichever its mode: the link, where the stream
//! stands, the chunks in flight, the read-ahead and the rate cap; sending
//! chunks from the log up to the window, and taking acknowledgements.

use super::ahead::{Prepared, ReadAhead};
use super::error::{ShipError, Violation};
use super::flight::{Acked, InFlight, ShipReport};
use super::link::Link;
use super::options::{LogSource, ShipOptions};
use super::pace::RateCap;
use crate::clock::now_unix_ms;
use crate::ship::protocol::message::{ChunkRecords, Message};
use crate::wal::{Position, WalError};
use std::time::Instant;
use tokio::sync::watch;

/// The state of one shipment after its start ([`super::sender::ship`]), run
/// by [`super::once`] or [`super::stream`].
pub(super) struct Shipment<'a> {
    pub src: &'a LogSource,
    pub opts: &'a ShipOptions,
    /// Receives every acknowledgement.
    pub acked: &'a watch::Sender<Acked>,
    pub addr: String,
    pub started: Instant,
    pub link: Link,
    /// The primary's position: nothing past its `durable_lsn` is shipped.
    pub position: watch::Receiver<Position>,
    /// Where the next chunk starts: everything before it was sent.
    pub next: u64,
    /// Ship up to here: a durable LSN of the primary (`next <= until` once
    /// the chunks sent are booked).
    pub until: u64,
    pub report: ShipReport,
    pub flight: InFlight,
    pub ahead: ReadAhead,
    /// `--ship-max-rate`; `None`: as fast as the link goes.
    pub cap: Option<RateCap>,
    /// When the last `Status` went out (an idle link sends one each second).
    pub last_status: Instant,
}

impl Shipment<'_> {
    /// Sends chunks read from the log from `next` towards `until` while the
    /// window has room; stops early when the log holds no more yet.
    ///
    /// # Errors
    /// [`ShipError::Wal`] reading the log; what sending reported.
    pub async fn pump(&mut self) -> Result<(), ShipError> {
        while self.next < self.until && self.flight.bytes < self.opts.window_bytes {
            self.ahead
                .set_chunk_bytes(chunk_bytes(self.opts, &self.cap));
            let built = self.ahead.next(self.next, self.until).await;
            let Some(Prepared {
                chunk: c,
                encoding,
                data,
            }) = built.map_err(|e| self.wal_err(e))?
            else {
                break;
            };
            self.report.records += c.records;
            self.report.raw_bytes += c.end_lsn - c.start_lsn;
            self.report.wire_bytes += data.len() as u64;
            if let Some(cap) = &mut self.cap {
                cap.take(data.len()).await;
            }
            let of = ChunkRecords {
                header: c.header,
                start_lsn: c.start_lsn,
                end_lsn: c.end_lsn,
                records: c.records,
                last_timestamp_unix_ms: c.last_timestamp_unix_ms,
            };
            let m = Message::chunk(of, self.until, (encoding, data));
            self.link.send(&m).await?;
            self.flight.push(c.end_lsn, c.end_lsn - c.start_lsn);
            self.next = c.end_lsn;
        }
        Ok(())
    }

    /// Takes a standby's answer on a streaming link: an acknowledgement.
    ///
    /// # Errors
    /// [`ShipError::Protocol`] for any other message.
    pub fn ack(&mut self, msg: Message) -> Result<(), ShipError> {
        let Message::Ack {
            received_lsn,
            applied_lsn,
        } = msg
        else {
            return Err(ShipError::Protocol {
                addr: self.addr.clone(),
                violation: Violation::Expected {
                    expected: "Ack",
                    got: msg.name(),
                },
            });
        };
        self.flight.acked(received_lsn);
        self.opts.pace.acked(received_lsn);
        self.report.to_lsn = received_lsn;
        self.acked.send_replace(Acked {
            received_lsn,
            applied_lsn,
            unix_ms: now_unix_ms(),
        });
        Ok(())
    }

    /// The error for a failure reading the log.
    pub fn wal_err(&self, source: WalError) -> ShipError {
        ShipError::Wal {
            addr: self.opts.addr.clone(),
            source,
        }
    }

    /// The error for a primary whose log closed under the shipment.
    pub fn log_closed(&self) -> ShipError {
        ShipError::Protocol {
            addr: self.opts.addr.clone(),
            violation: Violation::LogClosed,
        }
    }

    /// The error for a primary whose WAL writer failed.
    pub fn log_failed(&self) -> ShipError {
        self.wal_err(WalError::Stopped("the primary's WAL writer failed".into()))
    }
}

/// The chunk size in force: the link's pace, at most
/// [`ShipOptions::chunk_bytes`], within the rate cap's own limit.
pub(super) fn chunk_bytes(opts: &ShipOptions, cap: &Option<RateCap>) -> usize {
    let paced = opts.pace.chunk_bytes().min(opts.chunk_bytes);
    cap.as_ref().map_or(paced, |c| c.chunk_bytes(paced))
}
