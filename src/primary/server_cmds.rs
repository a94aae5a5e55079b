//! The primary's server-scope commands: INFO, CONFIG, and WAIT inside MULTI —
//! with the connection commands every role shares
//! ([`crate::resp::client::connection_cmd`]), enough for `redis-cli`,
//! `redis-benchmark` and client libraries to be at home.

use super::db::State;
use super::Shared;
use crate::resp::client::unknown_subcommand;
use crate::resp::commands::{Cmd, Spec};
use crate::resp::glob::Pattern;
use crate::resp::Reply;
use crate::wal::SyncPolicy;
use bytes::Bytes;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// Runs a server-scope command other than the connection commands (arity
/// already checked). `last_write_end_lsn` is the client's, for `WAIT`.
pub fn run(
    spec: &Spec,
    args: &[Bytes],
    st: &State,
    shared: &Shared,
    last_write_end_lsn: u64,
    out: &mut Vec<u8>,
) {
    let sub = args
        .get(1)
        .map(|a| a.to_ascii_uppercase())
        .unwrap_or_default();
    match spec.cmd {
        Cmd::Info => out.bulk(info(&args[1..], st, shared).as_bytes()),
        Cmd::Config => match sub.as_slice() {
            b"GET" if args.len() >= 3 => config_get(&args[2..], shared, out),
            b"SET" => {
                out.error("ERR CONFIG SET is not supported: restart logship with other flags")
            }
            b"RESETSTAT" => out.ok(),
            b"GET" => out.error(&crate::resp::commands::wrong_args("config|get")),
            _ => unknown_subcommand(args, "CONFIG", out),
        },
        // Inside MULTI, WAIT does not block (as in Redis): it counts the
        // standbys that already have this client's writes.
        Cmd::Wait => match super::shipping::parse_wait(&args[1], &args[2]) {
            Ok(_) => out.int(shared.shipping.acked_count(last_write_end_lsn) as i64),
            Err(e) => out.error(e),
        },
        Cmd::Logship => out.error("ERR LOGSHIP cannot run inside MULTI"),
        _ => unreachable!("keyspace and connection commands are run elsewhere"),
    }
}

fn fsync_name(sync: SyncPolicy) -> &'static str {
    match sync {
        SyncPolicy::Always => "always",
        SyncPolicy::Interval { .. } => "everysec",
        SyncPolicy::Never => "no",
    }
}

fn config_get(patterns: &[Bytes], shared: &Shared, out: &mut Vec<u8>) {
    let cfg = &shared.cfg;
    let params: [(&str, String); 8] = [
        ("save", String::new()),
        ("appendonly", "yes".into()),
        ("appendfsync", fsync_name(cfg.sync).into()),
        ("databases", crate::store::DATABASES.to_string()),
        ("maxmemory", cfg.maxmemory_bytes.unwrap_or(0).to_string()),
        ("maxclients", cfg.max_clients.to_string()),
        ("proto-max-bulk-len", cfg.limits.max_bulk_bytes.to_string()),
        ("dir", shared.data_dir.display().to_string()),
    ];
    let pats: Vec<Pattern> = patterns
        .iter()
        .map(|p| Pattern::new(&p.to_ascii_lowercase()))
        .collect();
    let hits: Vec<&(&str, String)> = params
        .iter()
        .filter(|(name, _)| pats.iter().any(|p| p.matches(name.as_bytes())))
        .collect();
    out.array(hits.len() * 2);
    for (name, value) in hits {
        out.bulk(name.as_bytes());
        out.bulk(value.as_bytes());
    }
}

/// The fence in INFO replication: `fenced:0`, or `fenced:1` and where, when
/// and on which timeline writes stopped.
fn replication_fence(s: &mut String, st: &State) {
    match &st.fenced {
        None => s.push_str("fenced:0\r\n"),
        Some(f) => {
            let _ = write!(
                s,
                "fenced:1\r\nfenced_at_lsn:{}\r\nfenced_since_unix_ms:{}\r\nfenced_timeline:{}\r\n",
                f.lsn, f.unix_ms, f.timeline
            );
        }
    }
}

/// The standbys in INFO replication: Redis's `connected_slaves` (standbys whose
/// last shipment succeeded, or whose continuous link is up) and one line each.
fn replication_standbys(s: &mut String, shared: &Shared, durable_lsn: u64) {
    let Some(schedule) = shared.shipping.schedule() else {
        let _ = write!(s, "connected_slaves:0\r\nstandbys:0\r\n\r\n");
        return;
    };
    let all = shared.shipping.standbys(durable_lsn);
    let up = all
        .iter()
        .filter(|b| b.connected || b.last_ship_result == "ok")
        .count();
    let _ = write!(
        s,
        "connected_slaves:{up}\r\nstandbys:{}\r\nship_schedule:{schedule}\r\n",
        all.len()
    );
    for (i, b) in all.iter().enumerate() {
        let state = if b.needs_reseed {
            "needs_reseed"
        } else if b.connected || b.last_ship_result == "ok" {
            "online"
        } else if b.last_ship_result == "never" {
            "waiting"
        } else {
            "failing"
        };
        let _ = write!(
            s,
            "standby{i}:address={},state={state},acked_lsn={},applied_lsn={},lag_bytes={},last_ship_unix_ms={},failures_in_row={}\r\n",
            b.address, b.acked_lsn, b.applied_lsn, b.lag_bytes, b.last_ship_unix_ms, b.failures_in_row
        );
    }
    s.push_str("\r\n");
}

fn info(sections: &[Bytes], st: &State, shared: &Shared) -> String {
    let want = |name: &str| {
        sections.is_empty()
            || sections.iter().any(|s| {
                s.eq_ignore_ascii_case(name.as_bytes())
                    || s.eq_ignore_ascii_case(b"all")
                    || s.eq_ignore_ascii_case(b"everything")
                    || s.eq_ignore_ascii_case(b"default")
            })
    };
    let mut s = String::new();
    let pos = shared.wal.position();
    if want("server") {
        let _ = write!(
            s,
            "# Server\r\nredis_version:{}\r\nlogship_version:{}\r\nredis_mode:standalone\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\r\n",
            crate::resp::client::REDIS_VERSION,
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            shared.local_port,
            shared.started.elapsed().as_secs()
        );
    }
    if want("clients") {
        let _ = write!(
            s,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\n\r\n",
            shared.clients.load(Ordering::Relaxed),
            shared.cfg.max_clients,
            st.waiters.len()
        );
    }
    if want("memory") {
        let used = crate::memory::allocated_bytes().unwrap_or(shared.used_memory.bytes());
        let max = shared.cfg.maxmemory_bytes.unwrap_or(0);
        let _ = write!(
            s,
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:noeviction\r\n\r\n",
            crate::memory::human(used),
            crate::memory::human(max),
        );
    }
    if want("persistence") {
        let c = shared.checkpoint_status();
        let _ = write!(
            s,
            "# Persistence\r\nloading:0\r\naof_enabled:1\r\nfsync_policy:{}\r\nwal_write_lsn:{}\r\nwal_durable_lsn:{}\r\napplied_lsn:{}\r\ncheckpoints:{}\r\nlast_checkpoint_lsn:{}\r\nlast_checkpoint_unix_ms:{}\r\nlast_checkpoint_pause_us:{}\r\nlast_checkpoint_duration_ms:{}\r\nlast_checkpoint_status:{}\r\nrecovered_lsn:{}\r\nrecovery_replayed_records:{}\r\n\r\n",
            fsync_name(shared.cfg.sync),
            pos.written_lsn,
            pos.durable_lsn,
            st.last_appended_end,
            c.count,
            c.lsn,
            c.unix_ms,
            c.pause_us,
            c.duration_ms,
            c.last_error.as_deref().unwrap_or("ok"),
            shared.recovered_lsn,
            shared.replayed_records,
        );
    }
    if want("replication") {
        let _ = write!(
            s,
            "# Replication\r\nrole:primary\r\nsystem_id:{:016x}\r\ntimeline:{}\r\nwrite_lsn:{}\r\ndurable_lsn:{}\r\n",
            shared.control.system_id,
            shared.control.timeline,
            pos.written_lsn,
            pos.durable_lsn
        );
        replication_fence(&mut s, st);
        replication_standbys(&mut s, shared, pos.durable_lsn);
    }
    if want("keyspace") {
        let _ = write!(s, "# Keyspace\r\n");
        s.push_str(&st.kv.dbs.info_lines());
    }
    s
}
