//! The ship link end to end on loopback: a real log, the sender, the receiver and
//! a mirror; refusals; a proxy that cuts the connection at random byte offsets.

mod common;

use common::segments;
use logship::fs::StdFs;
use logship::ship::protocol::codes::RefuseCode;
use logship::ship::receive::accept::serve;
use logship::ship::{
    ship, Acked, AuthKey, LogSource, ReceiverShared, ShipError, ShipMode, ShipOptions,
};
use logship::wal::{self, Mirror, SyncPolicy, Wal, WalOptions};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const KEY: &[u8] = b"a-shared-test-key-0123456789";

fn primary(dir: &Path, system_id: u64) -> Wal {
    let mut o = WalOptions::new(dir, system_id, 1);
    o.segment_bytes = 64 << 10;
    o.sync = SyncPolicy::Always;
    wal::open(StdFs::shared(), o).unwrap().0
}

fn fill(w: &Wal, n: usize, tag: &str) -> u64 {
    let mut end = 0;
    for i in 0..n {
        end = w
            .append(format!("{tag}-{i}-{}", "v".repeat(i % 200)).as_bytes())
            .unwrap()
            .end_lsn;
    }
    w.wait_acked(end).unwrap();
    end
}

fn source(dir: &Path, w: &Wal, system_id: u64) -> LogSource {
    LogSource {
        fs: StdFs::shared(),
        wal_dir: dir.to_path_buf(),
        system_id,
        timeline: 1,
        position: w.subscribe(),
        seed: None,
        taps: Some(w.taps()),
    }
}

async fn standby(dir: &Path, key: Option<&[u8]>) -> (String, Arc<ReceiverShared>) {
    let (m, _) = Mirror::open(StdFs::shared(), dir).unwrap();
    let (_applied_tx, applied_rx) = watch::channel(0u64);
    std::mem::forget(_applied_tx);
    let shared = ReceiverShared::new(m, applied_rx, key.map(AuthKey::from_bytes), None);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(serve(l, shared.clone()));
    (addr, shared)
}

fn same_files(a: &Path, b: &Path) {
    let (na, nb) = (segments(a), segments(b));
    assert_eq!(na.len(), nb.len(), "segment count");
    for (x, y) in na.iter().zip(&nb) {
        assert_eq!(x.file_name(), y.file_name());
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{x:?} differs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_then_continuous_keeps_the_standby_byte_identical() {
    let t = tempfile::tempdir().unwrap();
    let (pd, sd) = (t.path().join("p"), t.path().join("s"));
    let w = primary(&pd, 11);
    let end = fill(&w, 2000, "a");
    let (addr, shared) = standby(&sd, Some(KEY)).await;
    let src = source(&pd, &w, 11);
    let opts = ShipOptions::new(&addr, Some(AuthKey::from_bytes(KEY)));
    let (acked, _) = watch::channel(Acked::default());
    let r = ship(&src, &opts, ShipMode::Once, &acked).await.unwrap();
    assert_eq!((r.from_lsn, r.to_lsn), (0, end));
    assert!(r.records >= 2000, "2000 data records plus seals");
    assert!(
        r.wire_bytes < r.raw_bytes,
        "zstd should shrink a repetitive log"
    );
    assert_eq!(shared.received.borrow().received_lsn, end);
    assert_eq!(acked.borrow().received_lsn, end);
    same_files(&pd, &sd);

    // Continuous: new records arrive without any schedule.
    let src2 = src.clone();
    let acked2 = acked.clone();
    let task = tokio::spawn(async move { ship(&src2, &opts, ShipMode::Continuous, &acked2).await });
    let mut rx = shared.received.subscribe();
    let end2 = tokio::task::spawn_blocking({
        let w = Arc::new(w);
        move || {
            let e = fill(&w, 500, "b");
            (e, w)
        }
    })
    .await
    .unwrap();
    let (end2, w) = end2;
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|r| r.received_lsn >= end2),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(rx.borrow().primary_durable_lsn, end2);
    task.abort();
    w.close().unwrap();
    same_files(&pd, &sd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_and_wrong_system_are_refused_and_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let w = primary(&t.path().join("p"), 11);
    fill(&w, 10, "a");
    let (addr, shared) = standby(&t.path().join("s"), Some(KEY)).await;
    let src = source(&t.path().join("p"), &w, 11);
    let (acked, _) = watch::channel(Acked::default());

    let bad = ShipOptions::new(
        &addr,
        Some(AuthKey::from_bytes(b"not-the-right-key-at-all")),
    );
    let e = ship(&src, &bad, ShipMode::Once, &acked).await.unwrap_err();
    assert!(
        matches!(
            e,
            ShipError::Refused {
                code: RefuseCode::Auth,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        !e.to_string().contains("right-key"),
        "the key never appears in errors"
    );

    // A standby without a key cannot prove itself to a primary that has one.
    let (open_addr, _) = standby(&t.path().join("s2"), None).await;
    let e = ship(
        &src,
        &ShipOptions::new(&open_addr, Some(AuthKey::from_bytes(KEY))),
        ShipMode::Once,
        &acked,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ShipError::Auth { .. }), "{e}");

    // First ship system 11, then try system 22 to the same standby.
    ship(
        &src,
        &ShipOptions::new(&addr, Some(AuthKey::from_bytes(KEY))),
        ShipMode::Once,
        &acked,
    )
    .await
    .unwrap();
    let before = shared.received.borrow().received_lsn;
    let w2 = primary(&t.path().join("q"), 22);
    fill(&w2, 10, "z");
    let src2 = source(&t.path().join("q"), &w2, 22);
    let e = ship(
        &src2,
        &ShipOptions::new(&addr, Some(AuthKey::from_bytes(KEY))),
        ShipMode::Once,
        &acked,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            ShipError::Refused {
                code: RefuseCode::SystemId,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("system id mismatch"), "{e}");
    assert_eq!(shared.received.borrow().received_lsn, before);
}

/// Forwards one connection, cutting it after `cut_after` bytes in total.
async fn proxy_once(listener: &TcpListener, target: &str, cut_after: usize) {
    let (mut a, _) = listener.accept().await.unwrap();
    let mut b = TcpStream::connect(target).await.unwrap();
    let mut budget = cut_after;
    let (mut buf_a, mut buf_b) = (vec![0u8; 4096], vec![0u8; 4096]);
    loop {
        tokio::select! {
            n = a.read(&mut buf_a) => {
                let Ok(n) = n else { return };
                if n == 0 { return }
                let n = n.min(budget);
                if b.write_all(&buf_a[..n]).await.is_err() { return }
                budget -= n;
            }
            n = b.read(&mut buf_b) => {
                let Ok(n) = n else { return };
                if n == 0 { return }
                let n = n.min(budget);
                if a.write_all(&buf_b[..n]).await.is_err() { return }
                budget -= n;
            }
        }
        if budget == 0 {
            return; // Both sockets drop: the link is cut mid-frame.
        }
    }
}

/// A standby behind a proxy that cuts links ([`proxy_once`]): the proxy, the
/// standby's own address, the standby, the log and options to ship to the
/// proxy in small uncompressed chunks (well under the cuts, so that every
/// connection can get some through).
async fn cutting(
    pd: &Path,
    sd: &Path,
    w: &Wal,
    system_id: u64,
) -> (
    Arc<TcpListener>,
    String,
    Arc<ReceiverShared>,
    LogSource,
    ShipOptions,
) {
    let (addr, shared) = standby(sd, Some(KEY)).await;
    let proxy = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
    let paddr = proxy.local_addr().unwrap().to_string();
    let mut opts = ShipOptions::new(&paddr, Some(AuthKey::from_bytes(KEY)));
    opts.chunk_bytes = 4096;
    opts.compression = logship::ship::Compression::None;
    (proxy, addr, shared, source(pd, w, system_id), opts)
}

/// Data records in the received log up to `end`.
fn data_records(dir: &Path, end: u64) -> usize {
    logship::wal::WalReader::open(StdFs::shared(), dir, 0, Some(end))
        .unwrap()
        .filter(|r| r.as_ref().unwrap().kind == logship::wal::RecordKind::Data)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_at_random_offsets_resume_without_loss_or_duplicates() {
    let t = tempfile::tempdir().unwrap();
    let (pd, sd) = (t.path().join("p"), t.path().join("s"));
    let w = primary(&pd, 5);
    let end = fill(&w, 3000, "c");
    let (proxy, addr, shared, src, opts) = cutting(&pd, &sd, &w, 5).await;
    let (acked, _) = watch::channel(Acked::default());
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut cuts = 0;
    let mut last = 0;
    for _ in 0..300 {
        let cut = rng.gen_range(1..60_000);
        let (proxy, target) = (proxy.clone(), addr.clone());
        let p = tokio::spawn(async move { proxy_once(&proxy, &target, cut).await });
        let res = tokio::time::timeout(
            Duration::from_secs(20),
            ship(&src, &opts, ShipMode::Once, &acked),
        )
        .await
        .expect("a shipment never hangs");
        p.await.unwrap();
        // The standby only ever moves forward, and only to what the primary has.
        let r = shared.received.borrow().received_lsn;
        assert!(
            r >= last && r <= end,
            "received {r:#x} after {last:#x}, end {end:#x}"
        );
        last = r;
        match res {
            Ok(rep) => {
                assert_eq!(rep.to_lsn, end);
                assert_eq!(r, end);
                assert!(cuts > 3, "the proxy cut too rarely ({cuts})");
                same_files(&pd, &sd);
                assert_eq!(data_records(&sd, end), 3000, "every record exactly once");
                return;
            }
            Err(_) => cuts += 1,
        }
    }
    panic!("did not converge within 300 attempts ({cuts} cuts)");
}

/// A caught-up continuous link is fed from the WAL writer's thread (a tap on
/// the log). Cut at random offsets while records keep coming, it resumes
/// without loss or duplicates, and a link that ends leaves no tap behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuous_link_fed_by_the_writer_resumes_after_cuts() {
    let t = tempfile::tempdir().unwrap();
    let (pd, sd) = (t.path().join("p"), t.path().join("s"));
    let w = Arc::new(primary(&pd, 6));
    let (proxy, addr, shared, src, opts) = cutting(&pd, &sd, &w, 6).await;
    // Small groups, each durable before the next: every fsync's batch is one
    // the tap can send.
    let writer = std::thread::spawn({
        let w = w.clone();
        move || {
            let mut end = 0;
            for i in 0..3000 {
                end = w
                    .append(format!("t-{i}-{}", "v".repeat(i % 200)).as_bytes())
                    .unwrap()
                    .end_lsn;
                if i % 10 == 9 {
                    w.wait_durable(end).unwrap();
                }
            }
            w.wait_durable(end).unwrap();
            end
        }
    });
    let (acked, _) = watch::channel(Acked::default());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut cuts, mut last, mut tapped) = (0, 0, false);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let end = 'attempts: loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no convergence ({cuts} cuts)"
        );
        let cut = rng.gen_range(1..40_000);
        let (px, target) = (proxy.clone(), addr.clone());
        let p = tokio::spawn(async move { proxy_once(&px, &target, cut).await });
        let task = tokio::spawn({
            let (src, opts, acked) = (src.clone(), opts.clone(), acked.clone());
            async move { ship(&src, &opts, ShipMode::Continuous, &acked).await }
        });
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            tapped |= w.taps().any();
            let r = shared.received.borrow().received_lsn;
            assert!(r >= last, "received {r:#x} after {last:#x}");
            last = r;
            if task.is_finished() {
                let res = task.await.unwrap();
                assert!(res.is_err(), "a continuous link ends only on error");
                cuts += 1;
                p.abort();
                break;
            }
            if writer.is_finished() && r == w.position().durable_lsn {
                task.abort();
                let _ = task.await;
                p.abort();
                break 'attempts r;
            }
        }
    };
    assert_eq!(writer.join().unwrap(), end);
    assert!(tapped, "a caught-up continuous link registers a tap");
    assert!(!w.taps().any(), "an ended link leaves no tap behind");
    assert!(cuts > 3, "the proxy cut too rarely ({cuts})");
    w.close().unwrap();
    same_files(&pd, &sd);
    assert_eq!(data_records(&sd, end), 3000, "every record exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipper_keeps_each_standby_in_step_on_a_schedule_and_reports_failures() {
    use logship::ship::send::schedule::Schedule;
    use logship::ship::send::shipper::Shipper;
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    let w = Arc::new(primary(&pd, 3));
    fill(&w, 100, "a");
    let (a1, s1) = standby(&t.path().join("s1"), Some(KEY)).await;
    let (a2, s2) = standby(&t.path().join("s2"), Some(KEY)).await;
    // A third standby that is not there: its failures are counted, the others go on.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let opts = |a: &str| ShipOptions::new(a, Some(AuthKey::from_bytes(KEY)));
    let shipper = Shipper::start(
        source(&pd, &w, 3),
        vec![opts(&a1), opts(&a2), opts(&dead)],
        Schedule::Every(Duration::from_millis(200)),
    );
    let w2 = w.clone();
    let end = tokio::task::spawn_blocking(move || fill(&w2, 300, "b"))
        .await
        .unwrap();
    for s in [&s1, &s2] {
        let mut rx = s.received.subscribe();
        tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|r| r.received_lsn >= end),
        )
        .await
        .expect("standby caught up on schedule")
        .unwrap();
    }
    // The primary learns of the last acknowledgement a moment after the standby.
    let mut st = shipper.status(end);
    for _ in 0..500 {
        if st[..2]
            .iter()
            .all(|s| s.lag_bytes == 0 && s.last_ship_result == "ok")
            && st[2].failures_in_row > 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        st = shipper.status(end);
    }
    assert_eq!(st.len(), 3);
    for s in &st[..2] {
        assert_eq!(s.lag_bytes, 0, "{s:?}");
        assert_eq!(s.last_ship_result, "ok");
        assert!(s.shipments_total >= 1 && s.last_ship_unix_ms > 0);
    }
    assert!(st[2].failures_in_row >= 1, "{:?}", st[2]);
    assert_eq!(st[2].last_error_reason.as_deref(), Some("connect"));
    assert!(st[2]
        .last_ship_result
        .starts_with("error: cannot connect to standby"));
    assert_eq!(st[2].lag_bytes, end);
    assert_eq!(
        shipper.min_acked_lsn(),
        Some(0),
        "the dead standby still needs everything"
    );
    shipper.stop();
}

/// Forwards one connection in random pieces of 1..600 bytes, each after a random
/// delay of up to 2 ms, in both directions, until either side closes.
async fn slow_proxy(listener: Arc<TcpListener>, target: String, seed: u64) {
    let (a, _) = listener.accept().await.unwrap();
    let b = TcpStream::connect(&target).await.unwrap();
    let (ar, aw) = a.into_split();
    let (br, bw) = b.into_split();
    async fn pump(
        mut r: tokio::net::tcp::OwnedReadHalf,
        mut w: tokio::net::tcp::OwnedWriteHalf,
        seed: u64,
    ) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut buf = vec![0u8; 8192];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut off = 0;
            while off < n {
                let piece = rng.gen_range(1..=600).min(n - off);
                tokio::time::sleep(Duration::from_micros(rng.gen_range(0..2000))).await;
                if w.write_all(&buf[off..off + piece]).await.is_err() {
                    return;
                }
                off += piece;
            }
        }
    }
    tokio::join!(pump(ar, bw, seed), pump(br, aw, seed + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_and_odd_chunk_boundaries_change_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (pd, sd) = (t.path().join("p"), t.path().join("s"));
    let w = Arc::new(primary(&pd, 9));
    fill(&w, 500, "a");
    let (addr, shared) = standby(&sd, Some(KEY)).await;
    let proxy = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
    let paddr = proxy.local_addr().unwrap().to_string();
    tokio::spawn(slow_proxy(proxy, addr, 7));
    let src = source(&pd, &w, 9);
    let mut opts = ShipOptions::new(&paddr, Some(AuthKey::from_bytes(KEY)));
    opts.chunk_bytes = 3000;
    let (acked, _) = watch::channel(Acked::default());
    let task = tokio::spawn(async move { ship(&src, &opts, ShipMode::Continuous, &acked).await });
    // Records keep arriving while the slow link carries the backlog.
    let w2 = w.clone();
    let end = tokio::task::spawn_blocking(move || fill(&w2, 1500, "b"))
        .await
        .unwrap();
    let mut rx = shared.received.subscribe();
    tokio::time::timeout(
        Duration::from_secs(60),
        rx.wait_for(|r| r.received_lsn >= end),
    )
    .await
    .expect("the standby caught up through the slow link")
    .unwrap();
    task.abort();
    same_files(&pd, &sd);
}

/// Forwards one connection; every Ack from the standby reaches the primary
/// twice (as when a checkpoint's fsync makes the standby acknowledge the same
/// LSN again while nothing is in flight).
async fn repeating_proxy(listener: &TcpListener, target: &str) {
    use logship::ship::protocol::frame::{read_frame, write_frame};
    use logship::ship::protocol::message::Message;
    let (inbound, _) = listener.accept().await.unwrap();
    let outbound = TcpStream::connect(target).await.unwrap();
    let (mut pr, mut pw) = inbound.into_split();
    let (mut sr, mut sw) = outbound.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut pr, &mut sw).await;
    });
    while let Ok((kind, body)) = read_frame(&mut sr).await {
        let times = match Message::decode(kind, &body) {
            Ok(Message::Ack { .. }) => 2,
            _ => 1,
        };
        for _ in 0..times {
            if write_frame(&mut pw, kind, &body).await.is_err() {
                up.abort();
                return;
            }
        }
    }
    up.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_ack_while_idle_keeps_a_continuous_link() {
    let t = tempfile::tempdir().unwrap();
    let (pd, sd) = (t.path().join("p"), t.path().join("s"));
    let w = Arc::new(primary(&pd, 13));
    fill(&w, 100, "a");
    let (addr, shared) = standby(&sd, Some(KEY)).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let via = listener.local_addr().unwrap().to_string();
    let proxy = tokio::spawn(async move { repeating_proxy(&listener, &addr).await });
    let src = source(&pd, &w, 13);
    let opts = ShipOptions::new(&via, Some(AuthKey::from_bytes(KEY)));
    let (acked, _) = watch::channel(Acked::default());
    let link = tokio::spawn(async move { ship(&src, &opts, ShipMode::Continuous, &acked).await });
    let mut rx = shared.received.subscribe();
    // Rounds of writes with idle time between them: each round's Acks come
    // twice, the second while nothing is in flight. The proxy forwards one
    // connection only, so every round must cross the first link.
    for round in 0..5 {
        let end = tokio::task::spawn_blocking({
            let w = w.clone();
            move || fill(&w, 50, &format!("r{round}-"))
        })
        .await
        .unwrap();
        tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|r| r.received_lsn >= end),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round} did not arrive on the first link"))
        .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!link.is_finished(), "the link ended: {:?}", link.await);
    }
    link.abort();
    proxy.abort();
}
