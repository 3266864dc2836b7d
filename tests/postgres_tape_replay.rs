//! `motifd replay --tape`: a tape's damaged lines are rejected with file and
//! line and counted while the snapshots around them replay; a tape changed
//! after its manifest was written is refused.

mod common;

use common::{motifd, Scratch};

const TAPE: &str = r#"{"tape":"motifd-postgres","version":1,"source":"db","target":"postgres://w:***@h:5432/db?sslmode=prefer","residuals":"reference","motifd":"test"}
{"t":1700000000.5,"stat_database":[{"datname":"a","blks_hit":100,"blks_read":10}]}
garbage{
{"t":1700000001.5,"stat_database":[{"datname":"a","blks_hit":200,"blks_read":60}]}
{"t":1700000002.5,"stat_database":[{"datname":"a","blks_hit":300,"blks_read":
"#;

#[test]
fn damaged_lines_are_rejected_by_line_and_the_rest_replays() {
    let dir = Scratch::new("tape-replay");
    let tape = dir.write("t.jsonl", TAPE);
    let residuals = dir.path("r.csv");
    let out = motifd()
        .args(["replay", "--tape"])
        .arg(&tape)
        .arg("--residuals-out")
        .arg(&residuals)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let name = tape.display().to_string();
    assert!(
        stderr.contains(&format!("{name}:3: rejected (malformed)")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:5: rejected (malformed)")),
        "{stderr}"
    );
    assert!(stderr.contains("no manifest"), "{stderr}");
    assert!(stderr.contains("rejected: 2 (malformed 2)"), "{stderr}");
    // The reference's fallback: 1 − Δhit/(Δhit+Δread) = 1 − 100/150.
    let csv = std::fs::read_to_string(&residuals).unwrap();
    assert_eq!(
        csv,
        format!(
            "t,class,channel,value\n1700000001.5,cache_io,db/db::a,{}\n",
            1.0 - 100.0 / 150.0
        )
    );
}

#[test]
fn a_tape_changed_after_its_manifest_is_refused() {
    let dir = Scratch::new("tape-changed");
    let tape = dir.write("t.jsonl", TAPE);
    let manifest = r#"{"sha256":"0000000000000000000000000000000000000000000000000000000000000000","bytes":10,"snapshots":3,"segments":1,"first_t":1.0,"last_t":3.0,"motifd":"test"}"#;
    dir.write("t.jsonl.sha256.json", manifest);
    let out = motifd()
        .args(["replay", "--tape"])
        .arg(&tape)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not match its manifest"), "{stderr}");
}

#[test]
fn strict_stops_at_the_first_damaged_line_and_a_headless_tape_is_refused() {
    let dir = Scratch::new("tape-strict");
    let tape = dir.write("t.jsonl", TAPE);
    let out = motifd()
        .args(["replay", "--strict", "--tape"])
        .arg(&tape)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let name = tape.display().to_string();
    assert!(
        stderr.contains(&format!("{name}:3: rejected (malformed) in --strict mode")),
        "{stderr}"
    );
    assert!(!stderr.contains(":5:"), "stopped at line 3: {stderr}");

    let headless = dir.write("h.jsonl", TAPE.split_once('\n').unwrap().1);
    let out = motifd()
        .args(["replay", "--tape"])
        .arg(&headless)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:1: a snapshot before any header line",
            headless.display()
        )),
        "{stderr}"
    );
}
