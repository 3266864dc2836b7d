//! The CSV formats whose rows the reference decodes by column name into a
//! struct (`csv` + serde): the header names the columns, extra columns are
//! ignored, a row with another number of fields than the header, a field that
//! is not UTF-8 or a value that does not parse is dropped. Here such a row is
//! rejected with its line and reason instead of vanishing.

use super::csv_rows::{CsvRecords, Item, Record};
use super::{Adapter, DistillError, Out};
use motifd_engine::RejectReason;
use std::io::Read;

/// Why one row was refused.
#[derive(Debug)]
pub(crate) struct Reject {
    pub(crate) reason: RejectReason,
    pub(crate) detail: String,
}

impl Reject {
    pub(crate) fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }

    /// A number that parsed but is NaN or infinite where the formula needs a
    /// finite one.
    pub(crate) fn non_finite(column: &str, v: f64) -> Self {
        Self::new(RejectReason::NonFinite, format!("{column} is {v}"))
    }
}

/// A CSV trace format decoded by column name.
pub(crate) trait Tabular: Default + Send {
    /// Columns every row needs, then columns that default when the header
    /// lacks them (`#[serde(default)]` in the reference).
    const COLUMNS: &'static [&'static str];
    /// How many of [`Tabular::COLUMNS`] are required.
    const REQUIRED: usize;
    /// Takes one row.
    fn row(&mut self, row: &Row<'_>) -> Result<(), Reject>;
    /// End of the trace.
    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError>;
}

/// One row, with its fields found by column.
pub(crate) struct Row<'a> {
    record: &'a Record<'a>,
    cols: &'a [Option<usize>],
    names: &'static [&'static str],
}

impl<'a> Row<'a> {
    /// The name of column `i` (of `COLUMNS`).
    pub(crate) fn name(&self, i: usize) -> &'static str {
        self.names[i]
    }

    /// The text of column `i` (of `COLUMNS`), `None` if the header lacks it.
    pub(crate) fn text(&self, i: usize) -> Option<&'a str> {
        self.cols[i].map(|c| self.record.get(c))
    }

    /// The text of a required column.
    pub(crate) fn str(&self, i: usize) -> &'a str {
        self.text(i).unwrap_or("")
    }

    /// Column `i` as a float (`str::parse`, as the reference's decoder).
    pub(crate) fn f64(&self, i: usize) -> Result<f64, Reject> {
        let text = self.str(i);
        text.parse::<f64>()
            .map_err(|_| self.bad(i, text, "a number"))
    }

    /// An optional float column: 0 when the header lacks it.
    pub(crate) fn f64_or_zero(&self, i: usize) -> Result<f64, Reject> {
        match self.text(i) {
            None => Ok(0.0),
            Some(_) => self.f64(i),
        }
    }

    /// Column `i` as an unsigned integer: decimal, or hexadecimal after `0x`,
    /// as the reference's decoder reads integers.
    pub(crate) fn u64(&self, i: usize) -> Result<u64, Reject> {
        let text = self.str(i);
        let parsed = match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => text.parse::<u64>(),
        };
        parsed.map_err(|_| self.bad(i, text, "an unsigned integer"))
    }

    /// A finite float, else the row is rejected (`non_finite`).
    pub(crate) fn finite(&self, i: usize) -> Result<f64, Reject> {
        let v = self.f64(i)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Reject::non_finite(self.names[i], v))
        }
    }

    fn bad(&self, i: usize, text: &str, what: &str) -> Reject {
        if text.is_empty() {
            Reject::new(
                RejectReason::MissingField,
                format!("{} is empty", self.names[i]),
            )
        } else {
            Reject::new(
                RejectReason::Malformed,
                format!("{} is not {what}: {:?}", self.names[i], preview(text)),
            )
        }
    }
}

/// At most 40 characters of `text`.
pub(crate) fn preview(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The [`Adapter`] of a [`Tabular`] format.
#[derive(Default)]
pub(crate) struct Csv<T> {
    inner: T,
}

impl<T: Tabular> Adapter for Csv<T> {
    fn read(&mut self, input: &mut dyn Read, out: &mut Out<'_>) -> Result<(), DistillError> {
        let mut records = CsvRecords::new(input, out.max_record);
        let (cols, width) = match records.next_record().map_err(|e| out.io(e))? {
            None => return Ok(()),
            Some(Item::Record(header)) => (
                columns(&header, T::COLUMNS, T::REQUIRED).map_err(|m| out.invalid(m))?,
                header.len(),
            ),
            Some(Item::TooLong(_)) => return Err(out.invalid("the header line is too long")),
            Some(Item::InvalidUtf8(_)) => return Err(out.invalid("the header is not valid UTF-8")),
        };
        while let Some(item) = records.next_record().map_err(|e| out.io(e))? {
            out.row();
            let (line, rejected) = match item {
                Item::TooLong(line) => (
                    line,
                    Reject::new(
                        RejectReason::LineTooLong,
                        format!("the row is longer than {} bytes", out.max_record),
                    ),
                ),
                Item::InvalidUtf8(line) => (
                    line,
                    Reject::new(RejectReason::InvalidUtf8, "a field is not valid UTF-8"),
                ),
                Item::Record(record) if record.len() != width => (
                    record.line,
                    Reject::new(
                        RejectReason::Malformed,
                        format!("{} fields where the header has {width}", record.len()),
                    ),
                ),
                Item::Record(record) => {
                    let row = Row {
                        record: &record,
                        cols: &cols,
                        names: T::COLUMNS,
                    };
                    match self.inner.row(&row) {
                        Ok(()) => continue,
                        Err(r) => (record.line, r),
                    }
                }
            };
            out.reject(Some(line), rejected.reason, &rejected.detail)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        self.inner.finish(out)
    }
}

/// Finds `wanted` in the header: the first `required` must be there; a wanted
/// column named twice is refused (the reference's decoder fails every row then).
fn columns(
    header: &Record<'_>,
    wanted: &[&str],
    required: usize,
) -> Result<Vec<Option<usize>>, String> {
    let mut cols = Vec::with_capacity(wanted.len());
    for (i, name) in wanted.iter().enumerate() {
        let mut at = header.fields().enumerate().filter(|(_, f)| f == name);
        let first = at.next().map(|(c, _)| c);
        if at.next().is_some() {
            return Err(format!("column {name:?} appears twice in the header"));
        }
        if first.is_none() && i < required {
            let found: Vec<&str> = header.fields().collect();
            return Err(format!(
                "the header lacks column {name:?} (it has {found:?}; needed: {:?})",
                &wanted[..required]
            ));
        }
        cols.push(first);
    }
    Ok(cols)
}
