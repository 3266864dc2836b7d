//! `motifd replay`: files → parser thread(s) → engine (this thread) → episodes.
//!
//! The parser runs on its own thread and hands batches over the same
//! `crossbeam-channel` hand-over the daemon uses, so parsing and the engine
//! overlap on two cores; large regular files are parsed in runs on several
//! threads ([`parallel`]). Either way the engine takes the samples in input
//! order, as one stream, which keeps the output deterministic: same input,
//! same bytes.

use crate::cli::ReplayArgs;
use crate::error::Failure;
use crate::grammar;
use crate::line_ingest::{Options, RejectReport};
use crate::settings_rules as rules;
use crate::summary::Summary;
use motifd_engine::{ChannelNames, EngineLimits, Episode, Grammar, Pipeline, PipelineConfig};
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

mod episode_output;
mod inputs;
mod parallel;
mod producer;
mod runs;

pub(crate) use episode_output::first_difference;
use episode_output::EpisodeWriter;
use inputs::{from_options, open_inputs, spawn_trace_reader};
pub(crate) use inputs::{open_paths, spawn_parser, Input, Produced};
pub(crate) use producer::Producer;

/// Batches in flight between the parser and the engine.
const CHANNEL_BATCHES: usize = 8;

/// Runs the replay; the exit code says how it went (0 ok, 1 check mismatch).
pub fn run(args: ReplayArgs) -> Result<ExitCode, Failure> {
    validate(&args)?;
    if let Some(n) = args.partitions {
        return crate::partitioned_replay::run(&args, n);
    }
    let grammar = Arc::new(grammar::load(args.grammar.as_deref())?);
    let names = ChannelNames::default();
    // The line path follows the name table, so names nothing refers to any
    // more are freed while the replay runs; the trace and tape readers do not.
    let lines_only = args.tape.is_none() && args.from.is_none();
    names.set_collection(lines_only);
    let started = Instant::now();
    let bytes_read = Arc::new(AtomicU64::new(0));
    let mut producer = spawn_producer(&args, &grammar, &names, &bytes_read)?;
    let mut pipeline = Pipeline::new(Arc::clone(&grammar), &pipeline_config(&args))
        .map_err(|e| Failure::new(format!("--{} {}", e.key.replace('_', "-"), e.rule)))?;
    let mut out = Episodes {
        writer: EpisodeWriter::new(args.output_format, args.check.is_none()),
        per_motif: vec![0; grammar.motifs().len()],
    };
    let progress = progress_bar(&args).map(|bar| (bar, bytes_read));
    while let Some(mut batch) = producer.next() {
        pipeline.add_rejections(&batch.rejected);
        let held = names.lock();
        pipeline.push_all(&batch.samples, &mut |e: &Episode| {
            out.write(e, &grammar, &held)
        });
        drop(held);
        // The batch's samples are in the pipeline now: its pin on the name
        // table can go before the table is collected.
        let samples = std::mem::take(&mut batch.samples);
        drop(batch);
        names.collect(&pipeline);
        producer.recycle(samples);
        out.writer.flush_if_large()?;
        if let Some((bar, read)) = &progress {
            bar.set_position(read.load(Ordering::Relaxed));
        }
    }
    if let Some((bar, _)) = &progress {
        bar.finish_and_clear();
    }
    let produced = producer.finish()?;
    let held = names.lock();
    pipeline.finish(&mut |e: &Episode| out.write(e, &grammar, &held));
    drop(held);
    let output = out.writer.finish()?;
    if let Some(path) = &args.metrics_out {
        write_metrics(path, &pipeline, &grammar)?;
    }
    if !args.input.quiet {
        let summary = Summary {
            files: produced.files,
            parsers: produced.parsers,
            counters: pipeline.counters(),
            engine: pipeline.engine().counters(),
            window: args.window,
            grammar: &grammar,
            episodes_per_motif: &out.per_motif,
            elapsed: started.elapsed(),
        };
        eprint!("{summary}");
    }
    check_output(&args, &output)
}

/// The episodes written so far, and their number per motif.
struct Episodes {
    writer: EpisodeWriter,
    per_motif: Vec<u64>,
}

impl Episodes {
    fn write(&mut self, e: &Episode, grammar: &Grammar, names: &motifd_engine::intern::Interner) {
        self.per_motif[e.motif as usize] += 1;
        self.writer.write(e, grammar, names);
    }
}

/// Starts reading the inputs (lines, a trace format or a tape) into batches.
fn spawn_producer(
    args: &ReplayArgs,
    grammar: &Arc<Grammar>,
    names: &ChannelNames,
    bytes_read: &Arc<AtomicU64>,
) -> Result<Producer, Failure> {
    if let Some(tape) = &args.tape {
        let opts = crate::postgres::tape_replay::options(args);
        return Producer::on_thread(|tx| {
            crate::postgres::tape_replay::spawn(tape.clone(), opts, grammar, names, tx)
        });
    }
    let inputs = open_inputs(args)?;
    if let Some(from) = from_options(args) {
        return Producer::on_thread(|tx| {
            spawn_trace_reader(inputs, grammar, names, from, tx, bytes_read)
        });
    }
    let options = Options {
        max_line: args.input.max_line,
        report: RejectReport::Print(args.input.show_rejects),
        strict: args.input.strict,
        header_first: true,
        speed: args.speed,
        max_ahead_of_clock: None,
    };
    spawn_parser(inputs, grammar, names, options, Arc::clone(bytes_read))
}

/// With `--check GOLDEN`: 0 when the output equals it, 1 (and where it
/// differs) otherwise.
fn check_output(args: &ReplayArgs, output: &[u8]) -> Result<ExitCode, Failure> {
    let Some(golden) = &args.check else {
        return Ok(ExitCode::SUCCESS);
    };
    let expected =
        std::fs::read(golden).map_err(|e| Failure::new(format!("{}: {e}", golden.display())))?;
    match first_difference(&expected, output) {
        None => {
            if !args.input.quiet {
                let lines = output.iter().filter(|&&b| b == b'\n').count();
                eprintln!("check: {} matches ({lines} lines)", golden.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(diff) => {
            eprintln!("check: {} differs at {diff}", golden.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// The engine settings the flags give.
pub(crate) fn pipeline_config(args: &ReplayArgs) -> PipelineConfig {
    PipelineConfig {
        window: args.window,
        max_future_jump: args.max_future_jump,
        limits: EngineLimits {
            channel_ttl: args.channel_ttl,
            max_channels: args.max_channels,
        },
        ..PipelineConfig::default()
    }
}

/// Checks the flags with the rules `motifd run` applies to the same settings.
fn validate(args: &ReplayArgs) -> Result<(), Failure> {
    fn flag(name: &'static str) -> impl Fn(String) -> Failure {
        move |why| Failure::new(format!("--{name} {why}"))
    }
    rules::non_negative_seconds(args.window).map_err(flag("window"))?;
    rules::positive_seconds(args.max_future_jump).map_err(flag("max-future-jump"))?;
    if let Some(speed) = args.speed {
        if !(speed > 0.0 && speed.is_finite()) {
            return Err(Failure::new(format!(
                "--speed must be a finite factor > 0, got {speed}"
            )));
        }
    }
    if let Some(ttl) = args.channel_ttl {
        rules::positive_seconds(ttl).map_err(flag("channel-ttl"))?;
    }
    rules::at_least_one(args.max_channels).map_err(flag("max-channels"))?;
    rules::at_least_one(args.input.max_line).map_err(flag("max-line"))?;
    if args.inputs.iter().filter(|i| *i == "-").count() > 1 {
        return Err(Failure::new("stdin (-) can be given only once"));
    }
    if args.from.is_none() && !args.columns.options().is_default() {
        return Err(Failure::new(
            "--time-col, --value-col, --channel-col and --pre-residualized need --from generic",
        ));
    }
    Ok(())
}

/// A byte progress bar on stderr, only when stderr is a terminal and the inputs
/// are files (their total size is known).
fn progress_bar(args: &ReplayArgs) -> Option<indicatif::ProgressBar> {
    if args.input.quiet || !io::stderr().is_terminal() || args.inputs.iter().any(|i| i == "-") {
        return None;
    }
    let total: u64 = args
        .inputs
        .iter()
        .filter_map(|i| std::fs::metadata(i).ok())
        .map(|m| m.len())
        .sum();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .ok()?
        .progress_chars("=> "),
    );
    Some(bar)
}

/// Writes the final exposition of `pipeline` to `path` (atomically).
fn write_metrics(
    path: &std::path::Path,
    pipeline: &Pipeline,
    grammar: &Grammar,
) -> Result<(), Failure> {
    use motifd_exporter::{
        render_to_vec, ExporterStats, Liveness, RenderOptions, SnapshotHandle, SnapshotPublisher,
    };
    let handle = SnapshotHandle::default();
    let mut filler = crate::daemon::metrics::MetricsFiller::new(
        Some(SnapshotPublisher::new(handle.clone())),
        Liveness::new(std::time::Duration::from_secs(1)),
    );
    filler.publish(
        pipeline,
        grammar,
        0,
        &crate::daemon::sources::SourceReport::default(),
    );
    let format = if path.extension().is_some_and(|e| e == "om") {
        motifd_exporter::ExpositionFormat::OpenMetrics
    } else {
        motifd_exporter::ExpositionFormat::Classic
    };
    let options = RenderOptions {
        // A replay's exposition describes the data, not this process.
        process_metrics: false,
        ..RenderOptions::default()
    };
    let bytes = render_to_vec(&handle.load(), &ExporterStats::default(), &options, format);
    motifd_exporter::textfile::write_atomic(path, &bytes)
        .map_err(|e| Failure::new(format!("{}: {e}", path.display())))
}
