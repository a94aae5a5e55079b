//! Running logship the way a service manager does (docs/packaging.md): the
//! units in tools/systemd pass `systemd-analyze verify`, the real binary tells
//! a notify socket READY=1 only once it serves, its status, watchdog pings and
//! STOPPING=1, completions and man pages are generated, the example
//! configuration names only real flags, and tools/build-deb.sh builds a
//! package holding all of it.

mod common;

use clap::CommandFactory;
use common::notify::NotifySocket;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const UNITS: [&str; 3] = [
    "logship@.service",
    "logship-primary.service",
    "logship-standby.service",
];

fn unit_text(name: &str) -> String {
    let p = Path::new(ROOT).join("tools/systemd").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A tool the machine may lack: `None` (with the reason printed) when it is
/// missing, a failure under `CI=true`, where the image must have it.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is missing, and CI=true needs it"
        );
        println!("skipped: {name} is not installed");
    }
    found
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    let Some(analyze) = tool("systemd-analyze") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for unit in UNITS {
        // verify checks that ExecStart's binary exists: the one under test.
        let text = unit_text(unit).replace("/usr/bin/logship", env!("CARGO_BIN_EXE_logship"));
        let name = unit.replace("@.", "@a.");
        let p = t.path().join(&name);
        std::fs::write(&p, text).unwrap();
        paths.push(p);
    }
    // --man=no: the Documentation= pages are installed by the package only.
    let out = Command::new(analyze)
        .args(["verify", "--man=no"])
        .args(&paths)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    assert!(
        !err.contains(t.path().to_str().unwrap()),
        "warnings about the units: {err}"
    );
}

#[test]
fn the_units_agree_on_restarts_and_hardening() {
    let tail = |unit: &str| {
        let text = unit_text(unit);
        let at = text.find("\nRestart=").expect("Restart=");
        text[at..].to_string()
    };
    for unit in UNITS {
        let text = unit_text(unit);
        for want in [
            "Type=notify",
            "User=logship",
            "RestartPreventExitStatus=4 5 78",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/logship",
        ] {
            assert!(text.contains(want), "{unit}: no {want}");
        }
        assert_eq!(
            tail(unit),
            tail(UNITS[0]),
            "{unit} drifted from {}",
            UNITS[0]
        );
    }
    // SIGHUP re-reads the configuration: every unit reloads with it.
    for unit in UNITS {
        assert!(
            unit_text(unit).contains("ExecReload=/bin/kill -HUP $MAINPID"),
            "{unit}"
        );
    }
    // The statuses the units do not restart are the documented ones.
    let help = logship(&["primary", "--help"]).stdout;
    assert!(help.contains("  4  fenced") && help.contains(" 78  configuration error"));
}

/// SIGTERM, then the exit status (bounded).
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A new primary in `t` with a notify socket and `env`, once it sent READY=1.
fn notified_primary(t: &Path, env: &[(&str, &str)]) -> (Primary, NotifySocket) {
    let dir = t.join("p");
    init(&dir, "1MiB");
    let mut notify = NotifySocket::new(t);
    let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
    env.push(("NOTIFY_SOCKET", notify.path.display().to_string()));
    let p = Primary::start_env(&dir, &[], &env);
    notify.wait_for("READY=1");
    (p, notify)
}

#[test]
fn a_primary_is_ready_once_it_serves_and_says_when_it_stops() {
    let t = tempfile::tempdir().unwrap();
    let (mut p, mut notify) = notified_primary(t.path(), &[]);
    // READY=1 came after the port answers: a client is served right away.
    let pong: String = redis::cmd("PING").query(&mut p.client()).unwrap();
    assert_eq!(pong, "PONG");
    let status = notify.wait_for("STATUS=");
    assert!(
        status.starts_with("STATUS=primary, durable ") && status.ends_with(", 0 standbys"),
        "{status}"
    );
    assert!(
        !notify.seen.iter().any(|m| m.contains("WATCHDOG=1")),
        "no watchdog asked for: {:?}",
        notify.seen
    );
    assert!(notify.index_of("STOPPING=1").is_none());
    p.stop();
    notify.wait_for("STOPPING=1");
    assert!(notify.index_of("READY=1") < notify.index_of("STOPPING=1"));
}

#[test]
fn a_standby_is_ready_after_its_own_recovery_and_pings_the_watchdog() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    let key = key_file(t.path());
    // A standby that received and applied a write, then stopped cleanly.
    let mut s = Standby::start(&sdir, &key);
    let mut p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &s.ship_addr,
            "--ship-continuous",
            "--auth-key-file",
            key.to_str().unwrap(),
        ],
    );
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut p.client())
        .unwrap();
    wait_applied(&sdir, durable_lsn(&pdir), Duration::from_secs(30));
    p.stop();
    assert!(terminate(s.child.as_mut().unwrap()).success());
    s.child = None;

    // Started again by a service manager with a 1 s watchdog. `exec` keeps
    // the shell's pid, so WATCHDOG_PID=$$ names the node.
    let mut notify = NotifySocket::new(t.path());
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_logship"))
        .args(["standby", "--data-dir"])
        .arg(&sdir)
        .args(["--listen", "127.0.0.1:0", "--ship-listen", "127.0.0.1:0"])
        .args(["--auth-key-file", key.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "1000000");
    let (mut child, line, _err) = spawn_until_first_line(cmd, "standby");
    let addr = listening_addr(&line);
    notify.wait_for("READY=1");
    // Its own log recovered: the write is there as soon as it is ready.
    let v: Option<String> = redis::cmd("GET")
        .arg("k")
        .query(&mut redis_client(&addr))
        .unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let status = notify.wait_for("STATUS=");
    assert!(
        status.starts_with("STATUS=standby, applied ") && status.contains(", lag "),
        "{status}"
    );
    notify.wait_for("WATCHDOG=1");
    let pings = |n: &NotifySocket| n.seen.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    let first = pings(&notify);
    std::thread::sleep(Duration::from_millis(1200));
    notify.drain();
    assert!(
        pings(&notify) > first,
        "one ping per 0.5 s: {:?}",
        notify.seen
    );
    assert!(terminate(&mut child).success());
    notify.wait_for("STOPPING=1");
}

#[test]
fn a_watchdog_meant_for_another_process_is_not_pinged() {
    let t = tempfile::tempdir().unwrap();
    let (mut p, mut notify) = notified_primary(
        t.path(),
        &[("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "1")],
    );
    notify.wait_for("STATUS=");
    std::thread::sleep(Duration::from_millis(500));
    p.stop();
    notify.wait_for("STOPPING=1");
    assert!(
        !notify.seen.iter().any(|m| m.contains("WATCHDOG=1")),
        "{:?}",
        notify.seen
    );
}

#[test]
fn status_lines_name_the_role_the_position_and_the_lag() {
    use logship::notify::status_line;
    use logship::status::NodeStatus;
    let mut p = NodeStatus {
        role: "primary".into(),
        running: true,
        durable_lsn: Some(0x1A2B3C),
        standbys: Some(vec![]),
        ..NodeStatus::default()
    };
    assert_eq!(
        status_line(&p).unwrap(),
        "primary, durable 0/1A2B3C, 0 standbys"
    );
    p.durable_lsn = None;
    p.standbys = None;
    assert_eq!(
        status_line(&p).unwrap(),
        "primary, durable unknown, 0 standbys"
    );
    let s = NodeStatus {
        role: "standby".into(),
        running: true,
        applied_lsn: Some(0x1_0000_0010),
        lag_seconds: Some(0.3),
        ..NodeStatus::default()
    };
    assert_eq!(status_line(&s).unwrap(), "standby, applied 1/10, lag 0.3 s");
    assert_eq!(status_line(&NodeStatus::default()), None);
}

/// The visible subcommands of the CLI (clap's `help` aside).
fn commands() -> Vec<String> {
    logship::cli::Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn completions_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = logship(&["completions", shell]);
        assert_eq!(out.code, Some(0), "{out:?}");
        for c in commands() {
            assert!(out.stdout.contains(&c), "{shell}: no {c}");
        }
    }
    logship(&["completions", "tcsh"]).assert_one_line_error(1);
}

#[test]
fn man_writes_a_page_per_command() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("man1");
    let out = logship(&["man", dir.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut pages = vec!["logship.1".to_string()];
    pages.extend(commands().iter().map(|c| format!("logship-{c}.1")));
    pages.push("logship-bench-wal.1".into());
    for page in &pages {
        let p = dir.join(page);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.lines().any(|l| l.starts_with(".TH ")), "{page}");
    }
    assert!(
        !dir.join("logship-man.1").exists(),
        "hidden commands have no page"
    );
    let primary = std::fs::read_to_string(dir.join("logship-primary.1")).unwrap();
    assert!(primary.contains("data\\-dir"), "{primary}");
    if let Some(man) = tool("man") {
        let out = Command::new(man)
            .arg("-l")
            .arg(dir.join("logship-primary.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--data-dir"), "{text}");
    }
    // A directory that cannot be made is one clear line.
    let file = t.path().join("file");
    std::fs::write(&file, "").unwrap();
    let bad = logship(&["man", file.join("x").to_str().unwrap()]);
    assert!(bad.assert_one_line_error(1).contains("file"));
}

/// The keys of each `[section]` of the example configuration, commented or
/// not (`# key = value`).
fn config_keys(text: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix('[') {
            section = s.trim_end_matches(']').to_string();
            continue;
        }
        let l = line.trim_start_matches('#').trim_start();
        // The cluster's nodes are commented out whole.
        if l == "[[node]]" {
            section = "node".into();
            continue;
        }
        let l = l.trim_start_matches('#').trim_start();
        if let Some((key, _)) = l.split_once(" = ") {
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                keys.push((section.clone(), key.to_string()));
            }
        }
    }
    keys
}

#[test]
fn the_example_configuration_names_only_real_flags() {
    let cli = logship::cli::Cli::command();
    let flags = |cmd: &str| -> Vec<String> {
        let c = cli.find_subcommand(cmd).expect(cmd);
        c.get_arguments()
            .chain(cli.get_arguments())
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect()
    };
    let keys = config_keys(&unit_text("logship.toml"));
    assert!(keys.len() > 40, "{keys:?}");
    for (section, key) in keys {
        let ok = match section.as_str() {
            "primary" | "standby" | "status" => flags(&section).contains(&key),
            "archive" => key.starts_with("archive-") && flags("primary").contains(&key),
            "log" => cli.get_arguments().any(|a| a.get_long() == Some(&key)),
            "node" => {
                ["name", "data-dir", "listen", "ship-listen", "upstream"].contains(&key.as_str())
                    || flags("primary").contains(&key)
                    || flags("standby").contains(&key)
            }
            other => panic!("unknown section [{other}]"),
        };
        assert!(ok, "[{section}] {key} is not a flag of {section}");
    }
}

#[test]
fn build_deb_packages_the_binary_units_and_docs() {
    let Some(dpkg_deb) = tool("dpkg-deb") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join("tools/build-deb.sh"))
        .arg(env!("CARGO_BIN_EXE_logship"))
        .arg(t.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "build-deb.sh: {out:?}");
    let deb = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(deb.ends_with(".deb") && Path::new(&deb).is_file(), "{deb}");
    let list = Command::new(&dpkg_deb)
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for want in [
        "./usr/bin/logship",
        "./lib/systemd/system/logship@.service",
        "./lib/systemd/system/logship-primary.service",
        "./lib/systemd/system/logship-standby.service",
        "./etc/logship/logship.toml",
        "./etc/default/logship-primary",
        "./etc/default/logship-standby",
        "./usr/share/man/man1/logship-primary.1.gz",
        "./usr/share/bash-completion/completions/logship",
        "./usr/share/zsh/vendor-completions/_logship",
        "./usr/share/fish/vendor_completions.d/logship.fish",
    ] {
        assert!(list.contains(want), "no {want} in\n{list}");
    }
    let info = Command::new(&dpkg_deb)
        .arg("-I")
        .arg(&deb)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    for want in ["Package: logship", "postinst", "postrm", "conffiles"] {
        assert!(info.contains(want), "no {want} in\n{info}");
    }
}
