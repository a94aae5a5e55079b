//! Where each object lives in the archive: names that sort by position, so a
//! listing after a known name returns only what is newer.
//!
//! ```text
//! PREFIX/SSSSSSSSSSSSSSSS/wal/TTTTTTTT/AAAAAAAAAAAAAAAA-BBBBBBBBBBBBBBBB.lwal   WAL [A, B) of timeline T
//! PREFIX/SSSSSSSSSSSSSSSS/snapshots/TTTTTTTT-LLLLLLLLLLLLLLLL.lsnap           snapshot covering L
//! PREFIX/SSSSSSSSSSSSSSSS/history/TTTTTTTT.lhist                             history of timeline T
//! PREFIX/SSSSSSSSSSSSSSSS/gaps/TTTTTTTT-AAAAAAAAAAAAAAAA-BBBBBBBBBBBBBBBB.lgap  WAL [A, B) lost
//! PREFIX/SSSSSSSSSSSSSSSS/heartbeat/TTTTTTTT.lbeat                           the idle primary's last word
//! ```
//!
//! `S` is the system id (16 hex digits), `T` a timeline (8), `A`, `B`, `L`
//! LSNs (16), all lower-case and zero-padded, as WAL segment names are. Every
//! object is written once and never changed, except the heartbeat, which an
//! idle archiver replaces (at most once per `--archive-heartbeat`).

use super::object::Kind;

/// The object name of each kind, below the system's folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Name {
    Wal {
        timeline: u32,
        start_lsn: u64,
        end_lsn: u64,
    },
    Snapshot {
        timeline: u32,
        lsn: u64,
    },
    History {
        timeline: u32,
    },
    Gap {
        timeline: u32,
        start_lsn: u64,
        end_lsn: u64,
    },
    Heartbeat {
        timeline: u32,
    },
}

/// The folders of a system, in the order `list` reads them.
pub const FOLDERS: [&str; 5] = ["history", "snapshots", "wal", "gaps", "heartbeat"];

impl Name {
    /// The object's path below the system's folder.
    pub fn path(&self) -> String {
        match *self {
            Name::Wal {
                timeline,
                start_lsn,
                end_lsn,
            } => format!("wal/{timeline:08x}/{start_lsn:016x}-{end_lsn:016x}.lwal"),
            Name::Snapshot { timeline, lsn } => {
                format!("snapshots/{timeline:08x}-{lsn:016x}.lsnap")
            }
            Name::History { timeline } => format!("history/{timeline:08x}.lhist"),
            Name::Gap {
                timeline,
                start_lsn,
                end_lsn,
            } => format!("gaps/{timeline:08x}-{start_lsn:016x}-{end_lsn:016x}.lgap"),
            Name::Heartbeat { timeline } => format!("heartbeat/{timeline:08x}.lbeat"),
        }
    }

    /// The name a path below the system's folder stands for; `None` for
    /// anything else (a stray file is not the archive's).
    pub fn parse(path: &str) -> Option<Name> {
        let (folder, rest) = path.split_once('/')?;
        match folder {
            "wal" => {
                let (tl, file) = rest.split_once('/')?;
                let (a, b) = file.strip_suffix(".lwal")?.split_once('-')?;
                Some(Name::Wal {
                    timeline: hex32(tl)?,
                    start_lsn: hex64(a)?,
                    end_lsn: hex64(b)?,
                })
            }
            "snapshots" => {
                let (tl, l) = rest.strip_suffix(".lsnap")?.split_once('-')?;
                Some(Name::Snapshot {
                    timeline: hex32(tl)?,
                    lsn: hex64(l)?,
                })
            }
            "history" => Some(Name::History {
                timeline: hex32(rest.strip_suffix(".lhist")?)?,
            }),
            "gaps" => {
                let mut it = rest.strip_suffix(".lgap")?.splitn(3, '-');
                Some(Name::Gap {
                    timeline: hex32(it.next()?)?,
                    start_lsn: hex64(it.next()?)?,
                    end_lsn: hex64(it.next()?)?,
                })
            }
            "heartbeat" => Some(Name::Heartbeat {
                timeline: hex32(rest.strip_suffix(".lbeat")?)?,
            }),
            _ => None,
        }
    }

    /// The object kind the name holds (a heartbeat is a WAL object of no
    /// records).
    pub fn kind(&self) -> Kind {
        match self {
            Name::Wal { .. } | Name::Heartbeat { .. } => Kind::Wal,
            Name::Snapshot { .. } => Kind::Snapshot,
            Name::History { .. } => Kind::History,
            Name::Gap { .. } => Kind::Gap,
        }
    }

    /// The timeline the name belongs to.
    pub fn timeline(&self) -> u32 {
        match *self {
            Name::Wal { timeline, .. }
            | Name::Snapshot { timeline, .. }
            | Name::History { timeline }
            | Name::Gap { timeline, .. }
            | Name::Heartbeat { timeline } => timeline,
        }
    }
}

/// The system's folder below the archive's prefix.
pub fn system_folder(system_id: u64) -> String {
    format!("{system_id:016x}")
}

/// The system a folder name stands for.
pub fn parse_system_folder(s: &str) -> Option<u64> {
    (s.len() == 16).then(|| hex64(s)).flatten()
}

fn hex32(s: &str) -> Option<u32> {
    if s.len() != 8
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

fn hex64(s: &str) -> Option<u64> {
    if s.len() != 16
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_position() {
        let names = [
            Name::Wal {
                timeline: 1,
                start_lsn: 0,
                end_lsn: 0x1000,
            },
            Name::Wal {
                timeline: 1,
                start_lsn: 0x1000,
                end_lsn: 0x20000,
            },
            Name::Snapshot {
                timeline: 2,
                lsn: 0xabc,
            },
            Name::History { timeline: 3 },
            Name::Gap {
                timeline: 1,
                start_lsn: 5,
                end_lsn: 9,
            },
            Name::Heartbeat { timeline: 1 },
        ];
        for n in names {
            assert_eq!(Name::parse(&n.path()), Some(n), "{}", n.path());
        }
        assert!(names[0].path() < names[1].path());
        assert_eq!(
            names[1].path(),
            "wal/00000001/0000000000001000-0000000000020000.lwal"
        );
        for bad in [
            "wal/1/0-1.lwal",
            "x/00000001.lhist",
            "history/0000000G.lhist",
            "wal/00000001/0000000000001000-0000000000020000.wal",
        ] {
            assert_eq!(Name::parse(bad), None, "{bad}");
        }
    }
}
