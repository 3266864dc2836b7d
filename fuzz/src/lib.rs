//! Support shared by the fuzz targets: a reader that decodes structured values
//! from the fuzzer's bytes, and record-parser checks common to CSV and JSON.
#![forbid(unsafe_code)]

use motifd_engine::{ChannelNames, Grammar, Sample};

/// Decodes values from the front of the input. Running out of bytes yields
/// zeros, so every input decodes to something and short inputs stay short.
pub struct Bytes<'a> {
    rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// True once every byte has been taken.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0,
        }
    }

    /// Little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// Little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// Any `f64`, NaN and infinities included.
    pub fn f64_bits(&mut self) -> f64 {
        f64::from_bits(self.u64())
    }

    /// Up to `max` bytes.
    pub fn take(&mut self, max: usize) -> &'a [u8] {
        let n = max.min(self.rest.len());
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        head
    }
}

/// What every sample a record parser returns must satisfy, whatever the line.
///
/// # Panics
/// When the sample breaks the parser's contract: a non-finite float, `t` of
/// `-0.0`, a class outside the grammar's table or a channel the name table
/// does not know.
pub fn check_sample(s: &Sample, grammar: &Grammar, names: &ChannelNames) {
    assert!(s.is_valid(), "non-finite sample {s:?}");
    assert!(
        s.t.to_bits() != (-0.0f64).to_bits(),
        "t of -0.0 kept: {s:?}"
    );
    assert!(
        (s.class as usize) < grammar.classes().len(),
        "class id {} outside the grammar's {} classes",
        s.class,
        grammar.classes().len()
    );
    assert!(
        !grammar.motifs_of(s.class).is_empty(),
        "class {} has no motif",
        s.class
    );
    let table = names.lock();
    assert!(
        (s.channel as usize) < table.len(),
        "channel id {} not interned ({} names)",
        s.channel,
        table.len()
    );
}
