//! Failed ship handshakes are limited per IP on a real standby: after 5 wrong
//! proofs the IP is refused for a while (logged once, without key material),
//! and the legitimate primary gets through once the block expires. An
//! unauthenticated peer cannot announce a frame over the handshake limit.

mod common;

use common::{key_file, Standby};
use logship::ship::protocol::auth::{nonce, AuthKey, Challenge, Side};
use logship::ship::protocol::codes::RefuseCode;
use logship::ship::protocol::frame::{read_frame, write_frame};
use logship::ship::protocol::message::{Message, PROTOCOL_VERSION};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const KEY: &[u8] = common::KEY.as_bytes();
const WRONG: &[u8] = b"a-wrong-key-an-attacker-guesses-at";

/// One handshake as a primary holding `key`; returns the standby's answer and
/// the proof sent.
async fn attempt(addr: &str, key: &[u8]) -> (Message, [u8; 32]) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let ns = match read(&mut s).await {
        Message::Hello { nonce, .. } => nonce,
        // A blocked IP is refused before the greeting.
        m @ Message::Refuse { .. } => return (m, [0; 32]),
        m => panic!("expected Hello, got {m:?}"),
    };
    let c = Challenge {
        standby_nonce: ns,
        primary_nonce: nonce(),
        system_id: 0x5eed,
        timeline: 1,
    };
    let proof = AuthKey::from_bytes(key).proof(Side::Primary, &c);
    let m = Message::Auth {
        version: PROTOCOL_VERSION,
        system_id: c.system_id,
        timeline: c.timeline,
        nonce: c.primary_nonce,
        proof,
    };
    write_frame(&mut s, m.kind().into(), &m.encode())
        .await
        .unwrap();
    s.flush().await.unwrap();
    (read(&mut s).await, proof)
}

/// The next message from the standby (bounded).
async fn read(s: &mut TcpStream) -> Message {
    let (k, body) = tokio::time::timeout(Duration::from_secs(10), read_frame(s))
        .await
        .expect("the standby answers")
        .unwrap();
    Message::decode(k, &body).unwrap()
}

fn refusal(m: &Message) -> Option<(RefuseCode, &str)> {
    match m {
        Message::Refuse { code, message } => Some((*code, message.as_str())),
        _ => None,
    }
}

/// A standby in `dir/s` holding `KEY`.
async fn start_standby(dir: &std::path::Path) -> Standby {
    let key_file = key_file(dir);
    let dir = dir.join("s");
    tokio::task::spawn_blocking(move || {
        Standby::start_with(&dir, &["--auth-key-file", key_file.to_str().unwrap()])
    })
    .await
    .unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_proofs_block_the_ip_then_the_right_key_gets_through() {
    let t = tempfile::tempdir().unwrap();
    let mut standby = start_standby(t.path()).await;
    let addr = standby.ship_addr.clone();
    let mut proofs = Vec::new();
    for i in 0..5 {
        let (m, proof) = attempt(&addr, WRONG).await;
        proofs.push(proof);
        let (code, msg) = refusal(&m).unwrap_or_else(|| panic!("attempt {i}: {m:?}"));
        assert_eq!(code, RefuseCode::Auth);
        assert!(msg.contains("authentication failed"), "{msg}");
    }
    // Blocked now, even with the right key.
    let (m, _) = attempt(&addr, KEY).await;
    let (code, msg) = refusal(&m).unwrap_or_else(|| panic!("not blocked: {m:?}"));
    assert_eq!(code, RefuseCode::Auth);
    assert!(msg.contains("too many failed handshakes"), "{msg}");
    // Once the block expires, the right key is welcome.
    let blocked_at = Instant::now();
    let welcomed = loop {
        let (m, _) = attempt(&addr, KEY).await;
        if matches!(m, Message::Welcome { .. }) {
            break blocked_at.elapsed();
        }
        assert!(
            refusal(&m).is_some_and(|(_, msg)| msg.contains("too many")),
            "{m:?}"
        );
        assert!(
            blocked_at.elapsed() < Duration::from_secs(10),
            "still refused"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(welcomed >= Duration::from_millis(500), "{welcomed:?}");
    let log = tokio::task::spawn_blocking(move || standby.kill())
        .await
        .unwrap();
    let bursts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("authentication failed from 127.0.0.1"))
        .collect();
    assert_eq!(bursts.len(), 1, "one line per burst: {log}");
    assert!(
        bursts[0].contains("5 failures in the last 60 s; refusing for 2 s"),
        "{log}"
    );
    for secret in [hex(KEY), hex(WRONG)]
        .into_iter()
        .chain(proofs.iter().map(|p| hex(p)))
    {
        assert!(!log.contains(&secret), "key material in the log: {log}");
    }
    for raw in [KEY, WRONG] {
        assert!(!log.contains(std::str::from_utf8(raw).unwrap()), "{log}");
    }
}

/// A first frame that claims more than the handshake limit is refused from its
/// length alone: the standby does not wait for (or allocate) its body, ends the
/// link, names the limit in its log, and carries on for everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_first_frame_ends_the_link_before_any_allocation() {
    let t = tempfile::tempdir().unwrap();
    let mut standby = start_standby(t.path()).await;
    let addr = standby.ship_addr.clone();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    assert!(matches!(read(&mut s).await, Message::Hello { .. }));
    // 10 MiB announced (below the 20 MiB general limit), 16 bytes sent.
    let claimed: u32 = 10 << 20;
    s.write_all(&claimed.to_le_bytes()).await.unwrap();
    s.write_all(&[0x02; 16]).await.unwrap();
    s.flush().await.unwrap();
    // The standby ends the link without waiting for the announced bytes.
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut rest),
    )
    .await;
    assert!(ended.is_ok(), "the standby waited for the announced body");
    // Everyone else is still served.
    let (m, _) = attempt(&addr, KEY).await;
    assert!(matches!(m, Message::Welcome { .. }), "{m:?}");
    let log = tokio::task::spawn_blocking(move || standby.kill())
        .await
        .unwrap();
    assert!(
        log.contains("frame of 10485760 bytes exceeds the 65536-byte limit"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}
