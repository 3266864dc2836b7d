//! Snapshot sequence → residual samples: pure functions, two modes.
//!
//! `reference` reproduces `dsfb_database::live::distiller::DistillerState::ingest`
//! bit for bit, quirks included; `improved` fixes what the reference gets
//! wrong for a live database (docs/sources.md#residual-modes). Both read only
//! the snapshots they are given, so a tape re-derives the same residuals.

pub mod improved;
pub mod reference;

use super::snapshot::Snapshot;

/// Residual class, spelled as the default grammar names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Statement latency against its baseline.
    PlanRegression,
    /// Sessions waiting.
    Contention,
    /// Shared-buffer misses.
    CacheIo,
    /// Change in the statement mix.
    WorkloadPhase,
}

impl Class {
    /// Every class a PostgreSQL source emits.
    pub const ALL: [Class; 4] = [
        Class::PlanRegression,
        Class::Contention,
        Class::CacheIo,
        Class::WorkloadPhase,
    ];

    /// The grammar's class name.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::PlanRegression => "plan_regression",
            Class::Contention => "contention",
            Class::CacheIo => "cache_io",
            Class::WorkloadPhase => "workload_phase",
        }
    }
}

/// Where residuals go. The channel is borrowed: a sink that keeps it copies.
pub trait ResidualSink {
    /// One residual sample.
    fn residual(&mut self, t: f64, class: Class, channel: &str, value: f64);
}

/// Collects residuals as owned tuples (tests, `distill`-style output).
impl ResidualSink for Vec<(f64, Class, String, f64)> {
    fn residual(&mut self, t: f64, class: Class, channel: &str, value: f64) {
        self.push((t, class, channel.to_owned(), value));
    }
}

/// Which formulas turn snapshots into residuals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The reference crate's live distiller, bit for bit.
    Reference,
    /// The reference's flaws fixed (docs/sources.md#residual-modes).
    #[default]
    Improved,
}

impl Mode {
    /// The mode's name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Reference => "reference",
            Mode::Improved => "improved",
        }
    }
}

/// Sample times: the reference counts seconds from its first snapshot; a
/// daemon with several sources needs one clock, the Unix one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOrigin {
    /// `t` is the snapshot's Unix time.
    Unix,
    /// `t` is seconds since the first snapshot (the reference's clock).
    FirstSnapshot,
}

/// A residual mode's running state.
#[derive(Debug)]
pub enum Distiller {
    /// See [`reference::Reference`].
    Reference(reference::Reference),
    /// See [`improved::Improved`].
    Improved(improved::Improved),
}

impl Distiller {
    /// Fresh state for `mode`.
    pub fn new(mode: Mode, origin: TimeOrigin) -> Self {
        match mode {
            Mode::Reference => Distiller::Reference(reference::Reference::new(origin)),
            Mode::Improved => Distiller::Improved(improved::Improved::new(origin)),
        }
    }

    /// Emits the residuals `snap` makes available.
    pub fn ingest(&mut self, snap: &Snapshot, sink: &mut impl ResidualSink) {
        match self {
            Distiller::Reference(d) => d.ingest(snap, sink),
            Distiller::Improved(d) => d.ingest(snap, sink),
        }
    }
}

/// The time origin's clock: the first snapshot's time, once seen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: TimeOrigin,
    t0: Option<f64>,
}

impl Clock {
    pub(crate) fn new(origin: TimeOrigin) -> Self {
        Self { origin, t0: None }
    }

    /// The sample time of a snapshot taken at Unix time `t`.
    pub(crate) fn at(&mut self, t: f64) -> f64 {
        match self.origin {
            TimeOrigin::Unix => t,
            TimeOrigin::FirstSnapshot => t - *self.t0.get_or_insert(t),
        }
    }
}
