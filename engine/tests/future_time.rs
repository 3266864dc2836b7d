//! The far-future guard through the pipeline (docs/semantics.md,
//! "Far-future samples"): a bad timestamp never moves the frontier, the
//! samples around it are processed as if it were not there, a stream that
//! really jumps loses nothing, the conservation law holds at every step, and
//! held samples survive a checkpoint.

use motifd_engine::checkpoint::{self, Fingerprint, Meta};
use motifd_engine::future::{CONFIRM, DEFAULT_MAX_FUTURE_JUMP, HOLD};
use motifd_engine::intern::Interner;
use motifd_engine::{Episode, Grammar, Pipeline, PipelineConfig, RejectReason, Sample};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::sync::Arc;

fn grammar() -> Arc<Grammar> {
    Arc::new(Grammar::default())
}

/// A jittered stream (±2 s on a 10 s window) over 20 channels and every
/// class, with bursts that open and close episodes.
fn stream(seed: u64, len: usize) -> Vec<Sample> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let classes = grammar().classes().len() as u16;
    (0..len)
        .map(|i| {
            let t = 1.7e9 + i as f64 * 0.1 + rng.gen_range(-2.0..2.0);
            let burst = (i / 150) % 4 == 0;
            let value = if burst {
                rng.gen_range(0.5..3.0)
            } else {
                rng.gen_range(-0.02..0.02)
            };
            Sample::new(t, rng.gen_range(0..classes), rng.gen_range(1..20), value)
        })
        .collect()
}

/// Runs `samples` through a pipeline, checking conservation after every
/// push; returns the episodes and the final counters.
fn run(samples: &[Sample]) -> (Vec<Episode>, Pipeline) {
    let mut p = Pipeline::new(grammar(), &PipelineConfig::default()).unwrap();
    let mut episodes = Vec::new();
    for (i, &s) in samples.iter().enumerate() {
        p.push(s, &mut |e: &Episode| episodes.push(*e));
        let c = p.counters();
        assert!(c.conserved(), "after sample {i}: {c:?}");
        assert!(
            p.reorder().newest() < 1e12,
            "after sample {i}: the frontier moved to {}",
            p.reorder().newest()
        );
    }
    p.finish(&mut |e: &Episode| episodes.push(*e));
    assert!(p.counters().conserved());
    (episodes, p)
}

#[test]
fn one_far_future_sample_anywhere_changes_nothing_but_a_count() {
    let clean = stream(1, 3000);
    let (expected, _) = run(&clean);
    assert!(expected.len() > 20, "{} episodes", expected.len());
    let mut rng = Pcg64::seed_from_u64(2);
    let mut positions = vec![0, 1, 3, CONFIRM - 1, CONFIRM, clean.len() / 2, clean.len()];
    positions.extend((0..20).map(|_| rng.gen_range(0..=clean.len())));
    for at in positions {
        let near = clean[at.min(clean.len() - 1)].t;
        for t in [
            1e300,
            near * 1000.0,
            near + 86_400.0,
            near + 3700.0,
            f64::MAX,
        ] {
            let mut poisoned = clean.clone();
            poisoned.insert(at, Sample::new(t, 2, 3, 0.7));
            let (episodes, p) = run(&poisoned);
            assert!(episodes == expected, "t = {t} at {at}: episodes differ");
            let c = p.counters();
            assert_eq!(
                c.rejected.get(RejectReason::FutureTime),
                1,
                "t = {t} at {at}"
            );
            assert_eq!(c.flushed, clean.len() as u64);
            assert_eq!((c.staged, c.time_jumps), (0, 0));
        }
    }
}

#[test]
fn a_stream_that_jumps_loses_nothing_and_is_confirmed_within_confirm_samples() {
    let mut samples = stream(3, 2000);
    for s in &mut samples[1000..] {
        s.t += 7.0 * 86_400.0;
    }
    let mut p = Pipeline::new(grammar(), &PipelineConfig::default()).unwrap();
    let mut sink = |_: &Episode| {};
    for (i, &s) in samples.iter().enumerate() {
        p.push(s, &mut sink);
        let c = p.counters();
        assert!(c.conserved());
        if (1000..1000 + CONFIRM - 1).contains(&i) {
            assert_eq!(c.held_future as usize, i - 999, "held while unconfirmed");
        }
        if i == 1000 + CONFIRM - 1 {
            assert_eq!((c.held_future, c.time_jumps), (0, 1), "confirmed");
        }
    }
    p.finish(&mut sink);
    let c = p.counters();
    assert_eq!(c.flushed, samples.len() as u64);
    assert_eq!(c.dropped_out_of_window + c.rejected.total(), 0);
}

#[test]
fn a_producer_with_a_wrong_clock_among_good_ones_is_rejected_not_followed() {
    // Every fifth sample comes from a producer writing milliseconds: its
    // samples are never five in a row, and the good stream moves on.
    let clean = stream(4, 4000);
    let (expected, _) = run(&clean);
    let mut mixed = Vec::new();
    let mut bad = 0;
    for (i, &s) in clean.iter().enumerate() {
        mixed.push(s);
        if i % 4 == 3 {
            mixed.push(Sample::new(s.t * 1000.0, 1, 7, 1.0));
            bad += 1;
        }
    }
    let (episodes, p) = run(&mixed);
    assert!(episodes == expected);
    assert_eq!(p.counters().rejected.get(RejectReason::FutureTime), bad);
    // CONFIRM of them in a row are a jump, by the documented rule.
    let mut p = Pipeline::new(grammar(), &PipelineConfig::default()).unwrap();
    let mut sink = |_: &Episode| {};
    for &s in &clean[..2000] {
        p.push(s, &mut sink);
    }
    for k in 0..CONFIRM {
        assert_eq!(p.counters().time_jumps, 0);
        p.push(
            Sample::new(clean[2000].t * 1000.0 + k as f64, 1, 7, 1.0),
            &mut sink,
        );
    }
    assert_eq!(p.counters().time_jumps, 1);
    assert!(p.reorder().newest() > 1e12);
}

#[test]
fn held_samples_survive_a_checkpoint_and_are_decided_the_same_way() {
    let clean = stream(5, 1200);
    let mut samples = clean.clone();
    samples.insert(600, Sample::new(1e300, 0, 4, 0.1));
    samples.insert(601, Sample::new(clean[600].t + 90_000.0, 0, 4, 0.1));
    let config = PipelineConfig::default();
    let (expected, straight) = run(&samples);
    let mut names = Interner::default();
    for c in 1..20 {
        names.intern(&format!("c{c}"));
    }
    for split in [3, 602, 603, 610] {
        let mut p = Pipeline::new(grammar(), &config).unwrap();
        let mut episodes = Vec::new();
        for &s in &samples[..split] {
            p.push(s, &mut |e: &Episode| episodes.push(*e));
        }
        let held = p.counters().staged - p.reorder().staged() as u64;
        let meta = Meta {
            episode_log_len: None,
            written_unix: 0.0,
        };
        let fp = Fingerprint::of(&grammar(), &config);
        let bytes = checkpoint::encode(&p, &names, &fp, &meta);
        let restored = checkpoint::decode(&bytes, grammar(), &config).expect("restores");
        let mut p = restored.pipeline;
        assert_eq!(
            p.counters().staged - p.reorder().staged() as u64,
            held,
            "split {split}"
        );
        assert!(p.reorder().newest() < 1e12, "no poisoned frontier stored");
        for &s in &samples[split..] {
            p.push(s, &mut |e: &Episode| episodes.push(*e));
        }
        p.finish(&mut |e: &Episode| episodes.push(*e));
        assert!(episodes == expected, "split {split}");
        assert_eq!(p.counters(), straight.counters(), "split {split}");
    }
}

#[test]
fn the_first_samples_wait_for_an_idle_flush_or_the_end_and_are_judged() {
    let mut p = Pipeline::new(grammar(), &PipelineConfig::default()).unwrap();
    let mut sink = |_: &Episode| {};
    for t in [100.0, 1e300, 101.0] {
        p.push(Sample::new(t, 0, 1, 0.0), &mut sink);
    }
    let c = p.counters();
    assert_eq!((c.staged, c.held_future, c.flushed), (3, 0, 0));
    p.flush_staged(&mut sink);
    let c = p.counters();
    assert_eq!((c.staged, c.flushed), (0, 2));
    assert_eq!(c.rejected.get(RejectReason::FutureTime), 1);
    // Far-ahead samples wait out an idle flush; the end of the stream
    // rejects them.
    p.push(Sample::new(1e9, 0, 1, 0.0), &mut sink);
    p.flush_staged(&mut sink);
    assert_eq!(p.counters().held_future, 1);
    p.finish(&mut sink);
    assert_eq!(p.counters().rejected.get(RejectReason::FutureTime), 2);
    assert!(p.counters().conserved());
    assert_eq!(DEFAULT_MAX_FUTURE_JUMP, 3600.0);
    assert_eq!(HOLD, 2 * CONFIRM);
}
