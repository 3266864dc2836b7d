//! Writes a large, seeded, time-ordered residual file for whole-process
//! benchmarks:
//! `cargo run --release --example bench_csv -- OUT [SAMPLES] [CHANNELS] [csv|jsonl] [short|full]`.
//!
//! Samples are 1 ms apart in event time, channels round-robin across the five
//! default classes, small noise plus regular steps so every motif has work.
//! Values have four decimals (`short`, the default) or all the digits `ryu`
//! writes for an unrounded `f64`, up to 17 (`full`). `jsonl` writes the same
//! records as JSON lines.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .expect("usage: bench_csv OUT [SAMPLES] [CHANNELS] [csv|jsonl] [short|full]");
    let samples: u64 = args
        .next()
        .map_or(10_000_000, |s| s.parse().expect("SAMPLES"));
    let channels: u64 = args.next().map_or(1_000, |s| s.parse().expect("CHANNELS"));
    let jsonl = args.next().is_some_and(|f| f == "jsonl");
    let full = args.next().is_some_and(|d| d == "full");
    // The five classes of the default grammar, in its order.
    let classes = motifd_engine::Grammar::default().classes().to_vec();
    let mut rng = Pcg64::seed_from_u64(42);
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&out)?);
    if !jsonl {
        writeln!(w, "t,class,channel,value")?;
    }
    let mut t_buf = ryu::Buffer::new();
    let mut v_buf = ryu::Buffer::new();
    for i in 0..samples {
        let c = i % channels;
        let t = 1_700_000_000.0 + i as f64 * 0.001;
        let step = if (i / 200_000) % 7 == 3 { 0.8 } else { 0.0 };
        let noise = rng.gen_range(-0.1..0.1) + step;
        let v = if full {
            noise
        } else {
            (noise * 1e4_f64).round() / 1e4
        };
        let (t, class, v) = (
            t_buf.format(t),
            &classes[(c % classes.len() as u64) as usize],
            v_buf.format(v),
        );
        if jsonl {
            writeln!(
                w,
                r#"{{"t":{t},"class":"{class}","channel":"q{c}","value":{v}}}"#
            )?;
        } else {
            writeln!(w, "{t},{class},q{c},{v}")?;
        }
    }
    w.flush()
}
