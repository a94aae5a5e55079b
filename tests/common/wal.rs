//! Logs on disk for the `wal_*` and `cli_*` suites: making and damaging them,
//! disks (in-memory or a temporary directory), deterministic payloads, and
//! reading a log back.

use super::{logship, logship_p};
use logship::fs::{MemFs, SharedFs, StdFs};
use logship::wal::scan::{list_segments, SegmentFile};
use logship::wal::Appended;
use logship::wal::{self, Record, RecordKind, SyncPolicy, WalOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Makes a closed, sound log of `records` records of `record_bytes` bytes in
/// `dir` with 4 KiB segments, using `logship bench wal`.
pub fn make_log(dir: &Path, records: u64, record_bytes: u64) {
    let out = logship(&[
        "bench",
        "wal",
        "--dir",
        dir.to_str().unwrap(),
        "--records",
        &records.to_string(),
        "--record-bytes",
        &record_bytes.to_string(),
        "--sync",
        "never",
        "--segment-bytes",
        "4KiB",
    ]);
    assert_eq!(out.code, Some(0), "bench wal failed: {out:#?}");
}

/// The segment files of a WAL directory, in log order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// `verify --json` of a sound or torn log.
pub fn verify_json(path: &Path) -> serde_json::Value {
    let out = logship_p(&["verify", "--json"], path);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out:#?}");
    lines.into_iter().next().unwrap()
}

/// Flips one bit of the byte at `offset` of `file`.
pub fn flip_bit(file: &Path, offset: usize) {
    let mut b = std::fs::read(file).unwrap();
    b[offset] ^= 0x04;
    std::fs::write(file, b).unwrap();
}

/// Writes `bytes` at `offset` of `file` (which must be long enough).
pub fn write_at(file: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

/// First LSN of a segment, from its file name.
pub fn first_lsn_of(segment: &Path) -> u64 {
    let name = segment.file_name().unwrap().to_str().unwrap();
    u64::from_str_radix(&name[9..25], 16).unwrap()
}

/// System id every test log uses unless it tests identities.
pub const SYSTEM_ID: u64 = 0x5eed_0000_0000_0042;

/// Options for a test log.
pub fn options(dir: &Path, segment_bytes: u64, sync: SyncPolicy) -> WalOptions {
    let mut o = WalOptions::new(dir, SYSTEM_ID, 1);
    o.segment_bytes = segment_bytes;
    o.sync = sync;
    o
}

/// A deterministic payload of `len` bytes, none of them zero, different per `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 255) as u8 + 1
        })
        .collect()
}

/// Where a log lives: an in-memory file system or a temporary directory.
pub enum Disk {
    Mem(MemFs),
    Std(tempfile::TempDir),
}

impl Disk {
    /// An empty in-memory disk.
    pub fn mem() -> Disk {
        Disk::Mem(MemFs::new())
    }

    /// An empty temporary directory.
    pub fn std() -> Disk {
        Disk::Std(tempfile::tempdir().expect("create a temporary directory"))
    }

    /// A shared handle to the file system.
    pub fn fs(&self) -> SharedFs {
        match self {
            Disk::Mem(m) => Arc::new(m.clone()),
            Disk::Std(_) => StdFs::shared(),
        }
    }

    /// The WAL directory on this disk.
    pub fn dir(&self) -> PathBuf {
        match self {
            Disk::Mem(_) => PathBuf::from("/wal"),
            Disk::Std(t) => t.path().join("wal"),
        }
    }

    /// The whole content of a file.
    pub fn read(&self, path: &Path) -> Vec<u8> {
        self.fs().read(path).expect("read file").to_vec()
    }

    /// Overwrites bytes of a file in place.
    pub fn overwrite(&self, path: &Path, offset: u64, bytes: &[u8]) {
        match self {
            Disk::Mem(m) => m.poke(path, offset as usize, bytes),
            Disk::Std(_) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .expect("open file to damage");
                f.write_all_at(bytes, offset).expect("damage file");
            }
        }
    }

    /// Replaces a file by `content` (any length).
    pub fn replace(&self, path: &Path, content: &[u8]) {
        let fs = self.fs();
        if fs.exists(path) {
            fs.remove(path).expect("remove file");
        }
        let mut f = fs.create(path).expect("create file");
        f.write_all_at(content, 0).expect("write file");
        f.sync_data().expect("sync file");
        if let Some(d) = path.parent() {
            fs.sync_dir(d).expect("sync directory");
        }
    }

    /// A fresh disk of the same kind holding the same WAL directory content.
    pub fn copy_of(&self) -> Disk {
        let files: Vec<(String, Vec<u8>)> = self
            .fs()
            .list(&self.dir())
            .expect("list directory")
            .into_iter()
            .map(|n| {
                let data = self.read(&self.dir().join(&n));
                (n, data)
            })
            .collect();
        let copy = match self {
            Disk::Mem(_) => Disk::mem(),
            Disk::Std(_) => Disk::std(),
        };
        copy.fs().create_dir_all(&copy.dir()).expect("create dir");
        for (n, data) in files {
            copy.replace(&copy.dir().join(n), &data);
        }
        copy
    }

    /// Segment files in log order.
    pub fn segments(&self) -> Vec<SegmentFile> {
        list_segments(&*self.fs(), &self.dir()).expect("list segments")
    }

    /// Names of the files in the WAL directory.
    pub fn names(&self) -> Vec<String> {
        let mut v = self.fs().list(&self.dir()).expect("list directory");
        v.sort();
        v
    }
}

/// Every record of the log from LSN 0, seals included; panics on a read error.
pub fn all_records(fs: SharedFs, dir: &Path) -> Vec<Record> {
    wal::WalReader::open(fs, dir, 0, None)
        .expect("open reader")
        .map(|r| r.expect("read record"))
        .collect()
}

/// The data records of the log from LSN 0.
pub fn data_records(fs: SharedFs, dir: &Path) -> Vec<Record> {
    all_records(fs, dir)
        .into_iter()
        .filter(|r| r.kind == RecordKind::Data)
        .collect()
}

/// `(lsn, payload)` of the data records of the log.
pub fn lsn_payloads(fs: SharedFs, dir: &Path) -> Vec<(u64, Vec<u8>)> {
    data_records(fs, dir)
        .into_iter()
        .map(|r| (r.lsn, r.payload.to_vec()))
        .collect()
}

/// Checks that records follow each other without a hole: each starts where the
/// previous one ended (seals included), and every segment but the last ends with
/// a seal.
pub fn assert_contiguous(fs: SharedFs, dir: &Path) {
    let recs = all_records(fs.clone(), dir);
    for w in recs.windows(2) {
        assert_eq!(w[1].lsn, w[0].end_lsn, "hole after LSN {:#x}", w[0].lsn);
    }
    let report = wal::scan_dir(&*fs, dir).expect("scan");
    let n = report.segments.len();
    for s in report.segments.iter().take(n.saturating_sub(1)) {
        assert!(s.sealed, "{} is not sealed", s.file.path.display());
    }
}

/// Opens the log on `disk`, appends `count` records (payload `i` of
/// `len_of(i)` bytes), waits for them, closes, and returns what was appended.
pub fn write_log(
    disk: &Disk,
    opts: &WalOptions,
    count: u64,
    len_of: impl Fn(u64) -> usize,
) -> Vec<(Appended, Vec<u8>)> {
    let (w, _) = wal::open(disk.fs(), opts.clone()).expect("open log");
    let mut out = Vec::new();
    for i in 0..count {
        let p = payload(i, len_of(i));
        out.push((w.append(&p).expect("append"), p));
    }
    if let Some((a, _)) = out.last() {
        w.wait_acked(a.end_lsn).expect("acknowledged");
    }
    w.close().expect("close");
    out
}

/// `(lsn, payload)` pairs of appended records.
pub fn as_lsn_payloads(appended: &[(Appended, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
    appended.iter().map(|(a, p)| (a.lsn, p.clone())).collect()
}

/// File offset of the record at `lsn` in `seg`.
pub fn offset_in(seg: &SegmentFile, lsn: u64) -> u64 {
    logship::wal::format::SEGMENT_HEADER_BYTES as u64 + (lsn - seg.first_lsn)
}
