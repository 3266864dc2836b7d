//! Idle flush: when the sources go quiet, everything staged in the reorder
//! buffer is released after `--idle-flush` wall-clock seconds — the episode those
//! samples close appears in the episode log while the daemon keeps running — and
//! the stream can continue afterwards with nothing lost or reordered.

mod common;

use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

const WINDOW: f64 = 10.0;
const IDLE: Duration = Duration::from_secs(3);

#[test]
fn a_quiet_source_has_its_staged_samples_flushed_and_episodes_closed() {
    let dir = Scratch::new("idle-flush");
    let records = csv_records("demo.csv");
    let golden =
        std::fs::read_to_string(root().join("fixtures/golden/demo.episodes.jsonl")).unwrap();
    let first = golden.lines().next().unwrap();
    let first_end: f64 = serde_json::from_str::<serde_json::Value>(first).unwrap()["t_end"]
        .as_f64()
        .unwrap();

    // Cut the stream a few seconds (less than the window) after the first
    // episode's closing sample: that sample is still staged when the source
    // goes quiet.
    let cut = first_end + 3.0;
    let prefix: Vec<String> = records.iter().filter(|r| t_of(r) <= cut).cloned().collect();
    let rest: Vec<String> = records.iter().filter(|r| t_of(r) > cut).cloned().collect();
    let prefix_path = dir.path("prefix.csv");
    write_csv(&prefix_path, &prefix);
    // Episodes the prefix closes by dwell (not by the end-of-stream rule, which
    // an idle flush does not apply: the channels are still live).
    let expected_prefix: String = lines(&replay(&[prefix_path.as_os_str()]))
        .into_iter()
        .filter(|l| l.contains("\"closed_by\":\"dwell\""))
        .map(|l| l + "\n")
        .collect();
    let needs_flush = expected_prefix
        .lines()
        .filter(|l| {
            let t_end = serde_json::from_str::<serde_json::Value>(l).unwrap()["t_end"]
                .as_f64()
                .unwrap();
            t_end > cut - WINDOW
        })
        .count();
    assert!(
        needs_flush >= 1,
        "some prefix episode closes inside the last window: {expected_prefix}"
    );

    let episodes = dir.path("episodes.jsonl");
    let mut daemon = Daemon::listening(&[
        "--window",
        "10",
        "--idle-flush",
        "3",
        "--episodes-out",
        episodes.to_str().unwrap(),
    ]);

    // The producer stays connected but goes quiet.
    let mut conn = connect(daemon.ingest_addr());
    for r in &prefix {
        writeln!(conn, "{r}").unwrap();
    }
    conn.flush().unwrap();
    let quiet_since = Instant::now();
    let n = prefix.len() as u64;
    let before = daemon.wait_metrics(Duration::from_secs(30), "the prefix", |m| m.received() == n);
    let seen_at = quiet_since.elapsed();
    assert!(
        seen_at < IDLE,
        "the prefix was received {seen_at:?} after the last write, too late to see it staged"
    );
    assert!(
        before.staged() > 0,
        "the last window is staged: {}",
        before.summary()
    );
    let read_log = || std::fs::read_to_string(&episodes).unwrap_or_default();
    assert_ne!(
        read_log(),
        expected_prefix,
        "before the idle flush, the episode closed by staged samples is not logged yet"
    );

    let after = daemon.wait_metrics(Duration::from_secs(30), "the idle flush", |m| {
        m.staged() == 0
    });
    let flushed_at = quiet_since.elapsed();
    after.assert_conserved();
    assert_eq!(after.flushed(), n, "{}", after.summary());
    assert!(
        flushed_at >= IDLE - Duration::from_millis(100),
        "flushed {flushed_at:?} after the source went quiet, before idle_flush {IDLE:?}"
    );
    poll(
        Duration::from_secs(10),
        "the flushed episodes in the log",
        || (read_log() == expected_prefix).then_some(()),
    );
    assert!(daemon.child.try_wait().unwrap().is_none(), "still running");

    // The stream goes on: the complete log equals replay of the whole file.
    for r in &rest {
        writeln!(conn, "{r}").unwrap();
    }
    drop(conn);
    let total = records.len() as u64;
    let m = daemon.wait_metrics(Duration::from_secs(30), "the rest", |m| {
        m.received() == total
    });
    assert_eq!(m.dropped(), 0, "{}", m.summary());
    daemon.terminate();
    let expected = replay(&[fixture("demo.csv").as_os_str()]);
    assert_same_episodes(
        &std::fs::read(&episodes).unwrap(),
        &expected,
        "idle flush then the rest",
    );
    println!(
        "{} samples, {} staged until the idle flush {flushed_at:.1?} after the source went quiet; \
         {} episode(s) logged without shutdown ({needs_flush} closed by staged samples); \
         then the whole stream: {} episodes identical to replay",
        prefix.len(),
        before.staged(),
        expected_prefix.lines().count(),
        lines(&expected).len()
    );
}
