//! The status page (`GET /` on the metrics port) rendered in headless Chromium:
//! a non-blank screenshot, charts whose SVG polylines carry the sampled points,
//! axes labelled with units and with clock times in the browser's time zone,
//! and the data directory shown absolute though the node was given a relative
//! one. Skipped, saying why, when Chromium is not installed (`.ci/run`
//! installs it).

mod common;

use common::{free_addr, http_get, init, status_json, wait_applied, Primary, Standby};
use redis::Commands;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a Chromium run may take.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(90);
/// The browser's time zone: UTC+05:00 (POSIX signs are inverted), so a clock
/// time left in UTC shows.
const CHROMIUM_TZ: &str = "Etc/GMT-5";
const CHROMIUM_UTC_OFFSET_S: u64 = 5 * 3600;

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium with `args` then `url`; returns its stdout.
fn chromium(bin: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .env("TZ", CHROMIUM_TZ)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let deadline = Instant::now() + CHROMIUM_DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for chromium") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium ran longer than {CHROMIUM_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium failed: {status:?}");
    reader.join().expect("chromium stdout")
}

/// The `points` of the polyline of `class` in an HTML text, as (x, y) pairs.
fn polyline(html: &str, class: &str) -> Vec<(f64, f64)> {
    let attr = html
        .split(&format!("class=\"{class}\" points=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no polyline {class} in the page"));
    attr.split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').expect("x,y");
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

/// The SVG of the chart whose polyline has `class`.
fn chart<'a>(html: &'a str, class: &str) -> &'a str {
    html.split("<svg")
        .find(|s| s.contains(&format!("class=\"{class}\" points=")))
        .and_then(|s| s.split("</svg>").next())
        .unwrap_or_else(|| panic!("no chart {class} in the page"))
}

/// The text of each `<text class="{label}" …>` in `svg`, with its attributes.
fn labels<'a>(svg: &'a str, label: &str) -> Vec<(&'a str, &'a str)> {
    svg.split(&format!("<text class=\"{label}\""))
        .skip(1)
        .map(|t| {
            let (attrs, rest) = t.split_once('>').expect("a text element");
            (attrs, rest.split('<').next().unwrap_or(""))
        })
        .collect()
}

/// `unix_ms` as `HH:MM:SS` in [`CHROMIUM_TZ`].
fn local_clock(unix_ms: u64) -> String {
    let s = (unix_ms / 1000 + CHROMIUM_UTC_OFFSET_S) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `p` (absolute) as a path relative to the working directory, as a user
/// would type `--data-dir ./d`.
fn relative_to_cwd(p: &Path) -> PathBuf {
    let cwd = std::env::current_dir().expect("working directory");
    let up = cwd.components().count() - 1;
    let mut rel: PathBuf = std::iter::repeat_n("..", up).collect();
    rel.push(p.strip_prefix("/").expect("an absolute path"));
    assert!(rel.is_relative());
    rel
}

#[test]
fn the_status_page_renders_in_headless_chromium_with_data_points() {
    let Some(bin) = find_chromium() else {
        println!("skipped: chromium not found on PATH (apt-get install -y chromium)");
        return;
    };
    // Sample every 200 ms so a few seconds give a curve (the default is 5 s).
    std::env::set_var(logship::metrics::SAMPLE_INTERVAL_ENV, "200");
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    let (pm, sm) = (free_addr(), free_addr());
    // Both nodes are given relative data directories; the page shows them whole.
    let standby = Standby::start_with(
        &relative_to_cwd(&sdir),
        &["--insecure-no-auth", "--metrics", &sm],
    );
    let primary = Primary::start_shipping(
        &relative_to_cwd(&pdir),
        &standby.ship_addr,
        &["--ship-every", "300ms", "--metrics", &pm],
    );
    let mut c = primary.client();
    let until = Instant::now() + Duration::from_secs(3);
    let mut i = 0u64;
    while Instant::now() < until {
        let _: () = c.set(format!("k{i}"), "v".repeat(500)).unwrap();
        i += 1;
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let durable = status_json(&pdir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&sdir, durable, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(600));
    let (code, served) = http_get(&pm, "/");
    assert_eq!(code, 200);
    assert!(polyline(&served, "lag-bytes").len() >= 5, "{served}");

    let profile = tempfile::tempdir().unwrap();
    let shot = t.path().join("status-page.png");
    chromium(
        &bin,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,800",
        ],
        &format!("http://{pm}/"),
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().expect("a PNG screenshot");
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut buf).expect("PNG pixels");
    assert_eq!((info.width, info.height), (1200, 800));
    let px = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let first = &pixels[..px];
    let differing = pixels.chunks(px).filter(|p| *p != first).count();
    let total = pixels.len() / px;
    assert!(
        differing * 100 > total,
        "the screenshot is blank: {differing} of {total} pixels differ from the first"
    );

    for (addr, role, dir) in [(&pm, "primary", &pdir), (&sm, "standby", &sdir)] {
        let dom = chromium(
            &bin,
            profile.path(),
            &["--dump-dom"],
            &format!("http://{addr}/"),
        );
        assert!(
            dom.contains(&format!("<td id=\"role\">{role}</td>")),
            "{dom}"
        );
        for class in ["lag-bytes", "lag-seconds", "shipped-bytes"] {
            let pts = polyline(&dom, class);
            assert!(pts.len() >= 2, "{role} {class}: {pts:?}");
            assert!(
                pts.windows(2).all(|w| w[0].0 <= w[1].0),
                "{role} {class}: time runs left to right"
            );
        }
        // Log was shipped while sampling: some point of the shipment chart is
        // above the baseline (y = 120).
        let shipped = polyline(&dom, "shipped-bytes");
        assert!(shipped.iter().any(|p| p.1 < 119.0), "{role}: {shipped:?}");
        if role == "primary" {
            // Writes ran between shipments: the lag peaks show.
            let lag = polyline(&dom, "lag-bytes");
            assert!(lag.iter().any(|p| p.1 < 119.0), "{role}: {lag:?}");
        }

        let abs = dir.canonicalize().unwrap();
        assert!(
            dom.contains(&format!("<td id=\"data-dir\">{}</td>", abs.display())),
            "{role}: the data directory {} is not shown absolute: {dom}",
            abs.display()
        );
        for (class, units) in [
            ("lag-bytes", &[" B", " KB", " MB", " GB", " TB"][..]),
            ("lag-seconds", &[" ms", " s", " min", " h"][..]),
            ("shipped-bytes", &[" B", " KB", " MB", " GB", " TB"][..]),
        ] {
            let svg = chart(&dom, class);
            let ys = labels(svg, "y-label");
            assert_eq!(ys.len(), 3, "{role} {class}: {svg}");
            for (_, text) in &ys {
                assert!(
                    units.iter().any(|u| text.ends_with(u)),
                    "{role} {class}: y-axis label {text:?} has no unit"
                );
            }
            let clocks = labels(svg, "clock");
            assert_eq!(clocks.len(), 3, "{role} {class}: {svg}");
            for (attrs, text) in clocks {
                let unix_ms: u64 = attrs
                    .split("data-unix-ms=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{role} {class}: no time in {attrs}"));
                assert_eq!(
                    text,
                    local_clock(unix_ms),
                    "{role} {class}: the x-axis shows the clock time in the browser's zone"
                );
            }
        }
        // The largest shipment of the primary is some kilobytes at least.
        if role == "primary" {
            let top = labels(chart(&dom, "shipped-bytes"), "y-label")[0].1;
            assert!(top.ends_with("KB") || top.ends_with("MB"), "{top}");
        }
    }
    println!("screenshot: {}", shot.display());
}
