//! `logship.toml` with the real binary: a primary takes its settings from the
//! file, the environment overrides the file, a flag overrides both, an invalid
//! file stops every command with one line and exit status 78, `config check`
//! names each value's source, `--no-config` reads no file.

mod common;

use common::{init, listening_addr, redis_client, run, spawn_until_first_line, Out, Primary, BIN};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The exit status of a configuration error.
const CONFIG_ERROR: i32 = 78;

/// The binary with the configuration file `config` and none of the
/// developer's configuration variables; `env` on top.
fn with_config(config: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if logship::config::is_config_var(&name) {
            cmd.env_remove(name);
        }
    }
    cmd.arg("--config").arg(config).envs(env.iter().copied());
    cmd
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("logship.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A primary started with `cmd` and `flags` after `primary`, and
/// the fsync policy it reports (`CONFIG GET appendfsync`).
fn start(mut cmd: Command, dir: &Path, flags: &[&str]) -> (Primary, String) {
    cmd.arg("primary").args(flags);
    let (child, line, stderr) = spawn_until_first_line(cmd, "primary");
    let p = Primary {
        child: Some(child),
        addr: listening_addr(&line),
        dir: dir.to_path_buf(),
        stderr: Some(stderr),
    };
    let mut c = redis_client(&p.addr);
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync")
        .query(&mut c)
        .unwrap();
    (p, got[1].clone())
}

#[test]
fn a_primary_takes_its_settings_from_the_file_the_environment_and_flags_in_that_order() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data, "1MiB");
    let text = format!(
        "# a primary\n[primary]\ndata-dir = {:?}\nlisten = \"127.0.0.1:0\"\nfsync = \"everysec\"\n",
        data.display()
    );
    let config = write(d.path(), &text);

    // From the file: data directory, address, fsync policy.
    let (mut p, fsync) = start(with_config(&config, &[]), &data, &[]);
    assert_eq!(fsync, "everysec");
    let mut c = p.client();
    redis::cmd("SET").arg("k").arg("v").exec(&mut c).unwrap();
    p.stop();
    assert!(common::status_json(&data)["durable_lsn"].as_u64().unwrap() > 0);

    // The environment overrides the file.
    let env = [("LOGSHIP_PRIMARY_FSYNC", "no")];
    let (mut p, fsync) = start(with_config(&config, &env), &data, &[]);
    assert_eq!(fsync, "no");
    p.stop();

    // A flag overrides both.
    let (mut p, fsync) = start(with_config(&config, &env), &data, &["--fsync", "always"]);
    assert_eq!(fsync, "always");
    p.stop();
}

#[test]
fn an_invalid_file_stops_the_primary_with_one_line_naming_key_and_line() {
    let d = tempfile::tempdir().unwrap();
    let config = write(
        d.path(),
        "[primary]\ndata-dir = \"/nowhere\"\nfsync = \"sometimes\"\n",
    );
    let mut cmd = with_config(&config, &[]);
    cmd.arg("primary");
    let out = run(cmd);
    let line = out.assert_one_line_error(CONFIG_ERROR);
    assert_eq!(
        line,
        format!(
            "logship: error: {} line 3: [primary] fsync = \"sometimes\": invalid value: 'sometimes' is not an fsync policy (always, everysec, no)",
            config.display()
        )
    );

    // Any command: the file is checked before anything runs.
    let config = write(
        d.path(),
        "[primary]\nship-to = \"a:1\"\n\n[standby]\nlisten = 6380.5\n",
    );
    let mut cmd = with_config(&config, &[]);
    cmd.args(["verify", "/nowhere"]);
    let line = run(cmd).assert_one_line_error(CONFIG_ERROR).to_string();
    assert!(
        line.ends_with(
            "line 5: [standby] listen = (a float): expected a string or an integer, found a float"
        ),
        "{line}"
    );

    // An explicit file that is missing is an error too.
    let mut cmd = with_config(&d.path().join("missing.toml"), &[]);
    cmd.arg("config").arg("check");
    run(cmd).assert_one_line_error(CONFIG_ERROR);
}

#[test]
fn config_check_prints_every_setting_and_its_source() {
    let d = tempfile::tempdir().unwrap();
    let config = write(
        d.path(),
        "[primary]\nfsync = \"everysec\"\nship-to = [\"10.0.0.2:7000\"]\n\n[status]\nwarn-lag = \"30s\"\n",
    );
    let env = [("LOGSHIP_PRIMARY_LISTEN", "0.0.0.0:6379")];
    let mut cmd = with_config(&config, &env);
    cmd.args(["config", "check", "--role", "primary"]);
    let out = run(cmd);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let line = |key: &str| -> String {
        let prefix = format!("{key} = ");
        let l = out.stdout.lines().find(|l| l.starts_with(&prefix));
        l.unwrap_or_else(|| panic!("no {key}: {}", out.stdout))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("fsync"), "fsync = \"everysec\" # file:2");
    assert_eq!(line("ship-to"), "ship-to = [\"10.0.0.2:7000\"] # file:3");
    assert_eq!(
        line("listen"),
        "listen = \"0.0.0.0:6379\" # env LOGSHIP_PRIMARY_LISTEN"
    );
    assert_eq!(line("max-clients"), "max-clients = \"10000\" # default");
    assert!(
        out.stdout.contains("# metrics (no value)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("[status]"), "{}", out.stdout);

    let mut cmd = with_config(&config, &env);
    cmd.args(["--log-format", "json", "config", "check", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["file"], config.display().to_string());
    let entry = |section: &str, key: &str| -> serde_json::Value {
        let list = v["sections"][section].as_array().unwrap();
        list.iter().find(|e| e["key"] == key).unwrap().clone()
    };
    assert_eq!(
        entry("status", "warn-lag"),
        serde_json::json!({"key": "warn-lag", "value": "30s", "source": "file", "line": 6})
    );
    assert_eq!(
        entry("primary", "ship-to")["value"],
        serde_json::json!(["10.0.0.2:7000"])
    );
    assert_eq!(entry("primary", "listen")["var"], "LOGSHIP_PRIMARY_LISTEN");
    assert_eq!(entry("log", "format")["source"], "flag");
    assert_eq!(entry("log", "level")["value"], "info");
    assert_eq!(entry("primary", "ship-continuous")["value"], false);
}

#[test]
fn status_takes_its_thresholds_from_the_file() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data, "1MiB");
    let config = write(
        d.path(),
        &format!(
            "[status]\ndata-dir = {:?}\nwarn-failures = 3\n",
            data.display()
        ),
    );
    let mut cmd = with_config(&config, &[]);
    cmd.arg("status");
    let out: Out = run(cmd);
    // A threshold makes status a monitoring plugin: the verdict comes first.
    assert!(out.stdout.starts_with("LOGSHIP "), "{out:#?}");
}

#[test]
fn no_config_reads_no_file() {
    let d = tempfile::tempdir().unwrap();
    let bad = write(d.path(), "[nonsense]\n");
    let env = [("LOGSHIP_CONFIG", bad.to_str().unwrap())];
    let mut cmd = Command::new(BIN);
    cmd.args(["config", "check", "--role", "log"]).envs(env);
    run(cmd).assert_one_line_error(CONFIG_ERROR);

    let mut cmd = Command::new(BIN);
    cmd.args(["--no-config", "config", "check", "--role", "log"])
        .envs(env);
    let out = run(cmd);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stdout.starts_with("# configuration file: none\n"),
        "{}",
        out.stdout
    );
}
