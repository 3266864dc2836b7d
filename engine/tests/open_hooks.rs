//! The sink's opening and discard hooks: every opened episode ends exactly once,
//! either reported (closed) or discarded, and what the hooks say is open is
//! what the engine says is open, at every step.

use motifd_engine::{EngineLimits, Episode, EpisodeSink, Grammar, MotifEngine, MotifId, Sample};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Default)]
struct Tracking {
    open: BTreeMap<(MotifId, u32), f64>,
    closed: u64,
    discarded: u64,
    opened: u64,
    errors: Vec<String>,
}

impl EpisodeSink for Tracking {
    fn episode(&mut self, e: &Episode) {
        self.closed += 1;
        match self.open.remove(&(e.motif, e.channel)) {
            Some(t) if t == e.t_start => {}
            other => self
                .errors
                .push(format!("closed {e:?}, hooks had {other:?}")),
        }
    }
    fn opened(&mut self, motif: MotifId, channel: u32, t_start: f64) {
        self.opened += 1;
        if self.open.insert((motif, channel), t_start).is_some() {
            self.errors.push(format!("opened twice: {motif} {channel}"));
        }
    }
    fn discarded(&mut self, motif: MotifId, channel: u32) {
        self.discarded += 1;
        if self.open.remove(&(motif, channel)).is_none() {
            self.errors
                .push(format!("discarded what was not open: {motif} {channel}"));
        }
    }
}

#[test]
fn hooks_track_what_the_engine_holds_open() {
    let grammar = Arc::new(Grammar::default());
    let limits = EngineLimits {
        channel_ttl: Some(40.0),
        max_channels: 1000,
    };
    let mut engine = MotifEngine::new(Arc::clone(&grammar), limits);
    let mut sink = Tracking::default();
    let mut x: u64 = 12345;
    for i in 0..20_000u32 {
        // A small LCG: bursts above every envelope on a few channels at a time.
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let channel = (x >> 33) as u32 % 7 + 1;
        let class = ((x >> 40) % grammar.classes().len() as u64) as u16;
        let burst = (i / 300 + channel) % 5 == 0;
        let v = if burst {
            2.0
        } else {
            ((x >> 20) % 100) as f64 * 1e-4
        };
        // Channel 7 goes quiet for a while now and then: evicted by the TTL.
        if channel == 7 && (i / 2000) % 2 == 1 {
            continue;
        }
        engine.process(
            &Sample::new(f64::from(i) * 0.05, class, channel, v),
            &mut sink,
        );
        if i % 97 == 0 {
            let mut held: Vec<(MotifId, u32, f64)> = engine.open_episodes();
            held.sort_by_key(|a| (a.0, a.1));
            let hooks: Vec<(MotifId, u32, f64)> =
                sink.open.iter().map(|(&(m, c), &t)| (m, c, t)).collect();
            assert_eq!(held, hooks, "after sample {i}");
            let stats: u64 = (0..grammar.motifs().len())
                .map(|m| engine.stats(m as MotifId).open)
                .sum();
            assert_eq!(stats, hooks.len() as u64);
        }
    }
    engine.finish(&mut sink);
    assert!(
        sink.errors.is_empty(),
        "{:?}",
        &sink.errors[..sink.errors.len().min(5)]
    );
    assert!(sink.open.is_empty());
    assert!(sink.closed > 10 && sink.opened == sink.closed + sink.discarded);
    assert!(sink.discarded > 0, "the discard path was exercised");
    assert!(
        engine.counters().channels_evicted > 0,
        "the TTL path was exercised"
    );
}
