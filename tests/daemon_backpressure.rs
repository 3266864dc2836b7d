//! A producer that sends far faster than the engine (a debug build at that):
//! with a two-batch ingest channel the producer is throttled through TCP, the
//! daemon's peak RSS stays bounded far below the data sent, and every accepted
//! line is accounted for.

mod common;

use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines sent. Sized so the debug daemon takes several seconds (the producer
/// writes much faster than that) while the test stays well under 30 s.
const LINES: u64 = 2_000_000;
/// The oldest a scrape's counters can be: the engine publishes a snapshot
/// every 250 ms (docs/architecture.md), plus a margin for the scrape itself.
const SNAPSHOT_AGE: Duration = Duration::from_millis(400);
const CLASSES: [&str; 5] = [
    "plan_regression",
    "cardinality",
    "contention",
    "cache_io",
    "workload_phase",
];

/// Writes line `i`: 1000 samples per event second, in time order, 5 classes ×
/// 40 channels, values that now and then cross the thresholds.
fn line(i: u64, out: &mut Vec<u8>) {
    let (s, ms) = (1_700_000_000 + i / 1000, i % 1000);
    let class = CLASSES[(i % 5) as usize];
    let channel = (i / 5) % 40;
    let value = if (i / 20_000) % 7 == 3 { 0.9 } else { 0.01 };
    writeln!(out, "{s}.{ms:03},{class},ch{channel},{value}").unwrap();
}

#[test]
fn a_fast_producer_is_throttled_memory_stays_bounded_and_nothing_is_lost() {
    let daemon = Daemon::listening(&["--channel-capacity", "2", "--idle-flush", "3600"]);
    daemon.wait_metrics(Duration::from_secs(10), "a first snapshot", |m| {
        m.get("dsfb_ingest_channel_depth").is_some()
    });
    let baseline = daemon.peak_rss();
    let addr = daemon.ingest_addr();
    let started = Instant::now();
    let written = Arc::new(AtomicU64::new(0));
    let progress = Arc::clone(&written);
    let producer = std::thread::spawn(move || {
        let mut conn = connect(addr);
        let mut buf = Vec::with_capacity(1 << 20);
        let mut bytes = 0u64;
        let mut i = 0;
        while i < LINES {
            buf.clear();
            while i < LINES && buf.len() < (1 << 20) - 64 {
                line(i, &mut buf);
                i += 1;
            }
            conn.write_all(&buf).unwrap();
            bytes += buf.len() as u64;
            progress.store(i, Ordering::Release);
        }
        (bytes, started.elapsed())
    });

    // While the producer runs, it is only ever ahead of the engine by what the
    // socket buffers, one read and the bounded channel hold. A scrape shows
    // counters up to one publication period old, so each is compared with
    // what had been written that long before it: against the newest count, a
    // release daemon that keeps up would look far behind a producer writing
    // millions of lines a second.
    let mut max_depth = 0.0f64;
    let mut lag_seen = 0u64;
    let mut history: Vec<(Instant, u64)> = Vec::new();
    // Until every line is received, not only while the producer writes: a
    // daemon that buffered the stream would let the producer finish early and
    // show its lag only afterwards.
    let m = loop {
        history.push((Instant::now(), written.load(Ordering::Acquire)));
        let m = daemon.scrape();
        let stale_before = Instant::now() - SNAPSHOT_AGE;
        let written_then = history
            .iter()
            .rev()
            .find(|(at, _)| *at <= stale_before)
            .map_or(0, |&(_, n)| n);
        lag_seen = lag_seen.max(written_then.saturating_sub(m.received()));
        max_depth = max_depth.max(m.value("dsfb_ingest_channel_depth"));
        m.assert_conserved();
        if producer.is_finished() && m.received() == LINES {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "stuck: {}",
            m.summary()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (bytes, write_time) = producer.join().unwrap();
    let done = started.elapsed();
    let peak = daemon.peak_rss();
    m.assert_conserved();
    assert_eq!(
        (m.rejected(), m.dropped()),
        (0, 0),
        "in-order, well-formed input: {}",
        m.summary()
    );
    assert_eq!(m.flushed() + m.staged(), LINES, "{}", m.summary());
    assert!(
        m.sum("dsfb_episodes_total") > 0.0,
        "the engine really ran: {}",
        m.summary()
    );
    assert!(
        max_depth <= 2.0,
        "the channel never holds more than its capacity: {max_depth}"
    );
    println!(
        "{LINES} lines ({} MB) written in {write_time:.1?}, all received after {done:.1?} \
         ({:.0} lines/s); peak RSS {:.1} MB (at start {:.1} MB); max channel depth {max_depth}; \
         producer ahead of the engine by at most {lag_seen} lines; {} episodes",
        bytes / 1_000_000,
        LINES as f64 / done.as_secs_f64(),
        peak as f64 / 1e6,
        baseline as f64 / 1e6,
        m.sum("dsfb_episodes_total")
    );
    // Bounded: the growth over the daemon's own size at start (code, libraries)
    // far below what was sent (a daemon buffering the stream would hold it
    // all), and the peak below a generous absolute bound.
    assert!(
        peak < 300_000_000 && peak - baseline < bytes / 2,
        "peak RSS {peak} bytes (at start {baseline}) for {bytes} bytes sent"
    );
    assert!(
        lag_seen < LINES / 2,
        "the producer was throttled: it ran {lag_seen} lines ahead of the engine"
    );
    let mut daemon = daemon;
    daemon.terminate();
}

#[test]
fn sigterm_under_a_flood_drains_and_exits_in_bounded_time() {
    let dir = Scratch::new("flood-sigterm");
    let textfile = dir.path("motifd.prom");
    let mut daemon = Daemon::listening(&[
        "--channel-capacity",
        "2",
        "--textfile",
        textfile.to_str().unwrap(),
        "--textfile-interval",
        "3600",
    ]);
    let addr = daemon.ingest_addr();
    // Writes until the daemon goes away (the error is the expected end).
    let producer = std::thread::spawn(move || {
        let mut conn = connect(addr);
        let mut buf = Vec::with_capacity(1 << 16);
        let mut i = 0;
        loop {
            buf.clear();
            while buf.len() < (1 << 16) - 64 {
                line(i, &mut buf);
                i += 1;
            }
            if conn.write_all(&buf).is_err() {
                return i;
            }
        }
    });
    daemon.wait_metrics(Duration::from_secs(30), "the flood under way", |m| {
        m.received() > 100_000
    });
    let stop = daemon.terminate();
    let written = producer.join().unwrap();
    assert!(
        stop < Duration::from_secs(5),
        "shutdown under load took {stop:?}"
    );
    let log = daemon.stderr();
    assert!(log.contains("shutdown: released"), "{log}");
    let text = std::fs::read_to_string(&textfile).unwrap();
    check_classic_format(&text).unwrap();
    let fin = Metrics::parse(&text);
    fin.assert_conserved();
    assert_eq!(fin.staged(), 0, "{}", fin.summary());
    assert_eq!(fin.dropped(), 0, "{}", fin.summary());
    // At most the one line cut by the shutdown is rejected.
    assert!(fin.rejected() <= 1, "{}", fin.summary());
    assert!(fin.received() <= written);
    println!(
        "SIGTERM during a flood: exit 0 in {stop:.1?}; {} received and accounted for ({})",
        fin.received(),
        fin.summary()
    );
}
