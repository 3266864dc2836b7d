//! What a picture is made of, once the input has been read.

use super::decimate::Decimator;
use motifd_engine::motif::EngineCounters;
use motifd_engine::{Grammar, IngestCounters, MotifId};
use std::sync::Arc;

/// An episode as drawn and listed, with its names resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeRow {
    /// Motif name.
    pub motif: String,
    /// Channel name.
    pub channel: String,
    /// Opening time, Unix seconds.
    pub t_start: f64,
    /// Closing time, Unix seconds.
    pub t_end: f64,
    /// Largest |residual| in the episode (NaN when the record had none).
    pub peak: f64,
    /// Trust sum at the close.
    pub trust_sum: f64,
    /// Samples in the episode.
    pub samples: u64,
    /// `dwell`, `end_of_stream` or `evicted`.
    pub closed_by: String,
}

impl EpisodeRow {
    /// `t_end − t_start`.
    pub fn duration(&self) -> f64 {
        self.t_end - self.t_start
    }
}

/// A channel drawn as its own curve.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Channel name.
    pub channel: String,
    /// Its series in the decimator.
    pub series: usize,
}

/// One panel: a residual class and the motifs that watch it.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Residual class.
    pub class: String,
    /// Motifs drawn on it (their envelope levels and episodes).
    pub motifs: Vec<MotifId>,
    /// Series holding every selected channel of the class (the grey band).
    pub all_channels: usize,
    /// Channels drawn as curves (at most `--max-curves`, first seen first).
    pub curves: Vec<Curve>,
    /// Selected channels of the class that had samples.
    pub channels: u64,
}

/// Where the episodes came from.
#[derive(Debug, Clone, PartialEq)]
pub enum EpisodeSource {
    /// The engine, run over the input.
    Engine,
    /// An episodes file (the engine still ran, for the counters).
    File {
        /// Its path, for captions.
        path: String,
        /// Lines of it that were not episode records.
        refused: u64,
    },
}

/// Everything read from the input, ready to draw or report.
pub struct Collected {
    /// The grammar in force.
    pub grammar: Arc<Grammar>,
    /// Panels, in grammar class order.
    pub panels: Vec<Panel>,
    /// Decimated residuals.
    pub decimator: Decimator,
    /// Selected episodes, in close order (or file order).
    pub episodes: Vec<EpisodeRow>,
    /// Where they came from.
    pub source: EpisodeSource,
    /// Ingest counters of the run.
    pub counters: IngestCounters,
    /// Engine counters of the run.
    pub engine: EngineCounters,
    /// Time range to draw: `--since`/`--until`, else what the data covers.
    pub range: Option<(f64, f64)>,
    /// Input names.
    pub inputs: Vec<String>,
    /// Reorder window used, seconds.
    pub window: f64,
}
