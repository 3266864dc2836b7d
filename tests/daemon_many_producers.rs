//! Four TCP producers and stdin feed one daemon at once, each a jittered share of
//! fixtures/demo.csv. After SIGTERM the episode log must equal `motifd replay` of
//! the same samples sorted, byte for byte; `/metrics` just before shutdown must
//! conserve samples; the exit code is 0; the final textfile is valid classic text
//! format and holds the final counts.
//!
//! Ties: demo.csv has several samples (different channels) at one timestamp. The
//! reorder buffer releases ties in arrival order, and arrival order across
//! producers is not deterministic; at an episode close the trust weights read the
//! other channels' state, which differs with tie order. So the split keeps every
//! sample of one timestamp on one producer, in file order, sent back to back:
//! arrival order at a tie is then file order, which is exactly what a stable
//! sort of the file gives replay.
//!
//! Pacing: every producer walks its share in chunks of `CHUNK` seconds of
//! (jittered) send time; after each chunk all producers meet at a barrier and the
//! coordinator waits until the daemon has received everything sent so far. A
//! sample sent in chunk k has t > k·C − J (jitter J) while nothing newer than
//! (k+1)·C has been seen, so with C + J <= window no sample can fall behind the
//! flushed frontier: none is dropped, and the daemon's flushed stream is exactly
//! the sorted stream.

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const WINDOW: f64 = 60.0;
const CHUNK: f64 = 25.0;
const JITTER: f64 = 29.0; // < WINDOW / 2, and CHUNK + JITTER < WINDOW
const PRODUCERS: usize = 5; // 4 TCP + stdin
const SEED: u64 = 0x6d6f_7469_6664;

/// One producer's records grouped by send chunk.
type Share = Vec<Vec<String>>;

/// Splits `sorted` into per-producer, per-chunk record lists.
fn split(sorted: &[String]) -> (Vec<Share>, Vec<usize>) {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(SEED);
    let t0 = t_of(&sorted[0]);
    // Timestamp groups, in file order within each.
    let mut groups: Vec<(f64, Vec<String>)> = Vec::new();
    for r in sorted {
        let t = t_of(r);
        match groups.last_mut() {
            Some((gt, g)) if *gt == t => g.push(r.clone()),
            _ => groups.push((t, vec![r.clone()])),
        }
    }
    // (producer, send key, group)
    let mut keyed: Vec<Vec<(f64, Vec<String>)>> = vec![Vec::new(); PRODUCERS];
    for (t, g) in groups {
        let p = rng.gen_range(0..PRODUCERS);
        let key = t - t0 + rng.gen_range(0.0..JITTER);
        keyed[p].push((key, g));
    }
    let chunks = ((sorted.iter().map(|r| t_of(r)).fold(t0, f64::max) - t0 + JITTER) / CHUNK).ceil()
        as usize
        + 1;
    let mut per_chunk_total = vec![0usize; chunks];
    let shares = keyed
        .into_iter()
        .map(|mut groups| {
            groups.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut share: Share = vec![Vec::new(); chunks];
            for (key, g) in groups {
                let k = (key / CHUNK) as usize;
                per_chunk_total[k] += g.len();
                share[k].extend(g);
            }
            share
        })
        .collect();
    // Cumulative records sent after each chunk.
    let mut cumulative = Vec::with_capacity(chunks);
    let mut sum = 0;
    for n in per_chunk_total {
        sum += n;
        cumulative.push(sum);
    }
    (shares, cumulative)
}

#[test]
fn four_tcp_producers_and_stdin_equal_replay_of_the_sorted_samples() {
    let dir = Scratch::new("many-producers");
    let records = csv_records("demo.csv");
    assert_eq!(records.len(), 12_144);
    let mut sorted = records.clone();
    sorted.sort_by(|a, b| t_of(a).total_cmp(&t_of(b))); // stable: ties keep file order
    let sorted_path = dir.path("sorted.csv");
    write_csv(&sorted_path, &sorted);
    let expected = replay(&["--window".as_ref(), "60".as_ref(), sorted_path.as_os_str()]);
    let expected_episodes = lines(&expected).len();
    assert_eq!(expected_episodes, 52, "demo.csv replays to 52 episodes");

    let (shares, cumulative) = split(&sorted);
    let reordered: usize = shares
        .iter()
        .flatten()
        .flatten()
        .zip(shares.iter().flatten().flatten().skip(1))
        .filter(|(a, b)| t_of(b) < t_of(a))
        .count();
    assert!(reordered > 100, "the jitter reorders samples ({reordered})");

    let episodes = dir.path("episodes.jsonl");
    let textfile = dir.path("motifd.prom");
    let (mut daemon, stdin) = Daemon::run_with_stdin(&[
        "--input",
        "-",
        "--ingest-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--window",
        "60",
        "--idle-flush",
        "3600",
        "--episodes-out",
        episodes.to_str().unwrap(),
        "--textfile",
        textfile.to_str().unwrap(),
        "--textfile-interval",
        "3600",
    ]);
    let ingest = daemon.ingest_addr();

    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(PRODUCERS + 1));
    let chunks = cumulative.len();
    let mut threads = Vec::new();
    let mut stdin = Some(stdin);
    for (p, share) in shares.into_iter().enumerate() {
        let mut out: Box<dyn Write + Send> = if p == PRODUCERS - 1 {
            Box::new(stdin.take().unwrap())
        } else {
            Box::new(connect(ingest))
        };
        let barrier = Arc::clone(&barrier);
        threads.push(std::thread::spawn(move || {
            // A failed write must not leave the others waiting at the barrier:
            // keep meeting it, report at the end.
            let mut result = Ok(());
            for chunk in share {
                let mut bytes = String::new();
                for r in chunk {
                    bytes.push_str(&r);
                    bytes.push('\n');
                }
                if result.is_ok() {
                    result = out.write_all(bytes.as_bytes());
                }
                barrier.wait(); // chunk written
                barrier.wait(); // daemon received everything so far
            }
            drop(out); // EOF / disconnect
            result
        }));
    }
    for (k, &sent) in cumulative.iter().enumerate() {
        barrier.wait();
        let got = poll_opt(Duration::from_secs(30), || {
            let m = daemon.scrape();
            (m.received() as usize >= sent).then_some(m)
        });
        barrier.wait();
        let m = got.unwrap_or_else(|| {
            panic!(
                "chunk {k}/{chunks}: daemon did not receive {sent} samples in 30 s:\n{}",
                daemon.stderr()
            )
        });
        assert_eq!(m.dropped(), 0, "chunk {k}: {}", m.summary());
    }
    for t in threads {
        t.join().unwrap().expect("producer write");
    }
    let fed = started.elapsed();

    // Just before shutdown.
    let m = daemon.scrape();
    m.assert_conserved();
    assert_eq!(m.received(), 12_144, "{}", m.summary());
    assert_eq!((m.dropped(), m.rejected()), (0, 0), "{}", m.summary());
    assert!(
        m.staged() > 0,
        "a {WINDOW} s window holds the last samples back: {}",
        m.summary()
    );
    let stop = daemon.terminate();
    let log = daemon.stderr();
    assert!(log.contains("shutdown: released"), "{log}");

    let got = std::fs::read(&episodes).unwrap();
    assert_same_episodes(&got, &expected, "4 TCP producers + stdin");

    let text = std::fs::read_to_string(&textfile).expect("final textfile written");
    let n = check_classic_format(&text).unwrap_or_else(|e| panic!("textfile: {e}"));
    let fin = Metrics::parse(&text);
    fin.assert_conserved();
    assert_eq!(
        (fin.received(), fin.flushed(), fin.staged()),
        (12_144, 12_144, 0),
        "the textfile holds the final counts: {}",
        fin.summary()
    );
    assert_eq!(fin.sum("dsfb_episodes_total") as usize, expected_episodes);
    println!(
        "{} samples over {PRODUCERS} producers in {chunks} chunks, {reordered} out of order, fed in {fed:.1?}; \
         {} staged at shutdown; {expected_episodes} episodes identical to replay; SIGTERM → exit 0 in {stop:.1?}; \
         textfile {n} samples",
        sorted.len(),
        m.staged()
    );
}

#[test]
#[ignore = "needs promtool"]
fn final_textfile_passes_promtool() {
    let dir = Scratch::new("promtool");
    let textfile = dir.path("motifd.prom");
    // A file without --follow and no listener: the daemon ends with its source.
    let mut daemon = Daemon::run(&[
        "--input",
        fixture("demo.csv").to_str().unwrap(),
        "--metrics-listen",
        "off",
        "--textfile",
        textfile.to_str().unwrap(),
        "--textfile-interval",
        "3600",
    ]);
    let status = daemon.wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    let text = std::fs::read_to_string(&textfile).unwrap();
    check_classic_format(&text).unwrap();
    assert_eq!(Metrics::parse(&text).received(), 12_144);
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&textfile).unwrap())
        .output()
        .expect("promtool on PATH");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
