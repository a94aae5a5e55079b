//! `--requirepass-file` on primary and standby, through a real Redis client:
//! `-NOAUTH` before AUTH, `-WRONGPASS` on a bad password, both AUTH forms log
//! in, and the password shows nowhere (status, INFO, CONFIG GET, logs).

mod common;

use common::{init, key_file_at, status_json, wait_applied, Primary, Standby};
use std::path::Path;
use std::time::Duration;

fn password_file(dir: &Path) -> (String, String) {
    let pw = format!("pw-{:032x}", rand::random::<u128>());
    let p = dir.join("requirepass");
    std::fs::write(&p, format!("{pw}\n")).unwrap();
    (pw, p.display().to_string())
}

fn client_with(addr: &str, userinfo: &str) -> redis::RedisResult<redis::Connection> {
    let c = redis::Client::open(format!("redis://{userinfo}@{addr}/"))?;
    let con = c.get_connection_with_timeout(Duration::from_secs(10))?;
    con.set_read_timeout(Some(Duration::from_secs(20)))?;
    Ok(con)
}

/// Checks the gate on the node at `addr`; returns an authenticated connection.
fn check_gate(addr: &str, pw: &str) -> redis::Connection {
    let mut anon = common::redis_client(addr);
    let e = redis::cmd("GET")
        .arg("k")
        .query::<Option<String>>(&mut anon)
        .unwrap_err();
    assert_eq!(e.code(), Some("NOAUTH"), "{e}");
    assert!(e.to_string().contains("Authentication required"), "{e}");
    let e = redis::cmd("AUTH")
        .arg("not-the-password")
        .query::<()>(&mut anon)
        .unwrap_err();
    assert_eq!(e.code(), Some("WRONGPASS"), "{e}");
    let e = redis::cmd("AUTH")
        .arg("someone")
        .arg(pw)
        .query::<()>(&mut anon)
        .unwrap_err();
    assert_eq!(e.code(), Some("WRONGPASS"), "only the default user: {e}");
    // Still locked after the failures.
    let e = redis::cmd("PING").query::<String>(&mut anon).unwrap_err();
    assert_eq!(e.code(), Some("NOAUTH"), "{e}");
    let _: () = redis::cmd("AUTH").arg(pw).query(&mut anon).unwrap();
    let pong: String = redis::cmd("PING").query(&mut anon).unwrap();
    assert_eq!(pong, "PONG");
    // The client library's own AUTH forms: `AUTH pass` and `AUTH default pass`.
    let mut c = client_with(addr, &format!(":{pw}")).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    let mut d = client_with(addr, &format!("default:{pw}")).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("k").query(&mut d).unwrap();
    assert!(client_with(addr, ":wrong-password").is_err());
    anon
}

/// What a client may read about the node: INFO and CONFIG GET.
fn visible_text(c: &mut redis::Connection) -> String {
    let info: String = redis::cmd("INFO").query(c).unwrap();
    let cfg: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("*").query(c).unwrap();
    let rp: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("requirepass")
        .query(c)
        .unwrap();
    format!("{info}\n{cfg:?}\n{rp:?}")
}

#[test]
fn requirepass_gates_primary_and_standby_and_is_never_shown() {
    let t = tempfile::tempdir().unwrap();
    let (pw, pw_file) = password_file(t.path());
    let key = key_file_at(
        &t.path().join("ship.key"),
        "a-shared-key-for-the-auth-tests-01\n",
    );
    let key = key.to_str().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    let mut standby = Standby::start_with(
        &sdir,
        &["--auth-key-file", key, "--requirepass-file", &pw_file],
    );
    let mut primary = Primary::start(
        &pdir,
        &[
            "--requirepass-file",
            &pw_file,
            "--ship-continuous",
            "--ship-to",
            &standby.ship_addr,
            "--auth-key-file",
            key,
        ],
    );
    let mut pc = check_gate(&primary.addr, &pw);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut pc).unwrap();
    let lsn = status_json(&pdir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&sdir, lsn, Duration::from_secs(20));
    let mut sc = check_gate(&standby.addr, &pw);
    let got: Option<String> = redis::cmd("GET").arg("k").query(&mut sc).unwrap();
    assert_eq!(got.as_deref(), Some("v"));
    let mut seen = visible_text(&mut pc);
    seen += &visible_text(&mut sc);
    seen += &status_json(&pdir).to_string();
    seen += &status_json(&sdir).to_string();
    let human = common::logship(&["status", "--data-dir", pdir.to_str().unwrap()]);
    seen += &human.stdout;
    seen += &primary.stop();
    seen += &standby.kill();
    assert!(seen.contains("role"), "the check read something");
    assert!(!seen.contains(&pw), "the password leaked: {seen}");
}

#[test]
fn an_empty_password_file_is_an_error_at_start() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("empty");
    std::fs::write(&f, "\n").unwrap();
    let pdir = t.path().join("p");
    init(&pdir, "1MiB");
    let out = common::logship(&[
        "primary",
        "--data-dir",
        pdir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--requirepass-file",
        f.to_str().unwrap(),
    ]);
    let line = out.assert_one_line_error(78);
    assert!(line.contains("is empty"), "{line}");
}
