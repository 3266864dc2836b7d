//! The sample as the hot path sees it: two floats and two small ids.
//!
//! Names (class, channel) are interned on the way in (see [`crate::intern`] and
//! [`crate::grammar::Grammar::class_id`]) so that staging, ordering and the motif
//! step never hash, compare or clone a string.

/// Index of a residual class in the grammar's class table.
pub type ClassId = u16;

/// Index of a channel name in the [`crate::intern::ChannelNames`] table.
pub type ChannelId = u32;

/// Channel id of samples that name no channel. Always interned first.
pub const ANONYMOUS: ChannelId = 0;

/// Name under which samples without a channel are grouped.
pub const ANONYMOUS_NAME: &str = "_anonymous_";

/// One residual sample: `value = actual − expected` at event time `t`.
///
/// Invariant (kept by every parser and checked by [`Sample::is_valid`]): `t` and
/// `value` are finite, and `t` is never `-0.0` (it is normalised to `+0.0` so that
/// equal times always order as ties).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Event time in seconds (Unix seconds or any monotone logical clock).
    pub t: f64,
    /// The residual.
    pub value: f64,
    /// Residual class (grammar class id).
    pub class: ClassId,
    /// Channel the residual is about.
    pub channel: ChannelId,
}

impl Sample {
    /// Builds a sample, normalising `-0.0` in `t` to `+0.0`.
    #[inline]
    pub fn new(t: f64, class: ClassId, channel: ChannelId, value: f64) -> Self {
        Self {
            t: t + 0.0,
            value,
            class,
            channel,
        }
    }

    /// True when both floats are finite: the only samples the engine accepts.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.t.is_finite() && self.value.is_finite()
    }
}
