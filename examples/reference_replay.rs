//! The reference side of the whole-process replay benchmark: parses the same
//! CSV into dsfb-database 0.1.1's `ResidualStream` and runs its
//! `MotifEngine::run`, so `hyperfine` can time it next to `motifd replay`.
//! `cargo run --release --example reference_replay -- FILE`

use dsfb_database::grammar::{MotifEngine, MotifGrammar};
use dsfb_database::residual::{ResidualClass, ResidualSample, ResidualStream};
use std::io::{BufRead, BufReader};

fn class(name: &str) -> Option<ResidualClass> {
    ResidualClass::ALL.into_iter().find(|c| c.name() == name)
}

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: reference_replay FILE");
    let started = std::time::Instant::now();
    let mut stream = ResidualStream::new(path.clone());
    let mut lines = BufReader::with_capacity(1 << 20, std::fs::File::open(&path)?).lines();
    lines.next(); // header
    for line in lines {
        let line = line?;
        let mut f = line.split(',');
        let (Some(t), Some(c), Some(ch), Some(v)) = (f.next(), f.next(), f.next(), f.next()) else {
            continue;
        };
        let (Ok(t), Some(c), Ok(v)) = (t.parse::<f64>(), class(c), v.parse::<f64>()) else {
            continue;
        };
        let mut s = ResidualSample::new(t, c, v);
        if !ch.is_empty() {
            s = s.with_channel(ch);
        }
        stream.push(s);
    }
    stream.sort();
    let episodes = MotifEngine::new(MotifGrammar::default()).run(&stream);
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "reference: {} samples, {} episodes in {secs:.3} s ({:.2} M samples/s)",
        stream.len(),
        episodes.len(),
        stream.len() as f64 / secs / 1e6
    );
    Ok(())
}
