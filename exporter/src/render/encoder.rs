//! Line-level writer shared by both formats: family metadata, samples,
//! histograms. It knows the per-format differences in metadata (counter
//! naming, UNIT, HELP escaping) so the catalogue can stay format-agnostic.

use super::{escape, number, Format};
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
    format: Format,
    namespace: &'a str,
    /// Full family name (namespace included, no suffix) of the family being
    /// written; reused across families to avoid allocating per family.
    name: Vec<u8>,
    /// Spelled `le` values of the bounds last rendered (`le_text[le_ends[i-1]..le_ends[i]]`),
    /// so a histogram family formats each bound once, not once per series.
    le_bounds: &'static [f64],
    le_text: Vec<u8>,
    le_ends: Vec<usize>,
}

impl<'a> Encoder<'a> {
    pub fn new(out: &'a mut Vec<u8>, format: Format, namespace: &'a str) -> Self {
        Self {
            out,
            format,
            namespace,
            name: Vec::with_capacity(96),
            le_bounds: &[],
            le_text: Vec::new(),
            le_ends: Vec::new(),
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
            Format::OpenMetrics => {
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
            Format::Classic => {
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
    #[inline]
    pub fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: Value) {
        self.start_line(suffix);
        self.labels(labels, None);
        self.finish_line(value);
    }

    /// Writes `_bucket` (one per bound, then `+Inf`), `_sum` and `_count` of
    /// the current histogram family.
    pub fn histogram(&mut self, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        if !std::ptr::eq(self.le_bounds, h.bounds) || self.le_ends.len() != h.bounds.len() + 1 {
            self.spell_bounds(h.bounds);
        }
        let mut start = 0;
        for i in 0..=h.bounds.len() {
            let end = self.le_ends[i];
            self.start_line("_bucket");
            self.labels(labels, Some((start, end)));
            let count = h.cumulative.get(i).copied().unwrap_or(h.count);
            self.finish_line(Value::Int(count));
            start = end;
        }
        self.sample("_sum", labels, Value::Float(h.sum));
        self.sample("_count", labels, Value::Int(h.count));
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

    #[inline]
    fn start_line(&mut self, suffix: &str) {
        self.out.extend_from_slice(&self.name);
        self.out.extend_from_slice(suffix.as_bytes());
    }

    #[inline]
    /// Writes the label set; `le` is a byte range of `le_text`.
    fn labels(&mut self, labels: &[(&str, &str)], le: Option<(usize, usize)>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push(b'{');
        for (i, (name, value)) in labels.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b"=\"");
            escape::label_value(self.out, value);
            self.out.push(b'"');
        }
        if let Some((start, end)) = le {
            if !labels.is_empty() {
                self.out.push(b',');
            }
            self.out.extend_from_slice(b"le=\"");
            self.out.extend_from_slice(&self.le_text[start..end]);
            self.out.push(b'"');
        }
        self.out.push(b'}');
    }

    #[inline]
    fn finish_line(&mut self, value: Value) {
        self.out.push(b' ');
        match value {
            Value::Int(v) => number::write_u64(self.out, v),
            Value::Float(v) => number::write_f64(self.out, v),
        }
        self.out.push(b'\n');
    }

    /// Ends the exposition (`# EOF` in OpenMetrics; nothing in classic).
    pub fn finish(self) {
        if self.format == Format::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
    }
}
