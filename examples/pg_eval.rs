//! Detection scored against injected faults on a real PostgreSQL
//! (docs/evaluation.md): runs the fault scenario of `tests/postgres_live.rs`
//! RUNS times, each on a fresh cluster with a fixed-rate pgbench load and a
//! tape of raw snapshots, re-derives every tape under both residual modes
//! (`motifd replay --tape --residuals MODE`: what a live daemon in that mode
//! computes from the same snapshots) and scores the episodes with the
//! reference's rules (`dsfb-database` 0.1.1, `metrics::evaluate`).
//!
//! ```sh
//! cargo build --release && cargo run --release --example pg_eval -- [RUNS] [QUIET_MINUTES]
//! ```
//!
//! Writes docs/evaluation.md. Needs the PostgreSQL server, contrib and
//! pgbench (Debian `postgresql`, `postgresql-contrib`).

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use pg_support::{episodes, matches, Episode, Options, Window};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const MODES: [&str; 2] = ["reference", "improved"];
const MOTIFS: [&str; 5] = [
    "plan_regression_onset",
    "cardinality_mismatch_regime",
    "contention_ramp",
    "cache_collapse",
    "workload_phase_transition",
];

/// One scored run: windows (one per channel, as the reference scores them),
/// its episodes per mode, and how long it lasted.
struct Run {
    windows: Vec<Window>,
    episodes: Vec<Vec<Episode>>,
    duration: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(1).map_or(5, |a| a.parse().expect("RUNS"));
    let quiet_minutes: f64 = args
        .get(2)
        .map_or(0.0, |a| a.parse().expect("QUIET_MINUTES"));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let motifd = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("motifd");
    assert!(
        motifd.is_file(),
        "build the binary first: cargo build --release ({})",
        motifd.display()
    );
    let work = std::env::temp_dir().join(format!("motifd-pg-eval-{}", std::process::id()));
    let mut scored = Vec::new();
    for i in 0..runs + usize::from(quiet_minutes > 0.0) {
        let quiet = i == runs;
        let dir = work.join(format!("run{i:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        let opts = Options {
            motifd: motifd.clone(),
            docs: root.join("docs/sources.md"),
            work: dir.clone(),
            residuals: "improved",
            rate: 20,
            clients: 4,
            warmup_polls: 12,
            fault_seconds: if quiet { 0.0 } else { 12.0 },
            recovery_seconds: if quiet { quiet_minutes * 60.0 } else { 12.0 },
            interval: 1.0,
        };
        eprintln!(
            "run {}/{}{}",
            i + 1,
            runs,
            if quiet { " (quiet)" } else { "" }
        );
        let out = if quiet {
            pg_support::quiet(&opts)
        } else {
            pg_support::scenario(&opts)
        };
        let per_mode = MODES
            .iter()
            .map(|mode| {
                let replay = Command::new(&motifd)
                    .args(["replay", "--quiet", "--residuals", mode, "--tape"])
                    .arg(&out.tape)
                    .output()
                    .unwrap();
                assert!(
                    replay.status.success(),
                    "{}",
                    String::from_utf8_lossy(&replay.stderr)
                );
                let path = dir.join(format!("episodes-{mode}.jsonl"));
                std::fs::write(&path, &replay.stdout).unwrap();
                episodes(&path)
            })
            .collect();
        let windows = out
            .windows
            .iter()
            .flat_map(|w| {
                w.channels.iter().map(move |c| Window {
                    channels: vec![c.clone()],
                    ..w.clone()
                })
            })
            .collect();
        scored.push(Run {
            windows,
            episodes: per_mode,
            duration: out.t_end - out.t_start,
        });
    }
    let doc = report(&scored, runs, quiet_minutes);
    std::fs::write(root.join("docs/evaluation.md"), doc).unwrap();
    eprintln!("wrote docs/evaluation.md; runs kept in {}", work.display());
}

#[derive(Default)]
struct Score {
    tp: u64,
    fp: u64,
    fn_: u64,
    ttd: Vec<f64>,
    stable_alarms: u64,
}

/// The reference's `count_confusion` and false-alarm rule for one motif in
/// one run: an episode takes the first window of its motif it matches that
/// no episode took yet; one matching only taken windows is not counted; one
/// matching none is a false positive. A false alarm is an episode of the
/// motif overlapping no window of any motif.
fn score(run: &Run, mode: usize, motif: &str, into: &mut Score) {
    let wins: Vec<&Window> = run.windows.iter().filter(|w| w.motif == motif).collect();
    let mut taken = vec![false; wins.len()];
    for e in run.episodes[mode].iter().filter(|e| e.motif == motif) {
        let hit = |w: &Window| matches(e, w, &w.channels[0]);
        if let Some(i) = (0..wins.len()).find(|&i| !taken[i] && hit(wins[i])) {
            taken[i] = true;
            into.tp += 1;
            into.ttd.push((e.t_start - wins[i].t_start).max(0.0));
        } else if !wins.iter().any(|w| hit(w)) {
            into.fp += 1;
        }
        if !run
            .windows
            .iter()
            .any(|w| e.t_end >= w.t_start && e.t_start <= w.t_end)
        {
            into.stable_alarms += 1;
        }
    }
    into.fn_ += taken.iter().filter(|t| !**t).count() as u64;
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let p95 = ((v.len() as f64 - 1.0) * 0.95).round() as usize;
    (v[v.len() / 2], v[p95.min(v.len() - 1)])
}

fn report(runs: &[Run], faulted: usize, quiet_minutes: f64) -> String {
    let stable_hours: f64 = runs
        .iter()
        .map(|r| {
            let windows: f64 = dedup_windows(&r.windows)
                .iter()
                .map(|w| w.t_end - w.t_start)
                .sum();
            (r.duration - windows).max(1.0)
        })
        .sum::<f64>()
        / 3600.0;
    let mut doc = String::new();
    let _ = write!(
        doc,
        "{}",
        HEADER.replace("{RUNS}", &faulted.to_string()).replace(
            "{QUIET}",
            &if quiet_minutes > 0.0 {
                format!(" {quiet_minutes}")
            } else {
                String::new()
            },
        )
    );
    let _ = writeln!(
        doc,
        "Stable (fault-free) time scored: {:.1} minutes over {} runs.\n",
        stable_hours * 60.0,
        runs.len()
    );
    let _ = writeln!(doc, "| mode | motif | windows | TP | FP | FN | precision | recall | F1 | TTD median (s) | TTD p95 (s) | false alarms / h |");
    let _ = writeln!(doc, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (m, mode) in MODES.iter().enumerate() {
        for motif in MOTIFS {
            let mut s = Score::default();
            for r in runs {
                score(r, m, motif, &mut s);
            }
            let windows = s.tp + s.fn_;
            let precision = if s.tp + s.fp == 0 {
                0.0
            } else {
                s.tp as f64 / (s.tp + s.fp) as f64
            };
            let recall = if windows == 0 {
                0.0
            } else {
                s.tp as f64 / windows as f64
            };
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            let (median, p95) = percentiles(s.ttd.clone());
            let far = s.stable_alarms as f64 / stable_hours;
            let num = |v: f64| {
                if v.is_nan() {
                    "–".to_string()
                } else {
                    format!("{v:.1}")
                }
            };
            let ratio = |v: f64| {
                if windows == 0 {
                    "–".to_string()
                } else {
                    format!("{v:.2}")
                }
            };
            let _ = writeln!(
                doc,
                "| {mode} | {motif} | {windows} | {} | {} | {} | {} | {} | {} | {} | {} | {far:.0} |",
                s.tp,
                s.fp,
                s.fn_,
                if s.tp + s.fp == 0 { "–".into() } else { format!("{precision:.2}") },
                ratio(recall),
                ratio(f1),
                num(median),
                num(p95),
            );
        }
    }
    let _ = writeln!(doc, "{FOOTER}");
    doc
}

/// The fault windows once each (a window per channel repeats the time).
fn dedup_windows(ws: &[Window]) -> Vec<&Window> {
    let mut out: Vec<&Window> = Vec::new();
    for w in ws {
        if !out
            .iter()
            .any(|o| o.fault == w.fault && o.t_start == w.t_start)
        {
            out.push(w);
        }
    }
    out
}

const HEADER: &str = "# Evaluation: detection of injected faults on a real PostgreSQL

Generated by `examples/pg_eval.rs`; reproduce with

```sh
cargo build --release && cargo run --release --example pg_eval -- {RUNS}{QUIET}
```

";

const FOOTER: &str = "";
