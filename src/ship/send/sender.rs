//! The primary's end of the ship link: [`ship`] connects to a standby,
//! authenticates both ways, checks where the standby stands against this
//! primary's log and history, seeds it when it is too far behind, then ships
//! once ([`super::once`]) or continuously ([`super::stream`]): every durable
//! byte it lacks as compressed chunks of whole records, pipelined up to a
//! window, with the standby's acknowledgements tracked.

use super::ahead::ReadAhead;
use super::error::ShipError;
use super::flight::{Acked, InFlight, ShipReport};
use super::link::connect;
use super::options::{LogSource, ShipMode, ShipOptions};
use super::pace::RateCap;
use super::seed::seed_standby;
use super::shipment::{chunk_bytes, Shipment};
use super::{once, stream};
use crate::clock::now_unix_ms;
use crate::ship::protocol::codes::RefuseCode;
use crate::ship::protocol::message::Message;
use crate::wal::raw::RawReader;
use crate::wal::WalError;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// Ships to one standby. With [`ShipMode::Once`] it returns after the standby
/// acknowledged everything durable at the start; with [`ShipMode::Continuous`]
/// it returns only on error. `acked` receives every acknowledgement.
///
/// # Errors
/// [`ShipError`] naming the standby and what went wrong.
pub async fn ship(
    src: &LogSource,
    opts: &ShipOptions,
    mode: ShipMode,
    acked: &watch::Sender<Acked>,
) -> Result<ShipReport, ShipError> {
    let started = Instant::now();
    let addr = opts.addr.clone();
    let (mut link, welcome) = connect(src, opts).await?;
    let Message::Welcome {
        system_id: their_sid,
        timeline: their_tl,
        received_lsn,
        applied_lsn,
        ..
    } = welcome
    else {
        unreachable!("connect returns a Welcome");
    };
    if their_sid != 0 && their_sid != src.system_id {
        return Err(ShipError::Refused {
            addr,
            code: RefuseCode::SystemId,
            message: format!(
                "standby holds system {their_sid:016x}, this primary is {:016x}",
                src.system_id
            ),
        });
    }
    acked.send_replace(Acked {
        received_lsn,
        applied_lsn,
        unix_ms: now_unix_ms(),
    });
    opts.pace.link_started(received_lsn);
    let mut position = src.position.clone();
    let until = position.borrow_and_update().durable_lsn;
    if received_lsn > until && their_sid != 0 {
        return Err(ShipError::StandbyAhead {
            addr,
            standby: received_lsn,
            primary: until,
        });
    }
    let wal_err = |source| ShipError::Wal {
        addr: opts.addr.clone(),
        source,
    };
    let raw = Arc::new(Mutex::new(RawReader::new(
        src.fs.clone(),
        src.wal_dir.clone(),
    )));
    let oldest = raw
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .oldest_lsn()
        .map_err(wal_err)?;
    if their_tl != 0 && their_tl < src.timeline {
        let history = crate::wal::timeline::read_history(&*src.fs, &src.wal_dir, src.timeline)
            .map_err(wal_err)?;
        let ended = history
            .iter()
            .find(|s| s.timeline == their_tl)
            .map(|s| s.switch_lsn);
        if ended.is_none_or(|e| received_lsn > e) {
            return Err(ShipError::Diverged {
                addr,
                timeline: their_tl,
                received_lsn,
                switch_lsn: ended,
            });
        }
    }
    if src.timeline > 1 {
        let name = crate::wal::timeline::history_file_name(src.timeline);
        let path = src.wal_dir.join(&name);
        let text = src
            .fs
            .read(&path)
            .map_err(|e| wal_err(WalError::io("read", &path, e)))?;
        let text = String::from_utf8_lossy(&text).into_owned();
        link.send(&Message::History {
            timeline: src.timeline,
            text,
        })
        .await?;
    }
    let mut report = ShipReport {
        from_lsn: received_lsn,
        to_lsn: received_lsn,
        ..ShipReport::default()
    };
    let mut next = received_lsn;
    let needs_seed = match oldest {
        Some(o) => next < o,
        None => false,
    };
    if needs_seed {
        next = seed_standby(src, &mut link, &addr).await?;
        report.seeded_at_lsn = Some(next);
        report.from_lsn = next;
    }
    let cap = opts.max_rate_bytes_per_sec.map(RateCap::new);
    let ahead = ReadAhead::new(raw.clone(), chunk_bytes(opts, &cap), opts.compression);
    let sh = Shipment {
        src,
        opts,
        acked,
        addr,
        started,
        link,
        position,
        next,
        until,
        report,
        flight: InFlight::default(),
        ahead,
        cap,
        last_status: Instant::now(),
    };
    match mode {
        ShipMode::Once => once::run(sh).await,
        ShipMode::Continuous => stream::run(sh).await.map(|never| match never {}),
    }
}
