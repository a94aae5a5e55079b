//! The standby's limit on failed ship handshakes, per peer IP: after
//! [`LimitPolicy::max_failures`] failures (wrong HMAC proof, failed TLS
//! handshake) within [`LimitPolicy::window`], the IP is refused for a block
//! that doubles with each further burst, up to [`LimitPolicy::max_block`].
//! A successful handshake forgets the IP. The table is bounded
//! ([`LimitPolicy::max_peers`]): stale entries go first, then the entry whose
//! last failure is oldest.
//!
//! It also remembers which IPs were told about a TLS/plain mismatch, so that a
//! primary retrying with the wrong transport is logged once, not per retry.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitPolicy {
    /// Failures within `window` that start a block.
    pub max_failures: u32,
    pub window: Duration,
    /// The first block; each further burst doubles it.
    pub first_block: Duration,
    pub max_block: Duration,
    /// Most IPs tracked.
    pub max_peers: usize,
}

impl Default for LimitPolicy {
    /// 5 failures in 60 s block for 2 s, then 4, 8, … up to 60 s; 4096 IPs.
    fn default() -> LimitPolicy {
        LimitPolicy {
            max_failures: 5,
            window: Duration::from_secs(60),
            first_block: Duration::from_secs(2),
            max_block: Duration::from_secs(60),
            max_peers: 4096,
        }
    }
}

/// A block that just started: logged once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    pub failures: u32,
    pub window: Duration,
    pub block: Duration,
}

#[derive(Debug)]
struct Entry {
    /// Failures inside the window, oldest first; at most `max_failures`.
    failures: Vec<Instant>,
    blocked_until: Option<Instant>,
    /// The length of the next block.
    next_block: Duration,
}

impl Entry {
    fn last_seen(&self) -> Option<Instant> {
        self.failures.last().copied().max(self.blocked_until)
    }
}

/// Failed handshakes per IP.
#[derive(Debug, Default)]
pub struct HandshakeLimiter {
    policy: LimitPolicy,
    peers: Mutex<HashMap<IpAddr, Entry>>,
    /// IPs whose transport mismatch was logged (at most `max_peers`).
    mismatched: Mutex<HashSet<IpAddr>>,
}

impl HandshakeLimiter {
    pub fn new(policy: LimitPolicy) -> HandshakeLimiter {
        assert!(policy.max_failures > 0 && policy.max_peers > 0);
        HandshakeLimiter {
            policy,
            peers: Mutex::new(HashMap::new()),
            mismatched: Mutex::new(HashSet::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How much longer `ip` is refused, if it is.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let peers = self.lock();
        let until = peers.get(&ip)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failed handshake from `ip`; returns the block it starts, if any.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Option<Burst> {
        let p = self.policy;
        let mut peers = self.lock();
        if !peers.contains_key(&ip) && peers.len() >= p.max_peers {
            evict(&mut peers, now, p.window);
        }
        let e = peers.entry(ip).or_insert_with(|| Entry {
            failures: Vec::new(),
            blocked_until: None,
            next_block: p.first_block,
        });
        if e.blocked_until.is_some_and(|u| u > now) {
            return None;
        }
        // A quiet IP starts over from the first block.
        if e.last_seen()
            .is_some_and(|t| now.duration_since(t) > p.window)
        {
            e.next_block = p.first_block;
        }
        e.failures.retain(|t| now.duration_since(*t) <= p.window);
        e.failures.push(now);
        if (e.failures.len() as u32) < p.max_failures {
            return None;
        }
        let burst = Burst {
            failures: e.failures.len() as u32,
            window: p.window,
            block: e.next_block,
        };
        e.failures.clear();
        e.blocked_until = Some(now + e.next_block);
        e.next_block = (e.next_block * 2).min(p.max_block);
        Some(burst)
    }

    /// A successful handshake: `ip` is forgotten.
    pub fn succeeded(&self, ip: IpAddr) {
        self.lock().remove(&ip);
        self.lock_mismatched().remove(&ip);
    }

    fn lock_mismatched(&self) -> std::sync::MutexGuard<'_, HashSet<IpAddr>> {
        self.mismatched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A TLS/plain mismatch from `ip`: true the first time since its last
    /// successful handshake (log it then).
    pub fn first_mismatch(&self, ip: IpAddr) -> bool {
        let mut m = self.lock_mismatched();
        if m.len() >= self.policy.max_peers && !m.contains(&ip) {
            m.clear();
        }
        m.insert(ip)
    }

    /// IPs tracked (tests, metrics).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// Makes room for one entry: stale entries first, else the least recent.
fn evict(peers: &mut HashMap<IpAddr, Entry>, now: Instant, window: Duration) {
    peers.retain(|_, e| {
        e.blocked_until.is_some_and(|u| u > now)
            || e.last_seen()
                .is_some_and(|t| now.duration_since(t) <= window)
    });
    if let Some(ip) = peers
        .iter()
        .min_by_key(|(_, e)| e.last_seen())
        .map(|(ip, _)| *ip)
        .filter(|_| !peers.is_empty())
    {
        peers.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn a_burst_blocks_for_a_growing_bounded_time() {
        let l = HandshakeLimiter::new(LimitPolicy::default());
        let t0 = Instant::now();
        for i in 0..4 {
            assert_eq!(l.failed(ip(1), t0 + i * S), None);
            assert_eq!(l.blocked(ip(1), t0 + i * S), None);
        }
        let b = l.failed(ip(1), t0 + 4 * S).expect("5th failure blocks");
        assert_eq!((b.failures, b.block), (5, 2 * S));
        assert_eq!(l.blocked(ip(1), t0 + 5 * S), Some(S));
        assert_eq!(l.blocked(ip(2), t0 + 5 * S), None, "other IPs unaffected");
        assert_eq!(l.blocked(ip(1), t0 + 6 * S), None, "the block expires");
        // Failures while blocked are not counted; the next burst doubles.
        let mut t = t0 + 6 * S;
        let mut blocks = Vec::new();
        for _ in 0..40 {
            if let Some(b) = l.failed(ip(1), t) {
                blocks.push(b.block.as_secs());
                t += b.block;
            }
            t += Duration::from_millis(10);
        }
        assert_eq!(&blocks[..6], &[4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn success_forgets_and_quiet_resets() {
        let l = HandshakeLimiter::new(LimitPolicy::default());
        let t0 = Instant::now();
        for i in 0..4 {
            l.failed(ip(1), t0 + i * S);
        }
        l.succeeded(ip(1));
        assert_eq!(l.failed(ip(1), t0 + 5 * S), None, "counting starts over");
        assert_eq!(l.tracked(), 1);
        // Failures spread wider than the window never block.
        let l = HandshakeLimiter::new(LimitPolicy::default());
        for i in 0..20 {
            assert_eq!(l.failed(ip(3), t0 + i * 20 * S), None);
        }
    }

    #[test]
    fn a_mismatch_is_reported_once_until_a_success() {
        let l = HandshakeLimiter::new(LimitPolicy::default());
        assert!(l.first_mismatch(ip(1)));
        assert!(!l.first_mismatch(ip(1)));
        assert!(l.first_mismatch(ip(2)));
        l.succeeded(ip(1));
        assert!(l.first_mismatch(ip(1)));
    }

    #[test]
    fn the_table_is_bounded() {
        let l = HandshakeLimiter::new(LimitPolicy {
            max_peers: 8,
            ..LimitPolicy::default()
        });
        let t0 = Instant::now();
        for n in 0..100u8 {
            l.failed(ip(n), t0 + Duration::from_millis(n as u64));
            assert!(l.tracked() <= 8);
        }
    }
}
