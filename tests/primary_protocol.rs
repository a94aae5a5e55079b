//! Malformed input closes only the offending connection; limits hold before
//! the data arrives; partial frames wait; inline commands work.

mod common;

use common::{init, Primary};
use redis::cmd;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn raw(p: &Primary) -> TcpStream {
    let s = TcpStream::connect(&p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the server closes the connection (bounded by the read timeout).
fn read_to_close(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "connection not closed: {e}; got {:?}",
                String::from_utf8_lossy(&all)
            ),
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

fn read_some(s: &mut TcpStream, want: &str) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&all).contains(want) {
        let n = s.read(&mut buf).expect("reply");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&all));
        all.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&all).into_owned()
}

fn still_serving(p: &Primary) {
    let mut c = p.client();
    let _: () = cmd("SET").arg("alive").arg("yes").query(&mut c).unwrap();
    let v: String = cmd("GET").arg("alive").query(&mut c).unwrap();
    assert_eq!(v, "yes");
}

#[test]
fn bad_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    init(&d, "1MiB");
    let p = Primary::start(
        &d,
        &[
            "--max-bulk-bytes",
            "1KiB",
            "--max-args",
            "8",
            "--max-inline-bytes",
            "256",
            "--max-query-bytes",
            "4KiB",
        ],
    );
    // A half frame sits in its connection while others are served.
    let mut half = raw(&p);
    half.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$5\r\nval")
        .unwrap();
    still_serving(&p);

    let cases: &[(&[u8], &str)] = &[
        (b"*abc\r\n", "invalid multibulk length"),
        (b"*2\r\n$3\r\nGET\r\n$2000\r\n", "invalid bulk length"),
        (b"*1\r\n$99999999999999999999\r\n", "invalid bulk length"),
        (b"*9\r\n", "invalid multibulk length"),
        (b"*1\r\n:12\r\n", "expected '$'"),
        (b"*1\r\n$1\r\nxyz\r\n", "CRLF"),
        (b"SET \"unbalanced\r\n", "unbalanced quotes"),
    ];
    for (bytes, want) in cases {
        let mut s = raw(&p);
        s.write_all(bytes).unwrap();
        let got = read_to_close(&mut s);
        assert!(
            got.starts_with("-ERR Protocol error") && got.contains(want),
            "{bytes:?}: {got}"
        );
        still_serving(&p);
    }
    // An inline line longer than the limit, without a newline.
    let mut s = raw(&p);
    s.write_all(&[b'A'; 300]).unwrap();
    assert!(read_to_close(&mut s).contains("too big inline request"));
    // A frame that would exceed the query buffer limit (each part within limits).
    let mut s = raw(&p);
    let mut frame = b"*7\r\n$4\r\nMSET\r\n".to_vec();
    for _ in 0..6 {
        frame.extend(b"$1000\r\n");
        frame.extend(vec![b'q'; 1000]);
        frame.extend(b"\r\n");
    }
    let _ = s.write_all(&frame);
    let got = read_to_close(&mut s);
    assert!(got.contains("query buffer limit"), "{got}");
    still_serving(&p);
    // Random garbage from many connections.
    let mut seed = 0x9e3779b97f4a7c15u64;
    for _ in 0..20 {
        let mut s = raw(&p);
        let junk: Vec<u8> = (0..512)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .collect();
        let _ = s.write_all(&junk);
        drop(s);
    }
    still_serving(&p);
    // The half frame completes and is served.
    half.write_all(b"ue\r\n").unwrap();
    assert_eq!(read_some(&mut half, "\r\n"), "+OK\r\n");
    let mut c = p.client();
    let v: String = cmd("GET").arg("half").query(&mut c).unwrap();
    assert_eq!(v, "value");
}

#[test]
fn inline_commands_and_pipelines_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    init(&d, "1MiB");
    let p = Primary::start(&d, &[]);
    let mut s = raw(&p);
    s.write_all(b"PING\r\nSET greeting \"hello world\"\r\nGET greeting\r\nQUIT\r\n")
        .unwrap();
    let got = read_to_close(&mut s);
    assert_eq!(got, "+PONG\r\n+OK\r\n$11\r\nhello world\r\n+OK\r\n");
    // A pipeline of many commands in one write gets every reply in order.
    let mut s = raw(&p);
    let mut req = Vec::new();
    for i in 0..1000 {
        let _ = i;
        req.extend(b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n");
    }
    s.write_all(&req).unwrap();
    let got = read_some(&mut s, ":1000\r\n");
    assert!(got.starts_with(":1\r\n:2\r\n"), "{}", &got[..20]);
    assert_eq!(got.matches("\r\n").count(), 1000);
}
