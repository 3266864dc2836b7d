//! The output side every adapter writes to: it counts rows, residuals and
//! rejects, refuses non-finite residuals, and forwards the rest to the sink.

use super::{DistillError, Rejected, Residual, ResidualClass, Sink, Stats, Stop};
use motifd_engine::RejectReason;
use std::io;

/// The output side an adapter writes to: counts, checks and forwards.
pub(crate) struct Out<'a> {
    sink: &'a mut dyn Sink,
    /// The input's name, for rejects and errors.
    pub(super) input: &'a str,
    stats: &'a mut Stats,
    /// The longest row or record an adapter accepts, bytes.
    pub(super) max_record: usize,
}

impl<'a> Out<'a> {
    pub(super) fn new(
        sink: &'a mut dyn Sink,
        input: &'a str,
        stats: &'a mut Stats,
        max_record: usize,
    ) -> Self {
        Self {
            sink,
            input,
            stats,
            max_record,
        }
    }

    /// Hands out one residual; a non-finite one (overflow in the formula on
    /// extreme inputs) is refused and counted instead — the engine cannot take it.
    pub(super) fn emit(
        &mut self,
        t: f64,
        class: ResidualClass,
        channel: &str,
        value: f64,
    ) -> Result<(), Stop> {
        if !(t.is_finite() && value.is_finite()) {
            let detail = format!(
                "{} residual on channel {channel:?} is not finite (t={t}, value={value})",
                class.name()
            );
            return self.reject(None, RejectReason::NonFinite, &detail);
        }
        self.stats.residuals[class.index()] += 1;
        self.sink.residual(Residual {
            t,
            class,
            channel,
            value,
        })
    }

    /// Counts one input row.
    pub(super) fn row(&mut self) {
        self.stats.rows += 1;
    }

    /// Counts and forwards one reject.
    pub(super) fn reject(
        &mut self,
        line: Option<u64>,
        reason: RejectReason,
        detail: &str,
    ) -> Result<(), Stop> {
        self.stats.rejected.add(reason);
        self.sink.reject(Rejected {
            input: self.input,
            line,
            reason,
            detail,
        })
    }

    pub(super) fn invalid(&self, message: impl Into<String>) -> DistillError {
        DistillError::Invalid {
            input: self.input.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn io(&self, error: io::Error) -> DistillError {
        DistillError::Io {
            input: self.input.to_string(),
            error,
        }
    }
}
