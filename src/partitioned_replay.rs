//! `motifd replay --partitions N`: the episodes a consumer group gives for a
//! topic of N partitions that `motifd produce` filled from the same files.
//!
//! Every line goes to the partition `motifd produce` sends it to
//! ([`crate::partitioning`]); each partition runs its own engine
//! ([`PartitionEngine`], the code the Kafka source runs) over its lines in
//! file order — the order the partition holds them in. When the input ends,
//! each partition does what a partition of the group does once the topic is
//! consumed and `idle_flush` passes: it releases everything staged. Episodes
//! still open then stay open, as in the group, whose state keeps them for
//! whatever arrives next; the summary counts them.
//!
//! Output: the partitioned episode record ([`crate::episode_id`]), partition
//! by partition, each in close order. A group's instances write the same
//! lines in another order, so compare sorted: `sort` of the union of their
//! logs (duplicates removed) equals `sort` of this output.

use crate::cli::{OutputFormat, ReplayArgs};
use crate::error::Failure;
use crate::grammar::{self, GrammarCell};
use crate::line_ingest::{LineFormat, RejectReport};
use crate::partition_engine::{PartitionEngine, RecordSink, Settings};
use crate::partitioning::Router;
use crate::routed_lines::{route_files, Reading, Routed};
use motifd_engine::Episode;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Most partitions accepted (Kafka's own limits are far lower in practice).
pub const MAX_PARTITIONS: u32 = 100_000;

/// A partition's pending lines are applied once they reach this size.
const FEED_BYTES: usize = 64 << 10;

/// Runs `motifd replay --partitions n`.
///
/// # Errors
/// Bad flags, unreadable input, a bad grammar, a `--strict` reject.
pub fn run(args: &ReplayArgs, n: u32) -> Result<ExitCode, Failure> {
    validate(args, n)?;
    let grammar = Arc::new(grammar::load(args.grammar.as_deref())?);
    let cell = Arc::new(GrammarCell::new(Arc::clone(&grammar)));
    let started = Instant::now();
    let settings = Settings {
        pipeline: crate::replay::pipeline_config(args),
        // The router has checked each line in its file's format; a valid
        // record reads the same under `auto`, as the Kafka source reads it.
        format: LineFormat::Auto,
        max_line: args.input.max_line,
        report: RejectReport::Print(args.input.show_rejects),
    };
    let mut parts: Vec<Part> = (0..n)
        .map(|p| Part {
            engine: PartitionEngine::fresh(&cell, p, &settings),
            pending: Vec::with_capacity(FEED_BYTES + 256),
            out: Collected::default(),
        })
        .collect();
    let reading = Reading {
        format: args.input_format,
        max_line: args.input.max_line,
        show_rejects: args.input.show_rejects,
        strict: args.input.strict,
    };
    let mut router = Router::new(Arc::clone(&grammar), n);
    let routed = route_files(&args.inputs, reading, &mut router, |p, line, _key| {
        parts[p as usize].take(line);
        Ok(())
    })?;
    let mut output = Vec::new();
    let mut open = 0;
    for part in &mut parts {
        part.end();
        open += part.engine.open_episodes();
        output.append(&mut part.out.lines);
    }
    if !args.input.quiet {
        eprint!("{}", summary(&routed, &parts, open, started));
    }
    finish(args, &output)
}

fn validate(args: &ReplayArgs, n: u32) -> Result<(), Failure> {
    if n == 0 || n > MAX_PARTITIONS {
        return Err(Failure::new(format!(
            "--partitions must be 1 to {MAX_PARTITIONS}, got {n}"
        )));
    }
    let unsupported = [
        (
            args.output_format == OutputFormat::Csv,
            "--output-format csv",
        ),
        (args.speed.is_some(), "--speed"),
        (args.metrics_out.is_some(), "--metrics-out"),
    ];
    for (given, flag) in unsupported {
        if given {
            return Err(Failure::new(format!(
                "{flag} does not apply with --partitions (the output is the partitioned JSON record)"
            )));
        }
    }
    Ok(())
}

/// One partition of the replay.
struct Part {
    engine: PartitionEngine,
    pending: Vec<u8>,
    out: Collected,
}

impl Part {
    fn take(&mut self, line: &[u8]) {
        self.pending.extend_from_slice(line);
        self.pending.push(b'\n');
        if self.pending.len() >= FEED_BYTES {
            self.engine.feed(&self.pending, &mut self.out);
            self.pending.clear();
        }
    }

    /// The topic is consumed: apply what is pending, then the idle flush.
    fn end(&mut self) {
        self.engine.feed(&self.pending, &mut self.out);
        self.pending.clear();
        self.engine.flush_staged(&mut self.out);
    }
}

/// A partition's episode records.
#[derive(Default)]
struct Collected {
    lines: Vec<u8>,
    episodes: u64,
}

impl RecordSink for Collected {
    fn record(&mut self, _: &Episode, line: &[u8], _: u64, _: &str, _: &str) {
        self.lines.extend_from_slice(line);
        self.episodes += 1;
    }
}

fn summary(routed: &Routed, parts: &[Part], open: u64, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    let episodes: u64 = parts.iter().map(|p| p.out.episodes).sum();
    let mut text = format!(
        "replay --partitions {}: {} records from {} file{} in {secs:.3} s\n  rejected: {}\n  episodes: {episodes}; still open at the end: {open} (they stay open, as in a group that has consumed the topic)\n  per partition (records/episodes):",
        parts.len(),
        routed.records(),
        routed.files,
        if routed.files == 1 { "" } else { "s" },
        routed.rejected.total(),
    );
    for (p, part) in parts.iter().enumerate() {
        text.push_str(&format!(
            " {p}:{}/{}",
            routed.per_partition[p], part.out.episodes
        ));
    }
    text.push('\n');
    text
}

fn finish(args: &ReplayArgs, output: &[u8]) -> Result<ExitCode, Failure> {
    let Some(golden) = &args.check else {
        let mut out = io::stdout().lock();
        return match out.write_all(output).and_then(|()| out.flush()) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
            Err(e) => Err(Failure::new(format!("writing episodes: {e}"))),
        };
    };
    let expected =
        std::fs::read(golden).map_err(|e| Failure::new(format!("{}: {e}", golden.display())))?;
    match crate::replay::first_difference(&expected, output) {
        None => {
            if !args.input.quiet {
                eprintln!("check: {} matches", golden.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(diff) => {
            eprintln!("check: {} differs at {diff}", golden.display());
            Ok(ExitCode::from(1))
        }
    }
}
