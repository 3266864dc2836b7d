//! Bad input never panics the trace adapters and never makes them hand out a
//! non-finite residual: seeded traces of every format, mutated byte by byte
//! (quotes, separators, line ends, digits, invalid UTF-8, cuts), read with a
//! small row bound and in small reads.

#[path = "../examples/trace_gen/formats.rs"]
mod formats;

use motifd::distill::{distill_all, Options, TraceFormat};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::io::Read;

/// Hands out at most 7 bytes per read: chunk boundaries everywhere.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(buf.len()).min(7);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn mutate(rng: &mut Pcg64, bytes: &mut Vec<u8>) {
    const PIECES: [&[u8]; 12] = [
        b"\"",
        b",",
        b"\n",
        b"\r",
        b"\xff",
        b"\xc3",
        b"NaN",
        b"inf",
        b"-",
        b"{",
        b"]",
        b"________________________________________",
    ];
    for _ in 0..rng.gen_range(1..8) {
        if bytes.is_empty() {
            return;
        }
        let at = rng.gen_range(0..bytes.len());
        match rng.gen_range(0..4) {
            0 => bytes[at] = rng.gen(),
            1 => {
                let piece = PIECES[rng.gen_range(0..PIECES.len())];
                bytes.splice(at..at, piece.iter().copied());
            }
            2 => {
                let end = (at + rng.gen_range(1..20)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => bytes.truncate(at),
        }
    }
}

#[test]
fn mutated_traces_never_panic_or_give_non_finite_residuals() {
    let mut rng = Pcg64::seed_from_u64(20);
    let mut runs = 0;
    for format in TraceFormat::ALL {
        let rows = if format == TraceFormat::SqlshareText {
            700
        } else {
            60
        };
        for case in 0..40 {
            let trace = formats::generate(format.name(), 1000 + case, rows, case % 2 == 0);
            let (mut bytes, _) = trace.render(|_| true);
            mutate(&mut rng, &mut bytes);
            let options = Options {
                max_record: 300,
                ..Options::default()
            };
            let inputs = [("trace".to_string(), Trickle(&bytes))];
            // An error (not the format at all) is an answer too; a panic is not.
            if let Ok(got) = distill_all(format, &options, inputs) {
                for (t, class, channel, v) in &got.residuals {
                    assert!(
                        t.is_finite() && v.is_finite(),
                        "{format} case {case}: {t} {class:?} {channel} {v}"
                    );
                }
                let counted = got.stats.rejected.total() as usize;
                assert_eq!(
                    counted,
                    got.rejects.len(),
                    "{format} case {case}: every reject counted once"
                );
            }
            runs += 1;
        }
    }
    assert_eq!(runs, 9 * 40);
}
