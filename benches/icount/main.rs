//! Workloads of the instruction-count gate (`benches/icount.sh`).
//!
//! Each benchmark builds its input from a fixed seed, then calls one
//! `#[inline(never)]` function whose name starts with `measured_`. The gate runs
//! `icount run NAME` under `valgrind --tool=callgrind --toggle-collect=...` so
//! that only the instructions executed inside that function (and what it calls)
//! are counted: input generation, warm-up and freeing the state stay outside.
//! One benchmark per process, so no benchmark's allocations shape another's.
//!
//! - `icount list`: one line per benchmark: name, units per run, unit.
//! - `icount run NAME`: builds the input, runs the measured function once,
//!   checks the result and prints `NAME units=N check=X`.
//! - any other argument (`cargo bench` passes `--bench`, the CI smoke run
//!   `--test`): runs every benchmark once natively, so the workloads and their
//!   checks are exercised without valgrind.

#[path = "../common/mod.rs"]
mod common;
#[path = "../../exporter/tests/common/mod.rs"]
mod exporter_common;

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;

use motifd_engine::{ChannelNames, EngineLimits, Episode, MotifEngine, RecordFormat, RecordParser};
use motifd_engine::{Pipeline, PipelineConfig, ReorderBuffer, Sample};
use motifd_exporter::{render, render_to_vec, ExporterStats, Families, RenderOptions, Snapshot};

/// Samples per reorder and engine run: 20 reorder windows at 1,000 samples per
/// event-second, so the steady state dominates the first window's fill.
const STREAM: usize = 200_000;
/// Channels of the reorder, engine and CSV streams.
const CHANNELS: u32 = 1_000;
/// Lines per parser run.
const PARSE_LINES: usize = 100_000;

/// Name, unit and runner of each benchmark. The runner returns the units of
/// work it measured (samples, lines or series) and a checksum of the result.
type Runner = fn() -> (usize, f64);
const BENCHMARKS: &[(&str, &str, Runner)] = &[
    ("reorder_in_order", "sample", reorder_in_order),
    ("reorder_jitter_5s", "sample", reorder_jitter),
    ("engine_step_1000ch", "sample", engine_step),
    ("pipeline_jitter_5s_1000ch", "sample", pipeline_jitter),
    ("pipeline_4_producers_1000ch", "sample", pipeline_producers),
    ("csv_parse_1000ch", "line", csv_parse),
    ("json_parse_1000ch", "line", json_parse),
    ("render_seed_openmetrics", "series", render_seed),
    ("render_10k_full_openmetrics", "series", render_10k_full),
    ("render_10k_full_classic", "series", render_10k_full_classic),
    ("render_10k_plain_openmetrics", "series", render_10k_plain),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for (name, unit, run) in BENCHMARKS {
                // Units are a property of the input, so listing runs each
                // benchmark natively once; all of them take well under a second.
                let (units, _) = run();
                println!("{name} {units} {unit}");
            }
            ExitCode::SUCCESS
        }
        Some("run") => {
            let Some(name) = args.get(1) else {
                eprintln!("usage: icount run NAME (names: icount list)");
                return ExitCode::from(2);
            };
            let Some((_, _, run)) = BENCHMARKS.iter().find(|(n, _, _)| n == name) else {
                eprintln!("icount: no benchmark named {name:?} (names: icount list)");
                return ExitCode::from(2);
            };
            let (units, check) = run();
            println!("{name} units={units} check={check}");
            ExitCode::SUCCESS
        }
        _ => {
            for (name, unit, run) in BENCHMARKS {
                let (units, check) = run();
                println!("icount {name}: {units} per run (unit: {unit}), check {check}");
            }
            ExitCode::SUCCESS
        }
    }
}

// ---- reorder buffer -------------------------------------------------------

#[inline(never)]
fn measured_reorder(rb: &mut ReorderBuffer, samples: &[Sample]) -> (usize, f64) {
    let mut released = 0usize;
    let mut acc = 0.0;
    for &s in samples {
        rb.push(s, |x| {
            released += 1;
            acc += x.value;
        });
    }
    rb.flush_all(|x| {
        released += 1;
        acc += x.value;
    });
    (released, acc)
}

fn reorder(samples: Vec<Sample>) -> (usize, f64) {
    let mut rb = ReorderBuffer::new(common::WINDOW).unwrap();
    let (released, acc) = measured_reorder(&mut rb, black_box(&samples));
    assert_eq!(rb.counters().dropped_out_of_window, 0, "reorder dropped");
    assert_eq!(released, samples.len(), "reorder released");
    (samples.len(), acc)
}

fn reorder_in_order() -> (usize, f64) {
    reorder(common::in_order(STREAM, CHANNELS))
}

fn reorder_jitter() -> (usize, f64) {
    reorder(common::jittered(STREAM, CHANNELS))
}

// ---- motif engine ---------------------------------------------------------

#[inline(never)]
fn measured_engine_step(engine: &mut MotifEngine, samples: &[Sample]) -> u64 {
    let mut episode_samples = 0u64;
    let mut sink = |e: &Episode| episode_samples += e.samples;
    for s in samples {
        engine.process(s, &mut sink);
    }
    episode_samples
}

fn engine_step() -> (usize, f64) {
    let samples = common::in_order(STREAM, CHANNELS);
    // Every (class, channel) seen once before the stream, as in
    // `benches/engine_step.rs`: slot allocation is setup, not the step.
    let mut engine = MotifEngine::new(Arc::new(common::grammar()), EngineLimits::default());
    let mut ignore = |_: &Episode| {};
    for channel in 0..CHANNELS {
        for class in 0..common::CLASSES {
            let warm = Sample::new(common::T0 - 1.0, class, channel, 0.0);
            engine.process(&warm, &mut ignore);
        }
    }
    let episode_samples = measured_engine_step(&mut engine, black_box(&samples));
    assert!(episode_samples > 0, "the engine closed no episode");
    (samples.len(), episode_samples as f64)
}

// ---- pipeline: far-future guard, reorder buffer, engine ---------------------

/// A pipeline that has seen every (class, channel) once, a window before the
/// stream: slot allocation and the first samples' group are setup.
fn warmed_pipeline() -> Pipeline {
    let config = PipelineConfig {
        window: common::WINDOW,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::new(Arc::new(common::grammar()), &config).expect("valid config");
    let mut ignore = |_: &Episode| {};
    for channel in 0..CHANNELS {
        for class in 0..common::CLASSES {
            let warm = Sample::new(common::T0 - 2.0 * common::WINDOW, class, channel, 0.0);
            p.push(warm, &mut ignore);
        }
    }
    p.flush_staged(&mut ignore);
    p
}

/// Batches of the ingest channel's default size, as `motifd replay` feeds them
/// (`push_all`).
#[inline(never)]
fn measured_pipeline_push(p: &mut Pipeline, samples: &[Sample]) -> u64 {
    let mut episode_samples = 0u64;
    let mut sink = |e: &Episode| episode_samples += e.samples;
    for batch in samples.chunks(motifd_engine::ingest::DEFAULT_BATCH) {
        p.push_all(batch, &mut sink);
    }
    p.flush_staged(&mut sink);
    episode_samples
}

fn pipeline_jitter() -> (usize, f64) {
    let samples = common::jittered(STREAM, CHANNELS);
    let mut p = warmed_pipeline();
    let episode_samples = measured_pipeline_push(&mut p, black_box(&samples));
    let c = p.counters();
    assert_eq!(
        c.dropped_out_of_window + c.rejected.total(),
        0,
        "nothing lost"
    );
    assert!(episode_samples > 0, "the engine closed no episode");
    (samples.len(), episode_samples as f64)
}

/// Producers as the daemon feeds them: batches of 64 samples, each from one
/// of four producers in turn (`producer` and `push_all_from` once per batch).
#[inline(never)]
fn measured_pipeline_push_from(p: &mut Pipeline, samples: &[Sample]) -> u64 {
    let mut episode_samples = 0u64;
    let mut sink = |e: &Episode| episode_samples += e.samples;
    for (i, batch) in samples.chunks(64).enumerate() {
        let producer = p.producer((i % 4) as u64, std::time::Duration::from_millis(i as u64));
        p.push_all_from(producer, batch, &mut sink);
    }
    p.flush_staged(&mut sink);
    episode_samples
}

fn pipeline_producers() -> (usize, f64) {
    let samples = common::jittered(STREAM, CHANNELS);
    let mut p = warmed_pipeline();
    let episode_samples = measured_pipeline_push_from(&mut p, black_box(&samples));
    let c = p.counters();
    assert_eq!(
        c.dropped_out_of_window + c.rejected.total(),
        0,
        "nothing lost"
    );
    assert!(episode_samples > 0, "the engine closed no episode");
    (samples.len(), episode_samples as f64)
}

// ---- CSV record parser ----------------------------------------------------

#[inline(never)]
fn measured_parse(
    parser: &mut RecordParser,
    format: RecordFormat,
    lines: &[String],
) -> (usize, f64) {
    let mut ok = 0usize;
    let mut acc = 0.0;
    for line in lines {
        if let Ok(s) = parser.parse(format, line.as_bytes()) {
            ok += 1;
            acc += s.value;
        }
    }
    (ok, acc)
}

fn csv_parse() -> (usize, f64) {
    parse_lines(RecordFormat::Csv)
}

fn json_parse() -> (usize, f64) {
    parse_lines(RecordFormat::Jsonl)
}

/// [`PARSE_LINES`] records of the in-order stream written in `format`
/// (numbers as `ryu` writes them: up to 17 significant digits), parsed by a
/// producer whose name cache already holds every channel.
fn parse_lines(format: RecordFormat) -> (usize, f64) {
    let grammar = common::grammar();
    let classes = grammar.classes().to_vec();
    let mut t = ryu::Buffer::new();
    let mut v = ryu::Buffer::new();
    let lines: Vec<String> = common::in_order(PARSE_LINES, CHANNELS)
        .iter()
        .map(|s| {
            let (t, class, v) = (
                t.format(s.t),
                &classes[usize::from(s.class)],
                v.format(s.value),
            );
            match format {
                RecordFormat::Csv => format!("{t},{class},q{},{v}", s.channel),
                RecordFormat::Jsonl => format!(
                    r#"{{"t":{t},"class":"{class}","channel":"q{}","value":{v}}}"#,
                    s.channel
                ),
            }
        })
        .collect();
    let names = ChannelNames::default();
    let mut parser = RecordParser::new(Arc::new(grammar), &names);
    // Every channel name interned beforehand, as in a producer that has been
    // running for a while: the measured lookups all hit the local cache.
    for c in 0..CHANNELS {
        let warm = format!("{},{},q{c},0", common::T0, classes[0]);
        parser.csv(warm.as_bytes()).expect("warm-up line parses");
    }
    let (ok, acc) = measured_parse(&mut parser, format, black_box(&lines));
    assert_eq!(ok, lines.len(), "every generated line parses");
    (lines.len(), acc)
}

// ---- render ---------------------------------------------------------------

#[inline(never)]
fn measured_render(
    snapshot: &Snapshot,
    stats: &ExporterStats,
    options: &RenderOptions,
    format: motifd_exporter::ExpositionFormat,
    out: &mut Vec<u8>,
) {
    render(snapshot, stats, options, format, out);
}

/// Renders `snapshot` once untimed (the expected output), then once measured
/// into a buffer that already has the capacity, as a scrape thread's reused
/// buffer does. Units: sample lines.
fn render_case(
    snapshot: &Snapshot,
    families: Families,
    format: motifd_exporter::ExpositionFormat,
) -> (usize, f64) {
    let options = RenderOptions {
        families,
        ..RenderOptions::default()
    };
    let stats = exporter_common::exporter_stats();
    let expected = render_to_vec(snapshot, &stats, &options, format);
    let mut out = Vec::with_capacity(expected.len());
    measured_render(snapshot, &stats, &options, format, &mut out);
    assert!(out == expected, "the measured render differs");
    let series = exporter_common::sample_lines(&out);
    (series, out.len() as f64)
}

fn render_seed() -> (usize, f64) {
    render_case(
        &exporter_common::busy_snapshot(),
        Families::Core,
        motifd_exporter::ExpositionFormat::OpenMetrics,
    )
}

/// Full catalogue, 320 motifs: 9,989 series, most of them histogram buckets.
fn render_10k_full() -> (usize, f64) {
    render_case(
        &exporter_common::busy_snapshot_with_motifs(320),
        Families::All,
        motifd_exporter::ExpositionFormat::OpenMetrics,
    )
}

fn render_10k_full_classic() -> (usize, f64) {
    render_case(
        &exporter_common::busy_snapshot_with_motifs(320),
        Families::All,
        motifd_exporter::ExpositionFormat::Classic,
    )
}

/// Core families, 3,332 motifs: 9,999 plain series, two thirds floats.
fn render_10k_plain() -> (usize, f64) {
    render_case(
        &exporter_common::busy_snapshot_with_motifs(3332),
        Families::Core,
        motifd_exporter::ExpositionFormat::OpenMetrics,
    )
}
