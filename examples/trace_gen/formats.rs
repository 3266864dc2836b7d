//! Seeded traces in every `--from` format: rows with the variety the adapters
//! must get right (the reference's quirks included) and, on request, bad rows
//! mixed in. Shared by `tests/distill_differential.rs` (small traces, bad
//! rows) and the `trace_gen` example (large clean traces for timing).

#![allow(dead_code)]

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// Why a bad row must be rejected, and whether the reference itself skips
/// such a row silently (so the file with it gives the same residuals there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bad {
    /// motifd's reject reason label.
    pub reason: &'static str,
    /// The reference drops the row too (rather than failing the whole file,
    /// panicking in a debug build, or emitting a non-finite residual).
    pub reference_skips: bool,
}

/// One row (CSV record, query text or JSON element) with its terminator.
#[derive(Debug, Clone)]
pub struct Row {
    pub bytes: Vec<u8>,
    pub bad: Option<Bad>,
}

/// How rows are put together into a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A header line, then each row's bytes (each ends with its line end).
    Csv,
    /// Each row's bytes (query text and the divider after it).
    Text,
    /// A JSON array of the rows.
    JsonArray,
}

/// A generated trace.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The `--from` name.
    pub format: &'static str,
    pub layout: Layout,
    /// The CSV header (without line end).
    pub header: String,
    pub rows: Vec<Row>,
    /// generic only: (time_col, value_col, channel_col, pre_residualized).
    pub generic: (Option<String>, Option<String>, Option<String>, bool),
}

impl Trace {
    fn new(format: &'static str, layout: Layout, header: &str) -> Self {
        Self {
            format,
            layout,
            header: header.to_string(),
            rows: Vec::new(),
            generic: (None, None, None, false),
        }
    }

    fn good(&mut self, bytes: impl Into<Vec<u8>>) {
        self.rows.push(Row {
            bytes: bytes.into(),
            bad: None,
        });
    }

    fn bad(&mut self, bytes: impl Into<Vec<u8>>, reason: &'static str, reference_skips: bool) {
        self.rows.push(Row {
            bytes: bytes.into(),
            bad: Some(Bad {
                reason,
                reference_skips,
            }),
        });
    }

    /// The file holding the rows `keep` selects, and the (line, reason) of
    /// the bad rows in it.
    pub fn render(&self, keep: impl Fn(&Row) -> bool) -> (Vec<u8>, Vec<(u64, &'static str)>) {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        let mut line = 1u64;
        let kept: Vec<&Row> = self.rows.iter().filter(|r| keep(r)).collect();
        match self.layout {
            Layout::Csv => {
                out.extend_from_slice(self.header.as_bytes());
                out.push(b'\n');
                line += 1;
            }
            Layout::JsonArray => {
                out.extend_from_slice(b"[\n");
                line += 1;
            }
            Layout::Text => {}
        }
        for (i, row) in kept.iter().enumerate() {
            if let Some(b) = row.bad {
                let lead = row
                    .bytes
                    .iter()
                    .take_while(|c| c.is_ascii_whitespace())
                    .filter(|&&c| c == b'\n')
                    .count() as u64;
                bad.push((line + lead, b.reason));
            }
            out.extend_from_slice(&row.bytes);
            line += row.bytes.iter().filter(|&&c| c == b'\n').count() as u64;
            if self.layout == Layout::JsonArray && i + 1 < kept.len() {
                out.extend_from_slice(b",\n");
                line += 1;
            }
        }
        if self.layout == Layout::JsonArray {
            out.extend_from_slice(b"\n]\n");
        }
        (out, bad)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// Every format with a generator.
pub const FORMATS: [&str; 9] = [
    "pg-stat-statements",
    "ceb",
    "job",
    "tpcds",
    "snowset",
    "sqlshare",
    "sqlshare-text",
    "otel",
    "generic",
];

/// A trace of `format` with about `rows` good rows; with `bad`, about one bad
/// row in twelve.
pub fn generate(format: &str, seed: u64, rows: usize, bad: bool) -> Trace {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut t = match format {
        "pg-stat-statements" => pgss(&mut rng, rows, bad),
        "ceb" => ceb(&mut rng, rows, bad),
        "job" => job(&mut rng, rows, bad),
        "tpcds" => tpcds(&mut rng, rows, bad),
        "snowset" => snowset(&mut rng, rows, bad),
        "sqlshare" => sqlshare(&mut rng, rows, bad),
        "sqlshare-text" => sqlshare_text(&mut rng, rows, bad),
        "otel" => otel(&mut rng, rows, bad),
        "generic" => generic(&mut rng, seed, rows, bad),
        other => panic!("no generator for {other}"),
    };
    if format != "sqlshare-text" && format != "generic" {
        // Bad rows anywhere (generic keeps its first row good: it may pick
        // the time column; sqlshare-text places its own).
        let first_bad = t.rows.iter().position(|r| r.bad.is_some());
        if first_bad.is_some() {
            let (mut good, mut bads): (Vec<Row>, Vec<Row>) =
                t.rows.drain(..).partition(|r| r.bad.is_none());
            bads.shuffle(&mut rng);
            let mut merged = Vec::with_capacity(good.len() + bads.len());
            good.reverse();
            while !good.is_empty() || !bads.is_empty() {
                let take_bad = !bads.is_empty() && (good.is_empty() || rng.gen_bool(0.08));
                merged.push(if take_bad {
                    bads.pop().unwrap()
                } else {
                    good.pop().unwrap()
                });
            }
            t.rows = merged;
        }
    }
    t
}

fn line_end(rng: &mut Pcg64) -> &'static str {
    if rng.gen_bool(0.1) {
        "\r\n"
    } else {
        "\n"
    }
}

fn hex(rng: &mut Pcg64, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap())
        .collect()
}

/// A float in one of the spellings `str::parse` takes.
fn spell(rng: &mut Pcg64, v: f64) -> String {
    match rng.gen_range(0..10) {
        0 => format!("{v:e}"),
        1 => format!("{v:.3}"),
        _ => format!("{v}"),
    }
}

/// How many bad rows a trace of `rows` good rows gets.
fn bad_count(rng: &mut Pcg64, rows: usize, bad: bool) -> usize {
    if bad {
        (rows / 12).max(4) + rng.gen_range(0..3)
    } else {
        0
    }
}

fn pgss(rng: &mut Pcg64, rows: usize, bad: bool) -> Trace {
    let mut t = Trace::new(
        "pg-stat-statements",
        Layout::Csv,
        "snapshot_t,query_id,calls,total_exec_time_ms",
    );
    if rng.gen_bool(0.2) {
        t.header = "query_id,calls,snapshot_t,extra,total_exec_time_ms".into();
    }
    let reordered = t.header.starts_with("query_id");
    // Large traces (timing): the shape of a busy server, 400 snapshots of
    // many query ids; small ones (tests): a few ids over many snapshots.
    let n_qids = if rows > 10_000 {
        rows / 400
    } else {
        rng.gen_range(2..12)
    };
    let qids: Vec<String> = (0..n_qids).map(|_| hex(rng, 32)).collect();
    let snapshots = (rows / qids.len()).max(3);
    let mut calls = vec![0u64; qids.len()];
    let mut exec = vec![0f64; qids.len()];
    let mut base: Vec<f64> = qids.iter().map(|_| rng.gen_range(0.1..20.0)).collect();
    let mut time = if rng.gen_bool(0.5) { 1.7e9 } else { 0.0 };
    for _ in 0..snapshots {
        time += match rng.gen_range(0..40) {
            0 | 1 => 0.0,
            // Within the 1e-9 that makes one snapshot (near 0; at Unix times
            // the step is lost): chains of these test which time is kept.
            2..=4 => 6e-10,
            _ => 60.0 + rng.gen_range(-0.5..0.5),
        };
        let mut order: Vec<usize> = (0..qids.len()).collect();
        order.shuffle(rng);
        for q in order {
            // Query ids appear and disappear.
            if rng.gen_bool(0.15) {
                continue;
            }
            match rng.gen_range(0..20) {
                0 => {
                    calls[q] = rng.gen_range(0..5); // counter reset
                    exec[q] = rng.gen_range(0.0..10.0);
                }
                1 => {} // calls not moving
                2 => {
                    calls[q] += rng.gen_range(1..50);
                    exec[q] -= 1.0; // time going back
                }
                4 => calls[q] += rng.gen_range(1..50), // calls without time
                3 => base[q] *= 3.0,                   // a regression
                _ => {
                    let n = rng.gen_range(1..500);
                    calls[q] += n;
                    exec[q] += n as f64 * base[q] * rng.gen_range(0.8..1.25);
                }
            }
            let calls_text = if rng.gen_bool(0.05) {
                format!("0x{:x}", calls[q])
            } else {
                calls[q].to_string()
            };
            let time_text = spell(rng, time);
            let exec_text = spell(rng, exec[q]);
            let row = if reordered {
                format!("{},{calls_text},{time_text},x,{exec_text}", qids[q])
            } else {
                format!("{time_text},{},{calls_text},{exec_text}", qids[q])
            };
            t.good(row + line_end(rng));
        }
    }
    pgss_bad(rng, &mut t, rows, bad, &qids, time, reordered);
    t
}

/// Bad rows of a pg_stat_statements trace.
fn pgss_bad(
    rng: &mut Pcg64,
    t: &mut Trace,
    rows: usize,
    bad: bool,
    qids: &[String],
    time: f64,
    reordered: bool,
) {
    for _ in 0..bad_count(rng, rows, bad) {
        let q = &qids[rng.gen_range(0..qids.len())];
        let (fields, reason, skips): ([String; 4], _, _) = match rng.gen_range(0..6) {
            0 => (
                [format!("{time}"), q.clone(), "12.5".into(), "1.0".into()],
                "malformed",
                false,
            ),
            1 => (
                ["NaN".into(), q.clone(), "3".into(), "1.0".into()],
                "non_finite",
                true,
            ),
            2 => (
                [format!("{time}"), q.clone(), "3".into(), "inf".into()],
                "non_finite",
                true,
            ),
            3 => (
                [format!("{time}"), q.clone(), "".into(), "1.0".into()],
                "missing_field",
                false,
            ),
            4 => (
                [format!("{time}"), q.clone(), "-4".into(), "1.0".into()],
                "malformed",
                false,
            ),
            _ => (
                [format!("{time}"), q.clone(), "4".into(), "x1".into()],
                "malformed",
                false,
            ),
        };
        let row = if reordered {
            format!("{},{},{},x,{}", fields[1], fields[2], fields[0], fields[3])
        } else {
            fields.join(",")
        };
        t.bad(row + "\n", reason, skips);
    }
    if bad {
        t.bad(format!("{time},{}\n", qids[0]), "malformed", false);
        let mut bytes = Vec::new();
        if reordered {
            bytes.extend_from_slice(b"q\xff\xfe,1,");
            bytes.extend_from_slice(format!("{time},x,2\n").as_bytes());
        } else {
            bytes.extend_from_slice(format!("{time},").as_bytes());
            bytes.extend_from_slice(b"q\xff\xfe,1,2.0\n");
        }
        t.bad(bytes, "invalid_utf8", false);
    }
}

fn ceb(rng: &mut Pcg64, rows: usize, bad: bool) -> Trace {
    let mut t = Trace::new("ceb", Layout::Csv, "query_id,subplan_id,true_rows,est_rows");
    if rng.gen_bool(0.3) {
        t.header = "template_id,est_rows,query_id,true_rows,subplan_id".into();
    }
    let header = t.header.clone();
    let order: Vec<&str> = header.split(',').collect();
    let queries: Vec<String> = (0..(rows / 30).max(2))
        .map(|i| match rng.gen_range(0..10) {
            0 => format!("q{i}#x"), // '#' in a query id: keys can collide
            1 => format!("\"q,{i}\""),
            _ => {
                let len = rng.gen_range(6..40);
                hex(rng, len)
            }
        })
        .collect();
    // Many subplans per query: the hundredths of the synthetic time cycle.
    let subplans: Vec<String> = ["t", "ci", "mi1", "it1", "ci_kt_mi1_n_t", "x#t", "kt"]
        .iter()
        .map(|s| s.to_string())
        .chain((0..40).map(|i| format!("s{i}")))
        .collect();
    let count = |rng: &mut Pcg64| -> String {
        match rng.gen_range(0..30) {
            0 => "0".into(),
            1 => "NaN".into(), // counts as 1 row in the reference
            2 => "-inf".into(),
            3 => "1.5e3".into(),
            _ => rng.gen_range(1u64..50_000_000).to_string(),
        }
    };
    for _ in 0..rows {
        let q = queries[rng.gen_range(0..queries.len())].clone();
        let sp = subplans[rng.gen_range(0..subplans.len())].clone();
        let (tr, er) = (count(rng), count(rng));
        let fields: Vec<String> = order
            .iter()
            .map(|c| match *c {
                "query_id" => q.clone(),
                "subplan_id" => sp.clone(),
                "true_rows" => tr.clone(),
                "est_rows" => er.clone(),
                _ => rng.gen_range(1..100).to_string(),
            })
            .collect();
        t.good(fields.join(",") + line_end(rng));
        if rng.gen_bool(0.02) {
            t.good("\n"); // blank line: skipped by both
        }
    }
    for _ in 0..bad_count(rng, rows, bad) {
        let (est, tr, reason, skips) = match rng.gen_range(0..4) {
            0 => ("abc", "5", "malformed", true),
            1 => ("", "5", "missing_field", true),
            2 => ("inf", "5", "non_finite", false),
            _ => ("5", "+inf", "non_finite", false),
        };
        let fields: Vec<String> = order
            .iter()
            .map(|c| match *c {
                "query_id" => "qbad".into(),
                "subplan_id" => "t".into(),
                "true_rows" => tr.into(),
                "est_rows" => est.into(),
                _ => "1".into(),
            })
            .collect();
        t.bad(fields.join(",") + "\n", reason, skips);
    }
    if bad {
        t.bad("only,three,fields\n", "malformed", true);
        let mut row = b"q\xc3".to_vec();
        row.extend_from_slice(",".repeat(order.len() - 1).as_bytes());
        row.push(b'\n');
        t.bad(row, "invalid_utf8", true);
    }
    t
}

fn job(rng: &mut Pcg64, rows: usize, bad: bool) -> Trace {
    let with_hash = rng.gen_bool(0.7);
    let header = if with_hash {
        "query_id,iteration,est_rows,actual_rows,latency_ms,plan_hash"
    } else {
        "query_id,iteration,est_rows,actual_rows,latency_ms"
    };
    let mut t = Trace::new("job", Layout::Csv, header);
    // Enough runs per query to fill its rolling baseline of 8.
    let queries: Vec<String> = (1..=(rows / 25).clamp(2, 40))
        .map(|i| format!("{}{}", i, ['a', 'b', 'c'][i % 3]))
        .collect();
    let hashes: Vec<String> = (0..4).map(|_| hex(rng, 12)).collect();
    let iterations = (rows / queries.len()).max(1) as u64;
    let mut all = Vec::new();
    for it in 0..iterations {
        for q in &queries {
            let lat = rng.gen_range(1.0..200.0) * if rng.gen_bool(0.05) { 8.0 } else { 1.0 };
            let est = if rng.gen_bool(0.05) {
                "NaN".to_string()
            } else {
                rng.gen_range(0..20000).to_string()
            };
            let hash = match rng.gen_range(0..6) {
                0 => String::new(),
                1 => hashes[rng.gen_range(0..hashes.len())].clone(),
                _ => hashes[0].clone(),
            };
            let it_text = if rng.gen_bool(0.05) {
                format!("0x{it:x}")
            } else {
                it.to_string()
            };
            let mut row = format!(
                "{q},{it_text},{est},{},{}",
                rng.gen_range(0..20000),
                spell(rng, lat)
            );
            if with_hash {
                row = format!("{row},{hash}");
            }
            all.push(row);
        }
    }
    all.shuffle(rng); // the adapter sorts by (iteration, query id)
    for row in all {
        t.good(row + line_end(rng));
    }
    let tail = if with_hash { ",h" } else { "" };
    for _ in 0..bad_count(rng, rows, bad) {
        let (row, reason, skips) = match rng.gen_range(0..5) {
            0 => (format!("1a,-1,1,1,5{tail}"), "malformed", true),
            1 => (format!("1a,1.5,1,1,5{tail}"), "malformed", true),
            2 => (format!("1a,1,1,1,NaN{tail}"), "non_finite", false),
            3 => (format!("1a,1,1,1,{tail}"), "missing_field", true),
            _ => (format!("1a,1,inf,1,5{tail}"), "non_finite", false),
        };
        t.bad(row + "\n", reason, skips);
    }
    if bad {
        t.bad("1a,1\n", "malformed", true);
    }
    t
}

fn tpcds(rng: &mut Pcg64, rows: usize, bad: bool) -> Trace {
    let variant = rng.gen_range(0..3);
    let header = match variant {
        0 => "query_id,t_seconds,latency_ms,est_rows,actual_rows,wait_event,wait_seconds,cache_hit_ratio",
        1 => "query_id,t_seconds,latency_ms,est_rows,actual_rows",
        _ => "t_seconds,cache_hit_ratio,query_id,actual_rows,est_rows,latency_ms",
    };
    let mut t = Trace::new("tpcds", Layout::Csv, header);
    let cols: Vec<&str> = header.split(',').collect();
    let mut time = if rng.gen_bool(0.3) { -45.0 } else { 0.0 };
    let events = ["", "LWLock:buffer_content", "Lock:tuple", "IO:DataFileRead"];
    let mut lines = Vec::new();
    for _ in 0..rows {
        time += if rng.gen_bool(0.03) {
            rng.gen_range(60.0..200.0)
        } else {
            rng.gen_range(0.0..4.0)
        };
        let top = if rng.gen_bool(0.5) { 5 } else { 99 };
        let q = format!("q{}", rng.gen_range(1..=top));
        let wait = match rng.gen_range(0..8) {
            0 => "NaN".to_string(),
            1 => "0".to_string(),
            _ => format!("{}", rng.gen_range(0.0..2.0)),
        };
        let ratio = match rng.gen_range(0..10) {
            0 => "0".to_string(),
            1 => "NaN".to_string(),
            2 => "-inf".to_string(),
            _ => format!("{}", rng.gen_range(0.5..1.0)),
        };
        let fields: Vec<String> = cols
            .iter()
            .map(|c| match *c {
                "query_id" => q.clone(),
                "t_seconds" => spell(rng, time),
                "latency_ms" => format!("{}", rng.gen_range(1.0..100.0)),
                "est_rows" => {
                    if rng.gen_bool(0.03) {
                        "NaN".into()
                    } else {
                        rng.gen_range(0..9000).to_string()
                    }
                }
                "actual_rows" => rng.gen_range(0..9000).to_string(),
                "wait_event" => events[rng.gen_range(0..events.len())].to_string(),
                "wait_seconds" => wait.clone(),
                _ => ratio.clone(),
            })
            .collect();
        lines.push(fields.join(","));
    }
    // Mostly in time order, with some rows out of place: the adapter sorts.
    for _ in 0..rows / 10 {
        let (a, b) = (rng.gen_range(0..rows), rng.gen_range(0..rows));
        lines.swap(a, b);
    }
    for l in lines {
        t.good(l + line_end(rng));
    }
    tpcds_bad(rng, &mut t, rows, bad, &cols, variant);
    t
}

/// Bad rows of a TPC-DS trace with columns `cols`.
fn tpcds_bad(rng: &mut Pcg64, t: &mut Trace, rows: usize, bad: bool, cols: &[&str], variant: i32) {
    let fill = |over: &[(&str, &str)]| -> String {
        cols.iter()
            .map(|c| {
                over.iter()
                    .find(|(k, _)| k == c)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_else(|| match *c {
                        "query_id" => "q1".into(),
                        "t_seconds" => "5".into(),
                        "wait_event" => "Lock:tuple".into(),
                        _ => "1".into(),
                    })
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    for _ in 0..bad_count(rng, rows, bad) {
        let (row, reason, skips) = match rng.gen_range(0..5) {
            0 => (fill(&[("t_seconds", "NaN")]), "non_finite", false),
            1 => (fill(&[("latency_ms", "x")]), "malformed", true),
            2 => (fill(&[("latency_ms", "inf")]), "non_finite", false),
            3 if variant != 1 => (fill(&[("cache_hit_ratio", "")]), "missing_field", true),
            3 => (fill(&[("est_rows", "")]), "missing_field", true),
            _ if variant == 0 => (fill(&[("wait_seconds", "inf")]), "non_finite", false),
            _ => (fill(&[("actual_rows", "inf")]), "non_finite", false),
        };
        t.bad(row + "\n", reason, skips);
    }
    if bad {
        t.bad("q1,5\n", "malformed", true);
    }
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn snowset_time(rng: &mut Pcg64, us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let date = format!("{y:04}-{m:02}-{d:02}");
    let clock = format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60);
    match rng.gen_range(0..4) {
        0 => format!("{date}T{clock}.{micros:06}Z"),
        1 => format!("{date} {clock}+00:00"),
        _ => format!("{date} {clock}.{micros:06}+00:00"),
    }
}

fn snowset(rng: &mut Pcg64, rows: usize, bad: bool) -> Trace {
    let wide = rng.gen_bool(0.5);
    let header = if wide {
        "queryId,warehouseId,databaseId,createdTime,endTime,execTime,persistentReadBytesS3,persistentReadBytesCache,producedRows"
    } else {
        "queryId,warehouseId,createdTime,execTime"
    };
    let mut t = Trace::new("snowset", Layout::Csv, header);
    let warehouses: Vec<String> = (0..rng.gen_range(1..5))
        .map(|_| rng.gen_range(1u64..u64::MAX).to_string())
        .collect();
    let queries: Vec<String> = (0..rng.gen_range(2..8))
        .map(|_| rng.gen_range(1u64..u64::MAX).to_string())
        .collect();
    // 2018-03-01 00:00 UTC, over about two days.
    let start_us: i64 = 1_519_862_400_000_000;
    let span_us = rows as i64 * 400_000_000 / 10;
    let line = |rng: &mut Pcg64, created: String| -> String {
        let w = warehouses[rng.gen_range(0..warehouses.len())].clone();
        // Snowset query ids are unique per query; repeated ones exercise the baselines.
        let q = if rng.gen_bool(0.3) {
            rng.gen_range(1u64..u64::MAX).to_string()
        } else {
            queries[rng.gen_range(0..queries.len())].clone()
        };
        let exec = rng.gen_range(100..5_000_000u64).to_string();
        if wide {
            let (s3, cache) = match rng.gen_range(0..5) {
                0 => (0, 0),
                _ => (
                    rng.gen_range(0..9_000_000u64),
                    rng.gen_range(0..9_000_000u64),
                ),
            };
            format!("{q},{w},7097937327349925659,{created},2018-03-02 15:01:10.809000+00:00,{exec},{s3},{cache},1")
        } else {
            format!("{q},{w},{created},{exec}")
        }
    };
    for _ in 0..rows {
        let us = start_us + rng.gen_range(0..span_us.max(1));
        let created = snowset_time(rng, us);
        let l = line(rng, created);
        t.good(l + line_end(rng));
    }
    snowset_bad(rng, &mut t, rows, bad, wide, &line);
    t
}

/// Bad rows of a Snowset trace; `line` makes a good row.
fn snowset_bad(
    rng: &mut Pcg64,
    t: &mut Trace,
    rows: usize,
    bad: bool,
    wide: bool,
    line: &dyn Fn(&mut Pcg64, String) -> String,
) {
    for _ in 0..bad_count(rng, rows, bad) {
        let good = line(rng, "2018-03-01 00:00:00+00:00".into());
        let mut f: Vec<String> = good.split(',').map(String::from).collect();
        let ci = if wide { 3 } else { 2 };
        let ei = ci + if wide { 2 } else { 1 };
        let (reason, skips) = match rng.gen_range(0..5) {
            0 => {
                f[ci] = "yesterday".into();
                ("malformed", true)
            }
            1 => {
                f[ei] = "NaN".into();
                ("non_finite", true)
            }
            2 => {
                f[ei] = "fast".into();
                ("malformed", true)
            }
            3 if wide => {
                f[7] = "NaN".into();
                ("non_finite", false)
            }
            _ => {
                f[ci] = String::new();
                ("missing_field", true)
            }
        };
        t.bad(f.join(",") + "\n", reason, skips);
    }
    if bad {
        t.bad("1,2\n", "malformed", true);
        // Not UTF-8 in a column no formula reads: the reference still drops the row.
        let mut row = line(rng, "2018-03-01 00:00:00+00:00".into()).into_bytes();
        row.insert(1, 0xff);
        row.push(b'\n');
        t.bad(row, "invalid_utf8", true);
    }
}

/// A random SQL text. The ones with non-ASCII letters stay short, so that
/// their skeleton's byte 64 never falls inside a character (the reference
/// panics there).
fn sql(rng: &mut Pcg64) -> String {
    let tables = [
        "t",
        "orders",
        "lineitem",
        "my_table",
        "\"Quoted Table\"",
        "a__b",
    ];
    let table = tables[rng.gen_range(0..tables.len())];
    match rng.gen_range(0..9) {
        0 => format!("SELECT * FROM {table} WHERE id = {}", rng.gen_range(0..1000)),
        1 => format!("select a, b\n  from {table}\n where name = 'x{}' and k > {}", rng.gen_range(0..9), rng.gen_range(0..9)),
        2 => format!("SELECT count(*) FROM {table} GROUP BY x{}", rng.gen_range(0..3)),
        3 => "SELECT max(latitude) FROM [690].[All3col]".to_string(),
        4 => format!("INSERT INTO {table} VALUES ({}, 'it''s')", rng.gen_range(0..99)),
        5 => ["SELECT é FROM ß", "select Ünï from t", "SELECT Ω, ж"][rng.gen_range(0..3)].to_string(),
        6 => format!("SELECT a\tFROM b    WHERE c = \"{}\"", rng.gen_range(0..5)),
        7 => format!("WITH x AS (SELECT {} AS v FROM {table}) SELECT v FROM x JOIN y USING (v) WHERE z LIKE '%q%' ORDER BY v DESC LIMIT 10", rng.gen_range(0..9)),
        _ => format!("select {} from {table}", ["a", "b", "c"][rng.gen_range(0..3)]),
    }
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn sqlshare(rng: &mut Pcg64, rows: usize, bad: bool) -> Trace {
    let mut t = Trace::new(
        "sqlshare",
        Layout::Csv,
        "query_id,user_id,runtime_seconds,submitted_at,query_text",
    );
    let users = ["alice", "bob", "carol", "dave", "e,ve"];
    let t0 = 1.4e9 + rng.gen_range(0.0..86_400.0);
    for i in 0..rows {
        // Half the rows: one user's hot query, so its rolling baseline fills.
        let hot = rng.gen_bool(0.5);
        let user = if hot {
            "alice"
        } else {
            users[rng.gen_range(0..users.len())]
        };
        let at = t0 + rng.gen_range(0.0..(rows as f64 * 3000.0));
        let runtime = rng.gen_range(0.01..3.0) * if rng.gen_bool(0.05) { 20.0 } else { 1.0 };
        let query = if hot {
            format!("SELECT * FROM t WHERE id = {}", rng.gen_range(0..99))
        } else {
            sql(rng)
        };
        let row = format!(
            "{i},{},{},{},{}",
            csv_quote(user),
            spell(rng, runtime),
            spell(rng, at),
            csv_quote(&query)
        );
        t.good(row + line_end(rng));
    }
    for _ in 0..bad_count(rng, rows, bad) {
        let (row, reason, skips) = match rng.gen_range(0..4) {
            0 => (format!("9,bob,NaN,{t0},select 1"), "non_finite", false),
            1 => ("9,bob,1,soon,select 1".to_string(), "malformed", true),
            2 => ("9,bob,1,inf,select 1".to_string(), "non_finite", false),
            _ => (format!("9,bob,,{t0},select 1"), "missing_field", true),
        };
        t.bad(row + "\n", reason, skips);
    }
    if bad {
        t.bad("9,bob,1\n", "malformed", true);
        let mut row = format!("9,bob,1,{t0},select ").into_bytes();
        row.extend_from_slice(b"\xe2\x82\n");
        t.bad(row, "invalid_utf8", true);
    }
    t
}

fn sqlshare_text(rng: &mut Pcg64, rows: usize, bad: bool) -> Trace {
    let mut t = Trace::new("sqlshare-text", Layout::Text, "");
    let divider = "_".repeat(40);
    // Phases: the query mix changes every few hundred queries.
    let n_bad = bad_count(rng, rows, bad);
    let mut kinds: Vec<Option<Bad>> = vec![None; rows];
    kinds.extend((0..n_bad).map(|i| {
        Some(Bad {
            reason: if i % 7 == 6 {
                "line_too_long"
            } else {
                "invalid_utf8"
            },
            reference_skips: false,
        })
    }));
    kinds.shuffle(rng);
    for i in 0..kinds.len() {
        let kind = kinds[i];
        let next_bad = kinds.get(i + 1).is_some_and(|k| k.is_some());
        let mut text = match kind {
            None => {
                let phase = (i / 300) % 3;
                let q = sql(rng);
                match phase {
                    0 => q,
                    1 => format!("{q} -- phase one"),
                    _ => q.to_uppercase(),
                }
            }
            Some(b) if b.reason == "line_too_long" => format!("SELECT '{}'", "z".repeat(5000)),
            Some(_) => "SELECT \u{1}bad".to_string(),
        }
        .into_bytes();
        if kind.is_some_and(|b| b.reason == "invalid_utf8") {
            text[7] = 0xff;
        }
        if rng.gen_bool(0.1) {
            text.splice(0..0, b"\n  ".iter().copied());
        }
        // The divider after it: a run of 40, or of more (the rest of the run
        // starts the next query — not when that one is bad, as its removal
        // from the clean file would move those underscores elsewhere).
        let sep = match rng.gen_range(0..12) {
            0 if !next_bad && kind.is_none() => format!("\n{}\n", "_".repeat(41)),
            1 => format!("\n{}\n", "_".repeat(80)),
            2 => format!(" {divider} "),
            3 => format!("\r\n{divider}\r\n   \n{divider}\n"),
            _ => format!("\n\n\n{divider}\n\n"),
        };
        text.extend_from_slice(sep.as_bytes());
        t.rows.push(Row {
            bytes: text,
            bad: kind,
        });
    }
    t
}

fn otel(rng: &mut Pcg64, rows: usize, bad: bool) -> Trace {
    let mut t = Trace::new("otel", Layout::JsonArray, "");
    let hashes = [
        "a1b2c3d4",
        "e5f6",
        "h\\\"q",
        "caf\\u00e9",
        "z",
        "select_1",
        "k9",
    ];
    let base: i128 = 1_700_000_000_000_000_000;
    for _ in 0..rows {
        let h = hashes[rng.gen_range(0..hashes.len())];
        // Not in time order: the first span kept is the time origin.
        let start = base + rng.gen_range(0..(rows as i128) * 1_000_000_000);
        let dur: i128 = match rng.gen_range(0..20) {
            0 => 1,
            1 => rng.gen_range(1..1000),
            _ => rng.gen_range(1_000_000..300_000_000) * if rng.gen_bool(0.05) { 10 } else { 1 },
        };
        let sys = match rng.gen_range(0..3) {
            0 => String::new(),
            1 => ", \"db_system\": \"postgresql\"".to_string(),
            _ => ", \"db_system\": null, \"extra\": {\"a\": [1, 2]}".to_string(),
        };
        t.good(format!(
            "{{\"t_start_ns\": {start}, \"t_end_ns\": {}, \"statement_hash\": \"{h}\"{sys}}}",
            start + dur
        ));
    }
    for _ in 0..bad_count(rng, rows, bad) {
        let s = base + rng.gen_range(0..1_000_000_000i128);
        let (el, reason, skips) = match rng.gen_range(0..7) {
            0 => (format!("{{\"t_start_ns\": \"{s}\", \"t_end_ns\": {s}, \"statement_hash\": \"a\"}}"), "malformed", false),
            1 => (format!("{{\"t_start_ns\": 1.7e18, \"t_end_ns\": {s}, \"statement_hash\": \"a\"}}"), "malformed", false),
            2 => (format!("{{\"t_start_ns\": {s}, \"t_end_ns\": {}}}", s + 5), "missing_field", false),
            3 => ("5".to_string(), "malformed", false),
            4 => (format!("{{\"t_start_ns\": {s}, \"t_end_ns\": {}, \"statement_hash\": \"a\", \"db_system\": 5}}", s + 9), "malformed", false),
            5 => (format!("{{\"t_start_ns\": {s}, \"t_end_ns\": {s}, \"statement_hash\": \"a\"}}"), "malformed", true),
            _ => (format!("{{\"t_start_ns\": {s}, \"t_end_ns\": {}, \"statement_hash\": \"a\"}}", s - 7), "malformed", true),
        };
        t.bad(el, reason, skips);
    }
    t
}

fn generic(rng: &mut Pcg64, seed: u64, rows: usize, bad: bool) -> Trace {
    // (header, time, value, channel columns by position, options)
    let variants: [(&str, usize, usize, Option<usize>); 8] = [
        ("t,channel,value", 0, 2, Some(1)),
        ("ts,qclass,note,latency_ms", 0, 3, Some(1)),
        ("timestamp,series,y,note", 0, 2, Some(1)),
        ("time,value", 0, 1, None),
        ("alpha,beta,gamma", 0, 1, Some(2)),
        ("count,group,metric", 0, 2, Some(1)),
        // No header contains a "t": the first data row decides (its first
        // cell that parses as a number, blanks trimmed).
        ("key,when,size,chan", 1, 2, None),
        // "rate" is the first header with a "t": the time column; the value
        // column is then "n", the first other one.
        ("n,elapsed,rate", 2, 0, None),
    ];
    let v = (seed as usize) % variants.len();
    let (header, ti, vi, ci) = variants[v];
    let mut t = Trace::new("generic", Layout::Csv, header);
    if v == 4 {
        t.generic = (
            Some("ALPHA".into()),
            Some("beta".into()),
            Some("gamma".into()),
            false,
        );
    }
    t.generic.3 = seed % 5 == 3;
    let width = header.split(',').count();
    let channels = ["svc_a", "svc_b", "", "db,main", "x"];
    let mut time = 0.0f64;
    for i in 0..rows {
        time += rng.gen_range(0.0..3.0);
        let mut f = vec![String::new(); width];
        for (k, cell) in f.iter_mut().enumerate() {
            *cell = if k == ti {
                if i == 0 && v == 6 {
                    " 0".into()
                } else {
                    spell(rng, time)
                }
            } else if k == vi {
                let v = rng.gen_range(5.0..15.0) * if rng.gen_bool(0.05) { 4.0 } else { 1.0 };
                spell(rng, v)
            } else if Some(k) == ci {
                csv_quote(channels[rng.gen_range(0..channels.len())])
            } else if v == 6 && k == 0 {
                "k1".into()
            } else {
                "n".into()
            };
        }
        t.good(f.join(",") + line_end(rng));
    }
    let bads = generic_bad(rng, rows, bad, width, (ti, vi, ci));
    // Keep the first data row good; bad rows anywhere after it.
    for b in bads {
        let at = rng.gen_range(1..=t.rows.len());
        t.rows.insert(at, b);
    }
    t
}

/// Bad rows of a generic trace `width` columns wide.
fn generic_bad(
    rng: &mut Pcg64,
    rows: usize,
    bad: bool,
    width: usize,
    (ti, vi, ci): (usize, usize, Option<usize>),
) -> Vec<Row> {
    let mut bads = Vec::new();
    for _ in 0..bad_count(rng, rows, bad) {
        let mut f = vec!["1".to_string(); width];
        if let Some(c) = ci {
            f[c] = "svc_a".into();
        }
        let (reason, skips) = match rng.gen_range(0..4) {
            0 => {
                f[ti] = "abc".into();
                ("malformed", true)
            }
            1 => {
                f[vi] = String::new();
                ("missing_field", true)
            }
            2 => {
                f[vi] = "inf".into();
                ("non_finite", true)
            }
            _ => {
                f[ti] = "NaN".into();
                ("non_finite", true)
            }
        };
        bads.push(Row {
            bytes: (f.join(",") + "\n").into_bytes(),
            bad: Some(Bad {
                reason,
                reference_skips: skips,
            }),
        });
    }
    if bad {
        bads.push(Row {
            bytes: b"1\n".to_vec(),
            bad: Some(Bad {
                reason: "malformed",
                reference_skips: false,
            }),
        });
        let mut row = b"1".to_vec();
        for _ in 1..width {
            row.extend_from_slice(b",\xff");
        }
        row.push(b'\n');
        bads.push(Row {
            bytes: row,
            bad: Some(Bad {
                reason: "invalid_utf8",
                reference_skips: false,
            }),
        });
    }
    bads
}
