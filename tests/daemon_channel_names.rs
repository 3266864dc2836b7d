//! The daemon with `--max-channels 10` fed 20,000 channel names of 64 KB
//! (1.3 GB of names) over TCP keeps its memory and its checkpoint small: the
//! names of refused channels are freed once nothing refers to them
//! (docs/architecture.md#who-owns-what). Before, every name stayed: resident
//! set past 1.3 GB, and every name went into the checkpoint.

mod common;

use common::*;
use std::io::Write;
use std::time::Duration;

const NAMES: usize = 20_000;
const NAME_BYTES: usize = 64 << 10;

#[test]
fn twenty_thousand_names_of_64_kib_keep_the_daemon_and_its_checkpoint_small() {
    let dir = Scratch::new("daemon-channel-names");
    let checkpoint = dir.path("state.ckpt");
    let mut daemon = Daemon::listening(&[
        "--max-channels",
        "10",
        "--channel-ttl",
        "0",
        "--window",
        "10",
        "--idle-flush",
        "3600",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    let mut out = std::io::BufWriter::new(connect(daemon.ingest_addr()));
    let tail = "x".repeat(NAME_BYTES - 12);
    let mut peak = 0;
    for i in 0..NAMES {
        // One sample a second, so a 10 s window stages about ten of them.
        writeln!(out, "{},contention,ch-{i:08}-{tail},0.01", 1_000 + i).unwrap();
        if i % 1000 == 999 {
            peak = peak.max(daemon.peak_rss());
        }
    }
    out.flush().unwrap();
    let m = daemon.wait_metrics(Duration::from_secs(120), "every name received", |m| {
        m.received() >= NAMES as u64
    });
    peak = peak.max(daemon.peak_rss());
    assert_eq!((m.dropped(), m.rejected()), (0, 0), "{}", m.summary());
    // Every flushed sample of an 11th or later channel was refused.
    assert_eq!(
        m.value("dsfb_channels_refused_total") as u64,
        m.flushed() - 10,
        "{}",
        m.summary()
    );
    drop(out);
    daemon.terminate();
    let size = std::fs::metadata(&checkpoint).unwrap().len();
    eprintln!(
        "daemon fed {NAMES} names of {NAME_BYTES} bytes ({} MB) over TCP: peak RSS {} MB, checkpoint {size} bytes",
        NAMES * NAME_BYTES / 1_000_000,
        peak >> 20
    );
    assert!(peak < 100 << 20, "peak resident set {peak} bytes");
    assert!(size < 2_000_000, "checkpoint of {size} bytes");
}
