//! Residuals held until the trace ends. The reference builds a whole stream,
//! then sorts it by time with a stable sort; the formats that need the whole
//! trace collect their residuals in the reference's emission order here and
//! hand them out through the same stable sort, so ties keep the same order.

use super::names::Names;
use super::time_order::sort_by_time;
use super::{Out, ResidualClass, Stop};

/// One residual waiting for the end of the trace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub(crate) t: f64,
    pub(crate) value: f64,
    pub(crate) channel: u32,
    pub(crate) class: ResidualClass,
}

/// Residuals in emission order, channels as ids into `names`.
#[derive(Debug, Default)]
pub(crate) struct Held {
    pub(crate) samples: Vec<Pending>,
    pub(crate) channels: Names,
}

impl Held {
    /// Adds a residual on channel `channel`.
    pub(crate) fn push(&mut self, t: f64, class: ResidualClass, channel: &str, value: f64) {
        let channel = self.channels.id(channel);
        self.push_id(t, class, channel, value);
    }

    /// Adds a residual on an already interned channel.
    pub(crate) fn push_id(&mut self, t: f64, class: ResidualClass, channel: u32, value: f64) {
        self.samples.push(Pending {
            t,
            value,
            channel,
            class,
        });
    }

    /// Sorts by time (stable, ties in emission order) and hands everything out.
    pub(crate) fn flush(&mut self, out: &mut Out<'_>) -> Result<(), Stop> {
        sort_by_time(&mut self.samples, |s| s.t);
        for s in self.samples.drain(..) {
            out.emit(s.t, s.class, self.channels.name(s.channel), s.value)?;
        }
        Ok(())
    }
}
