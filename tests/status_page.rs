//! The status page (`GET /` on the metrics port) rendered in headless Chromium:
//! a non-blank screenshot, and charts whose SVG polylines carry the sampled
//! points. Skipped, saying why, when Chromium is not installed (`.ci/run`
//! installs it).

mod common;

use common::{free_addr, http_get, init, status_json, wait_applied, Primary, Standby};
use redis::Commands;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a Chromium run may take.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(90);

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
    let standby = Standby::start_with(&sdir, &["--insecure-no-auth", "--metrics", &sm]);
    let primary = Primary::start_shipping(
        &pdir,
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

    for (addr, role) in [(&pm, "primary"), (&sm, "standby")] {
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
    }
    println!("screenshot: {}", shot.display());
}
