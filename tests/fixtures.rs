//! Replays every committed fixture and compares it with its golden file, checks
//! that the generator still records exactly the committed streams, and covers the
//! replay command's contract (exit codes, --check output, --strict, summary).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn motifd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_motifd"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

fn golden(stem: &str) -> PathBuf {
    root()
        .join("fixtures/golden")
        .join(format!("{stem}.episodes.jsonl"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("motifd runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const FIXTURES: [(&str, &str); 5] = [
    ("demo.csv", "demo"),
    ("demo-jittered.csv", "demo"),
    ("gaps.csv", "gaps"),
    ("many-channels.jsonl", "many-channels"),
    ("rejects.csv", "rejects"),
];

#[test]
fn every_fixture_replays_to_its_golden_file() {
    for (input, stem) in FIXTURES {
        let o = run(motifd()
            .args(["replay", "--quiet", "--check"])
            .arg(golden(stem))
            .arg(fixture(input)));
        assert!(o.status.success(), "{input}: {}", stderr(&o));
        let expected = std::fs::read(golden(stem)).unwrap();
        assert!(
            expected.iter().filter(|&&b| b == b'\n').count() > 0,
            "{stem}: a golden file without episodes proves nothing"
        );
    }
}

#[test]
fn replay_output_is_byte_identical_across_runs_and_equals_the_golden_file() {
    let a = run(motifd()
        .args(["replay", "--quiet"])
        .arg(fixture("gaps.csv")));
    let b = run(motifd()
        .args(["replay", "--quiet"])
        .arg(fixture("gaps.csv")));
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout, std::fs::read(golden("gaps")).unwrap());
}

#[test]
fn the_generator_records_exactly_the_committed_streams() {
    let dir = tempdir("generate");
    let o = run(motifd().args(["generate-fixtures", "--out"]).arg(&dir));
    assert!(o.status.success(), "{}", stderr(&o));
    for (input, _) in FIXTURES {
        let fresh = std::fs::read(dir.join(input)).unwrap();
        let committed = std::fs::read(fixture(input)).unwrap();
        assert!(fresh == committed, "{input} differs from a fresh recording");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn fixtures_cover_every_default_motif() {
    let mut seen = std::collections::BTreeSet::new();
    for (_, stem) in FIXTURES {
        for line in std::fs::read_to_string(golden(stem)).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            seen.insert(v["motif"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
}

#[test]
fn check_reports_the_first_differing_line_and_exits_1() {
    let dir = tempdir("check");
    let text = std::fs::read_to_string(golden("demo")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let changed = lines[3].replace("\"closed_by\":\"dwell\"", "\"closed_by\":\"other\"");
    assert_ne!(
        changed, lines[3],
        "line 4 of the demo golden file closes by dwell"
    );
    lines[3] = &changed;
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let o = run(motifd()
        .args(["replay", "--quiet", "--check"])
        .arg(&bad)
        .arg(fixture("demo.csv")));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("differs at line 4:"), "{err}");
    assert!(err.contains(&format!("expected: {changed}")), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn rejected_lines_are_reported_with_line_numbers_and_counted_by_reason() {
    let o = run(motifd().arg("replay").arg(fixture("rejects.csv")));
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("rejects.csv:8: rejected (missing_field): this is not a record"),
        "{err}"
    );
    assert!(
        err.contains("rejects.csv:63: rejected (unknown_class)"),
        "{err}"
    );
    assert!(
        err.contains(
            "rejected: 10 (malformed 3, missing_field 3, non_finite 2, unknown_class 1, invalid_utf8 1)"
        ),
        "{err}"
    );
    assert!(
        err.contains("flushed 120, dropped out of window 0"),
        "{err}"
    );
}

#[test]
fn strict_mode_stops_at_the_first_rejected_line() {
    let o = run(motifd()
        .args(["replay", "--strict"])
        .arg(fixture("rejects.csv")));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("rejects.csv:8: rejected (missing_field) in --strict mode"));
}

#[test]
fn stdin_jsonl_and_csv_output_work() {
    let mut child = motifd()
        .args([
            "replay",
            "--quiet",
            "--input-format",
            "jsonl",
            "--output-format",
            "csv",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = std::fs::read(fixture("many-channels.jsonl")).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input).unwrap();
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let golden_lines = std::fs::read_to_string(golden("many-channels"))
        .unwrap()
        .lines()
        .count();
    assert!(text.starts_with("motif,channel,t_start,t_end,"));
    assert_eq!(
        text.lines().count(),
        golden_lines + 1,
        "header + one row per episode"
    );
}

#[test]
fn bad_arguments_and_inputs_exit_2_with_a_message() {
    let cases: [(&[&str], &str); 4] = [
        (&["replay", "--window", "-1", "x.csv"], "--window must be"),
        (&["replay", "/nonexistent/x.csv"], "/nonexistent/x.csv"),
        (
            &["replay", "--grammar", "/nonexistent/g.toml", "x.csv"],
            "g.toml",
        ),
        (
            &["replay", "--input-format", "csv", "Cargo.toml"],
            "must start with the header",
        ),
    ];
    for (args, needle) in cases {
        let o = run(motifd().current_dir(root()).args(args));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_bad_grammar_is_refused_naming_the_motif_and_key() {
    let dir = tempdir("grammar");
    let g = dir.join("g.toml");
    std::fs::write(
        &g,
        "[[motif]]\nname = \"m\"\nclass = \"cache_io\"\nrho = 2\nsigma0 = 0.1\n\
         drift_threshold = 0.1\nslew_threshold = 0.3\nmin_dwell_seconds = 1\n",
    )
    .unwrap();
    let o = run(motifd()
        .arg("replay")
        .arg("--grammar")
        .arg(&g)
        .arg(fixture("demo.csv")));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("motif \"m\": rho must be in (0,1), got 2"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("motifd-test-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn metrics_out_holds_the_final_counters_of_the_replay() {
    let dir = tempdir("metrics-out");
    let prom = dir.join("final.prom");
    let o = run(motifd()
        .args(["replay", "--quiet", "--metrics-out"])
        .arg(&prom)
        .arg(fixture("demo.csv")));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&prom).unwrap();
    let mut per_motif = std::collections::BTreeMap::<String, u64>::new();
    for line in std::fs::read_to_string(golden("demo")).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *per_motif
            .entry(v["motif"].as_str().unwrap().into())
            .or_default() += 1;
    }
    for (motif, n) in per_motif {
        let series = format!("dsfb_episodes_total{{motif=\"{motif}\"}} {n}\n");
        assert!(text.contains(&series), "missing {series}");
    }
    let samples = std::fs::read_to_string(fixture("demo.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!(text.contains(&format!("dsfb_samples_received_total {samples}\n")));
    assert!(text.contains(&format!(
        "dsfb_streaming_residuals_flushed_total {samples}\n"
    )));
    assert!(!text.contains("# EOF"), "classic format for a .prom name");
    let om = dir.join("final.om");
    let o = run(motifd()
        .args(["replay", "--quiet", "--metrics-out"])
        .arg(&om)
        .arg(fixture("demo.csv")));
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&om).unwrap().ends_with("# EOF\n"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn speed_paces_the_replay_by_event_time() {
    let dir = tempdir("speed");
    let input = dir.join("span.csv");
    // 21 samples over 20 event seconds.
    let mut text = String::from("t,class,channel,value\n");
    for i in 0..=20 {
        text.push_str(&format!("{i},cache_io,c,0.01\n"));
    }
    std::fs::write(&input, text).unwrap();
    let started = std::time::Instant::now();
    let o = run(motifd()
        .args(["replay", "--quiet", "--speed", "100"])
        .arg(&input));
    assert!(o.status.success());
    // 20 event seconds at 100x cannot take less than 0.2 s of wall time.
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    std::fs::remove_dir_all(dir).ok();
}
