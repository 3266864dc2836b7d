//! `motifd replay --partitions N`: the file split as `motifd produce` splits
//! it for Kafka, one engine per partition (no broker needed).

mod common;

use common::{fixture, lines, motifd, replay};
use std::ffi::OsStr;

fn partitioned(n: &str, file: &str) -> Vec<String> {
    let path = fixture(file);
    lines(&replay(&[
        OsStr::new("--partitions"),
        OsStr::new(n),
        path.as_os_str(),
    ]))
}

/// The record without the two fields partitioned runs add.
fn plain(record: &str) -> String {
    let cut = record
        .find(",\"partition\":")
        .unwrap_or_else(|| panic!("no partition field: {record}"));
    let tail = &record[cut..];
    assert!(tail.contains(",\"id\":\""), "{record}");
    format!("{}}}", &record[..cut])
}

#[test]
fn one_partition_is_the_plain_replay_plus_partition_and_id() {
    for (file, golden) in [
        ("demo.csv", "golden/demo.episodes.jsonl"),
        ("rejects.csv", "golden/rejects.episodes.jsonl"),
    ] {
        let got: Vec<String> = partitioned("1", file).iter().map(|r| plain(r)).collect();
        let expected = lines(&std::fs::read(fixture(golden)).unwrap());
        assert_eq!(got, expected, "{file}");
    }
}

#[test]
fn six_partitions_give_the_same_episodes_in_any_arrival_order_within_the_window() {
    let mut ordered = partitioned("6", "demo.csv");
    let mut jittered = partitioned("6", "demo-jittered.csv");
    ordered.sort();
    jittered.sort();
    assert!(ordered.len() > 20, "{} episodes", ordered.len());
    assert_eq!(ordered, jittered);
    let parts: std::collections::BTreeSet<&str> = ordered
        .iter()
        .map(|r| {
            r.split(",\"partition\":")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
        })
        .collect();
    assert!(parts.len() > 1, "episodes of several partitions: {parts:?}");
}

#[test]
fn flags_that_do_not_apply_and_bad_counts_are_refused() {
    for args in [
        &["--partitions", "0"][..],
        &["--partitions", "100001"],
        &["--partitions", "2", "--output-format", "csv"],
        &["--partitions", "2", "--speed", "10"],
    ] {
        let out = motifd()
            .arg("replay")
            .args(args)
            .arg(fixture("demo.csv"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--"), "{args:?}: {err}");
    }
}
