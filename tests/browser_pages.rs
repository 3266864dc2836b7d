//! The report file and the live page as a browser shows them: headless
//! Chromium (Debian `chromium`) loads each, `--dump-dom` gives the document
//! after its scripts ran, and a screenshot is read back to check it is a
//! picture, not a blank page. Channel names that are markup — including ones
//! that would mark the page if any of them ran — show as text and run nothing.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ALERT: &str = "<script>alert(1)</script>";
/// Would set `data-pwned` on the body if the browser ever ran it.
const MARKING_SCRIPT: &str = "<script>document.body.setAttribute('data-pwned','script')</script>";
const MARKING_IMG: &str = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">";

/// One CSV field, quoted.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Records that give each hostile channel one episode closed by dwell
/// (contention, after the demo's last sample), then open one more on the
/// first: still open in a running daemon, closed by the end-of-stream rule in
/// a report.
fn hostile_records() -> String {
    let mut out = String::new();
    for (i, name) in [ALERT, MARKING_SCRIPT, MARKING_IMG].into_iter().enumerate() {
        let t = 1_700_000_950.0 + 40.0 * i as f64;
        let name = quoted(name);
        out.push_str(&format!(
            "{t},contention,{name},0.0\n{},contention,{name},2.0\n",
            t + 1.0
        ));
        // Quiet long enough for the smoothed residual to fall back inside
        // the envelope and stay there for the dwell time.
        for k in 2..32 {
            out.push_str(&format!("{},contention,{name},0.0\n", t + f64::from(k)));
        }
    }
    for k in 0..3 {
        out.push_str(&format!(
            "{},contention,{},2.0\n",
            1_700_001_100 + k,
            quoted(ALERT)
        ));
    }
    out
}

/// Runs headless Chromium with the flags the test needs plus `args`; returns
/// stdout. A fresh profile each time; killed if it takes longer than 90 s.
fn chromium(profile: &Path, args: &[&str]) -> String {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the chromium binary (Debian package chromium)");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} took longer than 90 s");
        }
        std::thread::sleep(POLL);
    };
    assert!(status.success(), "chromium {args:?}: {status}");
    reader.join().unwrap()
}

/// Distinct colours in a PNG screenshot, and the share of its most common one.
fn colours(path: &Path) -> (usize, f64) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let mut counts = std::collections::HashMap::new();
    for px in buf[..info.buffer_size()].chunks(channels) {
        *counts.entry(px[..3].to_vec()).or_insert(0u64) += 1;
    }
    let total: u64 = counts.values().sum();
    let top = *counts.values().max().unwrap();
    (counts.len(), top as f64 / total as f64)
}

/// The names, as they must appear in a DOM serialisation: as text.
fn assert_names_are_text(dom: &str) {
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    assert!(
        dom.contains("&lt;img src=x onerror="),
        "the img name is text"
    );
    let body = &dom[dom.find("<body").unwrap()..];
    let body_tag = &body[..body.find('>').unwrap()];
    assert!(
        !body_tag.contains("data-pwned"),
        "a channel name ran: {body_tag}"
    );
    assert!(!dom.contains("<img"), "a channel name became an element");
}

/// The `<td>` texts of the rows of a table's body, in document order.
fn rows<'a>(dom: &'a str, table: &str, row_start: &str) -> Vec<Vec<&'a str>> {
    let start = dom.find(&format!("<table id=\"{table}\"")).unwrap();
    let start = start + dom[start..].find("<tbody>").unwrap();
    let body = &dom[start..start + dom[start..].find("</tbody>").unwrap()];
    body.split(row_start)
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").unwrap()];
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let text = &cell[cell.find('>').unwrap() + 1..];
                    &text[..text.find("</td>").unwrap()]
                })
                .collect()
        })
        .collect()
}

#[test]
#[ignore = "needs chromium (Debian package chromium): run by .ci/run"]
fn the_report_in_a_browser() {
    let dir = Scratch::new("browser-report");
    let hostile = dir.write(
        "hostile.csv",
        format!("t,class,channel,value\n{}", hostile_records()),
    );
    let report = dir.path("report.html");
    let out = motifd()
        .arg("report")
        .arg(fixture("demo.csv"))
        .arg(&hostile)
        .arg("-o")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("file://{}#sort=-peak", report.display());

    let dom = chromium(&dir.path("profile-1"), &["--dump-dom", &url]);
    assert_names_are_text(&dom);
    assert_eq!(dom.matches("<script").count(), 1, "only the table sorter");
    // Every episode has its row: the demo's, one per hostile channel, and the
    // last one closed by the end-of-stream rule.
    let golden = std::fs::read_to_string(fixture("golden/demo.episodes.jsonl")).unwrap();
    let rows = rows(&dom, "episodes", "<tr>");
    assert_eq!(rows.len(), golden.lines().count() + 4);
    // #sort=-peak ran the sorter: peaks in descending order.
    let peaks: Vec<f64> = rows.iter().map(|r| r[5].parse().unwrap()).collect();
    assert!(peaks.windows(2).all(|w| w[0] >= w[1]), "{peaks:?}");
    assert!(dom.contains("aria-sort=\"descending\""));

    let shot = dir.path("report.png");
    chromium(
        &dir.path("profile-2"),
        &[
            "--window-size=1280,2000",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    let (distinct, top) = colours(&shot);
    assert!(distinct >= 50, "{distinct} colours: a blank page?");
    assert!(
        top < 0.97,
        "one colour covers {:.1} % of the page",
        top * 100.0
    );
}

#[test]
#[ignore = "needs chromium (Debian package chromium): run by .ci/run"]
fn the_live_page_in_a_browser() {
    let dir = Scratch::new("browser-live");
    let d = Daemon::run(&[
        "--ingest-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--idle-flush",
        "1",
    ]);
    let mut feed = TcpStream::connect(d.ingest_addr()).unwrap();
    feed.write_all(&std::fs::read(fixture("demo.csv")).unwrap())
        .unwrap();
    feed.write_all(hostile_records().as_bytes()).unwrap();
    drop(feed);
    // Every demo episode and one per hostile channel closed, one more open.
    let golden = std::fs::read_to_string(fixture("golden/demo.episodes.jsonl")).unwrap();
    let closed = golden.lines().count() + 3;
    poll(Duration::from_secs(30), "the live view to settle", || {
        let (_, body) = http_get(d.metrics_addr(), "/episodes.json").ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        (v["closed_total"] == closed && v["open_total"] == 1).then_some(())
    });
    let url = format!("http://{}/", d.metrics_addr());

    let dom = chromium(&dir.path("profile-1"), &["--dump-dom", &url]);
    assert_names_are_text(&dom);
    assert_eq!(
        dom.matches("<script").count(),
        0,
        "the live page has no script"
    );
    let closed_rows = rows(&dom, "closed", "<tr class=\"closed\">");
    assert_eq!(closed_rows.len(), closed);
    // Newest first: the hostile channels' episodes in reverse order.
    assert!(
        closed_rows[0][1].starts_with("&lt;img src=x"),
        "{:?}",
        closed_rows[0]
    );
    assert!(closed_rows[1][1].starts_with("&lt;script&gt;document.body"));
    assert_eq!(closed_rows[2][1], "&lt;script&gt;alert(1)&lt;/script&gt;");
    let open_rows = rows(&dom, "open", "<tr class=\"open\">");
    assert_eq!(open_rows.len(), 1);
    assert_eq!(open_rows[0][0], "contention_ramp");
    assert_eq!(open_rows[0][1], "&lt;script&gt;alert(1)&lt;/script&gt;");
    assert_eq!(dom.matches("<rect class=\"closed\"").count(), closed);

    let shot = dir.path("live.png");
    chromium(
        &dir.path("profile-2"),
        &[
            "--window-size=1280,900",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    let (distinct, top) = colours(&shot);
    assert!(distinct >= 30, "{distinct} colours: a blank page?");
    assert!(
        top < 0.97,
        "one colour covers {:.1} % of the page",
        top * 100.0
    );
}
