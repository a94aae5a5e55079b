//! Ship protocol versions at the handshake: a standby replays the log of a
//! primary of its version or older, and a primary refuses a standby older
//! than itself, naming both versions, before shipping a record it could not
//! replay ("upgrade standbys first"). A link speaks the lower version of its
//! two ends (a version 2 standby still gets the log), and a malformed
//! `Downstreams` report (version 3) is named without ending the shipment.

mod common;

use common::{Primary, Standby};
use logship::ship::protocol::codes::{MessageKind, RefuseCode};
use logship::ship::protocol::frame::{read_frame, write_frame};
use logship::ship::protocol::message::{Message, PROTOCOL_VERSION};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// The next message from the peer (bounded).
async fn read(s: &mut TcpStream) -> Message {
    let (k, body) = tokio::time::timeout(Duration::from_secs(20), read_frame(s))
        .await
        .expect("the peer answers")
        .unwrap();
    Message::decode(k, &body).unwrap()
}

async fn send(s: &mut TcpStream, m: &Message) {
    write_frame(s, m.kind().into(), &m.encode()).await.unwrap();
    s.flush().await.unwrap();
}

/// Greets a standby (without a key) as a primary of `version`; returns its answer.
async fn greet_as_primary(addr: &str, version: u16) -> Message {
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(matches!(read(&mut s).await, Message::Hello { .. }));
    let auth = Message::Auth {
        version,
        system_id: 0x5eed,
        timeline: 1,
        nonce: [7; 32],
        proof: [0; 32],
    };
    send(&mut s, &auth).await;
    read(&mut s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_accepts_older_primaries_and_refuses_newer_ones() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("s");
    let mut standby =
        tokio::task::spawn_blocking(move || Standby::start_with(&dir, &["--insecure-no-auth"]))
            .await
            .unwrap();
    let addr = standby.ship_addr.clone();
    for version in [1, 2, PROTOCOL_VERSION] {
        let m = greet_as_primary(&addr, version).await;
        assert!(
            matches!(m, Message::Welcome { .. }),
            "version {version}: {m:?}"
        );
    }
    match greet_as_primary(&addr, PROTOCOL_VERSION + 1).await {
        Message::Refuse { code, message } => {
            assert_eq!(code, RefuseCode::Version);
            let want = format!(
                "the primary speaks ship protocol version {}, newer than this standby's {PROTOCOL_VERSION}",
                PROTOCOL_VERSION + 1
            );
            assert!(message.contains(&want), "{message}");
            assert!(message.contains("upgrade standbys first"), "{message}");
        }
        m => panic!("a newer primary was not refused: {m:?}"),
    }
    let log = tokio::task::spawn_blocking(move || standby.kill())
        .await
        .unwrap();
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_refuses_an_older_standby_before_shipping() {
    let t = tempfile::tempdir().unwrap();
    // An old standby: it greets with version 1 and reports what it is told.
    let (old_standby, out) = ship_to_a_standby_of_version(&t.path().join("p"), 1).await;
    let want = format!(
        "the standby speaks ship protocol version 1, older than version 2, the oldest this primary (version {PROTOCOL_VERSION}) ships to"
    );
    assert_ne!(out.code, Some(0), "{}", out.stdout);
    assert!(out.stderr.contains(&want), "{}", out.stderr);
    assert!(
        out.stderr.contains("upgrade standbys first"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    match old_standby.await.unwrap() {
        Message::Refuse { code, message } => {
            assert_eq!(code, RefuseCode::Version);
            assert!(message.contains(&want), "{message}");
        }
        m => panic!("the old standby was not told: {m:?}"),
    }
}

/// `logship ship --once` from a new primary on `pdir` to a fake standby that
/// greets with `version`; returns the first message it got, and the output.
async fn ship_to_a_standby_of_version(
    pdir: &std::path::Path,
    version: u16,
) -> (tokio::task::JoinHandle<Message>, common::Out) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let standby = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let hello = Message::Hello {
            version,
            nonce: [3; 32],
        };
        send(&mut s, &hello).await;
        read(&mut s).await
    });
    (standby, ship_once(pdir, addr).await)
}

/// `logship ship --once` to `addr` from a new primary on `pdir` holding one write.
async fn ship_once(pdir: &std::path::Path, addr: String) -> common::Out {
    let p = pdir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        common::init(&p, "1MiB");
        let mut primary = Primary::start(&p, &[]);
        let _: () = redis::Commands::set(&mut primary.client(), "k", 1).unwrap();
        primary.stop();
        common::logship(&[
            "ship",
            "--data-dir",
            p.to_str().unwrap(),
            "--to",
            &addr,
            "--insecure-no-auth",
            "--once",
        ])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_speaks_version_2_to_a_version_2_standby() {
    let t = tempfile::tempdir().unwrap();
    // A standby of the version before `Downstreams`: the link speaks its
    // version, which it accepts.
    let (v2_standby, _) = ship_to_a_standby_of_version(&t.path().join("p"), 2).await;
    match v2_standby.await.unwrap() {
        Message::Auth { version, .. } => assert_eq!(version, 2),
        m => panic!("expected Auth, got {m:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_downstreams_report_is_named_and_shipping_goes_on() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("p");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // A standby of version 3 whose Downstreams body is broken (an entry at
    // depth 0), and that otherwise receives and acknowledges like any.
    let standby = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let hello = Message::Hello {
            version: PROTOCOL_VERSION,
            nonce: [3; 32],
        };
        send(&mut s, &hello).await;
        assert!(matches!(
            read(&mut s).await,
            Message::Auth { version: 3, .. }
        ));
        let welcome = Message::Welcome {
            proof: [0; 32],
            system_id: 0,
            timeline: 0,
            received_lsn: 0,
            applied_lsn: 0,
        };
        send(&mut s, &welcome).await;
        let mut bad = vec![0u8, 1, 0];
        bad.extend_from_slice(&[0u8; 32]);
        write_frame(&mut s, MessageKind::Downstreams.into(), &bad)
            .await
            .unwrap();
        let mut received = 0;
        loop {
            match read(&mut s).await {
                Message::Chunk { end_lsn, .. } => {
                    received = end_lsn;
                    let ack = Message::Ack {
                        received_lsn: received,
                        applied_lsn: received,
                    };
                    send(&mut s, &ack).await;
                }
                Message::Status { done: true, .. } => {
                    let ack = Message::Ack {
                        received_lsn: received,
                        applied_lsn: received,
                    };
                    send(&mut s, &ack).await;
                    return received;
                }
                _ => {}
            }
        }
    });
    let out = ship_once(&p, addr).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(standby.await.unwrap() > 0);
    let want =
        "sent a malformed Downstreams message: entry 0 at depth 0: the first entry is at depth 1";
    assert!(out.stderr.contains(want), "{}", out.stderr);
    assert!(out.stderr.contains("shipping goes on"), "{}", out.stderr);
}
