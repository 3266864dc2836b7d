//! Regular files are parsed in runs on several threads; what a replay writes
//! must not show it. Each test replays the same bytes twice, from regular
//! files and from named pipes of the same names (a pipe is read as one stream
//! on one thread), and compares everything but the timing.

mod common;

use common::files::{motifd, Scratch};
use std::io::Write;
use std::path::Path;
use std::process::Output;

/// Enough for three runs of the parallel reader (runs are 2 MiB).
const RECORDS: usize = 200_000;

fn csv_records(out: &mut Vec<u8>) {
    let classes = ["contention", "cache_io", "plan_regression", "cardinality"];
    for i in 0..RECORDS {
        let t = 1_700_000_000.0 + i as f64 * 0.01;
        let channel = i % 97;
        let class = classes[i % 4];
        let value = if (i / 500) % 7 == 3 { 3.5 } else { 0.01 };
        match i % 20_011 {
            // Rejected lines spread over every run, of several reasons.
            7 => writeln!(out, "{t},{class},q{channel},not-a-number"),
            8 => writeln!(out, "{t},no_such_class,q{channel},1"),
            9 => writeln!(out, "{t},{class}"),
            10 => writeln!(out, "{t},{class},q{channel},{}", "9".repeat(300)),
            // Lines the reader skips or takes as they are.
            11 => writeln!(out, "t,class,channel,value\r\n"),
            12 => writeln!(out, "{t},{class},\"q,{channel}\",{value}\r"),
            _ => writeln!(out, "{t},{class},q{channel},{value}"),
        }
        .unwrap();
    }
}

fn jsonl_records(out: &mut Vec<u8>) {
    for i in 0..RECORDS / 2 {
        let t = 1_700_002_000.0 + i as f64 * 0.02;
        let value = if (i / 300) % 5 == 1 { -4.25 } else { 0.02 };
        if i % 9_001 == 5 {
            writeln!(out, "{{\"t\":{t},\"class\":\"cache_io\"").unwrap();
        } else {
            writeln!(
                out,
                "{{\"t\":{t},\"class\":\"cache_io\",\"channel\":\"j{}\",\"value\":{value}}}",
                i % 31
            )
            .unwrap();
        }
    }
}

/// `name` in `dir` twice: `files/name` holds `bytes`, `pipes/name` is a
/// named pipe a thread writes them to.
fn both_ways(dir: &Path, name: &str, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let (files, pipes) = (dir.join("files"), dir.join("pipes"));
    std::fs::create_dir_all(&files).unwrap();
    std::fs::create_dir_all(&pipes).unwrap();
    std::fs::write(files.join(name), &bytes).unwrap();
    let pipe = pipes.join(name);
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", pipe.display());
    std::thread::spawn(move || {
        // Opening blocks until the replay opens the pipe to read; a replay
        // that stops early closes it, which ends the write with an error.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(&pipe)
            .and_then(|mut p| p.write_all(&bytes));
    })
}

fn replay(dir: &Path, args: &[&str]) -> Output {
    motifd()
        .current_dir(dir)
        .arg("replay")
        .args(args)
        .output()
        .expect("motifd runs")
}

/// stderr without the line that gives the timing (and the parser threads).
fn without_timing(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| !l.starts_with("replay: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn parallel_machine() -> bool {
    std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2
}

#[test]
fn files_parsed_in_runs_give_what_one_stream_gives() {
    let scratch = Scratch::new("replay-parallel");
    let mut csv = b"\n \n".to_vec();
    csv.extend_from_slice(b"t,class,channel,value\n");
    csv_records(&mut csv);
    csv.extend_from_slice(b"1700002000.5,contention,last,0.5");
    let mut jsonl = Vec::new();
    jsonl_records(&mut jsonl);
    assert!(csv.len() > 5 << 20, "{} bytes: three runs", csv.len());
    let writers = [
        both_ways(&scratch.0, "a.csv", csv.clone()),
        both_ways(&scratch.0, "b.jsonl", jsonl),
        both_ways(&scratch.0, "c.csv", csv),
    ];
    let args = [
        "--show-rejects",
        "100000",
        "--max-line",
        "200",
        "a.csv",
        "b.jsonl",
        "c.csv",
    ];
    let runs = replay(&scratch.0.join("files"), &args);
    let stream = replay(&scratch.0.join("pipes"), &args);
    let summary = String::from_utf8_lossy(&runs.stderr);
    assert!(
        runs.status.success() && stream.status.success(),
        "{summary}"
    );
    // Both read every pipe to its end.
    for w in writers {
        w.join().unwrap();
    }
    if parallel_machine() {
        assert!(summary.contains("parser threads)"), "{summary}");
    }
    assert!(!String::from_utf8_lossy(&stream.stderr).contains("parser threads"));
    assert!(runs.stdout.len() > 1000, "episodes were written");
    assert!(runs.stdout == stream.stdout, "the episodes differ");
    let (ours, theirs) = (without_timing(&runs.stderr), without_timing(&stream.stderr));
    assert_eq!(ours, theirs);
    // Rejected lines of later runs carry their line numbers in the file:
    // three lines before the records, and one more line for each skipped
    // header (record 11 of every 20,011) before it.
    let record = 2 * 20_011 + 7;
    let far = format!("c.csv:{}: rejected (", 3 + (record + 1) + 2);
    assert!(ours.contains(&far), "{far} in {ours}");
    // Four rejected records per 20,011 in each CSV file, one per 9,001 JSON.
    let rejected = 2 * 4 * RECORDS.div_ceil(20_011) + (RECORDS / 2).div_ceil(9_001);
    assert!(ours.contains(&format!("rejected: {rejected} (")), "{ours}");
}

#[test]
fn the_rejected_lines_shown_are_the_first_ones() {
    let scratch = Scratch::new("replay-parallel-show");
    let mut csv = b"t,class,channel,value\n".to_vec();
    csv_records(&mut csv);
    let writer = both_ways(&scratch.0, "a.csv", csv);
    // 40 rejected lines over three runs: the limit falls in the second.
    let args = ["--show-rejects", "20", "--max-line", "200", "a.csv"];
    let runs = replay(&scratch.0.join("files"), &args);
    let stream = replay(&scratch.0.join("pipes"), &args);
    assert!(runs.status.success() && stream.status.success());
    writer.join().unwrap();
    let (ours, theirs) = (without_timing(&runs.stderr), without_timing(&stream.stderr));
    assert_eq!(ours, theirs);
    assert_eq!(ours.matches(": rejected (").count(), 20, "{ours}");
    assert!(runs.stdout == stream.stdout, "the episodes differ");
}

#[test]
fn the_header_rule_holds_past_the_first_run() {
    let scratch = Scratch::new("replay-parallel-header");
    // Over two runs of blank lines, then a record where the header belongs.
    let mut headless = b"\n".repeat(5 << 20);
    headless.extend_from_slice(b"1,contention,q,1\n");
    headless.extend(b"2,contention,q,1\n".repeat(300_000));
    let writer = both_ways(&scratch.0, "headless.csv", headless);
    let runs = replay(&scratch.0.join("files"), &["headless.csv"]);
    let stream = replay(&scratch.0.join("pipes"), &["headless.csv"]);
    writer.join().unwrap();
    let expected = format!(
        "headless.csv:{}: a CSV input must start with the header",
        (5 << 20) + 1
    );
    for out in [&runs, &stream] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(&expected), "{expected} in {stderr}");
    }
    assert!(runs.stdout == stream.stdout);
}
