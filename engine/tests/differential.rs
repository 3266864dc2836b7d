//! Differential test against the reference implementation, dsfb-database 0.1.1
//! (docs/semantics.md#per-channel-step): on generated in-order streams our episodes must equal
//! `MotifEngine::run`'s as sets on (motif, channel, t_start, t_end,
//! ema_at_boundary), bit for bit. `peak` is checked against the corrected rule
//! (the reference's own peak counts samples from before the episode opened),
//! and `samples`, `closed_by` and `trust_sum` are checked independently.

mod common;

use common::{ModelChannel, ModelStep};
use dsfb_database::grammar::{MotifEngine as RefEngine, MotifGrammar};
use dsfb_database::residual::{ResidualClass, ResidualSample, ResidualStream};
use motifd_engine::sample::{ANONYMOUS, ANONYMOUS_NAME};
use motifd_engine::{ClosedBy, EngineLimits, Episode, Grammar, MotifEngine, Sample};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One generated sample: `class` indexes `ResidualClass::ALL`, `chan` 0 is anonymous.
#[derive(Debug, Clone, Copy)]
struct Input {
    t: f64,
    class: usize,
    chan: u32,
    value: f64,
}

/// (motif, channel, t_start bits, t_end bits, ema_at_boundary bits).
type Key = (String, String, u64, u64, u64);

fn channel_name(chan: u32) -> String {
    if chan == ANONYMOUS {
        ANONYMOUS_NAME.to_string()
    } else {
        format!("c{chan}")
    }
}

/// Generates `n_series` (class, channel) series of `per_series` samples each and
/// merges them into one stream, stably sorted by `t`.
///
/// Each series is a run of segments — quiet noise, steps up and down, ramps,
/// isolated spikes, decays — scaled to its motif's thresholds so that episodes
/// open, close by dwell and stay open at the end. Times sit on a coarse grid so
/// that samples of different channels (and, with repeated grid steps, of the
/// same channel) share timestamps; some steps are gaps of several seconds.
fn gen_stream(
    rng: &mut Pcg64,
    grammar: &Grammar,
    n_series: usize,
    per_series: usize,
) -> Vec<Input> {
    let base = [0.0, 1.7e9, -100.0][rng.gen_range(0..3)];
    let quantum = [0.25, 0.5, 1.0][rng.gen_range(0..3)];
    // Fewer names than series, so one name may carry several classes.
    let n_names = (n_series * 2 / 3).max(1) as u32;
    let mut out = Vec::new();
    for series in 0..n_series {
        let class = if series < 5 {
            series
        } else {
            rng.gen_range(0..5)
        };
        let chan = if n_series == 1 || rng.gen_bool(0.08) {
            ANONYMOUS
        } else {
            rng.gen_range(1..=n_names)
        };
        let motif = grammar.motifs_of(class_id(grammar, class))[0];
        let p = grammar.motif(motif).params;
        let mut grid: i64 = rng.gen_range(0..40);
        let mut done = 0;
        while done < per_series {
            let shape = rng.gen_range(0..7);
            let len = match shape {
                0 => rng.gen_range(10..150),
                _ => rng.gen_range(2..40),
            }
            .min(per_series - done);
            let amp = if rng.gen_bool(0.5) {
                p.drift_threshold * rng.gen_range(0.5..6.0)
            } else {
                p.slew_threshold * rng.gen_range(0.8..3.0)
            };
            for j in 0..len {
                let r: f64 = rng.gen();
                grid += if r < 0.1 {
                    0
                } else if r < 0.16 {
                    rng.gen_range(5..150)
                } else {
                    rng.gen_range(1..4)
                };
                let noise = (rng.gen::<f64>() - 0.5) * 0.3 * p.drift_threshold;
                let x = j as f64 / len as f64;
                let value = match shape {
                    0 => noise,
                    1 => amp + noise,
                    2 => amp * x + noise,
                    3 if j == len / 2 => -amp,
                    3 => noise,
                    4 => amp * (-4.0 * x).exp() + noise,
                    5 => -amp + noise,
                    _ => amp * (x * 12.0).sin() + noise,
                };
                out.push(Input {
                    t: base + grid as f64 * quantum,
                    class,
                    chan,
                    value,
                });
            }
            done += len;
        }
    }
    out.sort_by(|a, b| a.t.total_cmp(&b.t));
    out
}

fn class_id(grammar: &Grammar, class: usize) -> motifd_engine::ClassId {
    grammar
        .class_id(ResidualClass::ALL[class].name().as_bytes())
        .expect("the default grammar watches every reference class")
}

fn reference_episodes(stream: &[Input]) -> Vec<dsfb_database::grammar::Episode> {
    let mut rs = ResidualStream::new("differential");
    for s in stream {
        let sample = ResidualSample::new(s.t, ResidualClass::ALL[s.class], s.value);
        rs.push(if s.chan == ANONYMOUS {
            sample
        } else {
            sample.with_channel(channel_name(s.chan))
        });
    }
    RefEngine::new(MotifGrammar::default()).run(&rs)
}

fn our_episodes(grammar: &Arc<Grammar>, stream: &[Input]) -> Vec<Episode> {
    let mut engine = MotifEngine::new(grammar.clone(), EngineLimits::default());
    let mut out = Vec::new();
    let mut sink = |e: &Episode| out.push(*e);
    for s in stream {
        engine.process(
            &Sample::new(s.t, class_id(grammar, s.class), s.chan, s.value),
            &mut sink,
        );
    }
    engine.finish(&mut sink);
    out
}

/// What the model says about one episode, keyed by (class, chan, t_start, t_end).
#[derive(Debug, Clone, Copy)]
struct Expected {
    open_index: usize,
    close_index: usize,
    closed_by: ClosedBy,
    ema: f64,
}

/// Runs the model over every series; returns the expected episodes.
fn model_episodes(
    grammar: &Grammar,
    series: &BTreeMap<(usize, u32), Vec<(f64, f64)>>,
) -> HashMap<(usize, u32, u64, u64), Expected> {
    let mut out = HashMap::new();
    for (&(class, chan), samples) in series {
        let motif = grammar.motifs_of(class_id(grammar, class))[0];
        let p = grammar.motif(motif).params;
        let mut m = ModelChannel::new(samples[0].0);
        for (index, &(t, v)) in samples.iter().enumerate() {
            let step = m.step(
                t,
                v,
                p.rho,
                p.drift_threshold,
                p.slew_threshold,
                p.min_dwell_seconds,
            );
            if let ModelStep::Closed { t_open, open_index } = step {
                let e = Expected {
                    open_index,
                    close_index: index,
                    closed_by: ClosedBy::Dwell,
                    ema: m.ema,
                };
                out.insert((class, chan, t_open.to_bits(), t.to_bits()), e);
            }
        }
        if let Some((t_open, open_index)) = m.open {
            if m.last_t - t_open >= p.min_dwell_seconds {
                let e = Expected {
                    open_index,
                    close_index: samples.len() - 1,
                    closed_by: ClosedBy::EndOfStream,
                    ema: m.ema,
                };
                out.insert((class, chan, t_open.to_bits(), m.last_t.to_bits()), e);
            }
        }
    }
    out
}

/// max |v| over the channel's samples from `t_start` through the closing sample:
/// every sample at `t_start` counts (also those before the opening one); at
/// `t_end`, a dwell close (min_dwell > 0) happens at the first sample there, an
/// end-of-stream close after all of them.
fn expected_peak(samples: &[(f64, f64)], t_start: f64, t_end: f64, closed_by: ClosedBy) -> f64 {
    let mut peak = 0.0f64;
    let mut seen_at_end = false;
    for &(t, v) in samples {
        if t < t_start || t > t_end {
            continue;
        }
        if t == t_end && t > t_start && closed_by == ClosedBy::Dwell {
            if seen_at_end {
                continue;
            }
            seen_at_end = true;
        }
        peak = peak.max(v.abs());
    }
    peak
}

#[derive(Debug, Default)]
struct Tally {
    streams: usize,
    samples: usize,
    episodes: usize,
    per_motif: BTreeMap<String, usize>,
    dwell: usize,
    end_of_stream: usize,
    anonymous: usize,
    /// Episodes whose opening sample had earlier same-time samples of its channel.
    tie_before_open: usize,
    /// Episodes where the reference's (uncorrected) peak differs from ours.
    reference_peak_differs: usize,
}

fn check_stream(grammar: &Arc<Grammar>, stream: &[Input], tally: &mut Tally) {
    let reference = reference_episodes(stream);
    let ours = our_episodes(grammar, stream);

    let ref_peaks: HashMap<Key, f64> = reference
        .iter()
        .map(|e| {
            let key = (
                e.motif.name().to_string(),
                e.channel.clone().unwrap_or_else(|| ANONYMOUS_NAME.into()),
                e.t_start.to_bits(),
                e.t_end.to_bits(),
                e.ema_at_boundary.to_bits(),
            );
            (key, e.peak)
        })
        .collect();
    let mut ref_keys: Vec<Key> = reference
        .iter()
        .map(|e| {
            (
                e.motif.name().to_string(),
                e.channel.clone().unwrap_or_else(|| ANONYMOUS_NAME.into()),
                e.t_start.to_bits(),
                e.t_end.to_bits(),
                e.ema_at_boundary.to_bits(),
            )
        })
        .collect();
    let our_key = |e: &Episode| -> Key {
        (
            grammar.motif(e.motif).name.clone(),
            channel_name(e.channel),
            e.t_start.to_bits(),
            e.t_end.to_bits(),
            e.ema_at_boundary.to_bits(),
        )
    };
    let mut our_keys: Vec<Key> = ours.iter().map(our_key).collect();
    ref_keys.sort();
    our_keys.sort();
    if ref_keys != our_keys {
        let only_ref: Vec<_> = ref_keys.iter().filter(|k| !our_keys.contains(k)).collect();
        let only_ours: Vec<_> = our_keys.iter().filter(|k| !ref_keys.contains(k)).collect();
        panic!(
            "episode sets differ ({} reference, {} ours)\nonly in reference: {:?}\nonly in ours: {:?}",
            ref_keys.len(),
            our_keys.len(),
            &only_ref[..only_ref.len().min(5)],
            &only_ours[..only_ours.len().min(5)],
        );
    }

    // Per-series inputs, in stream order, and the model's view of the episodes.
    let mut series: BTreeMap<(usize, u32), Vec<(f64, f64)>> = BTreeMap::new();
    for s in stream {
        series
            .entry((s.class, s.chan))
            .or_default()
            .push((s.t, s.value));
    }
    let expected = model_episodes(grammar, &series);
    assert_eq!(
        expected.len(),
        ours.len(),
        "model and engine disagree on the count"
    );

    for e in &ours {
        let key = our_key(e);
        let class = ResidualClass::ALL
            .iter()
            .position(|c| c.name() == grammar.motif(e.motif).class)
            .expect("default grammar classes are the reference's");
        let samples = &series[&(class, e.channel)];
        let x = expected
            .get(&(class, e.channel, e.t_start.to_bits(), e.t_end.to_bits()))
            .unwrap_or_else(|| panic!("model has no episode like {e:?}"));
        assert_eq!(e.ema_at_boundary.to_bits(), x.ema.to_bits(), "{e:?}");
        assert_eq!(e.closed_by, x.closed_by, "{e:?}");
        assert_eq!(
            e.samples,
            (x.close_index - x.open_index + 1) as u64,
            "samples of {e:?}"
        );
        let peak = expected_peak(samples, e.t_start, e.t_end, e.closed_by);
        assert_eq!(e.peak.to_bits(), peak.to_bits(), "peak of {e:?}");
        assert!((e.trust_sum - 1.0).abs() <= 1e-9, "trust_sum of {e:?}");
        // Σ w ≥ w_k holds in exact arithmetic; the two are computed from
        // separately maintained sums, so allow the same rounding slack as above.
        assert!(
            e.trust_weight > 0.0 && e.trust_weight <= e.trust_sum + 1e-9,
            "trust_weight of {e:?}"
        );

        tally.episodes += 1;
        *tally.per_motif.entry(key.0.clone()).or_default() += 1;
        match e.closed_by {
            ClosedBy::Dwell => tally.dwell += 1,
            ClosedBy::EndOfStream => tally.end_of_stream += 1,
            ClosedBy::Evicted => unreachable!("no TTL configured"),
        }
        if e.channel == ANONYMOUS {
            tally.anonymous += 1;
        }
        if x.open_index > 0 && samples[x.open_index - 1].0 == e.t_start {
            tally.tie_before_open += 1;
        }
        if ref_peaks[&key] != e.peak {
            tally.reference_peak_differs += 1;
        }
    }
    tally.streams += 1;
    tally.samples += stream.len();
}

#[test]
fn episodes_match_the_reference_on_generated_streams() {
    let grammar = Arc::new(Grammar::default());
    let mut rng = Pcg64::seed_from_u64(0x6d6f_7469_6664);
    // Channel counts from 1 to 2,000; samples per series shrink as the count
    // grows, because the reference costs O(channels) per sample.
    let series_counts = [
        1, 1, 1, 2, 2, 3, 4, 5, 5, 6, 7, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64, 80, 100, 128, 160,
        200, 256, 320, 400, 500, 640, 800, 1000, 1200, 1500, 2000,
    ];
    let mut tally = Tally::default();
    let mut max_series = 0;
    for &n in &series_counts {
        let per_series = (8000 / n).clamp(10, 600);
        let stream = gen_stream(&mut rng, &grammar, n, per_series);
        max_series = max_series.max(n);
        check_stream(&grammar, &stream, &mut tally);
    }
    eprintln!("{tally:#?}");

    // The comparison must not pass vacuously: plenty of episodes of every motif,
    // both kinds of close, anonymous channels, ties before the opening sample,
    // and episodes where the corrected peak really differs from the reference's.
    assert!(tally.streams >= 30);
    assert_eq!(max_series, 2000);
    assert!(tally.episodes >= 3000, "{}", tally.episodes);
    assert_eq!(tally.per_motif.len(), 5, "{:?}", tally.per_motif);
    assert!(
        tally.per_motif.values().all(|&n| n >= 50),
        "{:?}",
        tally.per_motif
    );
    assert!(tally.dwell >= 500 && tally.end_of_stream >= 50, "{tally:?}");
    assert!(tally.anonymous >= 20, "{tally:?}");
    assert!(tally.tie_before_open >= 10, "{tally:?}");
    assert!(tally.reference_peak_differs >= 10, "{tally:?}");
}
