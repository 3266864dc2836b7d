//! Memory per tracked channel, engine state only and with name interning:
//! feeds 1M channels one sample each and reads the resident set from
//! /proc/self/status before and after.
//! `cargo run --release --example channel_memory -- [CHANNELS]`

use motifd_engine::{ChannelNames, EngineLimits, Episode, Grammar, MotifEngine, Sample};
use std::sync::Arc;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let channels: u32 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |v| v.parse().expect("CHANNELS"));
    let grammar = Arc::new(Grammar::default());
    let classes = grammar.classes().len() as u16;

    let before = rss_kb();
    let mut engine = MotifEngine::new(Arc::clone(&grammar), EngineLimits::default());
    let mut sink = |_: &Episode| {};
    for c in 0..channels {
        engine.process(
            &Sample::new(f64::from(c), (c % u32::from(classes)) as u16, c, 0.0),
            &mut sink,
        );
    }
    let engine_kb = rss_kb() - before;
    let tracked = engine.counters().channels_tracked;

    let before = rss_kb();
    let names = ChannelNames::default();
    let mut local = names.local();
    for c in 0..channels {
        local.intern(&format!("q{c}"));
    }
    let names_kb = rss_kb() - before;
    println!(
        "{tracked} tracked channels: engine state {:.0} bytes/channel, channel names (shared table + one producer cache) {:.0} bytes/channel",
        engine_kb as f64 * 1024.0 / tracked as f64,
        names_kb as f64 * 1024.0 / f64::from(channels)
    );
}
