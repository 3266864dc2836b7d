//! Bounded state (docs/semantics.md#bounded-state) and trust normalisation
//! (docs/semantics.md#trust-sum): TTL eviction, the tracked-channel cap, and
//! `trust_weight` / `trust_sum` over many channels, each checked against values
//! computed here from the input; and statistics that stay finite whatever the
//! residuals.

mod common;

use common::{ModelChannel, ModelStep};
use motifd_engine::{ClosedBy, EngineLimits, Episode, Grammar, MotifEngine, MotifParams, Sample};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::collections::BTreeMap;
use std::sync::Arc;

fn grammar() -> Arc<Grammar> {
    Arc::new(Grammar::default())
}

fn class(g: &Grammar, name: &str) -> u16 {
    g.class_id(name.as_bytes()).expect("default class")
}

fn params(g: &Grammar, class_name: &str) -> MotifParams {
    g.motif(g.motifs_of(class(g, class_name))[0]).params
}

/// Feeds `samples` in order; returns every episode with the index of the sample
/// whose processing emitted it (`samples.len()` for `finish`).
fn run(limits: EngineLimits, samples: &[Sample]) -> (Vec<(usize, Episode)>, MotifEngine) {
    let mut engine = MotifEngine::new(grammar(), limits);
    let mut out = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        engine.process(s, &mut |e: &Episode| out.push((i, *e)));
    }
    engine.finish(&mut |e: &Episode| out.push((samples.len(), *e)));
    (out, engine)
}

fn episodes_only(v: Vec<(usize, Episode)>) -> Vec<Episode> {
    v.into_iter().map(|(_, e)| e).collect()
}

#[test]
fn ttl_evicts_an_idle_channel_and_closes_its_episode() {
    let g = grammar();
    let contention = class(&g, "contention");
    let p = params(&g, "contention");
    let ttl = 10.0;
    // Channel 1: quiet, then outside the envelope from t = 5 to its last sample
    // at t = 8 (an open episode at least a dwell long). Channel 3: a single
    // spike at t = 8, an open episode shorter than the dwell. Channel 2: quiet
    // samples every second until t = 30, whose times drive the eviction.
    let ch1: Vec<(f64, f64)> = (0..9)
        .map(|k| {
            (
                f64::from(k),
                if k >= 5 {
                    0.9 + f64::from(k) * 0.1
                } else {
                    0.001
                },
            )
        })
        .collect();
    let mut samples: Vec<Sample> = Vec::new();
    for k in 0..=30 {
        let t = f64::from(k);
        if let Some(&(_, v)) = ch1.iter().find(|&&(t1, _)| t1 == t) {
            samples.push(Sample::new(t, contention, 1, v));
        }
        if k == 8 {
            samples.push(Sample::new(t, contention, 3, 2.0));
        }
        samples.push(Sample::new(t, contention, 2, 0.001));
    }
    // Channel 1 comes back later with a fresh life.
    let comeback: Vec<Sample> = (40..60)
        .map(|k| {
            Sample::new(
                f64::from(k),
                contention,
                1,
                if k == 45 { 3.0 } else { 0.002 },
            )
        })
        .collect();
    samples.extend(&comeback);
    samples.sort_by(|a, b| a.t.total_cmp(&b.t));

    let limits = EngineLimits {
        channel_ttl: Some(ttl),
        ..EngineLimits::default()
    };
    let (episodes, engine) = run(limits, &samples);

    // Expected eviction: the first sample with 8 < t − ttl.
    let mut model = ModelChannel::new(ch1[0].0);
    for &(t, v) in &ch1 {
        let step = model.step(
            t,
            v,
            p.rho,
            p.drift_threshold,
            p.slew_threshold,
            p.min_dwell_seconds,
        );
        assert_eq!(step, ModelStep::None);
    }
    let (t_open, _) = model
        .open
        .expect("channel 1 is in an episode when it goes idle");
    assert!(model.last_t - t_open >= p.min_dwell_seconds);
    let evict_at = samples
        .iter()
        .position(|s| model.last_t < s.t - ttl)
        .expect("a later sample");
    let evicted: Vec<_> = episodes
        .iter()
        .filter(|(_, e)| e.closed_by == ClosedBy::Evicted)
        .collect();
    assert_eq!(
        evicted.len(),
        1,
        "channel 3's short episode is discarded: {episodes:?}"
    );
    let (at, e) = evicted[0];
    assert_eq!(*at, evict_at);
    assert_eq!(e.channel, 1);
    assert_eq!((e.t_start, e.t_end), (t_open, model.last_t));
    assert_eq!(e.ema_at_boundary, model.ema);
    let peak = ch1
        .iter()
        .filter(|&&(t, _)| t >= t_open)
        .map(|&(_, v)| v.abs())
        .fold(0.0, f64::max);
    assert_eq!(e.peak, peak);
    assert_eq!(
        e.samples,
        ch1.iter().filter(|&&(t, _)| t >= t_open).count() as u64
    );

    // Channels 1 and 3 are evicted while channel 2 runs, channel 2 once channel
    // 1 comes back after its long silence; channel 1's second life ends at
    // finish, not by the TTL.
    let c = engine.counters();
    assert_eq!(c.channels_evicted, 3, "{c:?}");
    assert_eq!(c.channels_tracked, 0, "finish forgets everything");
    assert_eq!(c.processed, samples.len() as u64);

    // The comeback is a fresh channel: exactly what an engine that never saw
    // channel 1 before produces for those samples.
    let (fresh, _) = run(limits, &comeback);
    let fresh = episodes_only(fresh);
    assert!(!fresh.is_empty(), "the comeback spike must make an episode");
    let later: Vec<Episode> = episodes
        .iter()
        .filter(|(_, e)| e.channel == 1 && e.t_start >= 40.0)
        .map(|&(_, e)| e)
        .collect();
    assert_eq!(later.len(), fresh.len());
    for (a, b) in later.iter().zip(&fresh) {
        // trust figures depend on the other channels; the channel's own are equal.
        assert_eq!(
            (
                a.t_start,
                a.t_end,
                a.peak,
                a.ema_at_boundary,
                a.samples,
                a.closed_by
            ),
            (
                b.t_start,
                b.t_end,
                b.peak,
                b.ema_at_boundary,
                b.samples,
                b.closed_by
            )
        );
    }
}

#[test]
fn evict_all_idle_reaches_motifs_that_get_no_samples() {
    let g = grammar();
    let cache = class(&g, "cache_io");
    let contention = class(&g, "contention");
    let dwell = params(&g, "cache_io").min_dwell_seconds;
    let mut samples: Vec<Sample> = (0..=(dwell as i32 + 1))
        .map(|k| Sample::new(f64::from(k), cache, 7, 1.0))
        .collect();
    let last_cache_t = samples.last().unwrap().t;
    samples.extend((10..40).map(|k| Sample::new(f64::from(k), contention, 8, 0.0)));
    let limits = EngineLimits {
        channel_ttl: Some(5.0),
        ..EngineLimits::default()
    };
    let mut engine = MotifEngine::new(g.clone(), limits);
    let mut out = Vec::new();
    for s in &samples {
        engine.process(s, &mut |e: &Episode| out.push(*e));
    }
    assert!(
        out.is_empty(),
        "contention samples do not evict cache_io channels"
    );
    assert_eq!(engine.counters().channels_tracked, 2);
    engine.evict_all_idle(samples.last().unwrap().t, &mut |e: &Episode| out.push(*e));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].closed_by, ClosedBy::Evicted);
    assert_eq!((out[0].t_start, out[0].t_end), (0.0, last_cache_t));
    let c = engine.counters();
    assert_eq!((c.channels_tracked, c.channels_evicted), (1, 1), "{c:?}");
}

/// A few channels with spikes and steps (episodes on all of them).
fn busy_channels(g: &Grammar, channels: u32, seconds: u32, seed: u64) -> Vec<Sample> {
    let contention = class(g, "contention");
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut out = Vec::new();
    for k in 0..seconds {
        for ch in 1..=channels {
            let v = if rng.gen_bool(0.05) {
                rng.gen_range(0.6..2.0)
            } else {
                rng.gen_range(-0.01..0.01)
            };
            out.push(Sample::new(f64::from(k), contention, ch, v));
        }
    }
    out
}

#[test]
fn channel_cap_refuses_new_channels_and_leaves_the_others_alone() {
    let g = grammar();
    // Channels 1–3 speak first at t = 0, so they take the three places;
    // channels 4 and 5 are refused on every sample.
    let samples = busy_channels(&g, 5, 400, 11);
    let limits = EngineLimits {
        channel_ttl: None,
        max_channels: 3,
    };
    let (capped, engine) = run(limits, &samples);
    let c = engine.counters();
    let refused = samples.iter().filter(|s| s.channel > 3).count() as u64;
    assert_eq!(c.refused_channel_cap, refused, "{c:?}");
    assert_eq!(c.processed, samples.len() as u64);

    // The tracked channels behave exactly as if the others never existed.
    let kept: Vec<Sample> = samples.iter().filter(|s| s.channel <= 3).copied().collect();
    let (alone, _) = run(EngineLimits::default(), &kept);
    assert_eq!(episodes_only(capped), episodes_only(alone.clone()));
    assert!(alone.len() >= 10, "{}", alone.len());

    // Without the cap, channels 4 and 5 do have episodes: the refusal matters.
    let (uncapped, _) = run(EngineLimits::default(), &samples);
    assert!(uncapped.iter().any(|(_, e)| e.channel > 3));
}

#[test]
fn an_evicted_channel_frees_its_place_under_the_cap() {
    let g = grammar();
    let contention = class(&g, "contention");
    let limits = EngineLimits {
        channel_ttl: Some(5.0),
        max_channels: 1,
    };
    let samples = [
        Sample::new(0.0, contention, 1, 0.0),
        Sample::new(1.0, contention, 2, 0.0), // refused: channel 1 holds the place
        Sample::new(5.0, contention, 2, 0.0), // refused: 0 is not older than 5 − 5
        Sample::new(10.0, contention, 2, 0.0), // channel 1 evicted first, then tracked
        Sample::new(11.0, contention, 1, 0.0), // refused: channel 2 holds the place
    ];
    // (refused, evicted, tracked) after each sample.
    let expected = [(0, 0, 1), (1, 0, 1), (2, 0, 1), (2, 1, 1), (3, 1, 1)];
    let mut engine = MotifEngine::new(g, limits);
    let mut sink = |e: &Episode| panic!("quiet channels close no episode: {e:?}");
    for (s, want) in samples.iter().zip(expected) {
        engine.process(s, &mut sink);
        let c = engine.counters();
        assert_eq!(
            (
                c.refused_channel_cap,
                c.channels_evicted,
                c.channels_tracked
            ),
            want,
            "after {s:?}"
        );
    }
}

/// Runs `channels` channels of one motif through the engine and, in lock step,
/// through the model; at every close checks the closing channel's
/// `trust_weight = raw_c / Σ raw` over the channels tracked at that moment,
/// with `raw = 1 / (sigma0 + ema)`, and `trust_sum ≈ 1`.
/// Returns (closes, most and fewest channels tracked at a close, smallest and
/// largest weight relative to the uniform 1/N).
fn check_trust(channels: u32, ttl: Option<f64>) -> (usize, (usize, usize), (f64, f64)) {
    let g = grammar();
    let contention = class(&g, "contention");
    let p = params(&g, "contention");
    let mut rng = Pcg64::seed_from_u64(u64::from(channels));
    // Channels differ in noise level (so in EMA, so in trust), some spike, and
    // with a TTL the upper half falls silent half way through.
    let noise: Vec<f64> = (0..=channels).map(|_| rng.gen_range(0.0..0.04)).collect();
    let seconds = 60;
    let mut samples = Vec::new();
    for k in 0..seconds {
        for ch in 1..=channels {
            if ttl.is_some() && ch > channels / 2 && k >= seconds / 2 {
                continue;
            }
            let spike = rng.gen_bool(0.02);
            let v = if spike {
                rng.gen_range(0.6..1.5)
            } else {
                rng.gen_range(-1.0..1.0) * noise[ch as usize]
            };
            samples.push(Sample::new(f64::from(k), contention, ch, v));
        }
    }
    let mut engine = MotifEngine::new(
        g.clone(),
        EngineLimits {
            channel_ttl: ttl,
            ..EngineLimits::default()
        },
    );
    let mut model: BTreeMap<u32, ModelChannel> = BTreeMap::new();
    let mut closes = 0;
    let (mut most, mut fewest) = (0, usize::MAX);
    let (mut min_w, mut max_w) = (f64::INFINITY, 0.0f64);
    for s in &samples {
        if let Some(ttl) = ttl {
            model.retain(|_, m| m.last_t >= s.t - ttl);
        }
        let m = model
            .entry(s.channel)
            .or_insert_with(|| ModelChannel::new(s.t));
        m.step(
            s.t,
            s.value,
            p.rho,
            p.drift_threshold,
            p.slew_threshold,
            p.min_dwell_seconds,
        );
        let mut emitted = Vec::new();
        engine.process(s, &mut |e: &Episode| emitted.push(*e));
        for e in emitted {
            assert!((e.trust_sum - 1.0).abs() <= 1e-12, "{}", e.trust_sum);
            if e.closed_by == ClosedBy::Evicted {
                // Emitted mid-eviction, while the channels evicted before it in
                // the same sweep are already out: only the sum is checked here.
                assert!(e.trust_weight > 0.0 && e.trust_weight < 1.0, "{e:?}");
                continue;
            }
            assert_eq!(e.closed_by, ClosedBy::Dwell);
            let raw = |m: &ModelChannel| 1.0 / (p.sigma0 + m.ema);
            let total: f64 = model.values().map(raw).sum();
            let expected = raw(&model[&e.channel]) / total;
            assert!(
                (e.trust_weight - expected).abs() <= 1e-12 * expected,
                "weight {} vs {expected} ({} channels)",
                e.trust_weight,
                model.len()
            );
            closes += 1;
            most = most.max(model.len());
            fewest = fewest.min(model.len());
            let relative = e.trust_weight * model.len() as f64;
            min_w = min_w.min(relative);
            max_w = max_w.max(relative);
        }
    }
    assert_eq!(engine.counters().channels_tracked, model.len() as u64);
    (closes, (most, fewest), (min_w, max_w))
}

#[test]
fn trust_weights_are_normalised_over_many_channels() {
    let (closes, tracked, (min_w, max_w)) = check_trust(500, None);
    assert!(closes >= 100, "{closes}");
    assert_eq!(tracked, (500, 500));
    // A channel closing an episode has just been outside its envelope, so its
    // EMA is above the typical one and its weight below the uniform 1/N; and
    // the weights differ from close to close: a real normalisation, not a
    // constant.
    assert!(max_w < 1.0 && min_w < 0.8 * max_w, "{min_w} {max_w}");
}

#[test]
fn evicted_channels_leave_the_trust_normalisation() {
    let (closes, tracked, _) = check_trust(300, Some(5.0));
    assert!(closes >= 50, "{closes}");
    // Closes happened both with every channel tracked and after the silent
    // half had been evicted.
    assert_eq!(tracked, (300, 150));
}

/// Residuals near `f64::MAX` open episodes whose peaks cannot all be summed:
/// the peak and duration histograms count them but keep a finite `_sum`, so
/// one bad value does not leave `dsfb_episode_peak_sum` at +Inf for good.
#[test]
fn huge_residuals_leave_the_histogram_sums_finite() {
    let g = grammar();
    let contention = class(&g, "contention");
    let mut samples = Vec::new();
    for ch in 1..4 {
        let t = f64::from(ch) * 10.0;
        samples.push(Sample::new(t, contention, ch, 1.7e308));
        for k in 1..4 {
            samples.push(Sample::new(t + f64::from(k), contention, ch, 0.0));
        }
    }
    for k in 10..40 {
        samples.push(Sample::new(
            f64::from(k),
            contention,
            9,
            if k == 20 { 2.0 } else { 0.0 },
        ));
    }
    samples.sort_by(|a, b| a.t.total_cmp(&b.t));
    let (episodes, engine) = run(EngineLimits::default(), &samples);
    let stats = engine.stats(g.motifs_of(contention)[0]);
    assert!(
        episodes.iter().any(|(_, e)| e.peak >= 1.7e308),
        "{episodes:?}"
    );
    assert_eq!(stats.peak.count(), episodes.len() as u64);
    assert!(
        stats.peak.sum().is_finite() && stats.peak.sum() >= 2.0,
        "{}",
        stats.peak.sum()
    );
    assert!(stats.duration.sum().is_finite());
}
