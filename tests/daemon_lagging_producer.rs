//! Four TCP producers, each in time order, one three windows behind the others
//! in event time (a slow shipper). Per-producer watermarks
//! (docs/semantics.md#per-producer-watermarks) release only what the slowest
//! producer has passed, so nothing is dropped and the episode log equals
//! `motifd replay` of the sorted samples byte for byte. With one frontier for
//! all, every sample of the lagging producer would arrive 180 s behind it and
//! be dropped.
//!
//! Ties: every sample of one timestamp goes to one producer, in file order, so
//! the release order at a tie is file order, as in a stable sort of the file.
//!
//! Pacing: in round k the lagging producer sends its samples before
//! `t0 + k·STEP`, then each leading one in turn its samples before
//! `t0 + k·STEP + LEAD`; the test waits for the daemon to have received each
//! send before the next, so arrival order is fixed.

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const WINDOW: f64 = 60.0;
const LEAD: f64 = 3.0 * WINDOW;
const STEP: f64 = 20.0;
const SEED: u64 = 0x6c61_6767;
/// The lagging producer plus three leading ones.
const PRODUCERS: usize = 4;

/// The sorted records of demo.csv, split by timestamp group into a lagging
/// share (0) and leading ones (1..), each in time order.
fn shares(sorted: &[String]) -> Vec<Vec<String>> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(SEED);
    let mut out = vec![Vec::new(); PRODUCERS];
    let mut last: Option<(f64, usize)> = None;
    for r in sorted {
        let t = t_of(r);
        let p = match last {
            Some((lt, p)) if lt == t => p,
            _ => rng.gen_range(0..PRODUCERS),
        };
        last = Some((t, p));
        out[p].push(r.clone());
    }
    out
}

/// The sorted demo records, their replay with the test's window, and a daemon
/// logging episodes to `episodes`.
fn setup(dir: &Scratch) -> (Vec<String>, Vec<u8>, Daemon) {
    let mut sorted = csv_records("demo.csv");
    sorted.sort_by(|a, b| t_of(a).total_cmp(&t_of(b)));
    let sorted_path = dir.path("sorted.csv");
    write_csv(&sorted_path, &sorted);
    let expected = replay(&["--window".as_ref(), "60".as_ref(), sorted_path.as_os_str()]);
    let episodes = dir.path("episodes.jsonl");
    let daemon = Daemon::listening(&[
        "--window",
        "60",
        "--idle-flush",
        "3600",
        "--episodes-out",
        episodes.to_str().unwrap(),
    ]);
    (sorted, expected, daemon)
}

/// Sends `records[*next..]` up to (not including) event time `until` and
/// waits until the daemon has received `*total` records in all.
fn send_until(
    daemon: &Daemon,
    out: &mut TcpStream,
    records: &[String],
    next: &mut usize,
    until: f64,
    total: &mut usize,
) {
    let mut bytes = String::new();
    while *next < records.len() && t_of(&records[*next]) < until {
        bytes.push_str(&records[*next]);
        bytes.push('\n');
        *next += 1;
        *total += 1;
    }
    out.write_all(bytes.as_bytes()).unwrap();
    let want = *total as u64;
    daemon.wait_metrics(Duration::from_secs(30), "the records sent", |m| {
        m.received() >= want
    });
}

#[test]
fn a_producer_three_windows_behind_loses_nothing() {
    let dir = Scratch::new("lagging-producer");
    let (sorted, expected, mut daemon) = setup(&dir);
    let shares = shares(&sorted);
    assert!(shares.iter().all(|s| s.len() > 2000));
    let t0 = t_of(&sorted[0]);
    let end = t_of(sorted.last().unwrap()) + STEP;
    let mut out: Vec<TcpStream> = (0..PRODUCERS)
        .map(|_| connect(daemon.ingest_addr()))
        .collect();
    let (mut next, mut total) = (vec![0usize; PRODUCERS], 0usize);
    let mut held_back = 0u64;
    let mut v = t0 + STEP;
    while (0..PRODUCERS).any(|p| next[p] < shares[p].len()) {
        for p in 0..PRODUCERS {
            let until = if p == 0 { v } else { v + LEAD };
            send_until(
                &daemon,
                &mut out[p],
                &shares[p],
                &mut next[p],
                until,
                &mut total,
            );
        }
        let m = daemon.scrape();
        assert_eq!(m.dropped(), 0, "round at {v}: {}", m.summary());
        held_back = held_back.max(m.staged());
        v += STEP;
        assert!(v < end + LEAD, "every record sent by the last round");
    }
    let m = daemon.scrape();
    m.assert_conserved();
    assert_eq!(
        (m.received(), m.dropped(), m.rejected()),
        (sorted.len() as u64, 0, 0),
        "{}",
        m.summary()
    );
    // The leading producers' samples waited for the lagging one: at least
    // the LEAD seconds of them, about a fifth of the 900 s stream.
    assert!(
        held_back as usize > sorted.len() / 8,
        "held back at most {held_back} samples"
    );
    drop(out);
    daemon.terminate();
    let got = std::fs::read(dir.path("episodes.jsonl")).unwrap();
    assert_same_episodes(&got, &expected, "a producer 180 s behind three others");
    println!(
        "{:?} samples over {PRODUCERS} producers, the first {LEAD} s behind: 0 dropped, up to {held_back} held back, {} episodes identical to replay",
        shares.iter().map(Vec::len).collect::<Vec<_>>(),
        lines(&expected).len()
    );
}

#[test]
fn a_lagging_producer_that_disconnects_stops_holding_the_frontier_back() {
    let dir = Scratch::new("lagging-disconnects");
    let (sorted, _, daemon) = setup(&dir);
    let shares = shares(&sorted);
    let (lagging, leading) = (&shares[0], &shares[1]);
    let t0 = t_of(&sorted[0]);
    let mut slow = connect(daemon.ingest_addr());
    let mut fast = connect(daemon.ingest_addr());
    let (mut next, mut total) = ([0usize, 0usize], 0usize);
    send_until(
        &daemon,
        &mut slow,
        lagging,
        &mut next[0],
        t0 + STEP,
        &mut total,
    );
    send_until(
        &daemon,
        &mut fast,
        leading,
        &mut next[1],
        t0 + 600.0,
        &mut total,
    );
    // The slow producer, at t0 + STEP, holds back everything of the fast one
    // from t0 + STEP - WINDOW on: all of it.
    let m = daemon.scrape();
    assert!(m.staged() as usize >= next[1], "{}", m.summary());
    drop(slow);
    // Its disconnect, not an idle limit (an hour here), lets the fast
    // producer's own watermark release what is older than its newest - WINDOW.
    let newest = t_of(&leading[next[1] - 1]);
    let behind = leading[..next[1]]
        .iter()
        .filter(|r| t_of(r) >= newest - WINDOW)
        .count() as u64;
    let m = daemon.wait_metrics(
        Duration::from_secs(30),
        "the frontier released at the disconnect",
        |m| m.staged() <= behind,
    );
    assert_eq!(m.dropped(), 0, "{}", m.summary());
    assert!(
        m.staged() > 0,
        "the last WINDOW seconds stay staged: {}",
        m.summary()
    );
}
