//! Continuous shipping straight from the WAL writer's thread.
//!
//! A caught-up continuous link hands its socket to a [`LinkTap`], registered
//! on the primary's log ([`crate::wal::tap`]). Right after each group commit's
//! fsync, the writer gives the tap the records that became durable, still in
//! memory; the tap checks them, compresses them and sends them as one `Chunk`
//! frame with a non-blocking write. The shipping task is not woken for it: on
//! a busy machine that wake-up cost more than the send.
//!
//! The tap only carries on the stream exactly where it stands: anything it
//! cannot send at once, it hands back to the shipping task and stops
//! ([`Taken`]). That is the case when
//!
//! - the records do not start at the link's next LSN (the log advanced while
//!   the tap was off, or the fsync covered earlier batches), or are more than
//!   a chunk (at most [`INLINE_CHUNK_BYTES`]: more is compressed off the
//!   writer's thread);
//! - the link's window is full;
//! - the socket takes only part of the frame (the rest, which must go out
//!   before anything else, is handed back with it) or fails;
//! - a record fails its check (the task reads it again from disk and reports
//!   the damage there);
//! - the log stopped.
//!
//! The task takes the link back ([`LinkTap::take`]) before it writes anything
//! itself, and learns of every chunk the tap sent, so its acknowledgement
//! bookkeeping sees the same stream as before.

use super::ahead::INLINE_CHUNK_BYTES;
use crate::ship::protocol::compress::{compress, Compression};
use crate::ship::protocol::frame::frame_bytes;
use crate::ship::protocol::message::{ChunkRecords, Message};
use crate::wal::mirror::check_chunk;
use crate::wal::tap::{DurableRun, DurableTap, RunMemo};
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// A chunk the tap sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub start_lsn: u64,
    pub end_lsn: u64,
    pub records: u64,
    /// Bytes on the wire (compressed).
    pub wire_bytes: u64,
}

/// What the shipping task takes back from the tap.
#[derive(Debug, Default)]
pub struct Taken {
    /// Chunks sent since the last take, in order.
    pub sent: Vec<Sent>,
    /// The unsent end of the last frame: it goes out before anything else.
    pub residual: Vec<u8>,
    /// The socket failed.
    pub error: Option<std::io::Error>,
    /// The tap still sends (only when taken without stopping it).
    pub active: bool,
}

struct State {
    /// A duplicate of the link's socket (non-blocking, like the original).
    sock: Option<TcpStream>,
    active: bool,
    /// Where the stream continues.
    next_lsn: u64,
    /// Uncompressed bytes it may still send before the window is full.
    budget: u64,
    taken: Taken,
}

/// The sending end of a caught-up continuous link, driven by the WAL writer.
pub struct LinkTap {
    state: Mutex<State>,
    compression: Compression,
    /// Largest run sent as one chunk.
    max_chunk_bytes: u64,
    /// Woken when the tap stops on its own.
    stopped: Notify,
}

impl LinkTap {
    /// A tap that writes to `sock`, a duplicate of the link's socket, chunks
    /// of at most `chunk_bytes` (and [`INLINE_CHUNK_BYTES`]).
    pub fn new(sock: TcpStream, compression: Compression, chunk_bytes: usize) -> LinkTap {
        LinkTap {
            state: Mutex::new(State {
                sock: Some(sock),
                active: false,
                next_lsn: 0,
                budget: 0,
                taken: Taken::default(),
            }),
            compression,
            max_chunk_bytes: (chunk_bytes as u64).min(INLINE_CHUNK_BYTES),
            stopped: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts sending from `next_lsn`, with `budget` bytes of window, if the
    /// log is durable up to exactly `next_lsn` now (`durable_lsn` is read
    /// while the writer cannot call the tap, so no advance falls in between).
    /// Returns whether it started.
    pub fn start(&self, next_lsn: u64, budget: u64, durable_lsn: impl FnOnce() -> u64) -> bool {
        let mut st = self.lock();
        if st.sock.is_none() || st.taken.error.is_some() || !st.taken.residual.is_empty() {
            return false;
        }
        if budget == 0 || durable_lsn() != next_lsn {
            return false;
        }
        st.active = true;
        st.next_lsn = next_lsn;
        st.budget = budget;
        true
    }

    /// Takes what the tap did; with `stop`, stops it first (the task is about
    /// to write). Without, it may go on sending.
    pub fn take(&self, stop: bool) -> Taken {
        let mut st = self.lock();
        if stop {
            st.active = false;
        }
        let mut t = std::mem::take(&mut st.taken);
        t.active = st.active;
        t
    }

    /// Sets the window left to the tap: `available` bytes beyond what the
    /// task knows to be in flight (chunks sent since its last take count
    /// against it).
    pub fn set_window(&self, available: u64) {
        let mut st = self.lock();
        let untaken: u64 = st.taken.sent.iter().map(|s| s.end_lsn - s.start_lsn).sum();
        st.budget = available.saturating_sub(untaken);
    }

    /// Waits until the tap stops on its own. Cancel-safe.
    pub async fn stopped(&self) {
        self.stopped.notified().await;
    }

    /// Closes the duplicate socket: the link is ending.
    pub fn close(&self) {
        let mut st = self.lock();
        st.active = false;
        st.sock = None;
    }

    fn stop(&self, st: &mut State) {
        st.active = false;
        self.stopped.notify_one();
    }

    /// Sends one run as a chunk; false when it stopped the tap instead. The
    /// chunk's frame is made once per run and compression, whatever the
    /// number of links sending it (`memo`).
    fn send(&self, st: &mut State, durable_lsn: u64, run: &DurableRun<'_>, memo: &RunMemo) -> bool {
        let len = run.bytes.len() as u64;
        if run.start_lsn != st.next_lsn || len > self.max_chunk_bytes || len > st.budget {
            return false;
        }
        let key = match self.compression {
            Compression::None => 0,
            Compression::Zstd { level } => {
                1 + u64::from(level.unsigned_abs()) * 2 + u64::from(level < 0)
            }
        };
        let made = memo.get_or_compute(key, || -> Option<TapFrame> {
            let (records, end_lsn, _, last_ts) =
                check_chunk(run.header, run.start_lsn, run.bytes).ok()?;
            let encoded = compress(run.bytes, self.compression);
            let wire_bytes = encoded.1.len() as u64;
            // `check_chunk` read the run to its end: `end_lsn - start_lsn` is
            // `len`, the chunk's `raw_len`.
            let of = ChunkRecords {
                header: *run.header,
                start_lsn: run.start_lsn,
                end_lsn,
                records,
                last_timestamp_unix_ms: last_ts,
            };
            let m = Message::chunk(of, durable_lsn, encoded);
            Some(TapFrame {
                records,
                end_lsn,
                wire_bytes,
                frame: frame_bytes(m.kind().into(), &m.encode()),
            })
        });
        let Some(f) = made.as_ref() else {
            return false;
        };
        let (records, end_lsn, wire_bytes, frame) = (f.records, f.end_lsn, f.wire_bytes, &f.frame);
        let Some(sock) = st.sock.as_mut() else {
            return false;
        };
        let written = write_some(sock, frame);
        let done = match written {
            Ok(n) => n,
            Err(e) => {
                st.taken.error = Some(e);
                return false;
            }
        };
        if done == 0 {
            // Nothing of this frame left: the task sends it from the log.
            return false;
        }
        st.taken.sent.push(Sent {
            start_lsn: run.start_lsn,
            end_lsn,
            records,
            wire_bytes,
        });
        st.next_lsn = end_lsn;
        st.budget -= len;
        if done < frame.len() {
            st.taken.residual = frame[done..].to_vec();
            return false;
        }
        true
    }
}

/// A run made into a chunk frame, shared by the links that send it.
struct TapFrame {
    records: u64,
    end_lsn: u64,
    wire_bytes: u64,
    frame: Vec<u8>,
}

/// Writes as much of `buf` as the socket takes without blocking.
fn write_some(sock: &mut TcpStream, buf: &[u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match sock.write(&buf[done..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl DurableTap for LinkTap {
    fn durable(&self, durable_lsn: u64, runs: &[DurableRun<'_>], memos: &[RunMemo]) {
        let mut st = self.lock();
        if !st.active {
            return;
        }
        for (run, memo) in runs.iter().zip(memos) {
            if !self.send(&mut st, durable_lsn, run, memo) {
                return self.stop(&mut st);
            }
        }
        if st.next_lsn < durable_lsn {
            self.stop(&mut st);
        }
    }

    fn stopped(&self) {
        let mut st = self.lock();
        if st.active {
            self.stop(&mut st);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ship::protocol::frame::FrameReader;
    use crate::wal::format::{encode_record, RecordKind, SegmentHeader};

    const HEADER: SegmentHeader = SegmentHeader {
        system_id: 7,
        timeline: 1,
        first_lsn: 0,
        segment_bytes: 1 << 30,
        created_unix_ms: 1,
    };

    /// Records of `payload` bytes each from `lsn`, until at least `total` bytes.
    fn records(lsn: u64, payload: usize, total: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = lsn;
        while out.len() < total {
            let body: Vec<u8> = (0..payload)
                .map(|j| {
                    (i.wrapping_mul(2_654_435_761)
                        .wrapping_add(j as u64 * 40_503)
                        >> 13) as u8
                })
                .collect();
            let at = lsn + out.len() as u64;
            encode_record(&mut out, at, 1, 5, RecordKind::Data, &body);
            i += 1;
        }
        out
    }

    fn run(start_lsn: u64, bytes: &[u8]) -> DurableRun<'_> {
        DurableRun {
            header: &HEADER,
            start_lsn,
            bytes,
        }
    }

    /// A connected pair: the tap's end (non-blocking) and the peer's.
    fn pair() -> (TcpStream, TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        a.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// Reads `n` chunk frames: (start, end, decompressed records).
    async fn read_chunks(peer: TcpStream, n: usize) -> Vec<(u64, u64, Vec<u8>)> {
        peer.set_nonblocking(true).unwrap();
        let mut fr = FrameReader::new(tokio::net::TcpStream::from_std(peer).unwrap());
        let mut out = Vec::new();
        for _ in 0..n {
            let (k, body) = fr.read().await.unwrap();
            match Message::decode(k, &body).unwrap() {
                Message::Chunk {
                    encoding,
                    start_lsn,
                    end_lsn,
                    raw_len,
                    data,
                    ..
                } => {
                    let raw = crate::ship::protocol::compress::decompress(encoding, data, raw_len)
                        .unwrap();
                    out.push((start_lsn, end_lsn, raw));
                }
                m => panic!("expected a chunk, got {}", m.name()),
            }
        }
        out
    }

    #[tokio::test]
    async fn sends_contiguous_runs_and_stops_at_a_gap() {
        let (a, b) = pair();
        let tap = LinkTap::new(a, Compression::Zstd { level: 1 }, 1 << 20);
        let first = records(0, 100, 1000);
        let end1 = first.len() as u64;
        let second = records(end1, 100, 1000);
        let end2 = end1 + second.len() as u64;
        assert!(
            !tap.start(0, 1 << 20, || 64),
            "durable moved on: not started"
        );
        assert!(tap.start(0, 1 << 20, || 0));
        tap.durable(end1, &[run(0, &first)], &[RunMemo::default()]);
        tap.durable(end2, &[run(end1, &second)], &[RunMemo::default()]);
        let t = tap.take(false);
        assert!(t.active && t.residual.is_empty() && t.error.is_none());
        let ranges: Vec<_> = t.sent.iter().map(|s| (s.start_lsn, s.end_lsn)).collect();
        assert_eq!(ranges, vec![(0, end1), (end1, end2)]);
        let got = read_chunks(b, 2).await;
        assert_eq!(got, vec![(0, end1, first.clone()), (end1, end2, second)]);
        // An advance without its records stops the tap and sends nothing.
        tap.durable(end2 + 8, &[], &[]);
        let t = tap.take(false);
        assert!(!t.active && t.sent.is_empty());
        tap.durable(end2 + 8, &[run(end2, &first)], &[RunMemo::default()]);
        assert!(
            tap.take(false).sent.is_empty(),
            "a stopped tap sends nothing"
        );
    }

    #[test]
    fn a_full_window_or_a_damaged_record_stops_the_tap_unsent() {
        let (a, b) = pair();
        let tap = LinkTap::new(a, Compression::None, 1 << 20);
        let recs = records(0, 100, 1000);
        let end = recs.len() as u64;
        assert!(tap.start(0, end - 1, || 0));
        tap.durable(end, &[run(0, &recs)], &[RunMemo::default()]);
        let t = tap.take(true);
        assert!(
            t.sent.is_empty() && !t.active,
            "over the window: handed back"
        );
        let mut bad = recs.clone();
        bad[40] ^= 1;
        assert!(tap.start(0, 1 << 20, || 0));
        tap.durable(end, &[run(0, &bad)], &[RunMemo::default()]);
        assert!(
            tap.take(true).sent.is_empty(),
            "a damaged record is never sent"
        );
        b.set_nonblocking(true).unwrap();
        let mut probe = [0u8; 1];
        let nothing = std::io::Read::read(&mut &b, &mut probe);
        assert!(matches!(nothing, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));
    }

    #[tokio::test]
    async fn a_full_socket_hands_back_the_rest_of_the_frame() {
        let (a, b) = pair();
        let tap_end = a.try_clone().unwrap();
        let tap = LinkTap::new(a, Compression::None, 1 << 20);
        assert!(tap.start(0, u64::MAX, || 0));
        // Runs of incompressible records until the peer, reading nothing
        // yet, fills up and the tap stops.
        let (mut lsn, mut all, mut sent, mut rest) = (0u64, Vec::new(), Vec::new(), None);
        for _ in 0..2000 {
            let recs = records(lsn, 4000, 60_000);
            let end = lsn + recs.len() as u64;
            tap.durable(end, &[run(lsn, &recs)], &[RunMemo::default()]);
            all.push((lsn, end, recs));
            lsn = end;
            let t = tap.take(false);
            sent.extend(t.sent);
            if !t.active {
                assert!(t.error.is_none());
                rest = Some(t.residual);
                break;
            }
        }
        let rest = rest.expect("the socket filled up");
        // What the task does next: the rest of the last frame goes first.
        let writer = std::thread::spawn(move || {
            tap_end.set_nonblocking(false).unwrap();
            (&tap_end).write_all(&rest).unwrap();
        });
        let got = read_chunks(b, sent.len()).await;
        writer.join().unwrap();
        assert!(!sent.is_empty());
        assert_eq!(got[..], all[..sent.len()]);
    }
}
