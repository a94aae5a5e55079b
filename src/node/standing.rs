//! The LSN check before a promotion: is everything received applied, and how
//! much of what the primary last reported as durable would be lost?

use serde::{Deserialize, Serialize};

/// Where a standby stands, as promotion sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub system_id: u64,
    pub timeline: u32,
    pub received_lsn: u64,
    pub applied_lsn: u64,
    /// The primary's durable LSN as last known (its last shipment, or the
    /// answer to the final shipment when it was reachable).
    pub primary_durable_lsn: u64,
    /// When the primary was last heard from.
    pub last_receive_unix_ms: u64,
    /// Write time of the newest received record.
    pub last_record_unix_ms: u64,
}

/// The verdict of the check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// True when promotion may go ahead without `--force`.
    pub ready: bool,
    /// Why not (empty when ready).
    pub reasons: Vec<String>,
    /// Log bytes the primary had durable that this standby lacks.
    pub loss_bytes: u64,
    /// The span of primary writes that would be lost: from the newest record
    /// received to the primary's last report (a lower bound; 0 without loss).
    pub loss_window_seconds: f64,
    /// Seconds since the newest missing record was written, at least (the
    /// primary's last report was no later than it).
    pub loss_age_seconds: f64,
    /// Received but not yet applied.
    pub unapplied_bytes: u64,
}

/// Checks `s` at time `now_unix_ms`.
pub fn check(s: &Standing, now_unix_ms: u64) -> Verdict {
    let mut reasons = Vec::new();
    if s.system_id == 0 {
        reasons.push("this standby has received nothing from a primary yet".to_string());
    }
    let unapplied_bytes = s.received_lsn.saturating_sub(s.applied_lsn);
    if unapplied_bytes > 0 {
        reasons.push(format!(
            "{unapplied_bytes} bytes received are not applied yet (applied LSN {}, received LSN {})",
            crate::wal::format_lsn(s.applied_lsn),
            crate::wal::format_lsn(s.received_lsn)
        ));
    }
    let loss_bytes = s.primary_durable_lsn.saturating_sub(s.received_lsn);
    let (mut loss_window_seconds, mut loss_age_seconds) = (0.0, 0.0);
    if loss_bytes > 0 {
        loss_window_seconds =
            s.last_receive_unix_ms.saturating_sub(s.last_record_unix_ms) as f64 / 1000.0;
        loss_age_seconds = now_unix_ms.saturating_sub(s.last_receive_unix_ms) as f64 / 1000.0;
        reasons.push(format!(
            "behind the primary: it had LSN {} durable, this standby received up to {}; {loss_bytes} bytes of log would be lost (writes of up to {loss_window_seconds:.1} s, the newest at least {loss_age_seconds:.0} s ago)",
            crate::wal::format_lsn(s.primary_durable_lsn),
            crate::wal::format_lsn(s.received_lsn),
        ));
    }
    Verdict {
        ready: reasons.is_empty(),
        reasons,
        loss_bytes,
        loss_window_seconds,
        loss_age_seconds,
        unapplied_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caught_up() -> Standing {
        Standing {
            system_id: 9,
            timeline: 1,
            received_lsn: 1000,
            applied_lsn: 1000,
            primary_durable_lsn: 1000,
            last_receive_unix_ms: 50_000,
            last_record_unix_ms: 49_000,
        }
    }

    #[test]
    fn caught_up_is_ready() {
        let v = check(&caught_up(), 60_000);
        assert!(v.ready, "{v:?}");
        assert_eq!((v.loss_bytes, v.unapplied_bytes), (0, 0));
        assert_eq!(v.loss_window_seconds, 0.0);
    }

    #[test]
    fn behind_states_the_loss() {
        let s = Standing {
            primary_durable_lsn: 1500,
            ..caught_up()
        };
        let v = check(&s, 60_000);
        assert!(!v.ready);
        assert_eq!(v.loss_bytes, 500);
        assert_eq!(v.loss_window_seconds, 1.0);
        assert_eq!(v.loss_age_seconds, 10.0);
        assert!(v.reasons[0].contains("500 bytes"), "{:?}", v.reasons);
    }

    #[test]
    fn unapplied_and_empty_are_not_ready() {
        let v = check(
            &Standing {
                applied_lsn: 900,
                ..caught_up()
            },
            0,
        );
        assert!(!v.ready);
        assert_eq!(v.unapplied_bytes, 100);
        let v = check(&Standing::default(), 0);
        assert!(!v.ready);
        assert!(v.reasons[0].contains("nothing"));
    }
}
