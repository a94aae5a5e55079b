//! Secrets never leave their files: with a ship key, a RESP password and TLS
//! keys in use (and failures provoked on each), no secret byte sequence shows
//! in either node's log, `status --json`, human status or INFO.

mod common;

use common::certs::{pem_body_lines, Ca};
use common::{init, status_json, wait_applied, Primary, Standby};
use std::time::Duration;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn no_secret_appears_in_logs_or_status() {
    let t = tempfile::tempdir().unwrap();
    let key = format!("ship-key-{:032x}", rand::random::<u128>());
    let pw = format!("resp-pw-{:032x}", rand::random::<u128>());
    let key_file = t.path().join("ship.key");
    let pw_file = t.path().join("requirepass");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    std::fs::write(&pw_file, format!("{pw}\n")).unwrap();
    let (kf, pf) = (key_file.to_str().unwrap(), pw_file.to_str().unwrap());
    let ca = Ca::new(t.path(), "cluster");
    let stls = ca.node(t.path(), "standby", &["127.0.0.1"], None);
    let ptls = ca.node(t.path(), "primary", &["primary.example"], None);
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");

    let mut sflags: Vec<String> = ["--auth-key-file", kf, "--requirepass-file", pf]
        .map(String::from)
        .to_vec();
    sflags.extend(stls.flags());
    let sflags: Vec<&str> = sflags.iter().map(String::as_str).collect();
    let mut standby = Standby::start_with(&sdir, &sflags);
    let mut pflags: Vec<String> = [
        "--auth-key-file",
        kf,
        "--requirepass-file",
        pf,
        "--ship-continuous",
        "--ship-to",
        &standby.ship_addr,
    ]
    .map(String::from)
    .to_vec();
    pflags.extend(ptls.flags());
    let pflags: Vec<&str> = pflags.iter().map(String::as_str).collect();
    let mut primary = Primary::start(&pdir, &pflags);

    let mut c = redis::Client::open(format!("redis://:{pw}@{}/", primary.addr))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(10))
        .unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let lsn = status_json(&pdir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&sdir, lsn, Duration::from_secs(20));
    // Failures on every path: a wrong RESP password, a wrong ship key.
    let mut anon = common::redis_client(&primary.addr);
    let _ = redis::cmd("AUTH").arg("wrong").query::<()>(&mut anon);
    let wrong_key = t.path().join("wrong.key");
    std::fs::write(&wrong_key, "a-wrong-ship-key-0123456789").unwrap();
    let mut shipped = common::logship(&[
        "ship",
        "--once",
        "--data-dir",
        pdir.to_str().unwrap(),
        "--to",
        &standby.ship_addr,
        "--auth-key-file",
        wrong_key.to_str().unwrap(),
        "--tls-cert",
        ptls.cert.to_str().unwrap(),
        "--tls-key",
        ptls.key.to_str().unwrap(),
        "--tls-ca",
        ptls.ca.to_str().unwrap(),
    ]);
    assert_ne!(shipped.code, Some(0), "a wrong key must fail: {shipped:?}");
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();

    let mut seen = String::new();
    for dir in [&pdir, &sdir] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("logship.sock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "admin socket of {}", dir.display());
        seen += &status_json(dir).to_string();
        seen += &common::logship(&["status", "--data-dir", dir.to_str().unwrap()]).stdout;
    }
    seen += &info;
    seen += &std::mem::take(&mut shipped.stderr);
    seen += &shipped.stdout;
    seen += &primary.stop();
    seen += &standby.kill();
    assert!(
        seen.contains("primary connected") && seen.contains("authentication failed"),
        "the logs were read: {seen}"
    );
    let mut secrets = vec![
        key.clone(),
        hex(key.as_bytes()),
        pw.clone(),
        hex(pw.as_bytes()),
    ];
    secrets.extend(pem_body_lines(&stls.key));
    secrets.extend(pem_body_lines(&ptls.key));
    assert!(secrets.len() >= 6);
    for s in &secrets {
        assert!(!seen.contains(s.as_str()), "secret {s:?} leaked:\n{seen}");
    }
}
