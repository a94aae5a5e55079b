//! One `logship.toml` for the whole cluster, and `logship run --node NAME`,
//! end to end with real processes: a switchover A→B and back B→A with one
//! `logship promote --node` each, no file edited and no process restarted; a
//! primary superseded while it was down that stops with the divergence
//! report (exit 5) instead of serving; a cascade declared by `upstream`; and
//! the configuration's refusals.

mod common;

use common::notify::NotifySocket;
use common::{digest, free_addr, key_file, redis_client, run, status_json, BIN};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_secs(60);

/// A node of the test's cluster.
struct Spec {
    name: &'static str,
    listen: String,
    ship: String,
    dir: PathBuf,
}

/// A temporary cluster: its directory, key, file and nodes.
struct Cluster {
    dir: tempfile::TempDir,
    file: PathBuf,
    nodes: Vec<Spec>,
}

impl Cluster {
    fn new(names: &[(&'static str, Option<&'static str>)]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let key = key_file(dir.path());
        let mut text = format!(
            "[primary]\nship-continuous = true\nauth-key-file = {key:?}\ncheckpoint-interval = \"2s\"\n\n[standby]\nship-continuous = true\nauth-key-file = {key:?}\ncheckpoint-interval = \"1s\"\n"
        );
        let mut nodes = Vec::new();
        for (name, upstream) in names {
            let spec = Spec {
                name,
                listen: free_addr(),
                ship: free_addr(),
                dir: dir.path().join(name),
            };
            text.push_str(&format!(
                "\n[[node]]\nname = \"{name}\"\ndata-dir = {:?}\nlisten = \"{}\"\nship-listen = \"{}\"\n",
                spec.dir, spec.listen, spec.ship
            ));
            if let Some(u) = upstream {
                text.push_str(&format!("upstream = \"{u}\"\n"));
            }
            nodes.push(spec);
        }
        let file = dir.path().join("logship.toml");
        std::fs::write(&file, text).unwrap();
        Cluster { dir, file, nodes }
    }

    /// Adds a node to the file (the running nodes learn of it on SIGHUP).
    fn add(&mut self, name: &'static str) {
        let spec = Spec {
            name,
            listen: free_addr(),
            ship: free_addr(),
            dir: self.dir.path().join(name),
        };
        let mut text = std::fs::read_to_string(&self.file).unwrap();
        text.push_str(&format!(
            "\n[[node]]\nname = \"{name}\"\ndata-dir = {:?}\nlisten = \"{}\"\nship-listen = \"{}\"\n",
            spec.dir, spec.listen, spec.ship
        ));
        std::fs::write(&self.file, text).unwrap();
        self.nodes.push(spec);
    }

    fn node(&self, name: &str) -> &Spec {
        self.nodes.iter().find(|n| n.name == name).unwrap()
    }

    /// `logship --config F --node NAME ARGS…` to completion.
    fn cmd(&self, name: &str, args: &[&str]) -> common::Out {
        let mut c = configured(&self.file);
        c.args(["--node", name]).args(args);
        run(c)
    }

    /// `logship run --config F --node NAME` (the unit file's order), its
    /// log in `NAME.log`.
    fn start(&self, name: &str) -> Node {
        self.start_env(name, &[])
    }

    /// [`start`](Self::start) with a notify socket, as under systemd.
    fn start_notified(&self, name: &str) -> (Node, NotifySocket) {
        let dir = self.dir.path().join(format!("{name}-notify"));
        std::fs::create_dir_all(&dir).unwrap();
        let notify = NotifySocket::new(&dir);
        let node = self.start_env(name, &[("NOTIFY_SOCKET", notify.path.as_os_str())]);
        (node, notify)
    }

    fn start_env(&self, name: &str, env: &[(&str, &std::ffi::OsStr)]) -> Node {
        let log = self.dir.path().join(format!("{name}.log"));
        let mut c = hermetic_env(Command::new(BIN));
        c.envs(env.iter().copied());
        c.args(["run", "--config"])
            .arg(&self.file)
            .args(["--node", name, "--rejoin-wait", "5s"])
            .env("LOGSHIP_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Node {
            child: Some(c.spawn().expect("start logship run")),
            log,
        }
    }
}

/// The binary with this configuration file and nothing of the environment's.
fn configured(file: &Path) -> Command {
    let mut c = hermetic_env(Command::new(BIN));
    c.arg("--config").arg(file);
    c
}

/// `c` without the environment's configuration variables.
fn hermetic_env(mut c: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if logship::config::is_config_var(&name) {
            c.env_remove(name);
        }
    }
    c
}

/// A running `logship run`.
struct Node {
    child: Option<Child>,
    log: PathBuf,
}

impl Node {
    fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to end by itself: its exit code.
    fn exit_within(&mut self, within: Duration) -> Option<i32> {
        let c = self.child.as_mut().unwrap();
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st.code();
            }
            assert!(Instant::now() < deadline, "still running: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, and the exit code.
    fn stop(&mut self) -> Option<i32> {
        let pid = self.child.as_ref().unwrap().id() as i32;
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.exit_within(WITHIN)
    }

    fn hup(&self) {
        let pid = self.child.as_ref().unwrap().id() as i32;
        unsafe { libc::kill(pid, libc::SIGHUP) };
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `check` holds of the status of `dir`.
fn wait_status(
    dir: &Path,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WITHIN;
    loop {
        let s = status_json(dir);
        if check(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: never so: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A connection to `addr` once it accepts writes (a primary), within [`WITHIN`].
fn writable(addr: &str) -> redis::Connection {
    let deadline = Instant::now() + WITHIN;
    loop {
        if let Ok(c) = redis::Client::open(format!("redis://{addr}/")) {
            if let Ok(mut con) = c.get_connection_with_timeout(Duration::from_secs(2)) {
                let r: redis::RedisResult<()> =
                    redis::cmd("SET").arg("probe").arg("1").query(&mut con);
                if r.is_ok() {
                    return con;
                }
            }
        }
        assert!(Instant::now() < deadline, "{addr} never accepted a write");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` INCRs of `counter` and `n` SETs on `c`, each acknowledged.
fn write(c: &mut redis::Connection, tag: &str, n: usize) {
    for i in 0..n {
        let _: i64 = redis::cmd("INCR").arg("counter").query(c).unwrap();
        let _: () = redis::cmd("SET")
            .arg(format!("{tag}:{i}"))
            .arg(i)
            .query(c)
            .unwrap();
    }
}

/// Waits until the standby `standby` has applied everything durable on the
/// primary `primary`, then asserts equal keyspaces.
fn converged(c: &Cluster, primary: &str, standby: &str) {
    let p = status_json(&c.node(primary).dir);
    assert_eq!(p["role"], "primary", "{p}");
    let lsn = p["durable_lsn"].as_u64().unwrap();
    let tl = p["timeline"].as_u64().unwrap();
    wait_status(&c.node(standby).dir, "the standby caught up", |s| {
        s["role"] == "standby"
            && s["timeline"].as_u64() == Some(tl)
            && s["applied_lsn"].as_u64().unwrap_or(0) >= lsn
    });
    let a = digest(&mut redis_client(&c.node(primary).listen));
    let b = digest(&mut redis_client(&c.node(standby).listen));
    assert_eq!(a, b, "{primary} and {standby} differ");
}

#[test]
fn a_switchover_and_back_is_one_promote_each_with_no_restart() {
    let c = Cluster::new(&[("a", None), ("b", None)]);
    let init = c.cmd("a", &["init"]);
    assert_eq!(init.code, Some(0), "{init:?}");
    // Under systemd-style readiness: READY=1 once each node serves.
    let (mut a, mut na) = c.start_notified("a");
    let (mut b, mut nb) = c.start_notified("b");
    na.wait_for("READY=1");
    nb.wait_for("READY=1");
    let mut pa = writable(&c.node("a").listen);
    write(&mut pa, "one", 200);
    converged(&c, "a", "b");

    // A → B: the promoted node ships to A, which rejoins by itself.
    let out = c.cmd("b", &["promote"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("the cluster's primary is node a"),
        "{}",
        out.stdout
    );
    let mut pb = writable(&c.node("b").listen);
    write(&mut pb, "two", 200);
    converged(&c, "b", "a");
    assert!(a.log().contains("rejoined as a standby of"), "{}", a.log());
    // systemd sees each node change role, and neither stop.
    na.wait_for("STATUS=standby");
    nb.wait_for("STATUS=primary");
    assert_eq!(na.index_of("STOPPING=1"), None, "{:?}", na.seen);
    assert_eq!(nb.index_of("STOPPING=1"), None, "{:?}", nb.seen);

    // B → A, the same way.
    let out = c.cmd("a", &["promote"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("the cluster's primary is node b"),
        "{}",
        out.stdout
    );
    let mut pa = writable(&c.node("a").listen);
    write(&mut pa, "three", 200);
    converged(&c, "a", "b");
    let s = status_json(&c.node("a").dir);
    assert_eq!(s["timeline"], 3, "{s}");
    let n: i64 = redis::cmd("GET").arg("counter").query(&mut pa).unwrap();
    assert_eq!(n, 600, "every acknowledged INCR is there");

    assert!(a.alive() && b.alive(), "no process was restarted");
    assert_eq!(a.stop(), Some(0), "{}", a.log());
    assert_eq!(b.stop(), Some(0), "{}", b.log());
    for log in [a.log(), b.log()] {
        assert!(!log.contains("panicked"), "{log}");
    }
}

#[test]
fn a_reload_adds_a_third_node_without_a_restart() {
    let mut c = Cluster::new(&[("a", None), ("b", None)]);
    assert_eq!(c.cmd("a", &["init"]).code, Some(0));
    let mut a = c.start("a");
    let mut b = c.start("b");
    let mut pa = writable(&c.node("a").listen);
    write(&mut pa, "one", 100);
    converged(&c, "a", "b");
    // A third node in the file; the running nodes are told with SIGHUP.
    c.add("c");
    a.hup();
    b.hup();
    let mut n3 = c.start("c");
    write(&mut pa, "two", 100);
    converged(&c, "a", "c");
    converged(&c, "a", "b");
    assert!(a.log().contains("reloaded"), "{}", a.log());
    // b, promoted, ships to c too (its reloaded ship-to), and a rejoins.
    let out = c.cmd("b", &["promote"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut pb = writable(&c.node("b").listen);
    write(&mut pb, "three", 100);
    converged(&c, "b", "c");
    converged(&c, "b", "a");
    assert!(
        a.alive() && b.alive() && n3.alive(),
        "no process was restarted"
    );
}

#[test]
fn a_primary_superseded_while_down_stops_with_the_divergence_report() {
    let c = Cluster::new(&[("a", None), ("b", None)]);
    assert_eq!(c.cmd("a", &["init"]).code, Some(0));
    let mut a = c.start("a");
    let mut b = c.start("b");
    let mut pa = writable(&c.node("a").listen);
    write(&mut pa, "one", 50);
    converged(&c, "a", "b");
    // B goes down; A takes writes B never gets, then dies.
    assert_eq!(b.stop(), Some(0), "{}", b.log());
    write(&mut pa, "lost", 5);
    a.kill();
    // B comes back and is promoted without A (nothing answers to be fenced).
    let _b = c.start("b");
    wait_status(&c.node("b").dir, "b serves", |s| s["running"] == true);
    let out = c.cmd("b", &["promote"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("nothing to fence"), "{}", out.stdout);
    writable(&c.node("b").listen);
    // A starts, finds B on a later timeline, and must not serve its own.
    let mut a = c.start("a");
    assert_eq!(a.exit_within(WITHIN), Some(5), "{}", a.log());
    let log = a.log();
    let last = log.lines().last().unwrap_or_default();
    assert!(last.starts_with("logship: error: "), "{log}");
    assert!(
        last.contains("DIVERGED") && last.contains("logship rejoin"),
        "{last}"
    );
    let s = status_json(&c.node("a").dir);
    assert_eq!(s["role"], "primary", "the directory is left as it was: {s}");
}

#[test]
fn an_upstream_makes_a_cascade_and_follows_the_promotion() {
    let c = Cluster::new(&[("a", None), ("b", None), ("c", Some("b"))]);
    assert_eq!(c.cmd("a", &["init"]).code, Some(0));
    let nodes: Vec<Node> = ["a", "b", "c"].iter().map(|n| c.start(n)).collect();
    let mut pa = writable(&c.node("a").listen);
    write(&mut pa, "one", 100);
    converged(&c, "a", "b");
    converged(&c, "a", "c");
    let s = status_json(&c.node("a").dir);
    let fed: Vec<&str> = s["standbys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["address"].as_str())
        .collect();
    assert_eq!(fed, [c.node("b").ship.as_str()], "a feeds b only: {s}");
    // B promoted: it ships to c (and to a, which rejoins).
    let out = c.cmd("b", &["promote"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut pb = writable(&c.node("b").listen);
    write(&mut pb, "two", 100);
    converged(&c, "b", "c");
    converged(&c, "b", "a");
    let s = status_json(&c.node("b").dir);
    let to_c = s["standbys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["address"] == c.node("c").ship.as_str())
        .unwrap_or_else(|| panic!("b ships to c: {s}"))
        .clone();
    assert_eq!(
        to_c["seeded_total"], 0,
        "c followed without re-seeding: {s}"
    );
    drop(nodes);
}

#[test]
fn the_cluster_refuses_what_cannot_work() {
    let c = Cluster::new(&[("a", None), ("b", None)]);
    let out = c.cmd("zz", &["run"]);
    let line = out.assert_one_line_error(78);
    assert!(
        line.contains("no [[node]] is named \"zz\"") && line.contains("a, b"),
        "{line}"
    );

    let mut cmd = configured(&c.file);
    cmd.arg("run");
    let out = run(cmd);
    let line = out.assert_one_line_error(78);
    assert!(line.contains("--node NAME"), "{line}");

    let bad = |text: &str, want: &str| {
        let f = c.dir.path().join("bad.toml");
        std::fs::write(&f, text).unwrap();
        let mut cmd = configured(&f);
        cmd.args(["--node", "a", "run"]);
        let out = run(cmd);
        let line = out.assert_one_line_error(78).to_string();
        assert!(line.contains(want), "{want:?} not in {line}");
    };
    let node = |name: &str, port: u16, extra: &str| {
        format!(
            "[[node]]\nname = \"{name}\"\ndata-dir = \"/tmp/x{name}\"\nlisten = \"127.0.0.1:{port}\"\nship-listen = \"127.0.0.1:{}\"\n{extra}\n",
            port + 1
        )
    };
    bad(
        &format!("[primary]\nship-to = [\"x:1\"]\n{}", node("a", 7000, "")),
        "line 2: [primary] ship-to",
    );
    bad(
        &format!(
            "{}{}",
            node("a", 7000, "upstream = \"b\""),
            node("b", 7010, "upstream = \"a\"")
        ),
        "circle",
    );
    bad(
        &format!("{}{}", node("a", 7000, ""), node("b", 7000, "")),
        "also node a's address",
    );
    bad(
        &node("a", 7000, "fsync = \"sometimes\""),
        "line 6: [[node]] a: fsync",
    );
    bad(&node("a", 7000, "colour = \"blue\""), "unknown key");
}
