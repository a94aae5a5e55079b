//! SIGHUP re-reads logship.toml in a running node: ship targets added and
//! removed (the new standby converges, the removed one leaves the status),
//! an invalid file kept out (one error naming the line, a `reload_failed`
//! event, shipping goes on), the log level, the metrics address, a
//! standby's cascade, and systemd told RELOADING=1 then READY=1.

mod common;

#[path = "common/cluster.rs"]
mod cluster;

use cluster::assert_converged;
use common::notify::NotifySocket;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A node started with `--config FILE`, its stderr watched as it comes.
struct Node {
    child: Option<Child>,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Node {
    /// `logship --config FILE ROLE` with none of the caller's `LOGSHIP_*`
    /// (the file decides), `env` added; waits for its first line.
    fn start(file: &Path, role: &str, env: &[(&str, String)]) -> Node {
        let mut cmd = Command::new(BIN);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LOGSHIP_") {
                cmd.env_remove(name);
            }
        }
        // The file sets the level (the helper's default would override it).
        cmd.env_remove("LOGSHIP_LOG");
        cmd.arg("--config").arg(file).arg(role);
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let log = Arc::new(Mutex::new(String::new()));
        let (child, line, _) = spawn_until_first_line_into(cmd, role, Some(log.clone()));
        Node {
            child: Some(child),
            addr: listening_addr(&line),
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGHUP and waits (bounded) for the `n`th reload to be logged
    /// as done or refused; returns the log from before the signal on.
    fn reload(&mut self, n: usize) -> String {
        let before = self.log().len();
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.as_ref().unwrap().id() as i32, libc::SIGHUP) };
        let done = |l: &str| {
            l.matches("configuration reloaded").count() + l.matches("reload refused").count()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while done(&self.log()) < n {
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                Instant::now() < deadline && exited.is_none(),
                "no reload logged (exit: {exited:?}):\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log()[before..].to_string()
    }

    fn client(&self) -> redis::Connection {
        redis_client(&self.addr)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        kill_child(&mut self.child, &mut None);
    }
}

/// Writes `text` as the configuration file `t/name`.
fn write(t: &Path, name: &str, text: &str) -> PathBuf {
    let p = t.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `[primary]` for the data directory `dir`, shipping continuously to `to`,
/// with `more` lines.
fn primary_toml(dir: &Path, to: &[&str], more: &str) -> String {
    let to: Vec<String> = to.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[primary]\ndata-dir = \"{}\"\nlisten = \"127.0.0.1:0\"\nship-to = [{}]\nship-continuous = true\ninsecure-no-auth = true\n{more}",
        dir.display(),
        to.join(", ")
    )
}

/// `[standby]` for the data directory `dir`, receiving without
/// authentication on a free port, with `more` lines.
fn standby_toml(dir: &Path, more: &str) -> String {
    format!(
        "[standby]\ndata-dir = \"{}\"\nlisten = \"127.0.0.1:0\"\nship-listen = \"127.0.0.1:0\"\ninsecure-no-auth = true\ncheckpoint-interval = \"1s\"\n{more}",
        dir.display()
    )
}

/// A standby on `dir` started with the file `t/logship.toml`, and the
/// address it receives shipments on.
fn file_standby(t: &Path, dir: &Path) -> (Node, String) {
    let file = write(t, "logship.toml", &standby_toml(dir, ""));
    let node = Node::start(&file, "standby", &[]);
    let s = status_json(dir);
    let ship = s["ship_listen"].as_str().unwrap_or_else(|| panic!("{s}"));
    (node, ship.to_string())
}

/// A primary's data directory `t/p`, made by `logship init`.
fn primary_dir(t: &Path) -> PathBuf {
    let dir = t.join("p");
    init(&dir, "1MiB");
    dir
}

/// A standby receiving without authentication.
fn standby(dir: &Path) -> Standby {
    Standby::start_with(dir, &["--insecure-no-auth", "--checkpoint-interval", "1s"])
}

fn write_keys(c: &mut redis::Connection, prefix: &str, n: usize) {
    for i in 0..n {
        let _: () = redis::cmd("SET")
            .arg(format!("{prefix}:{i}"))
            .arg(i)
            .query(c)
            .unwrap();
    }
}

/// Waits (bounded) until `f` holds.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn standby_addresses(dir: &Path) -> Vec<String> {
    status_json(dir)["standbys"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["address"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_standby_added_to_ship_to_converges_and_a_removed_one_leaves_the_status() {
    let t = tempfile::tempdir().unwrap();
    let pdir = primary_dir(t.path());
    let a = standby(&t.path().join("a"));
    let b = standby(&t.path().join("b"));
    let file = write(
        t.path(),
        "logship.toml",
        &primary_toml(&pdir, &[&a.ship_addr], ""),
    );
    let mut p = Node::start(&file, "primary", &[]);
    let mut c = p.client();
    write_keys(&mut c, "first", 50);
    assert_converged(&pdir, &mut c, &a, Duration::from_secs(30));

    let both = [a.ship_addr.as_str(), b.ship_addr.as_str()];
    write(t.path(), "logship.toml", &primary_toml(&pdir, &both, ""));
    let log = p.reload(1);
    assert!(log.contains(&format!("ships to {}", b.ship_addr)), "{log}");
    write_keys(&mut c, "second", 50);
    // The new standby is seeded and catches up; the first keeps its link.
    assert_converged(&pdir, &mut c, &b, Duration::from_secs(30));
    assert_converged(&pdir, &mut c, &a, Duration::from_secs(30));
    assert_eq!(standby_addresses(&pdir), both);

    write(
        t.path(),
        "logship.toml",
        &primary_toml(&pdir, &[&b.ship_addr], ""),
    );
    let log = p.reload(2);
    assert!(
        log.contains(&format!("no longer ships to {}", a.ship_addr)),
        "{log}"
    );
    assert_eq!(standby_addresses(&pdir), vec![b.ship_addr.clone()]);
    let a_had = status_json(&a.dir)["applied_lsn"].as_u64().unwrap();
    write_keys(&mut c, "third", 50);
    assert_converged(&pdir, &mut c, &b, Duration::from_secs(30));
    assert_eq!(status_json(&a.dir)["applied_lsn"].as_u64().unwrap(), a_had);
}

#[test]
fn an_invalid_file_keeps_the_running_configuration_and_says_where() {
    let t = tempfile::tempdir().unwrap();
    let pdir = primary_dir(t.path());
    let a = standby(&t.path().join("a"));
    let events = t.path().join("events.jsonl");
    let hook = format!("on-event = \"cat >> '{}'\"\n", events.display());
    let good = primary_toml(&pdir, &[&a.ship_addr], &hook);
    let file = write(t.path(), "logship.toml", &good);
    let mut p = Node::start(&file, "primary", &[]);
    let mut c = p.client();
    write_keys(&mut c, "before", 20);
    assert_converged(&pdir, &mut c, &a, Duration::from_secs(30));

    // Line 8: a key logship does not know.
    let bad = format!("{good}ship-too = [\"127.0.0.1:9\"]\n");
    assert_eq!(bad.lines().count(), 8);
    write(t.path(), "logship.toml", &bad);
    let log = p.reload(1);
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(errors[0].contains("reload refused"), "{log}");
    assert!(
        errors[0].contains("line 8") && errors[0].contains("ship-too"),
        "{log}"
    );
    wait_for("the reload_failed event", || {
        std::fs::read_to_string(&events).is_ok_and(|e| e.contains("\"reload_failed\""))
    });
    // It runs and ships as before.
    write_keys(&mut c, "after", 20);
    assert_converged(&pdir, &mut c, &a, Duration::from_secs(30));
    assert_eq!(standby_addresses(&pdir), vec![a.ship_addr.clone()]);

    // A key file that cannot be read is refused the same way.
    let missing = t.path().join("no-such.key");
    let bad_key = good.replace(
        "insecure-no-auth = true\n",
        &format!("auth-key-file = \"{}\"\n", missing.display()),
    );
    write(t.path(), "logship.toml", &bad_key);
    let log = p.reload(2);
    assert!(
        log.contains("reload refused") && log.contains("no-such.key"),
        "{log}"
    );
    write_keys(&mut c, "still", 20);
    assert_converged(&pdir, &mut c, &a, Duration::from_secs(30));
}

#[test]
fn the_log_level_changes_without_a_restart() {
    let t = tempfile::tempdir().unwrap();
    let pdir = primary_dir(t.path());
    let base = format!(
        "[primary]\ndata-dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n",
        pdir.display()
    );
    let file = write(
        t.path(),
        "logship.toml",
        &format!("{base}[log]\nlevel = \"warn\"\n"),
    );
    let mut p = Node::start(&file, "primary", &[]);
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut p.client())
        .unwrap();
    let quiet = p.log();
    assert!(
        !quiet.contains(" INFO ") && !quiet.contains("DEBUG"),
        "{quiet}"
    );

    write(
        t.path(),
        "logship.toml",
        &format!("{base}[log]\nlevel = \"debug\"\n"),
    );
    let log = p.reload(1);
    assert!(log.contains("DEBUG"), "{log}");
    assert!(
        log.contains("configuration reloaded: log level debug"),
        "{log}"
    );
}

#[test]
fn the_metrics_move_to_a_new_address() {
    let t = tempfile::tempdir().unwrap();
    let pdir = primary_dir(t.path());
    let toml = |addr: &str| {
        format!(
            "[primary]\ndata-dir = \"{}\"\nlisten = \"127.0.0.1:0\"\nmetrics = \"{addr}\"\n",
            pdir.display()
        )
    };
    let (first, second) = (free_addr(), free_addr());
    let file = write(t.path(), "logship.toml", &toml(&first));
    let mut p = Node::start(&file, "primary", &[]);
    wait_for("metrics on the first address", || {
        std::net::TcpStream::connect(&first).is_ok()
    });
    assert_eq!(http_get(&first, "/metrics").0, 200);

    write(t.path(), "logship.toml", &toml(&second));
    let log = p.reload(1);
    assert!(log.contains(&format!("metrics on {second}")), "{log}");
    let (code, body) = http_get(&second, "/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("logship_"), "{body}");
    assert!(
        std::net::TcpStream::connect(&first).is_err(),
        "the old address still answers"
    );
}

#[test]
fn a_standby_starts_cascading_when_its_file_says_so() {
    let t = tempfile::tempdir().unwrap();
    let pdir = primary_dir(t.path());
    let down = standby(&t.path().join("down"));
    let mid_dir = t.path().join("mid");
    let (mut mid, mid_ship) = file_standby(t.path(), &mid_dir);
    let p = Primary::start_shipping(&pdir, &mid_ship, &["--ship-continuous"]);
    let mut c = p.client();
    write_keys(&mut c, "one", 20);

    let cascade = format!(
        "cascade-to = [\"{}\"]\nship-continuous = true\n",
        down.ship_addr
    );
    write(t.path(), "logship.toml", &standby_toml(&mid_dir, &cascade));
    let log = mid.reload(1);
    assert!(
        log.contains(&format!("ships to {}", down.ship_addr)),
        "{log}"
    );
    write_keys(&mut c, "two", 20);
    assert_converged(&pdir, &mut c, &down, Duration::from_secs(30));
    let s = status_json(&mid_dir);
    assert_eq!(s["standbys"][0]["address"], down.ship_addr.as_str(), "{s}");
}

#[test]
fn systemd_hears_reloading_then_ready() {
    let t = tempfile::tempdir().unwrap();
    let pdir = primary_dir(t.path());
    let mut notify = NotifySocket::new(t.path());
    let toml = format!(
        "[primary]\ndata-dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n",
        pdir.display()
    );
    let file = write(t.path(), "logship.toml", &toml);
    let env = [("NOTIFY_SOCKET", notify.path.display().to_string())];
    let mut p = Node::start(&file, "primary", &env);
    notify.wait_for("READY=1");
    let first_ready = notify.index_of("READY=1").unwrap();
    p.reload(1);
    notify.wait_for("RELOADING=1");
    let reloading = notify.index_of("RELOADING=1").unwrap();
    assert!(reloading > first_ready);
    let with_clock = &notify.seen[reloading];
    assert!(with_clock.contains("MONOTONIC_USEC="), "{with_clock}");
    wait_for("READY=1 after RELOADING=1", || {
        notify.drain();
        notify.seen[reloading + 1..]
            .iter()
            .any(|m| m.lines().any(|l| l == "READY=1"))
    });
}

#[test]
fn a_standby_promoted_in_place_takes_new_ship_targets_from_its_file() {
    let t = tempfile::tempdir().unwrap();
    let pdir = primary_dir(t.path());
    let down = standby(&t.path().join("down"));
    let mid_dir = t.path().join("mid");
    let (mut mid, mid_ship) = file_standby(t.path(), &mid_dir);
    let mut p = Primary::start_shipping(&pdir, &mid_ship, &["--ship-continuous"]);
    write_keys(&mut p.client(), "old", 20);
    wait_applied(&mid_dir, durable_lsn(&pdir), Duration::from_secs(30));
    p.stop();
    let out = logship(&["promote", "--data-dir", mid_dir.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out:#?}");

    let ship = format!(
        "ship-to = [\"{}\"]\nship-continuous = true\n",
        down.ship_addr
    );
    write(t.path(), "logship.toml", &standby_toml(&mid_dir, &ship));
    let log = mid.reload(1);
    assert!(
        log.contains(&format!("ships to {}", down.ship_addr)),
        "{log}"
    );
    let mut mc = mid.client();
    write_keys(&mut mc, "new", 20);
    assert_converged(&mid_dir, &mut mc, &down, Duration::from_secs(30));
    assert_eq!(standby_addresses(&mid_dir), vec![down.ship_addr.clone()]);
}
