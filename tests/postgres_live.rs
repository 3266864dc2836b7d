//! A real database, real faults: `motifd run --postgres` against a
//! throwaway PostgreSQL cluster under a fixed-rate pgbench load, with a
//! dropped primary key, a held row lock and a cache eviction injected one
//! after another. Each must give an episode of its motif, on a channel of
//! its own, overlapping its window; and `motifd replay --tape` must re-derive
//! exactly the episodes the daemon logged.

mod pg_support;

use pg_support::{episodes, matches, Options};
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[ignore = "needs PostgreSQL (postgresql, postgresql-contrib): run by .ci/run"]
fn injected_faults_give_their_episodes_and_the_tape_replays_them() {
    let work =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pg-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let opts = Options {
        motifd: PathBuf::from(env!("CARGO_BIN_EXE_motifd")),
        docs: root().join("docs/sources.md"),
        work: work.clone(),
        residuals: "improved",
        rate: 20,
        clients: 4,
        warmup_polls: 12,
        fault_seconds: 12.0,
        recovery_seconds: 12.0,
        interval: 1.0,
    };
    let started = std::time::Instant::now();
    let out = pg_support::scenario(&opts);
    let live = episodes(&out.episodes);
    for w in &out.windows {
        let hit = live
            .iter()
            .filter(|e| w.channels.iter().any(|c| matches(e, w, c)))
            .min_by(|a, b| a.t_start.total_cmp(&b.t_start));
        let Some(e) = hit else {
            panic!(
                "{}: no {} episode on {:?} overlapping [{:.1}, {:.1}]\nepisodes: {live:#?}\ndaemon log:\n{}",
                w.fault, w.motif, w.channels, w.t_start, w.t_end, out.daemon_log
            );
        };
        eprintln!(
            "{}: {} on {} from {:+.1} s to {:+.1} s of the fault's start (fault lasted {:.1} s): time to detection {:.1} s",
            w.fault,
            e.motif,
            e.channel,
            e.t_start - w.t_start,
            e.t_end - w.t_start,
            w.t_end - w.t_start,
            (e.t_start - w.t_start).max(0.0)
        );
    }
    // The tape re-derives the daemon's episodes byte for byte.
    let replayed = Command::new(env!("CARGO_BIN_EXE_motifd"))
        .args(["replay", "--quiet", "--tape"])
        .arg(&out.tape)
        .output()
        .unwrap();
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let logged = std::fs::read(&out.episodes).unwrap();
    assert!(!logged.is_empty());
    assert!(
        replayed.stdout == logged,
        "replay --tape differs from the live episode log:\nlive:\n{}\nreplay:\n{}",
        String::from_utf8_lossy(&logged),
        String::from_utf8_lossy(&replayed.stdout)
    );
    let manifest = std::fs::read_to_string(out.tape.with_extension("jsonl.sha256.json")).unwrap();
    assert!(manifest.contains("\"sha256\""), "{manifest}");
    eprintln!(
        "scenario: {:.0} s, {} episodes, tape replayed to the same {} bytes",
        started.elapsed().as_secs_f64(),
        live.len(),
        logged.len()
    );
    let _ = std::fs::remove_dir_all(&work);
}
