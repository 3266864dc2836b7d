//! Any CSV with a header, a time column and a value column (and optionally a
//! channel column): plan-regression residuals per channel against the mean of
//! its first three values (or the values as they are, `--pre-residualized`).
//!
//! Needs the whole trace: each channel's baseline is made of its three
//! earliest rows, and the output is sorted by time.

use super::buffered::Held;
use super::csv_rows::{CsvRecords, Item, Record};
use super::formulas::{frozen_baseline, latency_residual};
use super::names::Names;
use super::time_order::sort_by_time;
use super::{Adapter, DistillError, Out, ResidualClass};
use motifd_engine::RejectReason;
use std::io::Read;

const BASELINE_ROWS: usize = 3;
/// Channel of every row when there is no channel column.
const DEFAULT_CHANNEL: &str = "generic";

/// Column choices of the generic format (default: detected from the header).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenericOptions {
    /// The time column, by name (ASCII case ignored).
    pub time_col: Option<String>,
    /// The value column, by name.
    pub value_col: Option<String>,
    /// The channel column, by name; a name the header lacks means no channel
    /// column (as in the reference).
    pub channel_col: Option<String>,
    /// Values are residuals already: emit them as they are, no baseline.
    pub pre_residualized: bool,
}

impl GenericOptions {
    /// True when nothing was chosen.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, Copy)]
struct Point {
    t: f64,
    value: f64,
    channel: u32,
}

/// Column indices of the current input.
#[derive(Debug, Clone, Copy)]
struct Columns {
    time: usize,
    value: usize,
    channel: Option<usize>,
}

pub(crate) struct Generic {
    options: GenericOptions,
    points: Vec<Point>,
    channels: Names,
    /// Rows of the right shape, parseable or not (the reference counts these).
    records: u64,
}

impl Generic {
    pub(crate) fn new(options: GenericOptions) -> Self {
        Self {
            options,
            points: Vec::new(),
            channels: Names::default(),
            records: 0,
        }
    }
}

impl Adapter for Generic {
    fn read(&mut self, input: &mut dyn Read, out: &mut Out<'_>) -> Result<(), DistillError> {
        let mut records = CsvRecords::new(input, out.max_record);
        let headers: Vec<String> = match records.next_record().map_err(|e| out.io(e))? {
            Some(Item::Record(h)) => h.fields().map(String::from).collect(),
            None => return Err(out.invalid("no header row")),
            Some(Item::TooLong(_)) => return Err(out.invalid("the header line is too long")),
            Some(Item::InvalidUtf8(_)) => return Err(out.invalid("the header is not valid UTF-8")),
        };
        let time = time_by_header(&headers, self.options.time_col.as_deref())
            .map_err(|m| out.invalid(m))?;
        let mut columns: Option<Columns> = None;
        while let Some(item) = records.next_record().map_err(|e| out.io(e))? {
            out.row();
            let record = match item {
                Item::Record(r) if r.len() == headers.len() => r,
                Item::Record(r) => {
                    let detail =
                        format!("{} fields where the header has {}", r.len(), headers.len());
                    out.reject(Some(r.line), RejectReason::Malformed, &detail)?;
                    continue;
                }
                Item::TooLong(line) => {
                    let detail = format!("the row is longer than {} bytes", out.max_record);
                    out.reject(Some(line), RejectReason::LineTooLong, &detail)?;
                    continue;
                }
                Item::InvalidUtf8(line) => {
                    out.reject(
                        Some(line),
                        RejectReason::InvalidUtf8,
                        "a field is not valid UTF-8",
                    )?;
                    continue;
                }
            };
            self.records += 1;
            let cols = match columns {
                Some(c) => c,
                None => {
                    let c = self
                        .columns(&headers, time, &record)
                        .map_err(|m| out.invalid(m))?;
                    *columns.insert(c)
                }
            };
            if let Err((reason, detail)) = self.point(&record, cols) {
                out.reject(Some(record.line), reason, &detail)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        if self.records < 2 {
            return Err(out.invalid(format!(
                "{} data rows; at least 2 are needed to compute a baseline",
                self.records
            )));
        }
        if self.points.is_empty() {
            return Err(out.invalid("no parseable (time, value) pairs"));
        }
        let rank = self.channels.ranks();
        // By channel in byte order, file order within a channel; then by time.
        self.points.sort_by_key(|p| rank[p.channel as usize]);
        let mut held = Held::default();
        for group in self.points.chunk_by_mut(|a, b| a.channel == b.channel) {
            sort_by_time(group, |p| p.t);
            let channel = held.channels.id(self.channels.name(group[0].channel));
            if self.options.pre_residualized {
                for p in group.iter() {
                    held.push_id(p.t, ResidualClass::PlanRegression, channel, p.value);
                }
                continue;
            }
            if group.len() <= BASELINE_ROWS {
                continue;
            }
            let baseline = frozen_baseline(group.iter().map(|p| p.value), BASELINE_ROWS);
            for p in &group[BASELINE_ROWS..] {
                let r = latency_residual(p.value, baseline);
                held.push_id(p.t, ResidualClass::PlanRegression, channel, r);
            }
        }
        if held.samples.is_empty() {
            return Err(out.invalid(format!(
                "no residuals: every channel has {BASELINE_ROWS} rows or fewer"
            )));
        }
        held.flush(out)?;
        Ok(())
    }
}

impl Generic {
    /// The columns of this input, decided at its first data row (the time
    /// column may be the first one whose value parses as a number).
    fn columns(
        &self,
        headers: &[String],
        time: Option<usize>,
        first: &Record<'_>,
    ) -> Result<Columns, String> {
        let time = match time {
            Some(t) => t,
            None => first
                .fields()
                .position(|cell| cell.trim().parse::<f64>().is_ok())
                .ok_or_else(|| {
                    format!("no time column found in {headers:?}; choose one with --time-col")
                })?,
        };
        let value = value_column(headers, time, self.options.value_col.as_deref())?;
        let channel = match self.options.channel_col.as_deref() {
            Some(name) => find(headers, name),
            None => headers.iter().position(|h| {
                let lo = h.to_ascii_lowercase();
                ["channel", "qclass", "group", "series"].contains(&lo.as_str())
            }),
        };
        Ok(Columns {
            time,
            value,
            channel,
        })
    }

    fn point(&mut self, record: &Record<'_>, cols: Columns) -> Result<(), (RejectReason, String)> {
        let number = |i: usize, what: &str| -> Result<f64, (RejectReason, String)> {
            let text = record.get(i).trim();
            let v = text.parse::<f64>().map_err(|_| match text {
                "" => (RejectReason::MissingField, format!("the {what} is empty")),
                _ => (
                    RejectReason::Malformed,
                    format!(
                        "the {what} is not a number: {:?}",
                        super::tabular::preview(text)
                    ),
                ),
            })?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err((RejectReason::NonFinite, format!("the {what} is {v}")))
            }
        };
        let t = number(cols.time, "time")?;
        let value = number(cols.value, "value")?;
        let channel = match cols.channel {
            Some(i) => self.channels.id(record.get(i)),
            None => self.channels.id(DEFAULT_CHANNEL),
        };
        self.points.push(Point { t, value, channel });
        Ok(())
    }
}

fn find(headers: &[String], name: &str) -> Option<usize> {
    headers.iter().position(|h| h.eq_ignore_ascii_case(name))
}

/// The time column by name: the one chosen, else the first header containing
/// `t` (which covers `time`, `timestamp` and `ts` — and `count`, `latency`…);
/// `None` when the first data row must decide.
fn time_by_header(headers: &[String], chosen: Option<&str>) -> Result<Option<usize>, String> {
    if let Some(name) = chosen {
        return find(headers, name)
            .map(Some)
            .ok_or_else(|| format!("--time-col {name:?} is not in the header {headers:?}"));
    }
    Ok(headers
        .iter()
        .position(|h| h.to_ascii_lowercase().contains('t')))
}

/// The value column: the one chosen, else the first header other than the
/// time column and the key-like names that contains a value-like word (`v`
/// and `y` among them), else the first other one.
fn value_column(headers: &[String], time: usize, chosen: Option<&str>) -> Result<usize, String> {
    if let Some(name) = chosen {
        return find(headers, name)
            .ok_or_else(|| format!("--value-col {name:?} is not in the header {headers:?}"));
    }
    const KEYS: [&str; 8] = [
        "id", "key", "uuid", "hash", "channel", "group", "qclass", "series",
    ];
    const VALUES: [&str; 7] = ["value", "residual", "latency", "metric", "amount", "v", "y"];
    let candidates = || {
        headers
            .iter()
            .enumerate()
            .filter(move |&(i, _)| i != time)
            .map(|(i, h)| (i, h.to_ascii_lowercase()))
            .filter(|(_, lo)| !KEYS.contains(&lo.as_str()))
    };
    candidates()
        .find(|(_, lo)| VALUES.iter().any(|v| lo.contains(v)))
        .or_else(|| candidates().next())
        .map(|(i, _)| i)
        .ok_or_else(|| format!("no value column found in {headers:?}; choose one with --value-col"))
}
