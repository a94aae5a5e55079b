//! Which records `logship dump` shows: `--effect`, `--key`, `--from-time`,
//! `--to-time`, combined with AND.

use crate::resp::glob::Pattern;
use crate::store::describe::{self, EFFECT_NAMES};
use crate::store::Effect;
use crate::wal::Record;

/// An `--effect` value that names no effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an effect name (one of: {names})", names = EFFECT_NAMES.join(", "))]
pub struct UnknownEffect(String);

/// Parses an `--effect` value, case-insensitively, into its name in
/// [`EFFECT_NAMES`].
///
/// # Errors
/// [`UnknownEffect`], listing the names there are.
pub fn effect_name(s: &str) -> Result<&'static str, UnknownEffect> {
    let lower = s.trim().to_ascii_lowercase();
    EFFECT_NAMES
        .iter()
        .find(|n| **n == lower)
        .copied()
        .ok_or_else(|| UnknownEffect(s.into()))
}

/// The conditions a record must meet to be shown; an empty one keeps every
/// record.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Effect names (from [`EFFECT_NAMES`]): a record with one of them is kept.
    /// Empty: any record.
    pub effects: Vec<&'static str>,
    /// A record with an effect naming a key that matches is kept.
    pub key: Option<Pattern>,
    /// Records appended at or after this time (Unix ms) are kept.
    pub from_unix_ms: Option<u64>,
    /// Records appended at or before this time (Unix ms) are kept.
    pub to_unix_ms: Option<u64>,
}

impl Filter {
    /// Whether a record is shown: `effects` are its decoded effects (`None`
    /// for a record that is not data, or whose payload does not decode; such
    /// a record never matches `--effect` or `--key`). A record without a time
    /// (0) never matches a time bound.
    pub fn keeps(&self, r: &Record, effects: Option<&[Effect<'_>]>) -> bool {
        let t = r.timestamp_unix_ms;
        let timed = self.from_unix_ms.is_none() && self.to_unix_ms.is_none()
            || t != 0
                && self.from_unix_ms.is_none_or(|from| t >= from)
                && self.to_unix_ms.is_none_or(|to| t <= to);
        timed && self.keeps_effects(effects.unwrap_or_default(), effects.is_some())
    }

    fn keeps_effects(&self, effects: &[Effect<'_>], decoded: bool) -> bool {
        if self.effects.is_empty() && self.key.is_none() {
            return true;
        }
        let named = self.effects.is_empty()
            || effects
                .iter()
                .any(|e| self.effects.contains(&describe::name(e)));
        let keyed = self.key.as_ref().is_none_or(|p| {
            effects
                .iter()
                .any(|e| describe::keys(e).iter().any(|k| p.matches(k)))
        });
        decoded && named && keyed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Blob;
    use crate::wal::RecordKind;

    fn record(t: u64) -> Record {
        Record {
            lsn: 0,
            end_lsn: 64,
            timeline: 1,
            timestamp_unix_ms: t,
            kind: RecordKind::Data,
            payload: Default::default(),
            crc: 0,
        }
    }

    #[test]
    fn effect_names_are_case_insensitive_and_unknown_ones_list_the_rest() {
        assert_eq!(effect_name("FlushAll"), Ok("flushall"));
        assert_eq!(effect_name("lpush"), Ok("lpush"));
        let e = effect_name("push").unwrap_err().to_string();
        assert!(
            e.starts_with("'push' is not an effect name (one of: set, del,"),
            "{e}"
        );
        assert!(e.contains("lpush, rpush"), "{e}");
    }

    #[test]
    fn filters_combine_with_and() {
        let b = |s: &'static str| Blob::borrowed(s.as_bytes());
        let set_user = [Effect::Set {
            key: b("user:1"),
            value: b("x"),
            expire_at_unix_ms: None,
        }];
        let rename = [
            Effect::Select { db: 2 },
            Effect::Rename {
                from: b("tmp"),
                to: b("user:2"),
            },
        ];
        let flush = [Effect::FlushAll];
        let r = record(1_000);
        let keep = |f: &Filter, fx: &[Effect<'_>]| f.keeps(&r, Some(fx));

        let all = Filter::default();
        assert!(keep(&all, &flush) && all.keeps(&r, None));

        let users = Filter {
            key: Some(Pattern::new(b"user:*")),
            ..Filter::default()
        };
        assert!(keep(&users, &set_user) && keep(&users, &rename));
        assert!(!keep(&users, &flush) && !users.keeps(&r, None));

        let sets = Filter {
            effects: vec!["set", "flushall"],
            ..Filter::default()
        };
        assert!(keep(&sets, &set_user) && keep(&sets, &flush) && !keep(&sets, &rename));

        let both = Filter {
            effects: vec!["flushall"],
            key: Some(Pattern::new(b"user:*")),
            ..Filter::default()
        };
        assert!(!keep(&both, &set_user) && !keep(&both, &flush));
    }

    #[test]
    fn time_bounds_are_inclusive_and_untimed_records_are_left_out() {
        let f = Filter {
            from_unix_ms: Some(1_000),
            to_unix_ms: Some(2_000),
            ..Filter::default()
        };
        for (t, kept) in [(999, false), (1_000, true), (2_000, true), (2_001, false)] {
            assert_eq!(f.keeps(&record(t), None), kept, "time {t}");
        }
        let to = Filter {
            to_unix_ms: Some(2_000),
            ..Filter::default()
        };
        assert!(!to.keeps(&record(0), None));
        assert!(Filter::default().keeps(&record(0), None));
    }
}
