//! `motifd plot` output read back with an XML parser: one shaded band per
//! merged episode interval, axis labels on every panel, no NaN or infinite
//! coordinate anywhere, and bad input reported without losing the picture.

mod common;

use common::{fixture, motifd, Scratch};
use std::collections::BTreeMap;
use std::process::Stdio;

/// Style of an episode band (`plot::draw::BAND`, `BAND_ALPHA`).
const BAND_FILL: &str = "#FF7F0E";
const BAND_OPACITY: &str = "0.2";

/// Class of each default motif (docs/semantics.md).
fn class_of(motif: &str) -> &'static str {
    match motif {
        "plan_regression_onset" => "plan_regression",
        "cardinality_mismatch_regime" => "cardinality",
        "contention_ramp" => "contention",
        "cache_collapse" => "cache_io",
        "workload_phase_transition" => "workload_phase",
        other => panic!("unknown motif {other}"),
    }
}

/// Episode intervals per class from an episodes file.
fn intervals(path: &std::path::Path) -> BTreeMap<&'static str, Vec<(f64, f64)>> {
    let mut out: BTreeMap<&'static str, Vec<(f64, f64)>> = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let class = class_of(v["motif"].as_str().unwrap());
        let (a, b) = (v["t_start"].as_f64().unwrap(), v["t_end"].as_f64().unwrap());
        out.entry(class).or_default().push((a, b));
    }
    out
}

/// How many disjoint stretches the intervals cover (touching ones join),
/// counted by sweeping over the boundaries.
fn merged_count(intervals: &[(f64, f64)]) -> usize {
    let mut sorted = intervals.to_vec();
    sorted.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut count = 0;
    let mut reach = f64::NEG_INFINITY;
    for (a, b) in sorted {
        if a > reach {
            count += 1;
        }
        reach = reach.max(b);
    }
    count
}

fn plot(args: &[&str]) -> String {
    let out = motifd()
        .arg("plot")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "plot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn bands(doc: &roxmltree::Document) -> usize {
    doc.descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| n.attribute("fill") == Some(BAND_FILL))
        .filter(|n| n.attribute("opacity") == Some(BAND_OPACITY))
        .count()
}

fn texts(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

/// Every number in every attribute is finite, and none spells NaN or inf.
fn assert_finite_coordinates(doc: &roxmltree::Document) {
    let mut numbers = 0;
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attr in node.attributes() {
            let value = attr.value();
            let lower = value.to_ascii_lowercase();
            assert!(
                !lower.contains("nan") && !lower.contains("inf"),
                "<{} {}=\"{value}\">",
                node.tag_name().name(),
                attr.name()
            );
            if matches!(
                attr.name(),
                "x" | "y"
                    | "x1"
                    | "y1"
                    | "x2"
                    | "y2"
                    | "width"
                    | "height"
                    | "points"
                    | "cx"
                    | "cy"
                    | "r"
            ) {
                for part in value.split([' ', ',']).filter(|p| !p.is_empty()) {
                    let n: f64 = part.parse().unwrap_or_else(|_| {
                        panic!("<{} {}=\"{value}\">", node.tag_name().name(), attr.name())
                    });
                    assert!(n.is_finite());
                    numbers += 1;
                }
            }
        }
    }
    assert!(numbers > 1000, "only {numbers} coordinates: nothing drawn?");
}

#[test]
fn bands_match_merged_episode_intervals_of_the_engine_run() {
    let svg = plot(&[fixture("demo.csv").to_str().unwrap()]);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    // The engine's episodes on demo.csv are the golden file's.
    let per_class = intervals(&fixture("golden/demo.episodes.jsonl"));
    let expected: usize = per_class.values().map(|v| merged_count(v)).sum();
    let episodes: usize = per_class.values().map(Vec::len).sum();
    assert!(
        expected < episodes,
        "the fixture must have overlapping episodes for this test to mean anything ({expected} bands, {episodes} episodes)"
    );
    assert_eq!(bands(&doc), expected);
    let texts = texts(&doc);
    for class in per_class.keys() {
        let y = format!("{class} residual");
        assert!(texts.contains(&y), "no y label {y:?}");
    }
    let x_labels = texts.iter().filter(|t| t.starts_with("time (UTC)")).count();
    assert_eq!(x_labels, 5, "one time axis label per panel");
    // Tick labels are clock times: the demo runs 22:13:20-22:28:20 UTC.
    assert!(texts.iter().any(|t| t == "22:20"), "{texts:?}");
    assert_finite_coordinates(&doc);
}

#[test]
fn an_episodes_file_is_drawn_instead_of_the_engine_run() {
    let scratch = Scratch::new("plot-episodes-file");
    // Keep the contention episodes only, and add one that overlaps nothing.
    let golden = std::fs::read_to_string(fixture("golden/demo.episodes.jsonl")).unwrap();
    let mut text: String = golden
        .lines()
        .filter(|l| l.contains("\"contention_ramp\""))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str("{\"motif\":\"contention_ramp\",\"channel\":\"x\",\"t_start\":1700000895.0,\"t_end\":1700000899.0,\"peak\":3.0,\"trust_sum\":1.0,\"samples\":5,\"closed_by\":\"dwell\"}\n");
    text.push_str("this line is not an episode\n");
    let episodes = scratch.write("e.jsonl", &text);
    let out = motifd()
        .args(["plot", "--motif", "contention_ramp", "--episodes"])
        .arg(&episodes)
        .arg(fixture("demo.csv"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("e.jsonl:15: not an episode record"),
        "{stderr}"
    );
    let svg = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let contention = &intervals(&episodes_without_last_line(&scratch, &text))["contention"];
    assert_eq!(bands(&doc), merged_count(contention));
    assert_eq!(
        texts(&doc)
            .iter()
            .filter(|t| t.ends_with(" residual"))
            .count(),
        1,
        "one panel"
    );
    assert_finite_coordinates(&doc);
}

fn episodes_without_last_line(scratch: &Scratch, text: &str) -> std::path::PathBuf {
    let good: String = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| format!("{l}\n"))
        .collect();
    scratch.write("good.jsonl", good)
}

#[test]
fn a_time_range_clips_the_bands() {
    // 22:20:00 to 22:23:00 UTC.
    let (since, until) = (1_700_000_400.0, 1_700_000_580.0);
    let svg = plot(&[
        "--since",
        "2023-11-14T22:20:00Z",
        "--until",
        "1700000580",
        fixture("demo.csv").to_str().unwrap(),
    ]);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let expected: usize = intervals(&fixture("golden/demo.episodes.jsonl"))
        .values()
        .map(|v| {
            let inside: Vec<(f64, f64)> = v
                .iter()
                .filter(|(a, b)| *b >= since && *a <= until)
                .copied()
                .collect();
            merged_count(&inside)
        })
        .sum();
    assert!(expected > 0);
    assert_eq!(bands(&doc), expected);
    assert_finite_coordinates(&doc);
}

#[test]
fn bad_lines_are_reported_and_the_rest_is_drawn() {
    let out = motifd()
        .args(["plot", "--channel", "q1"])
        .arg(fixture("rejects.csv"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rejects.csv:"), "{stderr}");
    let doc = roxmltree::Document::parse(std::str::from_utf8(&out.stdout).unwrap()).unwrap();
    assert!(texts(&doc).iter().any(|t| t.ends_with(" residual")));
}

#[test]
fn png_output_is_a_png() {
    let scratch = Scratch::new("plot-png");
    let path = scratch.path("demo.png");
    let out = motifd()
        .args(["plot", "-o"])
        .arg(&path)
        .arg(fixture("demo.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // Width and height from the IHDR chunk: 1200 x 5 panels of 300.
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), (1200, 1500));
    let refused = motifd()
        .args(["plot", "--format", "png"])
        .arg(fixture("demo.csv"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "PNG to stdout is refused");
}

#[test]
fn the_readme_picture_is_current() {
    let scratch = Scratch::new("readme-picture");
    let fresh = scratch.path("demo-episodes.svg");
    let out = std::process::Command::new("bash")
        .arg(common::root().join("scripts/readme-picture.sh"))
        .env("MOTIFD", env!("CARGO_BIN_EXE_motifd"))
        .env("OUT", &fresh)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read(common::root().join("docs/images/demo-episodes.svg")).unwrap();
    assert!(
        std::fs::read(&fresh).unwrap() == committed,
        "docs/images/demo-episodes.svg is stale: run bash scripts/readme-picture.sh"
    );
}
