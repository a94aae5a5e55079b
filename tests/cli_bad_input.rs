//! Bad input to `dump` and `verify` ends in one clear error line and a non-zero
//! exit code, never a panic; `--help` works on every command; a closed stdout
//! (`logship … | head`) is no panic either.

mod common;
use common::{logship, logship_p};

const INSPECTORS: [&str; 2] = ["dump", "verify"];

#[test]
fn a_missing_path_is_named() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("no-such-wal");
    for cmd in INSPECTORS {
        let out = logship_p(&[cmd], &p);
        let line = out.assert_one_line_error(1);
        assert!(line.contains("no-such-wal"), "{line}");
        assert!(line.contains("No such file"), "{line}");
    }
}

#[test]
fn a_file_that_is_not_a_wal_segment_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("notes.txt");
    std::fs::write(
        &p,
        "these are not the segments you are looking for\n".repeat(4),
    )
    .unwrap();
    for cmd in INSPECTORS {
        let line = logship_p(&[cmd], &p).assert_one_line_error(1).to_string();
        assert!(line.contains("notes.txt"), "{line}");
        assert!(line.contains("not a logship WAL segment"), "{line}");
        assert!(line.contains("bad magic"), "{line}");
    }
}

#[test]
fn a_truncated_header_is_refused() {
    let d = tempfile::tempdir().unwrap();
    // Under a foreign name: not a segment at all (usage error).
    let loose = d.path().join("copy.bin");
    std::fs::write(&loose, b"LOGSHIPW\x01\x00").unwrap();
    // Under a segment's name in a WAL directory: a damaged segment (corruption).
    let wal = d.path().join("wal");
    std::fs::create_dir(&wal).unwrap();
    let seg = wal.join("00000001-0000000000000000.wal");
    std::fs::write(&seg, b"LOGSHIPW\x01\x00").unwrap();
    for cmd in INSPECTORS {
        let line = logship_p(&[cmd], &loose)
            .assert_one_line_error(1)
            .to_string();
        assert!(
            line.contains("shorter than a segment header (10 of 64 bytes)"),
            "{line}"
        );
        for p in [&wal, &seg] {
            let line = logship_p(&[cmd], p).assert_one_line_error(3).to_string();
            assert!(line.contains("00000001-0000000000000000.wal"), "{line}");
            assert!(line.contains("shorter than a segment header"), "{line}");
            assert!(line.contains("refuse"), "{line}");
        }
    }
}

#[test]
fn empty_directories_hold_no_wal() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(data.join("wal")).unwrap();
    std::fs::write(data.join("wal").join("next-0.prep"), b"").unwrap();
    for cmd in INSPECTORS {
        for p in [d.path().to_path_buf(), data.clone(), data.join("wal")] {
            let line = logship_p(&[cmd], &p).assert_one_line_error(1).to_string();
            assert!(line.contains("no WAL segments"), "{line}");
        }
    }
}

#[test]
fn an_unreadable_segment_is_an_io_error() {
    // A directory where a segment file should be: opening or mapping it fails.
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("00000001-0000000000000000.wal")).unwrap();
    for cmd in INSPECTORS {
        let line = logship_p(&[cmd], d.path())
            .assert_one_line_error(1)
            .to_string();
        assert!(line.contains("00000001-0000000000000000.wal"), "{line}");
    }
}

#[test]
fn an_unreadable_directory_is_an_io_error() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let locked = d.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read_dir(&locked).is_ok() {
        // Root reads any directory; the unreadable-segment test covers the I/O path.
        eprintln!("skipped: this user can read a mode-000 directory (root)");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
        return;
    }
    for cmd in INSPECTORS {
        let line = logship_p(&[cmd], &locked)
            .assert_one_line_error(1)
            .to_string();
        assert!(line.contains("locked"), "{line}");
        assert!(line.contains("Permission denied"), "{line}");
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn garbage_flags_get_one_line_and_exit_1() {
    let cases: [&[&str]; 7] = [
        &["verify", "--bogus", "x"],
        &["verify"],
        &["dump", "x", "--limit", "many"],
        &["dump", "x", "--from-lsn", "0/zz"],
        &["demo", "--writers", "0"],
        &["bench", "wal", "--dir", "x", "--sync", "sometimes"],
        &["frobnicate"],
    ];
    for args in cases {
        let out = logship(args);
        let line = out.assert_one_line_error(1);
        assert!(line.contains("--help"), "{args:?}: {line}");
    }
}

#[test]
fn every_command_has_help() {
    let cases: [(&[&str], &str); 6] = [
        (&["--help"], "verify"),
        (&["verify", "--help"], "Exit codes"),
        (&["dump", "--help"], "--from-lsn"),
        (&["demo", "--help"], "--writers"),
        (&["bench", "--help"], "wal"),
        (&["bench", "wal", "--help"], "--segment-bytes"),
    ];
    for (args, expect) in cases {
        let out = logship(args);
        assert_eq!(out.code, Some(0), "{args:?}: {out:#?}");
        assert!(out.stdout.contains("Usage:"), "{args:?}: {out:#?}");
        assert!(out.stdout.contains(expect), "{args:?}: {out:#?}");
    }
}

/// The writing end of a pipe whose reader is gone (`… | head` once head has
/// exited).
fn closed_pipe() -> std::process::Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe() fills the two descriptors, each then owned exactly once.
    let (reader, writer) = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "pipe");
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    drop(reader);
    std::process::Stdio::from(writer)
}

/// Runs `logship ARGS` with its stdout a pipe nobody reads: returns the exit
/// code and stderr.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let out = logship::config::hermetic(env!("CARGO_BIN_EXE_logship"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdin(std::process::Stdio::null())
        .stdout(closed_pipe())
        .output()
        .expect("run logship");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_is_not_a_panic_and_the_work_is_done() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let wal = d.path().join("wal");
    let data_s = data.to_str().unwrap();
    let wal_s = wal.to_str().unwrap();
    let cases: [&[&str]; 5] = [
        &["init", "--data-dir", data_s],
        &["status", "--data-dir", data_s],
        &["status", "--data-dir", data_s, "--json"],
        &[
            "bench",
            "wal",
            "--dir",
            wal_s,
            "--records",
            "100",
            "--sync",
            "never",
        ],
        &["verify", wal_s],
    ];
    for args in cases {
        let (code, stderr) = with_closed_stdout(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // What the commands were asked to do was done, output or not.
    let status = logship(&["status", "--data-dir", data_s, "--json"]);
    assert_eq!(status.code, Some(0), "{status:#?}");
    assert!(
        status.stdout.contains("\"role\":\"primary\""),
        "{status:#?}"
    );
    let verified = logship_p(&["verify", "--json"], &wal);
    assert_eq!(verified.code, Some(0), "{verified:#?}");
    assert!(verified.stdout.contains("\"records\":100"), "{verified:#?}");
}

#[test]
fn a_closed_stderr_keeps_the_exit_code_of_an_error() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("no-such-wal");
    let status = logship::config::hermetic(env!("CARGO_BIN_EXE_logship"))
        .arg("verify")
        .arg(&missing)
        .env_remove("RUST_BACKTRACE")
        .stdin(std::process::Stdio::null())
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .status()
        .expect("run logship");
    // 1 (usage/I-O error, as with a stderr to read), not 101 (a panic).
    assert_eq!(status.code(), Some(1));
}
