//! The replay summary printed on stderr.

use motifd_engine::motif::EngineCounters;
use motifd_engine::{Grammar, IngestCounters};
use std::fmt;
use std::time::Duration;

/// Everything the summary reports.
pub struct Summary<'a> {
    /// Input files read.
    pub files: usize,
    /// Threads that parsed them.
    pub parsers: usize,
    /// Ingest counters at the end.
    pub counters: IngestCounters,
    /// Engine counters at the end.
    pub engine: EngineCounters,
    /// Reorder window, seconds.
    pub window: f64,
    /// The grammar (for motif names).
    pub grammar: &'a Grammar,
    /// Episodes per motif, grammar order.
    pub episodes_per_motif: &'a [u64],
    /// Wall-clock time of the whole replay.
    pub elapsed: Duration,
}

/// `0`, or the total and the counts that are not zero by name:
/// `7 (malformed 5, non_finite 2)`.
pub fn breakdown<N: fmt::Display>(counts: impl IntoIterator<Item = (N, u64)>) -> String {
    let (mut total, mut parts) = (0u64, Vec::new());
    for (name, n) in counts {
        if n > 0 {
            total += n;
            parts.push(format!("{name} {n}"));
        }
    }
    if parts.is_empty() {
        "0".to_string()
    } else {
        format!("{total} ({})", parts.join(", "))
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            c.received as f64 / secs
        } else {
            0.0
        };
        writeln!(
            f,
            "replay: {} records from {} file{} in {:.3} s ({:.2} M records/s{})",
            c.received,
            self.files,
            if self.files == 1 { "" } else { "s" },
            secs,
            rate / 1e6,
            match self.parsers {
                0 | 1 => String::new(),
                n => format!(", {n} parser threads"),
            }
        )?;
        writeln!(f, "  rejected: {}", breakdown(c.rejected.iter()))?;
        writeln!(
            f,
            "  reorder:  flushed {}, dropped out of window {}, staged {} (window {} s)",
            c.flushed, c.dropped_out_of_window, c.staged, self.window
        )?;
        if c.time_jumps > 0 || c.released_at_cap > 0 {
            writeln!(
                f,
                "  time:     jumps accepted {}, released early at the staged cap {}",
                c.time_jumps, c.released_at_cap
            )?;
        }
        if self.engine.refused_channel_cap > 0 || self.engine.channels_evicted > 0 {
            writeln!(
                f,
                "  channels: evicted {}, refused at the channel cap {}",
                self.engine.channels_evicted, self.engine.refused_channel_cap
            )?;
        }
        let total: u64 = self.episodes_per_motif.iter().sum();
        let per: Vec<String> = self
            .grammar
            .motifs()
            .iter()
            .zip(self.episodes_per_motif)
            .map(|(m, n)| format!("{} {n}", m.name))
            .collect();
        writeln!(f, "  episodes: {total} ({})", per.join(", "))
    }
}
