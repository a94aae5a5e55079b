//! Timelines across the ship link: a standby follows a promoted node onto the new
//! timeline; the old primary's shipments are refused; a standby holding records
//! of the old timeline past the switch is refused as diverged.

use logship::fs::StdFs;
use logship::ship::protocol::codes::RefuseCode;
use logship::ship::receive::accept::serve;
use logship::ship::{
    ship, Acked, AuthKey, LogSource, ReceiverShared, ShipError, ShipMode, ShipOptions,
};
use logship::wal::recovery::switch_timeline;
use logship::wal::timeline;
use logship::wal::{self, Mirror, RecordKind, SyncPolicy, Wal, WalOptions, WalReader};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

const KEY: &[u8] = b"timeline-test-shared-key";
const SID: u64 = 77;

fn open(dir: &Path, tl: u32) -> Wal {
    let mut o = WalOptions::new(dir, SID, tl);
    o.segment_bytes = 16 << 10;
    o.sync = SyncPolicy::Always;
    wal::open(StdFs::shared(), o).unwrap().0
}

fn fill(w: &Wal, n: usize, tag: &str) -> u64 {
    let mut end = 0;
    for i in 0..n {
        end = w.append(format!("{tag}{i}").as_bytes()).unwrap().end_lsn;
    }
    w.wait_acked(end).unwrap();
    end
}

async fn standby(dir: &Path) -> (String, Arc<ReceiverShared>) {
    let (m, _) = Mirror::open(StdFs::shared(), dir).unwrap();
    let tl = timeline::latest_timeline(&StdFs, dir).unwrap();
    let closed = timeline::closed(&timeline::read_history(&StdFs, dir, tl).unwrap());
    let (tx, rx) = watch::channel(0u64);
    std::mem::forget(tx);
    let shared = ReceiverShared::new(m, rx, Some(AuthKey::from_bytes(KEY)), None);
    *shared.closed_timelines.lock().unwrap() = closed;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(serve(l, shared.clone()));
    (addr, shared)
}

async fn ship_to(dir: &Path, w: &Wal, tl: u32, addr: &str) -> Result<u64, ShipError> {
    let src = LogSource {
        fs: StdFs::shared(),
        wal_dir: dir.to_path_buf(),
        system_id: SID,
        timeline: tl,
        position: w.subscribe(),
        seed: None,
        taps: Some(w.taps()),
    };
    let (acked, _) = watch::channel(Acked::default());
    ship(
        &src,
        &ShipOptions::new(addr, Some(AuthKey::from_bytes(KEY))),
        ShipMode::Once,
        &acked,
    )
    .await
    .map(|r| r.to_lsn)
}

fn payloads(dir: &Path) -> Vec<String> {
    WalReader::open(StdFs::shared(), dir, 0, None)
        .unwrap()
        .map(|r| r.unwrap())
        .filter(|r| r.kind == RecordKind::Data)
        .map(|r| String::from_utf8(r.payload.to_vec()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_fences_the_old_timeline_and_a_second_standby_follows() {
    let t = tempfile::tempdir().unwrap();
    let (p, s1, s2, s3) = (
        t.path().join("p"),
        t.path().join("s1"),
        t.path().join("s2"),
        t.path().join("s3"),
    );
    let old = open(&p, 1);
    fill(&old, 300, "a");
    let (a1, r1) = standby(&s1).await;
    let (a2, _) = standby(&s2).await;
    let end1 = ship_to(&p, &old, 1, &a1).await.unwrap();
    // s2 gets only part of it: it lags behind s1.
    fill(&old, 0, "");
    let (a3, _) = standby(&s3).await;
    ship_to(&p, &old, 1, &a2).await.unwrap();
    assert_eq!(r1.received.borrow().received_lsn, end1);

    // Promote s1: history first, then the log reopens on timeline 2.
    let switch = switch_timeline(&StdFs::shared(), &s1, 2, "promoted: test").unwrap();
    let new = open(&s1, 2);
    assert_eq!(
        new.next_lsn(),
        switch,
        "the new timeline starts at the switch LSN"
    );
    fill(&new, 200, "b");

    // The old primary keeps writing on timeline 1 (split brain) and ships to s3.
    fill(&old, 50, "x");
    ship_to(&p, &old, 1, &a3).await.unwrap();

    // s2 follows the promoted node across the switch.
    let end2 = ship_to(&s1, &new, 2, &a2).await.unwrap();
    assert!(end2 > switch);
    let got = payloads(&s2);
    assert_eq!(got.len(), 500);
    assert!(got[..300]
        .iter()
        .enumerate()
        .all(|(i, p)| *p == format!("a{i}")));
    assert!(got[300..]
        .iter()
        .enumerate()
        .all(|(i, p)| *p == format!("b{i}")));
    assert!(
        s2.join(timeline::history_file_name(2)).exists(),
        "history installed on the follower"
    );

    // The old primary's shipments are refused by the follower of timeline 2.
    let e = ship_to(&p, &old, 1, &a2).await.unwrap_err();
    assert!(
        matches!(
            e,
            ShipError::Refused {
                code: RefuseCode::Timeline,
                ..
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("timeline 1 ended at LSN") && msg.contains("this node is on timeline 2"),
        "{msg}"
    );

    // s3 holds old-timeline records past the switch: it cannot follow timeline 2.
    let e = ship_to(&s1, &new, 2, &a3).await.unwrap_err();
    assert!(
        matches!(e, ShipError::Diverged { timeline: 1, switch_lsn: Some(s), .. } if s == switch),
        "{e}"
    );
    assert!(e.to_string().contains("diverged"), "{e}");
    assert!(!s3.join(timeline::history_file_name(2)).exists());
    drop(old);
    new.close().unwrap();
}
