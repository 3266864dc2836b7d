//! `motifd replay --max-channels 10` fed 20,000 channel names of 64 KB (1.3 GB
//! of names) keeps its memory small: names of refused channels are freed
//! (docs/semantics.md, "Channel names"). Before, every name stayed and the
//! replay's peak resident set grew past 1.3 GB.

use std::io::Write;
use std::process::{Command, Stdio};

const NAMES: usize = 20_000;
const NAME_BYTES: usize = 64 << 10;

/// Peak resident set (VmHWM) of process `pid`, KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn twenty_thousand_names_of_64_kib_keep_the_replay_small() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_motifd"))
        .args(["replay", "--max-channels", "10", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("motifd runs");
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let mut stdin = child.stdin.take().unwrap();
    let tail = "x".repeat(NAME_BYTES - 12);
    stdin.write_all(b"t,class,channel,value\n").unwrap();
    let mut peak = 0;
    for i in 0..NAMES {
        // One sample a second, so a 10 s window stages about ten of them.
        writeln!(stdin, "{},contention,ch-{i:08}-{tail},0.01", 1000 + i).unwrap();
        if i % 1000 == 999 {
            peak = peak.max(peak_rss_kib(pid));
        }
    }
    // Everything but what the pipe buffers has been read by now, and the
    // replay is still running: its high-water mark covers the whole input.
    peak = peak.max(peak_rss_kib(pid));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let _episodes = reader.join().unwrap();
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{summary}");
    assert!(
        summary.contains(&format!("flushed {NAMES}")),
        "every sample reached the engine: {summary}"
    );
    assert!(
        summary.contains(&format!("refused at the channel cap {}", NAMES - 10)),
        "{summary}"
    );
    eprintln!(
        "replay of {NAMES} names of {NAME_BYTES} bytes ({} MB): peak RSS {} MB",
        NAMES * NAME_BYTES / 1_000_000,
        peak / 1000
    );
    assert!(peak < 100 * 1024, "peak resident set {peak} KiB");
}
