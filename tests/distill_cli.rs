//! `motifd distill` and `motifd replay --from` as a user runs them, on the
//! reference's example traces and on small files with bad rows.

mod distill_support;

use distill_support::{reference_source_dir, TempDir, EXAMPLE_FILES};
use motifd::distill::{
    distill_all, Distiller, Options, Rejected, Residual, Sink, Stop, TraceFormat,
};
use std::cell::Cell;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};
use std::rc::Rc;

fn motifd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_motifd"))
        .args(args)
        .output()
        .expect("motifd runs")
}

fn format_of(name: &str) -> TraceFormat {
    *TraceFormat::ALL.iter().find(|f| f.name() == name).unwrap()
}

/// (t bits, class, channel, value bits) from the library.
fn library(format: &str, paths: &[&Path]) -> Vec<(u64, String, String, u64)> {
    let inputs = paths
        .iter()
        .map(|p| (p.display().to_string(), std::fs::File::open(p).unwrap()));
    distill_all(format_of(format), &Options::default(), inputs)
        .unwrap()
        .residuals
        .into_iter()
        .map(|(t, c, ch, v)| (t.to_bits(), c.name().to_string(), ch, v.to_bits()))
        .collect()
}

/// Reads JSON lines; the numbers are parsed from their text with
/// `str::parse` (serde_json without its `float_roundtrip` feature may round
/// the last bit differently).
fn from_jsonl(out: &[u8]) -> Vec<(u64, String, String, u64)> {
    let number = |line: &str, key: &str, end: char| -> u64 {
        let start = line.find(key).unwrap() + key.len();
        let len = line[start..].find(end).unwrap();
        line[start..start + len].parse::<f64>().unwrap().to_bits()
    };
    std::str::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                number(l, "{\"t\":", ','),
                v["class"].as_str().unwrap().to_string(),
                v["channel"].as_str().unwrap().to_string(),
                number(l, ",\"value\":", '}'),
            )
        })
        .collect()
}

/// Splits CSV lines (no quoted fields with commas in the example files).
fn from_csv(out: &[u8]) -> Vec<(u64, String, String, u64)> {
    let text = std::str::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("t,class,channel,value"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "{l}");
            (
                f[0].parse::<f64>().unwrap().to_bits(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].parse::<f64>().unwrap().to_bits(),
            )
        })
        .collect()
}

#[test]
fn distill_writes_the_adapter_stream_in_both_formats() {
    let data = reference_source_dir().join("examples/data");
    for (format, file) in EXAMPLE_FILES {
        let path = data.join(file);
        let expected = library(format, &[&path]);
        let p = path.to_str().unwrap();
        let jsonl = motifd(&[
            "distill",
            "--from",
            format,
            "--output-format",
            "jsonl",
            "-q",
            p,
        ]);
        assert!(
            jsonl.status.success(),
            "{}",
            String::from_utf8_lossy(&jsonl.stderr)
        );
        assert_eq!(from_jsonl(&jsonl.stdout), expected, "{file} as JSON lines");
        let csv = motifd(&["distill", "--from", format, p]);
        assert!(csv.status.success());
        assert_eq!(from_csv(&csv.stdout), expected, "{file} as CSV");
        let summary = String::from_utf8_lossy(&csv.stderr);
        assert!(
            summary.contains(&format!(": {} residuals", expected.len())),
            "{summary}"
        );
    }
}

#[test]
fn replay_from_gives_the_episodes_of_the_distilled_samples() {
    let dir = TempDir::new("replay-from");
    let data = reference_source_dir().join("examples/data");
    let mut episodes = 0;
    for (format, file) in EXAMPLE_FILES {
        let path = data.join(file);
        let p = path.to_str().unwrap();
        let distilled = motifd(&["distill", "--from", format, "-q", p]);
        let samples = dir.write(&format!("{format}.csv"), &distilled.stdout);
        let direct = motifd(&["replay", "--from", format, "-q", p]);
        let via_file = motifd(&["replay", "-q", samples.to_str().unwrap()]);
        assert!(
            direct.status.success(),
            "{}",
            String::from_utf8_lossy(&direct.stderr)
        );
        assert!(via_file.status.success());
        assert_eq!(
            String::from_utf8_lossy(&direct.stdout),
            String::from_utf8_lossy(&via_file.stdout),
            "{file}"
        );
        episodes += direct.stdout.iter().filter(|&&b| b == b'\n').count();
    }
    assert!(episodes > 0, "the example traces give episodes");
}

#[test]
fn several_files_are_one_trace() {
    let dir = TempDir::new("split");
    let path = reference_source_dir().join("examples/data/pg_stat_statements_sample.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let (a, b) = rows.split_at(rows.len() / 2);
    let first = dir.write("a.csv", format!("{header}\n{}\n", a.join("\n")).as_bytes());
    let second = dir.write("b.csv", format!("{header}\n{}\n", b.join("\n")).as_bytes());
    assert_eq!(
        library("pg-stat-statements", &[&first, &second]),
        library("pg-stat-statements", &[&path])
    );
}

#[test]
fn bad_rows_are_reported_with_file_and_line_and_counted() {
    let dir = TempDir::new("bad-rows");
    let text = "query_id,subplan_id,true_rows,est_rows\n\
                q1,t,10,5\n\
                q1,u,ten,5\n\
                q2,t,10,5\n\
                q2,u,10,+inf\n\
                q3,t,1\n";
    let path = dir.write("bad.csv", text.as_bytes());
    let p = path.to_str().unwrap();
    let out = motifd(&["distill", "--from", "ceb", p]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        format!("{p}:3: rejected (malformed): true_rows is not a number: \"ten\""),
        format!("{p}:5: rejected (non_finite): est_rows is inf"),
        format!("{p}:6: rejected (malformed): 3 fields where the header has 4"),
        "rejected:  3 (malformed 2, non_finite 1)".to_string(),
        "5 rows from 1 file (ceb)".to_string(),
    ] {
        assert!(stderr.contains(&expected), "{expected:?} not in:\n{stderr}");
    }
    assert_eq!(from_csv(&out.stdout).len(), 2, "the good rows around them");

    let replay = motifd(&["replay", "--from", "ceb", p]);
    assert!(replay.status.success());
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(
        stderr.contains(&format!("{p}:3: rejected (malformed)")),
        "{stderr}"
    );
    assert!(
        stderr.contains("rejected: 3 (malformed 2, non_finite 1)"),
        "{stderr}"
    );

    let strict = motifd(&["distill", "--from", "ceb", "--strict", p]);
    assert_eq!(strict.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(
        stderr.contains(&format!("{p}:3: rejected (malformed)")),
        "{stderr}"
    );
    let strict = motifd(&["replay", "--from", "ceb", "--strict", p]);
    assert_eq!(strict.status.code(), Some(2));
}

#[test]
fn a_file_that_is_not_the_format_is_an_error() {
    let dir = TempDir::new("not-format");
    let path = dir.write("x.csv", b"a,b\n1,2\n");
    let out = motifd(&["distill", "--from", "job", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the header lacks column \"query_id\""),
        "{stderr}"
    );
    let out = motifd(&["distill", "--from", "otel", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a JSON array"));
}

#[test]
fn generic_column_flags_need_from_generic() {
    let out = motifd(&["distill", "--from", "ceb", "--time-col", "t", "x.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from generic only"));
    let out = motifd(&["replay", "--value-col", "v", "x.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need --from generic"));
}

/// Counts residuals as they arrive.
struct Counting(Rc<Cell<u64>>);

impl Sink for Counting {
    fn residual(&mut self, _: Residual<'_>) -> Result<(), Stop> {
        self.0.set(self.0.get() + 1);
        Ok(())
    }
    fn reject(&mut self, r: Rejected<'_>) -> Result<(), Stop> {
        panic!("{r}")
    }
}

/// A reader that notes how many residuals had come out when it ran dry.
struct Watching {
    inner: std::io::Cursor<Vec<u8>>,
    seen: Rc<Cell<u64>>,
    at_end: Rc<Cell<Option<u64>>>,
}

impl Read for Watching {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let len = buf.len().min(4096);
        let n = self.inner.read(&mut buf[..len])?;
        if n == 0 && self.at_end.get().is_none() {
            self.at_end.set(Some(self.seen.get()));
        }
        Ok(n)
    }
}

fn emitted_before_the_end(format: TraceFormat, text: Vec<u8>) -> (u64, u64) {
    let seen = Rc::new(Cell::new(0));
    let at_end = Rc::new(Cell::new(None));
    let mut distiller = Distiller::new(format, &Options::default()).unwrap();
    let mut sink = Counting(Rc::clone(&seen));
    let reader = Watching {
        inner: std::io::Cursor::new(text),
        seen: Rc::clone(&seen),
        at_end: Rc::clone(&at_end),
    };
    distiller.read("in", reader, &mut sink).unwrap();
    distiller.finish(&mut sink).unwrap();
    (at_end.get().unwrap(), seen.get())
}

#[test]
fn sqlshare_text_streams_and_the_sorted_formats_emit_at_the_end() {
    let data = reference_source_dir().join("examples/data");
    let queries = std::fs::read(data.join("queries.txt")).unwrap();
    let (before, total) = emitted_before_the_end(TraceFormat::SqlshareText, queries);
    assert!(TraceFormat::SqlshareText.streams());
    assert_eq!(
        (before, total),
        (total, 54),
        "every residual before the input ended"
    );
    let ceb = std::fs::read(data.join("ceb_sample.csv")).unwrap();
    let (before, total) = emitted_before_the_end(TraceFormat::Ceb, ceb);
    assert!(!TraceFormat::Ceb.streams());
    assert_eq!((before, total), (0, 5000));
}
