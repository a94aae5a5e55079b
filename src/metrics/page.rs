//! The status page (`GET /` on the metrics port): one self-contained HTML page,
//! inline CSS and SVG, no external assets. It shows role, timeline, the data
//! directory (absolute), LSNs, each standby's state, and three charts over the sampled
//! history (the last hour at the default interval): lag in bytes, lag in time
//! (each point the peak since the one before), and bytes shipped (primary) or
//! received (standby) per sample. The axes carry units and clock times; one
//! small inline script shows those times in the reader's time zone (see
//! [`super::axis`]). It reloads itself every 10 seconds.

use super::axis::{self, Unit};
use super::history::Sample;
use super::Monitor;
use crate::ship::protocol::tree::walk;
use crate::status::{lsn_text, NodeStatus};
use std::fmt::Write as _;
use std::path::Path;

const CHART_W: f64 = 720.0;
const CHART_H: f64 = 140.0;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ago(now_ms: u64, then_ms: u64) -> String {
    if then_ms == 0 {
        return "never".into();
    }
    let d = std::time::Duration::from_millis(now_ms.saturating_sub(then_ms));
    format!("{} ago", crate::status::check::short_duration(d))
}

/// The page for the monitor's node at `now_ms`.
pub fn render(m: &Monitor, now_ms: u64) -> String {
    let samples = m.samples();
    let Some(mut s) = m.status() else {
        return "<!doctype html><title>logship</title><p>starting</p>".into();
    };
    s.data_dir = absolute_dir(&s.data_dir);
    page(&s, &samples, now_ms)
}

/// `dir` as an absolute path: a node started with `--data-dir ./d` reports the
/// path as given, which says nothing to a reader of the page. Symbolic links
/// are resolved when the directory exists; otherwise the path is made absolute
/// against the working directory; it stays as given when even that fails.
pub fn absolute_dir(dir: &str) -> String {
    if dir.is_empty() {
        return String::new();
    }
    let p = Path::new(dir);
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .map_or_else(|_| dir.to_string(), |a| a.display().to_string())
}

/// The standbys a node ships to (a primary's; a cascading standby's
/// downstreams), a row each.
fn standbys(o: &mut String, s: &NodeStatus, now_ms: u64) {
    let tl = s.timeline;
    o.push_str(
        "<h2>Standbys</h2>\n<table><tr><th>standby</th><th>acknowledged LSN</th><th>lag bytes</th>\
<th>last shipment</th><th>result</th><th>failures in a row</th></tr>",
    );
    for sb in s.standbys.iter().flatten() {
        let class = if sb.failures_in_row == 0 && !sb.needs_reseed {
            "ok"
        } else {
            "bad"
        };
        let result = if sb.needs_reseed {
            format!("{} (needs re-seeding)", sb.last_ship_result)
        } else {
            sb.last_ship_result.clone()
        };
        let _ = write!(
            o,
            "<tr class=\"standby\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
            esc(&sb.address),
            esc(&lsn_text(tl, sb.acked_lsn)),
            sb.lag_bytes,
            ago(now_ms, sb.last_ship_unix_ms),
            esc(&result),
            sb.failures_in_row,
        );
        // Its own standbys, as far as it told, indented under it.
        walk(&sb.downstreams, &mut vec![""], &mut |via, t| {
            let class = if t.failures_in_row == 0 { "ok" } else { "bad" };
            let _ = write!(
                o,
                "<tr class=\"downstream\"><td>{}└ {}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
                "&nbsp;&nbsp;".repeat(via.len()),
                esc(&t.address),
                esc(&lsn_text(tl, t.acked_lsn)),
                t.lag_bytes,
                ago(now_ms, t.last_ship_unix_ms),
                esc(&crate::status::link_state(t)),
                t.failures_in_row,
            );
        });
    }
    o.push_str("</table>\n");
}

/// The archive a primary writes (what its archiver did, each gap in red) or
/// a standby follows (how old the archive's proof of its log is).
fn archive(o: &mut String, s: &NodeStatus, now_ms: u64) {
    if let Some(a) = &s.archive {
        let (class, result) = match &a.last_error {
            None => ("ok", "ok".to_string()),
            Some(e) => ("bad", format!("failing: {e}")),
        };
        let _ = write!(
            o,
            "<h2>Archive</h2>\n<table id=\"archive\"><tr><th>archive</th><td>{}</td></tr>\
<tr><th>archived LSN</th><td>{}</td></tr><tr><th>lag</th><td>{} bytes</td></tr>\
<tr><th>last object</th><td>{}</td></tr><tr><th>result</th><td class=\"{class}\">{}</td></tr>",
            esc(&a.url),
            esc(&lsn_text(s.timeline, a.archived_lsn)),
            a.lag_bytes,
            ago(now_ms, a.last_archive_unix_ms),
            esc(&result),
        );
        for g in &a.gaps {
            let _ = write!(
                o,
                "<tr><th>gap</th><td class=\"bad\">{}..{}: {}</td></tr>",
                esc(&lsn_text(g.timeline, g.start_lsn)),
                esc(&lsn_text(g.timeline, g.end_lsn)),
                esc(&g.reason),
            );
        }
        o.push_str("</table>\n");
    }
    if let Some(url) = &s.restore_from {
        let age = s
            .archive_age_seconds
            .map_or("nothing proven yet".into(), |a| {
                crate::status::check::short_duration(std::time::Duration::from_secs_f64(a))
            });
        let _ = write!(
            o,
            "<h2>Archive</h2>\n<table id=\"archive\"><tr><th>following</th><td>{}</td></tr>\
<tr><th>log proven complete</th><td>{}</td></tr></table>\n",
            esc(url),
            if s.archive_age_seconds.is_some() {
                format!("{age} ago")
            } else {
                age
            },
        );
    }
}

/// One chart: its polyline's class, its title, its unit, and a sample's value.
type Chart = (&'static str, &'static str, Unit, fn(&Sample) -> f64);

/// The page for status `s` and its history (pure: for tests).
pub fn page(s: &NodeStatus, samples: &[Sample], now_ms: u64) -> String {
    let tl = s.timeline;
    let lsn = |v: Option<u64>| v.map_or("-".to_string(), |l| esc(&lsn_text(tl, l)));
    let mut o = String::with_capacity(16 << 10);
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"10\"><title>logship {role}</title>\
<style>body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}}\
h1{{font-size:20px;margin:0 0 12px}}table{{border-collapse:collapse;margin:8px 0 20px}}\
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}th{{background:#eee}}\
.ok{{color:#176317}}.bad{{color:#a01010;font-weight:bold}}svg{{background:#fff;border:1px solid #ccc;display:block;margin:4px 0 16px}}\
.grid{{stroke:#eee}}.y-label{{text-anchor:end}}polyline{{fill:none;stroke-width:2}}.lag-bytes{{stroke:#1f5fbf}}.lag-seconds{{stroke:#c0541a}}.shipped-bytes{{stroke:#2a8a2a}}</style></head><body>\n\
<h1>logship {role}</h1>\n<table>\
<tr><th>role</th><td id=\"role\">{role}</td></tr>\
<tr><th>system id</th><td>{sid}</td></tr>\
<tr><th>timeline</th><td id=\"timeline\">{tl}</td></tr>\
<tr><th>data directory</th><td id=\"data-dir\">{dir}</td></tr>",
        role = esc(&s.role),
        sid = esc(&s.system_id),
        dir = esc(&s.data_dir),
    );
    if let Some(f) = &s.fenced {
        let _ = write!(
            o,
            "<tr><th>fenced</th><td id=\"fenced\" class=\"bad\">{}</td></tr>",
            esc(&crate::status::fence_text(f, &s.data_dir))
        );
    }
    if s.role == "primary" {
        let _ = writeln!(
            o,
            "<tr><th>write LSN</th><td>{}</td></tr><tr><th>durable LSN</th><td>{}</td></tr>\
<tr><th>shipping</th><td>{}</td></tr></table>",
            lsn(s.write_lsn),
            lsn(s.durable_lsn),
            esc(s.ship_schedule.as_deref().unwrap_or("no standbys")),
        );
        standbys(&mut o, s, now_ms);
    } else {
        let _ = write!(
            o,
            "<tr><th>received LSN</th><td>{}</td></tr><tr><th>applied LSN</th><td>{}</td></tr>\
<tr><th>primary durable LSN</th><td>{}</td></tr><tr><th>last receive</th><td>{}</td></tr>\
<tr><th>last apply</th><td>{}</td></tr><tr><th>lag</th><td>{} bytes, {:.1} s</td></tr></table>",
            lsn(s.received_lsn),
            lsn(s.applied_lsn),
            lsn(s.primary_durable_lsn),
            ago(now_ms, s.last_receive_unix_ms.unwrap_or(0)),
            ago(now_ms, s.last_apply_unix_ms.unwrap_or(0)),
            s.lag_bytes.unwrap_or(0),
            s.lag_seconds.unwrap_or(0.0),
        );
        if s.standbys.is_some() {
            let _ = write!(
                o,
                "<p>Cascading to its downstreams, {}.</p>",
                esc(s.ship_schedule.as_deref().unwrap_or("")),
            );
            standbys(&mut o, s, now_ms);
        }
    }
    archive(&mut o, s, now_ms);
    let shipped = if s.role == "primary" {
        "bytes shipped per sample"
    } else {
        "bytes received per sample"
    };
    let span = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => crate::status::check::short_duration(
            std::time::Duration::from_millis(b.unix_ms.saturating_sub(a.unix_ms)),
        ),
        _ => "no samples yet".into(),
    };
    let _ = writeln!(o, "<h2>History ({} samples, {span})</h2>", samples.len());
    let charts: [Chart; 3] = [
        (
            "lag-bytes",
            "lag, bytes (peak per sample)",
            Unit::Bytes,
            |x| x.lag_bytes as f64,
        ),
        (
            "lag-seconds",
            "lag, time (peak per sample)",
            Unit::Seconds,
            |x| x.lag_seconds,
        ),
        ("shipped-bytes", shipped, Unit::Bytes, |x| {
            x.shipped_bytes as f64
        }),
    ];
    for (class, title, unit, f) in charts {
        chart(&mut o, class, title, unit, samples, f);
    }
    o.push_str(axis::LOCAL_CLOCK_SCRIPT);
    o.push_str("</body></html>\n");
    o
}

/// One SVG line chart: the polyline scales to the largest value (at least 1),
/// the y-axis is labelled in `unit` at the top, middle and bottom, the x-axis
/// with the clock times of the first, middle and last sample.
fn chart(
    o: &mut String,
    class: &str,
    title: &str,
    unit: Unit,
    samples: &[Sample],
    f: fn(&Sample) -> f64,
) {
    let max = samples.iter().map(f).fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max } else { 1.0 };
    let (t0, t1) = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => (a.unix_ms, b.unix_ms.max(a.unix_ms + 1)),
        _ => (0, 1),
    };
    let (pad_l, pad_b) = (70.0, 20.0);
    let w = CHART_W - pad_l - 10.0;
    let h = CHART_H - pad_b - 10.0;
    let mut points = String::new();
    for x in samples {
        let px = pad_l + w * (x.unix_ms - t0) as f64 / (t1 - t0) as f64;
        let py = 10.0 + h * (1.0 - f(x) / top);
        let _ = write!(points, "{px:.1},{py:.1} ");
    }
    let (x2, yb, ym) = (pad_l + w, 10.0 + h, 10.0 + h / 2.0);
    let _ = write!(
        o,
        "<h3>{title}</h3>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_W}\" height=\"{CHART_H}\" \
viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\" aria-label=\"{title}\">\
<line class=\"grid\" x1=\"{pad_l}\" y1=\"10\" x2=\"{x2}\" y2=\"10\"/>\
<line class=\"grid\" x1=\"{pad_l}\" y1=\"{ym}\" x2=\"{x2}\" y2=\"{ym}\"/>\
<line class=\"grid\" x1=\"{pad_l}\" y1=\"{yb}\" x2=\"{x2}\" y2=\"{yb}\"/>",
    );
    let yl = pad_l - 6.0;
    for (y, v) in [(10.0, top), (ym, top / 2.0), (yb, 0.0)] {
        let _ = write!(
            o,
            "<text class=\"y-label\" x=\"{yl}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            y + 4.0,
            unit.label(v),
        );
    }
    if !samples.is_empty() {
        let yt = CHART_H - 4.0;
        let tm = t0 + (t1 - t0) / 2;
        for (x, anchor, t) in [
            (pad_l, "start", t0),
            (pad_l + w / 2.0, "middle", tm),
            (x2, "end", t1),
        ] {
            let _ = write!(
                o,
                "<text class=\"clock\" data-unix-ms=\"{t}\" x=\"{x}\" y=\"{yt}\" text-anchor=\"{anchor}\" font-size=\"11\">{}</text>",
                axis::clock_utc(t),
            );
        }
    }
    let _ = writeln!(
        o,
        "<polyline class=\"{class}\" points=\"{}\"/></svg>",
        points.trim_end()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_text_and_draws_one_point_per_sample() {
        let s = NodeStatus {
            role: "standby".into(),
            data_dir: "/d/<x>".into(),
            timeline: 3,
            received_lsn: Some(4096),
            applied_lsn: Some(4000),
            ..NodeStatus::default()
        };
        let samples: Vec<Sample> = (0..4u64)
            .map(|i| Sample {
                unix_ms: 1000 + i * 5000,
                lag_bytes: i * 100,
                lag_seconds: i as f64,
                shipped_bytes: 10,
                ..Sample::default()
            })
            .collect();
        let p = page(&s, &samples, 20_000);
        assert!(p.contains("/d/&lt;x&gt;"), "{p}");
        assert!(!p.contains("<x>"));
        assert!(p.contains("0/1000 (tl 3)"), "{p}");
        let line = p
            .split("<polyline class=\"lag-bytes\" points=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        let pts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(pts.len(), 4, "{line}");
        // The largest lag is drawn at the top, the first (0) at the bottom.
        assert!(pts[3].ends_with(",10.0"), "{line}");
        assert!(pts[0].ends_with(",120.0"), "{line}");
        assert_eq!(p.matches("<script").count(), 1, "one inline script");
        assert!(!p.contains(" src="), "no external assets");
        assert!(!p.contains("href="), "no external assets");
    }

    /// The text of every `<text class="{class}" …>…</text>` of one chart.
    fn labels(page: &str, chart: &str, class: &str) -> Vec<String> {
        let svg = page
            .split("<svg")
            .find(|s| s.contains(&format!("<polyline class=\"{chart}\"")))
            .unwrap_or_else(|| panic!("no chart {chart}: {page}"));
        svg.split(&format!("<text class=\"{class}\""))
            .skip(1)
            .filter_map(|t| t.split_once('>').and_then(|(_, r)| r.split_once('<')))
            .map(|(text, _)| text.to_string())
            .collect()
    }

    #[test]
    fn the_data_directory_is_shown_absolute() {
        let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(absolute_dir("."), cwd.display().to_string());
        let missing = absolute_dir("./no-such-dir-here/d");
        assert!(Path::new(&missing).is_absolute(), "{missing}");
        assert!(missing.ends_with("no-such-dir-here/d"), "{missing}");
        assert_eq!(absolute_dir("/x/y"), "/x/y");
        assert_eq!(absolute_dir(""), "");
    }

    #[test]
    fn a_fenced_primary_says_so_on_its_page() {
        let mut s = NodeStatus {
            role: "primary".into(),
            data_dir: "/p".into(),
            ..NodeStatus::default()
        };
        assert!(!page(&s, &[], 0).contains("id=\"fenced\""));
        s.fenced = Some(crate::status::FenceStatus {
            at_lsn: 0x5A3F20,
            since_unix_ms: 1_767_359_045_000,
            timeline: 1,
            reason: "promoted elsewhere".into(),
        });
        let p = page(&s, &[], 0);
        assert!(p.contains("id=\"fenced\""), "{p}");
        assert!(p.contains("0/5A3F20 (tl 1)"), "{p}");
    }

    #[test]
    fn the_archive_is_shown_with_its_failures_and_gaps() {
        let mut s = NodeStatus {
            role: "primary".into(),
            timeline: 2,
            ..NodeStatus::default()
        };
        assert!(!page(&s, &[], 0).contains("id=\"archive\""));
        s.archive = Some(crate::archive::ArchiveStatus {
            url: "s3://b/<p>".into(),
            archived_lsn: 0x1000,
            lag_bytes: 77,
            last_archive_unix_ms: 5_000,
            last_error: Some("store down".into()),
            gaps: vec![crate::archive::progress::GapInfo {
                timeline: 2,
                start_lsn: 0x2000,
                end_lsn: 0x3000,
                reason: "retention".into(),
            }],
            ..Default::default()
        });
        let p = page(&s, &[], 65_000);
        for want in [
            "s3://b/&lt;p&gt;",
            "0/1000 (tl 2)",
            "77 bytes",
            "60s ago",
            "class=\"bad\">failing: store down",
            "0/2000 (tl 2)..0/3000 (tl 2): retention",
        ] {
            assert!(p.contains(want), "{want}: {p}");
        }
        let follower = NodeStatus {
            role: "standby".into(),
            restore_from: Some("file:///a".into()),
            archive_age_seconds: Some(90.0),
            ..NodeStatus::default()
        };
        let p = page(&follower, &[], 0);
        assert!(p.contains("file:///a"), "{p}");
        assert!(p.contains("90s ago"), "{p}");
    }

    #[test]
    fn the_axes_carry_units_and_clock_times() {
        let s = NodeStatus {
            role: "primary".into(),
            ..NodeStatus::default()
        };
        // 2026-01-02 13:04:05 UTC, then every 5 s.
        let t0 = 1_767_359_045_000;
        let samples: Vec<Sample> = (0..5u64)
            .map(|i| Sample {
                unix_ms: t0 + i * 5000,
                lag_bytes: if i == 2 { 26_400_000 } else { 0 },
                lag_seconds: i as f64 * 0.5,
                shipped_bytes: 1_500,
                ..Sample::default()
            })
            .collect();
        let p = page(&s, &samples, t0 + 20_000);
        assert_eq!(
            labels(&p, "lag-bytes", "y-label"),
            ["26.4 MB", "13.2 MB", "0 B"],
            "{p}"
        );
        assert_eq!(
            labels(&p, "lag-seconds", "y-label"),
            ["2 s", "1 s", "0 s"],
            "{p}"
        );
        assert_eq!(
            labels(&p, "shipped-bytes", "y-label"),
            ["1.5 KB", "750 B", "0 B"],
            "{p}"
        );
        for chart in ["lag-bytes", "lag-seconds", "shipped-bytes"] {
            assert_eq!(
                labels(&p, chart, "clock"),
                ["13:04:05 UTC", "13:04:15 UTC", "13:04:25 UTC"],
                "{p}"
            );
        }
        assert!(p.contains("data-unix-ms=\"1767359045000\""), "{p}");
    }
}
