//! Why an input record was rejected: a closed set, so it can label a metric.

use std::fmt;

/// Reason a record was rejected before reaching the reorder buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not a record of the expected shape (bad syntax, wrong field count, a
    /// number that does not parse).
    Malformed,
    /// A required field (`t`, `class`, `value`) is absent or empty.
    MissingField,
    /// `t` or `value` is NaN or infinite.
    NonFinite,
    /// No motif of the grammar watches this class.
    UnknownClass,
    /// The class or channel is not valid UTF-8.
    InvalidUtf8,
    /// The line exceeds the configured maximum length.
    LineTooLong,
    /// The sample was far ahead of the stream (more than `max_future_jump`)
    /// and the stream did not follow it (docs/semantics.md#far-future-samples).
    FutureTime,
}

impl RejectReason {
    /// Every reason, in label order.
    pub const ALL: [RejectReason; 7] = [
        Self::Malformed,
        Self::MissingField,
        Self::NonFinite,
        Self::UnknownClass,
        Self::InvalidUtf8,
        Self::LineTooLong,
        Self::FutureTime,
    ];

    /// Number of reasons.
    pub const COUNT: usize = Self::ALL.len();

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::MissingField => "missing_field",
            Self::NonFinite => "non_finite",
            Self::UnknownClass => "unknown_class",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::LineTooLong => "line_too_long",
            Self::FutureTime => "future_time",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rejection counts by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounts([u64; RejectReason::COUNT]);

impl RejectCounts {
    /// Counts one rejection.
    #[inline]
    pub fn add(&mut self, reason: RejectReason) {
        self.0[reason.index()] += 1;
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &RejectCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// Sets the count of one reason (a checkpoint being restored).
    pub(crate) fn set(&mut self, reason: RejectReason, n: u64) {
        self.0[reason.index()] = n;
    }

    /// Count for one reason.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.0[reason.index()]
    }

    /// Sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(reason, count)` in label order.
    pub fn iter(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL.iter().map(|&r| (r, self.get(r)))
    }

    /// Resets every count to zero.
    pub fn clear(&mut self) {
        self.0 = [0; RejectReason::COUNT];
    }
}
