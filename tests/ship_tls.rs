//! TLS on the ship link, end to end with the real binary: the bytes on the
//! wire hold no record payload in clear (and, as the control, do without
//! TLS); a standby whose certificate another CA signed is refused; one side
//! TLS and the other plain is an error on both sides, not a hang.

mod common;

use common::certs::{Ca, NodeTls};
use common::{init, key_file_at, status_json, wait_standby_status, Primary, Standby};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Ends in a newline, as a key file written with `echo` does.
const KEY: &str = "a-shared-key-for-the-tls-tests-0001\n";

/// A TCP proxy on 127.0.0.1:0 that forwards to `target` and records every
/// byte in both directions.
struct RecordingProxy {
    addr: String,
    seen: Arc<Mutex<Vec<u8>>>,
    _rt: tokio::runtime::Runtime,
}

impl RecordingProxy {
    fn start(target: &str) -> RecordingProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (seen2, target) = (seen.clone(), target.to_string());
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, seen2.clone()));
                tokio::spawn(pump(sr, cw, seen2.clone()));
            }
        });
        RecordingProxy {
            addr,
            seen,
            _rt: rt,
        }
    }

    fn captured(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Vec<u8>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
                if w.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = w.shutdown().await;
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A standby and a primary shipping continuously to it, each with TLS when
/// given; the primary ships to `via(standby)` (the standby itself, or a proxy).
struct Pair {
    standby: Standby,
    primary: Primary,
    sdir: PathBuf,
    pdir: PathBuf,
}

fn start_pair(
    dir: &Path,
    standby_tls: Option<&NodeTls>,
    primary_tls: Option<&NodeTls>,
    extra_primary: &[&str],
    via: impl FnOnce(&Standby) -> String,
) -> Pair {
    let key = key_file_at(&dir.join("ship.key"), KEY)
        .display()
        .to_string();
    let (sdir, pdir) = (dir.join("s"), dir.join("p"));
    init(&pdir, "1MiB");
    let mut sflags = vec!["--auth-key-file".to_string(), key.clone()];
    sflags.extend(standby_tls.map(NodeTls::flags).unwrap_or_default());
    let sflags: Vec<&str> = sflags.iter().map(String::as_str).collect();
    let standby = Standby::start_with(&sdir, &sflags);
    let mut pflags = vec![
        "--ship-continuous".to_string(),
        "--auth-key-file".into(),
        key,
        "--ship-to".into(),
        via(&standby),
    ];
    pflags.extend(primary_tls.map(NodeTls::flags).unwrap_or_default());
    pflags.extend(extra_primary.iter().map(|s| s.to_string()));
    let pflags: Vec<&str> = pflags.iter().map(String::as_str).collect();
    let primary = Primary::start(&pdir, &pflags);
    Pair {
        standby,
        primary,
        sdir,
        pdir,
    }
}

/// Ships one distinctive value through a recording proxy, with or without TLS;
/// returns what crossed the wire, the value, and the primary's standby status.
fn ship_through_proxy(tls: bool) -> (Vec<u8>, Vec<u8>, serde_json::Value) {
    let t = tempfile::tempdir().unwrap();
    let ca = Ca::new(t.path(), "cluster");
    let standby_tls = ca.node(t.path(), "standby", &["127.0.0.1", "localhost"], None);
    let primary_tls = ca.node(t.path(), "primary", &["primary.example"], None);
    let mut proxy = None;
    let Pair {
        standby,
        primary,
        pdir,
        ..
    } = start_pair(
        t.path(),
        tls.then_some(&standby_tls),
        tls.then_some(&primary_tls),
        &["--compress", "none"],
        |s| {
            let p = RecordingProxy::start(&s.ship_addr);
            let addr = p.addr.clone();
            proxy = Some(p);
            addr
        },
    );
    let proxy = proxy.expect("the proxy started");
    let value = format!("distinctive-payload-{:032x}", rand::random::<u128>());
    let mut c = primary.client();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg(&value)
        .query(&mut c)
        .unwrap();
    let mut sc = standby.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got: Option<String> = redis::cmd("GET").arg("k").query(&mut sc).unwrap();
        if got.as_deref() == Some(value.as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never applied the value; primary status: {}",
            status_json(&pdir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut st = status_json(&pdir)["standbys"][0].clone();
    st["standby_ship_tls"] = status_json(&standby.dir)["ship_tls"].clone();
    (proxy.captured(), value.into_bytes(), st)
}

#[test]
fn tls_hides_record_payloads_on_the_wire_and_plain_does_not() {
    let (wire, value, st) = ship_through_proxy(true);
    assert!(wire.len() > 1000, "the proxy saw the shipment");
    assert!(
        !contains(&wire, &value),
        "the payload crossed the TLS link in clear"
    );
    assert_eq!(st["tls"], true, "{st}");
    assert_eq!(st["standby_ship_tls"], true, "{st}");
    // The control: the same shipment without TLS shows the value on the wire.
    let (wire, value, st) = ship_through_proxy(false);
    assert!(contains(&wire, &value), "the control must see the payload");
    assert_eq!(st["tls"], false, "{st}");
    assert_eq!(st["standby_ship_tls"], false, "{st}");
}

#[test]
fn a_standby_certificate_from_another_ca_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let ca = Ca::new(t.path(), "cluster");
    let rogue = Ca::new(t.path(), "rogue");
    // The rogue standby trusts the cluster CA but holds a rogue certificate.
    let standby_tls: NodeTls = rogue.node(t.path(), "standby", &["127.0.0.1"], Some(&ca.pem_path));
    let primary_tls = ca.node(t.path(), "primary", &["primary.example"], None);
    let Pair {
        mut standby,
        primary,
        sdir,
        pdir,
    } = start_pair(t.path(), Some(&standby_tls), Some(&primary_tls), &[], |s| {
        s.ship_addr.clone()
    });
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut primary.client())
        .unwrap();
    let st = wait_standby_status(&pdir, Duration::from_secs(20), |st| {
        st["failures_total"].as_u64().unwrap_or(0) >= 1
    });
    assert_eq!(st["last_error_reason"], "tls", "{st}");
    let result = st["last_ship_result"].as_str().unwrap();
    assert!(
        result.contains("certificate") && result.contains("UnknownIssuer"),
        "{st}"
    );
    assert_eq!(st["acked_lsn"], 0, "{st}");
    let s = status_json(&sdir);
    assert_eq!(s["received_lsn"], 0, "the standby received nothing: {s}");
    let got: Option<String> = redis::cmd("GET")
        .arg("k")
        .query(&mut standby.client())
        .unwrap();
    assert_eq!(got, None);
    let log = standby.kill();
    assert!(log.contains("TLS handshake failed"), "{log}");
}

/// One side TLS, the other plain: both sides say so, quickly.
fn mismatch(primary_tls: bool) -> (serde_json::Value, String, Duration) {
    let t = tempfile::tempdir().unwrap();
    let ca = Ca::new(t.path(), "cluster");
    let stls = ca.node(t.path(), "standby", &["127.0.0.1"], None);
    let ptls = ca.node(t.path(), "primary", &["p.example"], None);
    let started = Instant::now();
    let Pair {
        mut standby,
        pdir,
        primary: _primary,
        ..
    } = start_pair(
        t.path(),
        (!primary_tls).then_some(&stls),
        primary_tls.then_some(&ptls),
        &[],
        |s| s.ship_addr.clone(),
    );
    let st = wait_standby_status(&pdir, Duration::from_secs(20), |st| {
        st["failures_total"].as_u64().unwrap_or(0) >= 1
    });
    let took = started.elapsed();
    // The primary retries; the standby names the mismatch once, not per retry.
    wait_standby_status(&pdir, Duration::from_secs(30), |st| {
        st["failures_total"].as_u64().unwrap_or(0) >= 3
    });
    std::thread::sleep(Duration::from_millis(300));
    let log = standby.kill();
    let named = log.matches("ship link mismatch").count();
    assert_eq!(named, 1, "one error line for the retries: {log}");
    (st, log, took)
}

#[test]
fn a_tls_primary_and_a_plain_standby_both_name_the_mismatch() {
    let (st, log, took) = mismatch(true);
    assert_eq!(st["last_error_reason"], "tls", "{st}");
    assert!(
        st["last_ship_result"]
            .as_str()
            .unwrap()
            .contains("without --tls-cert"),
        "{st}"
    );
    assert!(
        log.contains("the primary speaks TLS, but this standby was started without"),
        "{log}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn a_plain_primary_and_a_tls_standby_both_name_the_mismatch() {
    let (st, log, took) = mismatch(false);
    assert!(
        st["last_ship_result"]
            .as_str()
            .unwrap()
            .contains("this standby requires TLS"),
        "{st}"
    );
    assert!(log.contains("the primary is not using it"), "{log}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn tls_flags_go_together() {
    let t = tempfile::tempdir().unwrap();
    let key = key_file_at(&t.path().join("ship.key"), KEY)
        .display()
        .to_string();
    let out = common::logship(&[
        "standby",
        "--data-dir",
        t.path().join("s").to_str().unwrap(),
        "--ship-listen",
        "127.0.0.1:0",
        "--auth-key-file",
        &key,
        "--tls-cert",
        "/nonexistent/cert.pem",
    ]);
    let line = out.assert_one_line_error(78);
    assert!(line.contains("missing: --tls-key, --tls-ca"), "{line}");
}

#[test]
fn one_shot_tls_shipments_end_in_order_without_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let ca = Ca::new(t.path(), "cluster");
    let stls = ca.node(t.path(), "standby", &["127.0.0.1"], None);
    let ptls = ca.node(t.path(), "primary", &["primary.example"], None);
    let key = key_file_at(&t.path().join("ship.key"), KEY)
        .display()
        .to_string();
    let (sdir, pdir) = (t.path().join("s"), t.path().join("p"));
    init(&pdir, "1MiB");
    let mut sflags = vec!["--auth-key-file".to_string(), key.clone()];
    sflags.extend(stls.flags());
    let sflags: Vec<&str> = sflags.iter().map(String::as_str).collect();
    let mut standby = Standby::start_with(&sdir, &sflags);
    let mut pflags = vec![
        "--ship-every".to_string(),
        "200ms".into(),
        "--auth-key-file".into(),
        key,
        "--ship-to".into(),
        standby.ship_addr.clone(),
    ];
    pflags.extend(ptls.flags());
    let pflags: Vec<&str> = pflags.iter().map(String::as_str).collect();
    let mut primary = Primary::start(&pdir, &pflags);
    let mut c = primary.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0u32;
    loop {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut c)
            .unwrap();
        i += 1;
        let st = status_json(&pdir)["standbys"][0].clone();
        if st["shipments_total"].as_u64().unwrap_or(0) >= 6 {
            assert_eq!(st["last_ship_result"], "ok", "{st}");
            assert_eq!(st["failures_total"], 0, "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "too few shipments: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the last shipment's link close on both sides before looking.
    std::thread::sleep(Duration::from_millis(500));
    let slog = standby.kill();
    let plog = primary.kill();
    assert!(
        slog.matches("primary connected").count() >= 6,
        "each shipment is a link of its own: {slog}"
    );
    for (who, log) in [("standby", &slog), ("primary", &plog)] {
        let warned: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .collect();
        assert!(warned.is_empty(), "{who} warned: {warned:#?}");
        assert!(!log.contains("https://"), "{who} logged a URL: {log}");
        assert!(!log.contains("close_notify"), "{who}: {log}");
    }
    assert!(
        status_json(&sdir).get("last_receive_error").is_none(),
        "a normal end is no receive error"
    );
}
