//! Line-level writer shared by both formats: family metadata, samples,
//! histograms. It knows the per-format differences in metadata (counter
//! naming, UNIT, HELP escaping) so the catalogue can stay format-agnostic.

use super::{escape, number, ExpositionFormat};
use crate::histogram::HistogramSnapshot;

/// What a family is (the `# TYPE` word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Static description of one family. `name` has no namespace and, for
/// counters, no `_total` suffix.
#[derive(Debug)]
pub(crate) struct Family {
    pub name: &'static str,
    pub kind: Kind,
    /// The OpenMetrics unit; the name must end in `_<unit>`.
    pub unit: Option<&'static str>,
    pub help: &'static str,
    /// Whether the name is prefixed by the configured namespace
    /// (`process_*` families are not: their names are a cross-exporter
    /// convention).
    pub namespaced: bool,
}

/// A sample value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value {
    Int(u64),
    Float(f64),
}

/// Appends lines for one exposition to `out`.
pub(crate) struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    format: ExpositionFormat,
    namespace: &'a str,
    /// Full family name (namespace included, no suffix) of the family being
    /// written; reused across families to avoid allocating per family.
    name: Vec<u8>,
    /// Spelled `le` values of the bounds last rendered (`le_text[le_ends[i-1]..le_ends[i]]`),
    /// so a histogram family formats each bound once, not once per series.
    le_bounds: &'static [f64],
    le_text: Vec<u8>,
    le_ends: Vec<usize>,
    /// `motif="<escaped name>"` of every motif (`motif_text[motif_ends[i-1]..motif_ends[i]]`):
    /// each motif's label is written by five families and every bucket line
    /// of two histograms, so it is escaped once per exposition.
    motif_text: Vec<u8>,
    motif_ends: Vec<usize>,
    /// Label sets of the current sample, spelled (`k="v",...`).
    spelled: Vec<u8>,
    /// Sample name (family name + suffix) of the lines being written.
    head: Vec<u8>,
}

impl<'a> Encoder<'a> {
    pub fn new(out: &'a mut Vec<u8>, format: ExpositionFormat, namespace: &'a str) -> Self {
        Self {
            out,
            format,
            namespace,
            name: Vec::with_capacity(96),
            le_bounds: &[],
            le_text: Vec::new(),
            le_ends: Vec::new(),
            motif_text: Vec::new(),
            motif_ends: Vec::new(),
            spelled: Vec::new(),
            head: Vec::with_capacity(96),
        }
    }

    /// Spells the `motif` label of each name, in order, for
    /// [`Self::motif_samples`] and [`Self::motif_histogram`].
    pub fn spell_motifs<'n>(&mut self, names: impl ExactSizeIterator<Item = &'n str>) {
        self.motif_text.clear();
        self.motif_ends.clear();
        self.motif_ends.reserve(names.len());
        for name in names {
            spell_label(&mut self.motif_text, "motif", name);
            self.motif_ends.push(self.motif_text.len());
        }
    }

    /// Writes the metadata lines of `family` and makes it current.
    pub fn family(&mut self, family: &Family) {
        self.name.clear();
        if family.namespaced {
            self.name.extend_from_slice(self.namespace.as_bytes());
            self.name.push(b'_');
        }
        self.name.extend_from_slice(family.name.as_bytes());
        let kind: &[u8] = match family.kind {
            Kind::Counter => b"counter",
            Kind::Gauge => b"gauge",
            Kind::Histogram => b"histogram",
        };
        match self.format {
            ExpositionFormat::OpenMetrics => {
                self.meta(b"# TYPE ", b"");
                self.out.push(b' ');
                self.out.extend_from_slice(kind);
                self.out.push(b'\n');
                if let Some(unit) = family.unit {
                    self.meta(b"# UNIT ", b"");
                    self.out.push(b' ');
                    self.out.extend_from_slice(unit.as_bytes());
                    self.out.push(b'\n');
                }
                self.meta(b"# HELP ", b"");
                self.out.push(b' ');
                escape::help_openmetrics(self.out, family.help);
                self.out.push(b'\n');
            }
            ExpositionFormat::Classic => {
                // The classic format names a counter by its full sample name;
                // otherwise its samples come out untyped.
                let suffix: &[u8] = if family.kind == Kind::Counter {
                    b"_total"
                } else {
                    b""
                };
                self.meta(b"# HELP ", suffix);
                self.out.push(b' ');
                escape::help_classic(self.out, family.help);
                self.out.push(b'\n');
                self.meta(b"# TYPE ", suffix);
                self.out.push(b' ');
                self.out.extend_from_slice(kind);
                self.out.push(b'\n');
            }
        }
    }

    fn meta(&mut self, prefix: &[u8], suffix: &[u8]) {
        self.out.extend_from_slice(prefix);
        self.out.extend_from_slice(&self.name);
        self.out.extend_from_slice(suffix);
    }

    /// Writes a sample of the current family: name + `suffix`, `labels`,
    /// and the value.
    pub fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: Value) {
        self.set_head(suffix);
        spell_labels(&mut self.spelled, labels);
        write_line(self.out, &self.head, &self.spelled, None, value);
    }

    /// One sample per motif, in the order given to [`Self::spell_motifs`],
    /// each labelled with its motif only.
    pub fn motif_samples(&mut self, suffix: &str, values: impl Iterator<Item = Value>) {
        self.set_head(suffix);
        let mut start = 0;
        for (&end, value) in self.motif_ends.iter().zip(values) {
            let motif = &self.motif_text[start..end];
            write_line(self.out, &self.head, motif, None, value);
            start = end;
        }
    }

    /// Writes `_bucket` (one per bound, then `+Inf`), `_sum` and `_count` of
    /// the current histogram family.
    pub fn histogram(&mut self, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let mut spelled = std::mem::take(&mut self.spelled);
        spell_labels(&mut spelled, labels);
        self.spelled_histogram(&spelled, h);
        self.spelled = spelled;
    }

    /// [`Self::histogram`] labelled with motif `i` only.
    pub fn motif_histogram(&mut self, i: usize, h: &HistogramSnapshot) {
        let start = if i == 0 { 0 } else { self.motif_ends[i - 1] };
        let motif = std::mem::take(&mut self.motif_text);
        self.spelled_histogram(&motif[start..self.motif_ends[i]], h);
        self.motif_text = motif;
    }

    fn spelled_histogram(&mut self, labels: &[u8], h: &HistogramSnapshot) {
        if !std::ptr::eq(self.le_bounds, h.bounds) || self.le_ends.len() != h.bounds.len() + 1 {
            self.spell_bounds(h.bounds);
        }
        self.set_head("_bucket");
        let mut start = 0;
        for (i, &end) in self.le_ends.iter().enumerate() {
            let count = h.cumulative.get(i).copied().unwrap_or(h.count);
            let le = &self.le_text[start..end];
            write_line(self.out, &self.head, labels, Some(le), Value::Int(count));
            start = end;
        }
        self.set_head("_sum");
        write_line(self.out, &self.head, labels, None, Value::Float(h.sum));
        self.set_head("_count");
        write_line(self.out, &self.head, labels, None, Value::Int(h.count));
    }

    /// Caches the `le` spellings of `bounds` followed by `+Inf`.
    fn spell_bounds(&mut self, bounds: &'static [f64]) {
        self.le_bounds = bounds;
        self.le_text.clear();
        self.le_ends.clear();
        for b in bounds.iter().copied().chain([f64::INFINITY]) {
            number::write_le(&mut self.le_text, b);
            self.le_ends.push(self.le_text.len());
        }
    }

    /// Sets the sample name of the lines that follow: family name + `suffix`.
    fn set_head(&mut self, suffix: &str) {
        self.head.clear();
        self.head.extend_from_slice(&self.name);
        self.head.extend_from_slice(suffix.as_bytes());
    }

    /// Ends the exposition (`# EOF` in OpenMetrics; nothing in classic).
    pub fn finish(self) {
        if self.format == ExpositionFormat::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
    }
}

/// Appends one sample line: `head` (the sample name), the spelled `labels`
/// and `le` bound (either may be absent), and the value.
#[inline]
fn write_line(out: &mut Vec<u8>, head: &[u8], labels: &[u8], le: Option<&[u8]>, value: Value) {
    // One reservation per line (64 covers the punctuation and any number), so
    // the pieces below never grow the buffer.
    out.reserve(head.len() + labels.len() + le.map_or(0, <[u8]>::len) + 64);
    out.extend_from_slice(head);
    match le {
        Some(le) => {
            out.push(b'{');
            if !labels.is_empty() {
                out.extend_from_slice(labels);
                out.push(b',');
            }
            out.extend_from_slice(b"le=\"");
            out.extend_from_slice(le);
            out.extend_from_slice(b"\"} ");
        }
        None if labels.is_empty() => out.push(b' '),
        None => {
            out.push(b'{');
            out.extend_from_slice(labels);
            out.extend_from_slice(b"} ");
        }
    }
    match value {
        Value::Int(v) => number::write_u64(out, v),
        Value::Float(v) => number::write_f64(out, v),
    }
    out.push(b'\n');
}

/// Appends `name="<escaped value>"`.
fn spell_label(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    escape::label_value(out, value);
    out.push(b'"');
}

/// Replaces `out` with the comma-separated spelling of `labels`.
fn spell_labels(out: &mut Vec<u8>, labels: &[(&str, &str)]) {
    out.clear();
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        spell_label(out, name, value);
    }
}
