//! The configuration against the real `logship` command: file, environment
//! and flags, in that order of strength.

use super::argv::{built, is_secret, prepare, subcommand_at};
use super::file::ConfigFile;
use super::layers::{resolve, Choice, Layered};
use super::{ConfigError, Section, Source, Value};
use crate::cli::Cli;
use clap::{Command, CommandFactory};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

fn cli() -> Command {
    built(&Cli::command())
}

fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
    ConfigFile::parse(Path::new("logship.toml"), text)
}

fn no_env(_: &str) -> Option<OsString> {
    None
}

/// The error line of resolving `text` with no environment.
fn error(text: &str) -> String {
    match parse(text).and_then(|f| resolve(&cli(), Some(&f), &no_env)) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

/// `prepare` on `argv` (after `logship`) with the file `text` and `env`.
fn layered(text: &str, argv: &[&str], env: &[(&str, &str)]) -> Layered {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logship.toml");
    std::fs::write(&path, text).unwrap();
    let env: HashMap<String, OsString> =
        env.iter().map(|(k, v)| (k.to_string(), v.into())).collect();
    let mut full: Vec<OsString> = vec!["logship".into(), "--config".into(), path.into()];
    full.extend(argv.iter().map(OsString::from));
    prepare(&Cli::command(), full, &|v| env.get(v).cloned()).unwrap()
}

fn argv_text(l: &Layered) -> Vec<String> {
    l.argv
        .iter()
        .skip(3)
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn settings_keep_their_type_and_line() {
    let f = parse(
        "# comment\n[primary]\nfsync = \"always\"\nmax-args = 1_000\n\n[standby]\nship-to = [\"a:1\", \"b:2\"]\ninsecure-no-auth = true\nx = 1.5\n",
    )
    .unwrap();
    let got: Vec<(Section, &str, &Value, usize)> = f
        .settings
        .iter()
        .map(|s| (s.section, s.key.as_str(), &s.value, s.line))
        .collect();
    assert_eq!(
        got,
        [
            (Section::Primary, "fsync", &Value::Str("always".into()), 3),
            (Section::Primary, "max-args", &Value::Int(1000), 4),
            (
                Section::Standby,
                "ship-to",
                &Value::List(vec![Value::Str("a:1".into()), Value::Str("b:2".into())]),
                7
            ),
            (Section::Standby, "insecure-no-auth", &Value::Bool(true), 8),
            (Section::Standby, "x", &Value::Other("a float"), 9),
        ]
    );
}

#[test]
fn a_file_that_is_not_toml_or_has_an_unknown_section_names_the_line() {
    assert_eq!(
        parse("[primary]\nfsync = \"always\"\n\n[primry]\n").unwrap_err().to_string(),
        "logship.toml line 4: unknown section [primry] (sections: primary, standby, ship, archive, status, log, [[node]])"
    );
    let e = parse("[primary]\nfsync = always\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("logship.toml line 2: not TOML: "), "{e}");
    let e = parse("primary = 1\n").unwrap_err().to_string();
    assert_eq!(
        e,
        "logship.toml line 1: primary must be a section: [primary]"
    );
}

#[test]
fn unknown_keys_one_shot_switches_and_misplaced_keys_name_the_line() {
    assert_eq!(
        error("[primary]\nfsync = \"always\"\nfsycn = \"no\"\n"),
        "logship.toml line 3: [primary] fsycn = \"no\": unknown key (see `logship config check --role primary`)"
    );
    assert_eq!(
        error("[ship]\n\nonce = true\n"),
        "logship.toml line 3: [ship] once = true: a one-shot switch, not a setting: give --once on the command line"
    );
    assert_eq!(
        error("[primary]\narchive-to = \"file:///a\"\n"),
        "logship.toml line 2: [primary] archive-to = \"file:///a\": not a key of [primary]; it belongs in [archive]"
    );
    assert_eq!(
        error("[status]\njson = true\n"),
        "logship.toml line 2: [status] json = true: a one-shot switch, not a setting: give --json on the command line"
    );
}

#[test]
fn wrong_types_and_values_are_refused_by_the_flags_own_parser() {
    assert_eq!(
        error("[primary]\nfsync = \"sometimes\"\n"),
        "logship.toml line 2: [primary] fsync = \"sometimes\": invalid value: 'sometimes' is not an fsync policy (always, everysec, no)"
    );
    assert_eq!(
        error("[primary]\nship-continuous = \"yes\"\n"),
        "logship.toml line 2: [primary] ship-continuous = \"yes\": expected true or false, found a string"
    );
    assert_eq!(
        error("[primary]\nfsync = [\"always\"]\n"),
        "logship.toml line 2: [primary] fsync = [\"always\"]: expected one value, found an array"
    );
    assert_eq!(
        error("[primary]\nship-to = [\"a:1\", 2.5]\n"),
        "logship.toml line 2: [primary] ship-to = [\"a:1\", (a float)]: expected a string or an integer, found a float"
    );
    assert!(error("[primary]\nkeep-snapshots = 0\n")
        .contains("line 2: [primary] keep-snapshots = 0: invalid value"));
    assert!(error("[log]\nlevel = \"logship=loud\"\n")
        .contains("[log] level = \"logship=loud\": invalid value"));
    assert!(error("[log]\nformat = \"xml\"\n").contains("possible values: text, json"));
}

#[test]
fn conflicting_settings_name_both_lines() {
    assert_eq!(
        error("[primary]\nship-every = \"1m\"\n\nship-continuous = true\n"),
        "logship.toml line 4: [primary] ship-continuous = true: conflicts with ship-every (line 2); keep one"
    );
    assert!(
        error("[standby]\nauth-key-file = \"/k\"\ninsecure-no-auth = true\n").contains("line 3")
    );
    // A switch that is off conflicts with nothing.
    let f = parse("[primary]\nship-every = \"1m\"\nship-continuous = false\n").unwrap();
    assert_eq!(resolve(&cli(), Some(&f), &no_env).unwrap().len(), 2);
}

#[test]
fn arrays_and_integers_become_flag_values() {
    let l = layered(
        "[primary]\nship-to = [\"a:1\", \"b:2\"]\nmax-args = 7\nship-continuous = true\n",
        &["primary", "--data-dir", "/d"],
        &[],
    );
    assert_eq!(
        argv_text(&l),
        [
            "primary",
            "--ship-to=a:1",
            "--ship-to=b:2",
            "--max-args=7",
            "--ship-continuous",
            "--data-dir",
            "/d"
        ]
    );
}

#[test]
fn the_environment_overrides_the_file_and_flags_override_both() {
    let file = "[primary]\nfsync = \"everysec\"\nlisten = \"127.0.0.1:1\"\nship-every = \"1m\"\nship-to = [\"a:1\"]\n";
    let env = [
        ("LOGSHIP_PRIMARY_FSYNC", "no"),
        ("LOGSHIP_PRIMARY_SHIP_CONTINUOUS", "true"),
    ];
    let l = layered(file, &["primary", "--listen", "127.0.0.1:2"], &env);
    // The environment's fsync and schedule; the flag's listen; the file's ship-to.
    assert_eq!(
        argv_text(&l),
        [
            "primary",
            "--fsync=no",
            "--ship-continuous",
            "--ship-to=a:1",
            "--listen",
            "127.0.0.1:2"
        ]
    );
    let fsync = l.choices.iter().find(|c| c.key == "fsync").unwrap();
    assert_eq!(
        fsync.source,
        Source::Env {
            var: "LOGSHIP_PRIMARY_FSYNC".into()
        }
    );
    // A flag conflicting with a file value drops it.
    let l = layered(
        file,
        &["primary", "--ship-cron", "@hourly", "--data-dir", "/d"],
        &[],
    );
    assert!(
        !argv_text(&l).iter().any(|a| a.starts_with("--ship-every")),
        "{:?}",
        l.argv
    );
    assert!(Cli::command().try_get_matches_from(&l.argv).is_ok());
    // Repeatable from the environment: commas.
    let l = layered("", &["primary"], &[("LOGSHIP_PRIMARY_SHIP_TO", "a:1, b:2")]);
    assert_eq!(argv_text(&l), ["primary", "--ship-to=a:1", "--ship-to=b:2"]);
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let argv = vec!["logship".into(), "--no-config".into(), "primary".into()];
    let env = |v: &str| (v == "LOGSHIP_PRIMARY_FSYNC").then(|| OsString::from("often"));
    let e = prepare(&Cli::command(), argv, &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "environment LOGSHIP_PRIMARY_FSYNC=\"often\": invalid value: 'often' is not an fsync policy (always, everysec, no)"
    );
    drop(dir);
}

#[test]
fn archive_keys_reach_primary_and_standby_but_not_its_data_dir() {
    let file = "[archive]\ndata-dir = \"/x\"\nto = \"file:///a\"\narchive-to = \"file:///b\"\n";
    let l = layered(file, &["primary", "--data-dir", "/d"], &[]);
    assert_eq!(
        argv_text(&l),
        ["primary", "--archive-to=file:///b", "--data-dir", "/d"]
    );
    let l = layered(file, &["archive", "--once"], &[]);
    assert_eq!(
        argv_text(&l),
        [
            "archive",
            "--data-dir=/x",
            "--to=file:///a",
            "--archive-to=file:///b",
            "--once"
        ]
    );
    // `archive list` is another command: the settings of `archive` stay out.
    let l = layered(file, &["archive", "list", "--archive", "file:///a"], &[]);
    assert_eq!(argv_text(&l), ["archive", "list", "--archive", "file:///a"]);
}

#[test]
fn log_format_and_level() {
    let l = layered(
        "[log]\nformat = \"json\"\nlevel = \"warn\"\n",
        &["verify", "x"],
        &[],
    );
    assert_eq!(l.argv[1], "--log-format=json");
    assert_eq!(l.log_level(), Some("warn"));
    let l = layered(
        "[log]\nformat = \"json\"\nlevel = \"warn\"\n",
        &["--log-format", "text", "verify", "x"],
        &[("LOGSHIP_LOG", "debug")],
    );
    assert_eq!(argv_text(&l), ["--log-format", "text", "verify", "x"]);
    assert_eq!(l.log_level(), Some("debug"));
}

#[test]
fn the_subcommand_is_found_past_global_flags() {
    let argv = |a: &[&str]| -> Vec<OsString> { a.iter().map(OsString::from).collect() };
    let c = cli();
    let at = |a: &[&str]| subcommand_at(&c, &argv(a));
    assert_eq!(
        at(&["logship", "--no-config", "--config", "f", "primary"]),
        Some((4, "primary".into()))
    );
    assert_eq!(
        at(&["logship", "--log-format=json", "status"]),
        Some((2, "status".into()))
    );
    assert_eq!(at(&["logship", "--help"]), None);
    assert_eq!(at(&["logship", "nonsense"]), None);
}

#[test]
fn secrets_are_named_by_key_but_files_are_not_secret() {
    let c = cli();
    let primary = c.find_subcommand("primary").unwrap();
    let arg = |long: &str| {
        primary
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .unwrap()
            .clone()
    };
    assert!(!is_secret("auth-key-file", &arg("auth-key-file")));
    assert!(!is_secret("tls-key", &arg("tls-key")));
    assert!(!is_secret("fsync", &arg("fsync")));
    let plain = clap::Arg::new("x").long("x");
    assert!(is_secret("password", &plain));
    assert!(is_secret("s3-secret", &plain));
    assert!(is_secret("api-key", &plain));
}

#[test]
fn config_check_reports_each_source() {
    let l = layered(
        "[primary]\nfsync = \"no\"\n",
        &["config", "check"],
        &[("LOGSHIP_PRIMARY_LISTEN", "127.0.0.1:9")],
    );
    let eff = l.effective(&cli(), Section::Primary, "text");
    let find = |k: &str| eff.iter().find(|e| e.key == k).unwrap().clone();
    assert_eq!(find("fsync").source, Source::File { line: 2 });
    assert_eq!(
        find("listen").source,
        Source::Env {
            var: "LOGSHIP_PRIMARY_LISTEN".into()
        }
    );
    assert_eq!(find("max-args").source, Source::Default);
    assert_eq!(find("maxmemory").values, Some(vec!["0".to_string()]));
    assert_eq!(find("metrics").values, None);
    let _: &[Choice] = &l.choices;
}

const CLUSTER: &str = "[primary]\nship-continuous = true\nfsync = \"everysec\"\n\n[standby]\nship-continuous = true\n\n[[node]]\nname = \"a\"\ndata-dir = \"/d/a\"\nlisten = \"h:1\"\nship-listen = \"h:2\"\nfsync = \"always\"\n\n[[node]]\nname = \"b\"\ndata-dir = \"/d/b\"\nlisten = \"h:3\"\nship-listen = \"h:4\"\n\n[[node]]\nname = \"c\"\ndata-dir = \"/d/c\"\nlisten = \"h:5\"\nship-listen = \"h:6\"\nupstream = \"b\"\n";

#[test]
fn a_node_gives_its_role_the_cluster_s_flags() {
    let l = layered(CLUSTER, &["--node", "a", "primary"], &[]);
    let argv = argv_text(&l);
    let at = argv.iter().position(|a| a == "primary").unwrap();
    assert_eq!(
        argv[at + 1..].to_vec(),
        [
            "--ship-continuous",
            "--data-dir=/d/a",
            "--listen=h:1",
            "--ship-to=h:4",
            "--fsync=always",
        ],
        "the node's own fsync wins over [primary]'s; c is fed by b, not a"
    );
    let l = layered(CLUSTER, &["--node", "b", "standby"], &[]);
    let argv = argv_text(&l);
    for want in [
        "--ship-listen=h:4",
        "--ship-to=h:2",
        "--ship-to=h:6",
        "--cascade-to=h:6",
    ] {
        assert!(argv.contains(&want.to_string()), "{want} not in {argv:?}");
    }
}

#[test]
fn the_environment_and_flags_win_over_a_node() {
    let l = layered(
        CLUSTER,
        &["primary", "--listen", "h:9"],
        &[("LOGSHIP_NODE", "a"), ("LOGSHIP_PRIMARY_FSYNC", "no")],
    );
    let argv = argv_text(&l);
    assert!(!argv.iter().any(|a| a.starts_with("--listen=")), "{argv:?}");
    assert!(argv.contains(&"--fsync=no".to_string()), "{argv:?}");
    assert!(!argv.contains(&"--fsync=always".to_string()), "{argv:?}");
    // Any command with --data-dir takes the node's.
    let l = layered(CLUSTER, &["--node", "c", "status"], &[]);
    assert!(argv_text(&l).contains(&"--data-dir=/d/c".to_string()));
}

#[test]
fn the_nodes_are_checked() {
    let err = |text: &str| {
        let f = parse(text).and_then(|f| super::cluster::Cluster::from_file(&cli(), &f));
        match f {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    };
    let e = err("[[node]]\ndata-dir = \"/x\"\n");
    assert!(
        e.contains("line 2: [[node]] (no name): a node needs name"),
        "{e}"
    );
    let e = err("[[node]]\nname = \"a\"\ndata-dir = \"/x\"\nlisten = \"h:1\"\n");
    assert!(e.contains("a node needs ship-listen"), "{e}");
    let e =
        err("[[node]]\nname = \"a\"\ndata-dir = \"/x\"\nlisten = \"h1\"\nship-listen = \"h:2\"\n");
    assert!(
        e.contains("line 4: [[node]] a: listen \"h1\" is not host:port"),
        "{e}"
    );
    let e = err("[[node]]\nname = \"a b\"\n");
    assert!(e.contains("letters, digits"), "{e}");
    let e = err("[[node]]\nname = \"a\"\ndata-dir = \"/x\"\nlisten = \"h:1\"\nship-listen = \"h:2\"\nupstream = \"z\"\n");
    assert!(e.contains("upstream \"z\" is not a node (nodes: a)"), "{e}");
    let e = err("[[node]]\nname = \"a\"\ndata-dir = \"/x\"\nlisten = \"h:1\"\nship-listen = \"h:2\"\nship-to = [\"h:9\"]\n");
    assert!(
        e.contains("line 6") && e.contains("the cluster decides"),
        "{e}"
    );
    let e = err("node = 3\n");
    assert!(e.contains("write each node as [[node]]"), "{e}");
}

#[test]
fn global_flags_are_found_after_the_command_too() {
    let args: Vec<OsString> = [
        "--config",
        "/f",
        "--rejoin-wait",
        "5s",
        "--node=a",
        "--no-config",
        "--",
        "--node",
        "b",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let got: Vec<String> = super::argv::global_flags(&args)
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(got, ["--config", "/f", "--node=a", "--no-config"]);
}
