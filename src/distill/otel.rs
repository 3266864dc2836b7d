//! OpenTelemetry database spans, flattened to a JSON array of
//! `{"t_start_ns", "t_end_ns", "statement_hash", "db_system"?}`: plan regression
//! per statement hash, against the mean duration of its first three spans.
//!
//! Needs the whole trace: each hash's baseline is made of its three earliest
//! spans, and the output is sorted by time. Spans are decoded one at a time.

use super::buffered::Held;
use super::formulas::{frozen_baseline, latency_residual};
use super::json_array::{Elements, Event};
use super::names::Names;
use super::tabular::Reject;
use super::time_order::sort_by_time;
use super::{Adapter, DistillError, Out, ResidualClass};
use motifd_engine::RejectReason;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::{self, Read};

/// Spans per statement hash that make its baseline.
const BASELINE_SPANS: usize = 3;
/// Shorter spans are ignored (the reference's guard; any span of 1 ns or
/// more passes it).
const MIN_DURATION_MS: f64 = 1e-6;

/// One span as the reference decodes it (same field types, so the same
/// elements decode).
#[derive(Deserialize)]
struct Span<'a> {
    t_start_ns: i128,
    t_end_ns: i128,
    #[serde(borrow)]
    statement_hash: Cow<'a, str>,
    #[serde(default, borrow)]
    #[allow(dead_code)] // decoded only so that a non-string is refused as there
    db_system: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, Copy)]
struct Timed {
    t: f64,
    hash: u32,
    duration_ms: f64,
}

#[derive(Default)]
pub(crate) struct Otel {
    spans: Vec<Timed>,
    names: Names,
    /// Start of the first span kept: the origin of the time axis.
    t0: Option<i128>,
}

impl Adapter for Otel {
    fn read(&mut self, input: &mut dyn Read, out: &mut Out<'_>) -> Result<(), DistillError> {
        let mut elements = Elements::new(out.max_record);
        let mut handle = |event: Event<'_>| -> Result<(), DistillError> {
            let (line, reject) = match event {
                Event::Element { line, text } => {
                    out.row();
                    match self.span(text) {
                        Ok(()) => return Ok(()),
                        Err(r) => (line, r),
                    }
                }
                Event::TooLong { line } => {
                    out.row();
                    let detail = format!("the span is longer than {} bytes", out.max_record);
                    (line, Reject::new(RejectReason::LineTooLong, detail))
                }
                Event::Broken { line, what } => (line, Reject::new(RejectReason::Malformed, what)),
                Event::NotAnArray { what } => return Err(out.invalid(what)),
            };
            out.reject(Some(line), reject.reason, &reject.detail)?;
            Ok(())
        };
        let mut buf = vec![0u8; 256 << 10];
        let read_error = loop {
            match input.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => elements.feed(&buf[..n], &mut handle)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        if let Some(e) = read_error {
            return Err(DistillError::Io {
                input: out.input.to_string(),
                error: e,
            });
        }
        elements.finish(&mut handle)
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        let rank = self.names.ranks();
        // By hash in byte order, file order within a hash; then by time (stable).
        self.spans.sort_by_key(|s| rank[s.hash as usize]);
        let mut held = Held::default();
        for group in self.spans.chunk_by_mut(|a, b| a.hash == b.hash) {
            if group.len() <= BASELINE_SPANS {
                continue;
            }
            sort_by_time(group, |s| s.t);
            let baseline = frozen_baseline(group.iter().map(|s| s.duration_ms), BASELINE_SPANS);
            let channel = held.channels.id(self.names.name(group[0].hash));
            for s in &group[BASELINE_SPANS..] {
                let r = latency_residual(s.duration_ms, baseline);
                held.push_id(s.t, ResidualClass::PlanRegression, channel, r);
            }
        }
        held.flush(out)?;
        Ok(())
    }
}

impl Otel {
    fn span(&mut self, text: &[u8]) -> Result<(), Reject> {
        let span: Span<'_> = serde_json::from_slice(text).map_err(|e| decode_error(text, &e))?;
        let out_of_range = || Reject::new(RejectReason::Malformed, "nanosecond times out of range");
        let duration_ns = span
            .t_end_ns
            .checked_sub(span.t_start_ns)
            .ok_or_else(out_of_range)?;
        if duration_ns <= 0 {
            return Err(Reject::new(
                RejectReason::Malformed,
                format!("the span does not end after it starts ({duration_ns} ns)"),
            ));
        }
        let duration_ms = duration_ns as f64 / 1e6;
        if !(duration_ms >= MIN_DURATION_MS && duration_ms.is_finite()) {
            return Err(Reject::new(
                RejectReason::Malformed,
                format!("the span is shorter than {MIN_DURATION_MS} ms"),
            ));
        }
        let t = match self.t0 {
            Some(t0) => span.t_start_ns.checked_sub(t0).ok_or_else(out_of_range)? as f64 / 1e9,
            None => {
                self.t0 = Some(span.t_start_ns);
                0.0
            }
        };
        let hash = self.names.id(&span.statement_hash);
        self.spans.push(Timed {
            t,
            hash,
            duration_ms,
        });
        Ok(())
    }
}

fn decode_error(text: &[u8], e: &serde_json::Error) -> Reject {
    let reason = if std::str::from_utf8(text).is_err() {
        RejectReason::InvalidUtf8
    } else if e.to_string().starts_with("missing field") {
        RejectReason::MissingField
    } else {
        RejectReason::Malformed
    };
    // serde_json's position is within the element; the reject has the line.
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or_default();
    Reject::new(reason, format!("not a span: {message}"))
}
