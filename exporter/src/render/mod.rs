//! Rendering: a pure function from a snapshot to exposition bytes.
//!
//! Same inputs give byte-identical output. Families are written in the fixed
//! order of `catalogue.rs` (the six core families first, then the others as listed in
//! `docs/metrics.md`); within a family, series follow the order of the
//! snapshot's vectors. No timestamps are ever written.

mod catalogue;
mod encoder;
pub mod escape;
pub mod number;

use crate::self_stats::ExporterStats;
use crate::snapshot::Snapshot;

/// `Content-Type` of an OpenMetrics 1.0 body.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of a classic text 0.0.4 body (also the textfile format).
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpositionFormat {
    /// OpenMetrics 1.0: `# TYPE x counter` with `x_total` samples, `# UNIT`,
    /// HELP escapes `"`, ends with `# EOF`.
    OpenMetrics,
    /// Prometheus text 0.0.4: `# TYPE x_total counter`, no UNIT, HELP keeps
    /// `"` raw, no `# EOF`. Also what node_exporter's textfile collector reads.
    Classic,
}

impl ExpositionFormat {
    /// The `Content-Type` header value for a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            ExpositionFormat::Classic => CLASSIC_CONTENT_TYPE,
        }
    }
}

/// Error from [`Namespace::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidNamespace(pub String);

impl std::fmt::Display for InvalidNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid metric namespace {:?}: use a non-empty name matching [a-zA-Z_][a-zA-Z0-9_]* (no '__' prefix)",
            self.0
        )
    }
}

impl std::error::Error for InvalidNamespace {}

/// A validated metric-name prefix (`dsfb` by default); every family except
/// `process_*` is named `<namespace>_<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// Validates `ns`: non-empty, `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with
    /// `__` (reserved). Colons are refused too: they are meant for recording
    /// rules, not exporters.
    ///
    /// # Errors
    /// [`InvalidNamespace`] carrying the rejected string.
    pub fn new(ns: &str) -> Result<Self, InvalidNamespace> {
        let mut chars = ns.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if first_ok && rest_ok && !ns.starts_with("__") {
            Ok(Self(ns.to_owned()))
        } else {
            Err(InvalidNamespace(ns.to_owned()))
        }
    }

    /// The prefix as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self("dsfb".to_owned())
    }
}

/// Which families to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Families {
    /// The full catalogue (default).
    #[default]
    All,
    /// Only the six core families (those the reference exporter has); for comparison with the reference
    /// exporter and for benchmarking at its size.
    Core,
}

/// Rendering options that do not change between scrapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Metric-name prefix.
    pub namespace: Namespace,
    /// Family selection.
    pub families: Families,
    /// Whether to render the `process_*` families (when the snapshot has
    /// them). Default true; the textfile writer turns it off because
    /// node_exporter exposes its own `process_*` series and a second copy
    /// would be a duplicate it drops with an error.
    pub process_metrics: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            namespace: Namespace::default(),
            families: Families::default(),
            process_metrics: true,
        }
    }
}

/// Appends the exposition of `snapshot` and the exporter's own `stats` in
/// `format` to `out`. Pure and deterministic: it reads only its arguments.
pub fn render(
    snapshot: &Snapshot,
    stats: &ExporterStats,
    options: &RenderOptions,
    format: ExpositionFormat,
    out: &mut Vec<u8>,
) {
    let mut enc = encoder::Encoder::new(out, format, options.namespace.as_str());
    enc.spell_motifs(snapshot.motifs.iter().map(|m| m.name.as_str()));
    catalogue::core(&mut enc, snapshot);
    if options.families == Families::All {
        catalogue::after_core(&mut enc, snapshot, stats, options.process_metrics);
    }
    enc.finish();
}

/// [`render`] into a new buffer.
pub fn render_to_vec(
    snapshot: &Snapshot,
    stats: &ExporterStats,
    options: &RenderOptions,
    format: ExpositionFormat,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    render(snapshot, stats, options, format, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_validation() {
        for ok in ["dsfb", "motifd", "_x", "a1_b2"] {
            assert!(Namespace::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "a-b", "__x", "a:b", "ns ", "ünï"] {
            assert!(Namespace::new(bad).is_err(), "{bad}");
        }
    }
}
