//! Byte-level encoding of checkpoints: little-endian fixed-width integers,
//! floats as their IEEE-754 bits (so every value, NaN payloads included,
//! survives exactly), and length-prefixed sequences.
//!
//! The reader never trusts a length: before allocating for `n` elements it
//! checks that the remaining input can hold them, so a corrupt length fails
//! with a message instead of asking for gigabytes.

use crate::intern::Interner;
use crate::sample::{ChannelId, Sample};
use motifd_histogram::FixedHistogram;
use std::fmt;

/// Why a checkpoint could not be restored. Every message says what was being
/// read, so an operator can tell a truncated file from a foreign one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// The file does not start with the checkpoint magic: not a checkpoint.
    NotACheckpoint,
    /// Written by a format this build does not read.
    UnsupportedVersion(u32),
    /// Fewer bytes than the header announces (or than a header needs).
    Truncated {
        /// Bytes the header (or the field being read) needs.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The body does not match its checksum: the file was damaged.
    ChecksumMismatch {
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum of the body as read.
        computed: u32,
    },
    /// The body decodes but describes an impossible state.
    Malformed(String),
    /// The checkpoint was written under a different configuration.
    ConfigChanged(String),
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotACheckpoint => f.write_str("not a motifd checkpoint (bad magic)"),
            Self::UnsupportedVersion(v) => write!(
                f,
                "checkpoint format version {v} is not supported by this build (it reads version {})",
                super::FORMAT_VERSION
            ),
            Self::Truncated { expected, actual } => write!(
                f,
                "checkpoint truncated: {actual} bytes where {expected} are needed"
            ),
            Self::ChecksumMismatch { stored, computed } => write!(
                f,
                "checkpoint damaged: body checksum {computed:#010x} does not match the stored {stored:#010x}"
            ),
            Self::Malformed(what) => write!(f, "checkpoint malformed: {what}"),
            Self::ConfigChanged(what) => write!(
                f,
                "checkpoint was written under a different configuration: {what}"
            ),
        }
    }
}

impl std::error::Error for CheckpointError {}

/// Largest count a checkpoint may hold (see [`Reader::counter`]).
const MAX_COUNTER: u64 = 1 << 58;

/// Shorthand for a [`CheckpointError::Malformed`].
pub(crate) fn malformed(what: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(what.into())
}

/// Appends encoded values to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Each of `values`, in order.
    pub fn u64s(&mut self, values: impl IntoIterator<Item = u64>) {
        for v in values {
            self.u64(v);
        }
    }

    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// A length or count. Every in-memory length fits in `u64`.
    pub fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }

    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }
}

/// Reads encoded values back, failing with the name of the field that ran
/// past the end.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], CheckpointError> {
        let rest = self.buf.len() - self.pos;
        if n > rest {
            return Err(malformed(format!(
                "{what}: needs {n} bytes at offset {}, {rest} left",
                self.pos
            )));
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], CheckpointError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, CheckpointError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &str) -> Result<u16, CheckpointError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, CheckpointError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, CheckpointError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A counter. Counts are bounded by what a process can reach (2^58), so
    /// sums of restored counters and the increments that follow can never
    /// overflow; a larger value is corruption.
    pub fn counter(&mut self, what: &str) -> Result<u64, CheckpointError> {
        let v = self.u64(what)?;
        if v > MAX_COUNTER {
            return Err(malformed(format!(
                "{what}: count {v} is beyond any real run"
            )));
        }
        Ok(v)
    }

    pub fn f64(&mut self, what: &str) -> Result<f64, CheckpointError> {
        Ok(f64::from_bits(self.u64(what)?))
    }

    /// A count of elements of at least `min_size` bytes each, checked against
    /// the bytes left so a corrupt count cannot trigger a huge allocation.
    pub fn len(&mut self, what: &str, min_size: usize) -> Result<usize, CheckpointError> {
        let n = self.u64(what)?;
        let rest = (self.buf.len() - self.pos) as u64;
        match usize::try_from(n) {
            Ok(n) if (n as u64).saturating_mul(min_size.max(1) as u64) <= rest => Ok(n),
            _ => Err(malformed(format!(
                "{what}: count {n} cannot fit in the {rest} bytes left"
            ))),
        }
    }

    pub fn str(&mut self, what: &str) -> Result<&'a str, CheckpointError> {
        let n = self.len(what, 1)?;
        std::str::from_utf8(self.take(n, what)?)
            .map_err(|_| malformed(format!("{what}: not UTF-8")))
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), CheckpointError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(malformed(format!(
                "{} unexpected bytes after the last field",
                self.buf.len() - self.pos
            )))
        }
    }
}

/// Shorthand for the result of a decoder.
pub(crate) type Decoded<T> = Result<T, CheckpointError>;

/// What a decoder checks ids against: the grammar's classes and the channel
/// names the checkpoint carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known<'a> {
    /// Classes of the grammar.
    pub classes: usize,
    /// Channel names of the checkpoint.
    pub names: &'a Interner,
}

impl Known<'_> {
    /// Fails unless `channel` has a name.
    pub fn channel(&self, channel: ChannelId, what: &str) -> Decoded<()> {
        if self.names.contains(channel) {
            Ok(())
        } else {
            Err(malformed(format!(
                "{what}: channel {channel} has no name in the checkpoint"
            )))
        }
    }

    /// Fails unless the sample's class and channel exist.
    pub fn sample(&self, s: &Sample, what: &str) -> Decoded<()> {
        if s.class as usize >= self.classes {
            return Err(malformed(format!(
                "{what}: class {} does not exist",
                s.class
            )));
        }
        self.channel(s.channel, what)
    }
}

/// Bytes of one encoded sample.
pub(crate) const SAMPLE_BYTES: usize = 8 + 8 + 4 + 2;

impl Writer {
    /// A sample: `t`, value, channel, class.
    pub fn sample(&mut self, s: &Sample) {
        self.f64(s.t);
        self.f64(s.value);
        self.u32(s.channel);
        self.u16(s.class);
    }

    /// A histogram: its non-cumulative counts and its sum.
    pub fn histogram(&mut self, h: &FixedHistogram) {
        self.len(h.per_bucket().len());
        for &c in h.per_bucket() {
            self.u64(c);
        }
        self.f64(h.sum());
    }
}

impl Reader<'_> {
    /// A sample as [`Writer::sample`] wrote it, checked to hold the
    /// invariant of [`Sample`] (finite, `t` never `-0.0`).
    pub fn sample(&mut self, what: &str) -> Decoded<Sample> {
        let s = Sample {
            t: self.f64(what)?,
            value: self.f64(what)?,
            channel: self.u32(what)?,
            class: self.u16(what)?,
        };
        if !s.is_valid() || s.t.to_bits() == (-0.0f64).to_bits() {
            return Err(malformed(format!(
                "{what}: sample at t = {} with value {} is not finite",
                s.t, s.value
            )));
        }
        Ok(s)
    }

    /// A histogram over `bounds` as [`Writer::histogram`] wrote it.
    pub fn histogram(&mut self, bounds: &'static [f64], what: &str) -> Decoded<FixedHistogram> {
        let n = self.len(what, 8)?;
        let counts = (0..n)
            .map(|_| self.counter(what))
            .collect::<Decoded<Vec<_>>>()?;
        let sum = self.f64(what)?;
        FixedHistogram::from_parts(bounds, counts, sum)
            .map_err(|e| malformed(format!("{what}: {e}")))
    }

    /// An event time that is finite or −∞ (nothing seen yet).
    pub fn event_time(&mut self, what: &str) -> Decoded<f64> {
        let t = self.f64(what)?;
        if t.is_finite() || t == f64::NEG_INFINITY {
            Ok(t)
        } else {
            Err(malformed(format!("{what}: {t} is not an event time")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_bit_for_bit() {
        let mut w = Writer::default();
        w.u8(7);
        w.u16(0xBEEF);
        w.u32(u32::MAX);
        w.u64(1 << 60);
        w.f64(-0.0);
        w.f64(f64::from_bits(0x7FF8_0000_0000_0001));
        w.str("q1 — ü");
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u16("b").unwrap(), 0xBEEF);
        assert_eq!(r.u32("c").unwrap(), u32::MAX);
        assert_eq!(r.u64("d").unwrap(), 1 << 60);
        assert_eq!(r.f64("e").unwrap().to_bits(), (-0.0f64).to_bits());
        assert_eq!(r.f64("f").unwrap().to_bits(), 0x7FF8_0000_0000_0001);
        assert_eq!(r.str("g").unwrap(), "q1 — ü");
        r.finish().unwrap();
    }

    #[test]
    fn a_short_read_names_the_field() {
        let mut r = Reader::new(&[1, 2, 3]);
        let err = r.u64("watermark").unwrap_err();
        assert!(err.to_string().contains("watermark"), "{err}");
    }

    #[test]
    fn a_huge_count_is_refused_before_allocating() {
        let mut w = Writer::default();
        w.u64(u64::MAX / 2);
        let err = Reader::new(&w.buf).len("slots", 8).unwrap_err();
        assert!(err.to_string().contains("slots"), "{err}");
    }
}
