//! Bad lines mixed into TCP streams: each is rejected and counted under its
//! reason, the good lines around it (and the connection) keep going, a line cut
//! by a disconnect is rejected, and the daemon keeps serving `/metrics`,
//! `/healthz` and new producers afterwards. The episodes equal `motifd replay` of
//! the good lines alone. Producers cut mid-line in every way (mid-field,
//! mid-JSON, inside a UTF-8 sequence, after a bare CR) while another streams lose
//! only the cut line; the other's connection and lines are untouched.

mod common;

use common::*;
use std::io::Write;
use std::net::Shutdown;
use std::time::Duration;

/// Bad lines and the reason each must be counted under.
fn bad_lines() -> Vec<(Vec<u8>, &'static str)> {
    let mut too_long = vec![b'9'; (1 << 20) + 100]; // default max_line is 1 MiB
    too_long.extend_from_slice(b",cache_io,cach-1,0.5");
    vec![
        (b"garbage,with,far,too,many,fields".to_vec(), "malformed"),
        (b"1700000100.0,cache_io,cach-1,abc".to_vec(), "malformed"),
        (b"{\"t\": 1700000100.0, \"class\": ".to_vec(), "malformed"),
        (b"1700000100.0,cache_io,cach-1,NaN".to_vec(), "non_finite"),
        (b"inf,cache_io,cach-1,0.1".to_vec(), "non_finite"),
        (
            b"{\"t\":1700000100.0,\"class\":\"cache_io\",\"channel\":\"c\",\"value\":1e999}"
                .to_vec(),
            "non_finite",
        ),
        (
            b"1700000100.0,no_such_class,cach-1,0.1".to_vec(),
            "unknown_class",
        ),
        (
            b"{\"t\":1700000100.0,\"class\":\"nope\",\"value\":0.1}".to_vec(),
            "unknown_class",
        ),
        (b"1700000100.0,cache_io,cach-1".to_vec(), "missing_field"),
        (
            b"{\"t\":1700000100.0,\"value\":0.1}".to_vec(),
            "missing_field",
        ),
        (b"1700000100.0,\xff\xfe,cach-1,0.1".to_vec(), "invalid_utf8"),
        (too_long, "line_too_long"),
    ]
}

#[test]
fn bad_lines_are_counted_by_reason_and_good_lines_all_processed() {
    let dir = Scratch::new("bad-lines");
    let good = csv_records("demo.csv");
    let episodes = dir.path("episodes.jsonl");
    let mut daemon = Daemon::listening(&["--episodes-out", episodes.to_str().unwrap()]);

    // First producer: the first half of the good lines with every bad line mixed
    // in at regular intervals, ending in a line cut short by the disconnect.
    let bad = bad_lines();
    let half = good.len() / 2;
    let every = half / (bad.len() + 1);
    let mut stream = Vec::new();
    let mut bad_iter = bad.iter();
    for (i, r) in good[..half].iter().enumerate() {
        stream.extend_from_slice(r.as_bytes());
        stream.push(b'\n');
        if i % every == every - 1 {
            if let Some((line, _)) = bad_iter.next() {
                stream.extend_from_slice(line);
                stream.push(b'\n');
            }
        }
    }
    assert!(bad_iter.next().is_none(), "every bad line was sent");
    stream.extend_from_slice(b"1700000450.0,cache_io,cach-1,0.7"); // no newline
    let mut conn = connect(daemon.ingest_addr());
    conn.write_all(&stream).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    drop(conn);
    let first_total = (half + bad.len() + 1) as u64;
    let m = daemon.wait_metrics(Duration::from_secs(30), "the first producer's lines", |m| {
        m.received() == first_total
    });
    m.assert_conserved();

    // Every bad line under its reason; the cut line is malformed.
    let mut by_reason = std::collections::BTreeMap::new();
    for (_, reason) in &bad {
        *by_reason.entry(*reason).or_insert(0u64) += 1;
    }
    *by_reason.entry("malformed").or_insert(0) += 1;
    for (reason, n) in &by_reason {
        assert_eq!(
            m.rejected_for(reason),
            *n,
            "dsfb_samples_rejected_total{{reason=\"{reason}\"}}"
        );
    }
    assert_eq!(m.rejected(), bad.len() as u64 + 1, "{}", m.summary());
    assert_eq!(m.dropped(), 0);
    let log = daemon.stderr();
    // Logged with the source named, rate-limited (the first few lines only).
    let logged = log
        .lines()
        .filter(|l| l.contains("tcp:127.0.0.1:") && l.contains(": rejected ("))
        .count();
    assert!(
        logged >= 1 && logged < bad.len(),
        "{logged} rejections logged of {}:\n{log}",
        bad.len()
    );
    assert!(
        log.contains("connection closed in the middle of a line"),
        "{log}"
    );

    // Still serving: health, metrics, and a new producer with the rest.
    let (status, body) = http_get(daemon.metrics_addr(), "/healthz").unwrap();
    assert_eq!(status, 200, "/healthz: {body}");
    let mut conn = connect(daemon.ingest_addr());
    for r in &good[half..] {
        writeln!(conn, "{r}").unwrap();
    }
    drop(conn);
    let total = first_total + (good.len() - half) as u64;
    let m = daemon.wait_metrics(Duration::from_secs(30), "every line", |m| {
        m.received() == total
    });
    m.assert_conserved();
    assert_eq!(
        m.flushed() + m.staged(),
        good.len() as u64,
        "{}",
        m.summary()
    );
    let (status, _) = http_get(daemon.metrics_addr(), "/healthz").unwrap();
    assert_eq!(status, 200);
    daemon.terminate();

    let expected = replay(&[fixture("demo.csv").as_os_str()]);
    let got = std::fs::read(&episodes).unwrap();
    assert_same_episodes(&got, &expected, "good lines around bad ones");
    println!(
        "{} good lines, {} bad lines ({} reasons) + 1 cut line rejected; {} episodes identical to replay",
        good.len(),
        bad.len(),
        by_reason.len(),
        lines(&got).len()
    );
}

#[test]
fn a_smaller_max_line_from_the_config_file_applies_to_tcp_producers() {
    let dir = Scratch::new("max-line");
    let config = dir.write("motifd.toml", "max_line = 64\n");
    let daemon = Daemon::listening(&["--config", config.to_str().unwrap()]);
    let mut conn = connect(daemon.ingest_addr());
    let long_channel = "c".repeat(80);
    writeln!(conn, "1700000000.0,cache_io,cach-1,0.1").unwrap();
    writeln!(conn, "1700000001.0,cache_io,{long_channel},0.1").unwrap();
    writeln!(conn, "1700000002.0,cache_io,cach-1,0.1").unwrap();
    drop(conn);
    let m = daemon.wait_metrics(Duration::from_secs(30), "three lines", |m| {
        m.received() == 3
    });
    m.assert_conserved();
    assert_eq!(m.rejected_for("line_too_long"), 1, "{}", m.summary());
    assert_eq!(m.rejected(), 1);
}

/// Ways a producer's last line can be cut by its disconnect.
const CUTS: [&[u8]; 6] = [
    b"1700000100.0,cache_io,cut,0.5", // whole but for its newline
    b"1700000100.0,cach",
    b"{\"t\":1700000100.0,\"class\":\"cache_io\"",
    b"1700000100.0,cache_io,cut-\xc3", // inside a UTF-8 sequence
    b"1700000100.0,cache_io,cut,0.5\r",
    b"1",
];

#[test]
fn producers_cut_mid_line_lose_only_that_line_and_do_not_disturb_a_concurrent_producer() {
    // A window longer than the fixture: nothing can fall behind the frontier,
    // however the producers interleave.
    let daemon = Daemon::listening(&["--window", "100000"]);
    let good = csv_records("demo.csv");
    const LINES_BEFORE_CUT: usize = 50;

    // The steady producer streams the whole fixture on one connection while
    // the others connect, send whole lines, and drop mid-line.
    let addr = daemon.ingest_addr();
    let feed = good.clone();
    let steady = std::thread::spawn(move || {
        let mut conn = connect(addr);
        for piece in feed.chunks(feed.len() / 20 + 1) {
            let text: String = piece.iter().map(|r| format!("{r}\n")).collect();
            conn.write_all(text.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        conn
    });
    for (k, cut) in CUTS.iter().enumerate() {
        let mut conn = connect(addr);
        let mut text = Vec::new();
        for i in 0..LINES_BEFORE_CUT {
            writeln!(text, "{}.{i:02},cache_io,cut-{k},0.01", 1_700_000_000 + k).unwrap();
        }
        text.extend_from_slice(cut);
        conn.write_all(&text).unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        drop(conn);
        std::thread::sleep(Duration::from_millis(15));
    }
    let steady_conn = steady.join().unwrap();

    let total = (good.len() + CUTS.len() * (LINES_BEFORE_CUT + 1)) as u64;
    let m = daemon.wait_metrics(
        Duration::from_secs(30),
        "every line of every producer",
        |m| m.received() == total,
    );
    m.assert_conserved();
    assert_eq!(
        m.rejected_for("malformed"),
        CUTS.len() as u64,
        "{}",
        m.summary()
    );
    assert_eq!(
        m.rejected(),
        CUTS.len() as u64,
        "only the cut lines: {}",
        m.summary()
    );
    assert_eq!(m.dropped(), 0);
    daemon.wait_for_log("closed in the middle of a line", Duration::from_secs(10));
    let logged = daemon
        .stderr()
        .matches("connection closed in the middle of a line")
        .count();
    assert_eq!(logged, CUTS.len(), "{}", daemon.stderr());

    // The steady producer's connection is still open and still ingests.
    let mut steady_conn = steady_conn;
    writeln!(steady_conn, "1700000900.5,cache_io,cach-1,0.01").unwrap();
    daemon.wait_metrics(
        Duration::from_secs(30),
        "the steady producer's next line",
        |m| m.received() == total + 1,
    );
    println!(
        "{} producers cut mid-line ({} whole lines before each ingested, the cut one rejected as malformed) beside a steady producer of {} lines",
        CUTS.len(),
        LINES_BEFORE_CUT,
        good.len()
    );
}
