//! Far-future timestamps through `motifd replay` (docs/semantics.md,
//! "Far-future samples"): one bad timestamp anywhere in the jittered demo
//! stream, whatever its size, leaves the episodes byte for byte as they are
//! without it and is counted as `future_time`; a stream that really jumps
//! loses nothing.
//!
//! Before the far-future guard, `demo_with_one_far_future_sample_*` failed:
//! with `1e300` after line 101 the replay dropped 12,044 of 12,145 samples
//! and logged 1 episode instead of 52.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("motifd-test-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Replays `input` with `--metrics-out`; returns the output and the exposition.
fn replay(input: &std::path::Path, dir: &std::path::Path) -> (Output, String) {
    let prom = dir.join("final.prom");
    let out = Command::new(env!("CARGO_BIN_EXE_motifd"))
        .args(["replay", "--metrics-out"])
        .arg(&prom)
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .expect("motifd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, std::fs::read_to_string(prom).unwrap())
}

/// The value of one series of the exposition.
fn metric(exposition: &str, series: &str) -> u64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in the exposition"))
        .parse()
        .unwrap()
}

fn demo_lines() -> Vec<String> {
    std::fs::read_to_string(root().join("fixtures/demo-jittered.csv"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn t_of(line: &str) -> f64 {
    line.split(',').next().unwrap().parse().unwrap()
}

#[test]
fn demo_with_one_far_future_sample_gives_the_same_episodes() {
    let dir = tempdir("future-time");
    let lines = demo_lines();
    let samples = (lines.len() - 1) as u64;
    let clean = dir.join("clean.csv");
    std::fs::write(&clean, lines.join("\n") + "\n").unwrap();
    let (expected, _) = replay(&clean, &dir);
    assert_eq!(
        expected.stdout.iter().filter(|&&b| b == b'\n').count(),
        52,
        "the demo stream logs 52 episodes"
    );

    // Positions are data-line indices (1 = the first record): first, inside
    // the first group of samples, early, the spot, middle, last.
    let positions = [1, 5, 60, 101, lines.len() / 2, lines.len()];
    for &at in &positions {
        let neighbour = t_of(&lines[at.min(lines.len() - 1)]);
        let magnitudes = [
            ("1e300", "1e300".to_string()),
            ("x1000 (ms for s)", format!("{}", neighbour * 1000.0)),
            ("+1 day", format!("{}", neighbour + 86_400.0)),
        ];
        for (what, t) in magnitudes {
            let mut poisoned = lines.clone();
            poisoned.insert(at, format!("{t},contention,cont-0,0.5"));
            let input = dir.join("poisoned.csv");
            std::fs::write(&input, poisoned.join("\n") + "\n").unwrap();
            let (out, prom) = replay(&input, &dir);
            assert!(
                out.stdout == expected.stdout,
                "{what} at line {at}: the episodes differ from the clean stream's"
            );
            let case = format!("{what} at data line {at}");
            assert_eq!(
                metric(&prom, "dsfb_samples_rejected_total{reason=\"future_time\"}"),
                1,
                "{case}"
            );
            assert_eq!(metric(&prom, "dsfb_samples_received_total"), samples + 1);
            assert_eq!(
                metric(&prom, "dsfb_streaming_residuals_flushed_total"),
                samples,
                "{case}"
            );
            assert_eq!(
                metric(
                    &prom,
                    "dsfb_streaming_residuals_dropped_out_of_window_total"
                ),
                0,
                "{case}"
            );
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_stream_that_jumps_a_week_loses_nothing() {
    let dir = tempdir("future-jump");
    let mut lines = demo_lines();
    let half = lines.len() / 2;
    for line in &mut lines[half..] {
        let (t, rest) = line.split_once(',').unwrap();
        let t: f64 = t.parse().unwrap();
        *line = format!("{},{rest}", t + 7.0 * 86_400.0);
    }
    let input = dir.join("jump.csv");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let (out, prom) = replay(&input, &dir);
    let samples = (lines.len() - 1) as u64;
    assert_eq!(
        metric(&prom, "dsfb_streaming_residuals_flushed_total"),
        samples
    );
    assert_eq!(
        metric(
            &prom,
            "dsfb_streaming_residuals_dropped_out_of_window_total"
        ),
        0
    );
    for line in prom.lines() {
        if line.starts_with("dsfb_samples_rejected_total{") {
            assert!(line.ends_with(" 0"), "{line}");
        }
    }
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("jumps accepted 1"), "{summary}");
    // Episodes on both sides of the jump.
    let episodes = String::from_utf8(out.stdout).unwrap();
    let week_later = episodes
        .lines()
        .filter(|l| l.contains("\"t_start\":17006"))
        .count();
    assert!(
        week_later > 10 && episodes.lines().count() > week_later + 10,
        "{episodes}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn max_future_jump_is_a_replay_flag_and_is_validated() {
    let dir = tempdir("future-flag");
    let input = dir.join("gap.csv");
    // A two-hour pause: held with the default (an hour), as the stream goes
    // on it is confirmed; with a jump limit of a day nothing is held at all.
    let mut text = String::from("t,class,channel,value\n");
    for i in 0..20 {
        text.push_str(&format!("{},cache_io,c,0.01\n", 1000 + i));
    }
    for i in 0..20 {
        text.push_str(&format!("{},cache_io,c,0.01\n", 8200 + i));
    }
    std::fs::write(&input, text).unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_motifd"))
            .arg("replay")
            .args(extra)
            .arg(&input)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let default = run(&[]);
    let err = String::from_utf8_lossy(&default.stderr);
    assert!(
        err.contains("jumps accepted 1") && err.contains("rejected: 0"),
        "{err}"
    );
    let day = run(&["--max-future-jump", "86400"]);
    let err = String::from_utf8_lossy(&day.stderr);
    assert!(
        !err.contains("jumps accepted") && err.contains("flushed 40"),
        "{err}"
    );
    for bad in ["0", "-5", "inf"] {
        let o = run(&["--max-future-jump", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("--max-future-jump must be"), "{bad}: {err}");
    }
    std::fs::remove_dir_all(dir).ok();
}
