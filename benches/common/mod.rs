//! Seeded synthetic residual streams shared by the benchmarks, so every bench
//! (and the reference in the side-by-side group) sees exactly the same samples.
//!
//! Conditions, written down once:
//! - event time starts at `T0` (Unix seconds, so `f64` time keeps the precision a
//!   real feed has) and advances by `1 / DENSITY` per sample: 1,000 samples per
//!   event-second, i.e. a 10 s reorder window holds about 10,000 staged samples;
//! - every sample picks its channel uniformly among `channels` and its class
//!   uniformly among the five default classes, so each motif sees every channel;
//! - the value is uniform noise in ±`NOISE` (inside every motif's envelope) plus,
//!   for `BURST` seconds out of every `PERIOD`, an incident of `INCIDENT` (above
//!   every slew threshold), with a per-(class, channel) phase: about 8 % of samples
//!   fall inside an incident and episodes open and close throughout the run;
//! - the jittered variant keeps the arrival order of the in-order stream and adds
//!   uniform ±`JITTER` seconds to each event time, so nothing is ever more than a
//!   `WINDOW` late and nothing is dropped.

// Each bench target uses a different subset of these helpers.
#![allow(dead_code)]

use motifd_engine::{Grammar, Sample};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// Seed of every generated stream.
pub const SEED: u64 = 0x6d6f_7469_6664;
/// First event time, Unix seconds.
pub const T0: f64 = 1_700_000_000.0;
/// Samples per event-second.
pub const DENSITY: f64 = 1_000.0;
/// Reorder window of the jittered benches, seconds.
pub const WINDOW: f64 = 10.0;
/// Half-width of the uniform arrival jitter: half the window.
pub const JITTER: f64 = WINDOW / 2.0;
/// Amplitude of the background noise.
pub const NOISE: f64 = 0.02;
/// Residual during an incident.
pub const INCIDENT: f64 = 2.0;
/// Incident period and length, event-seconds.
pub const PERIOD: f64 = 120.0;
/// See [`PERIOD`].
pub const BURST: f64 = 10.0;
/// Classes of the default grammar.
pub const CLASSES: u16 = 5;

/// True in criterion's `--test` mode (the CI smoke run): benches then use
/// shorter streams so that one pass of every bench stays within seconds.
pub fn smoke() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// Samples per benchmarked stream: 1M, or 50k in the smoke run.
pub fn stream_len() -> usize {
    if smoke() {
        50_000
    } else {
        1_000_000
    }
}

/// The default grammar; its class ids are the ones [`in_order`] uses.
pub fn grammar() -> Grammar {
    let g = Grammar::default();
    assert_eq!(
        g.classes(),
        [
            "plan_regression",
            "cardinality",
            "contention",
            "cache_io",
            "workload_phase"
        ],
        "the benches rely on the default class order"
    );
    g
}

/// SplitMix64 finaliser: a fixed per-(class, channel) incident phase.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn value_at(rng: &mut Pcg64, t: f64, class: u16, channel: u32) -> f64 {
    let key = (u64::from(channel) << 16) | u64::from(class);
    let phase = (mix(key) % 1_000_000) as f64 * (PERIOD / 1_000_000.0);
    let noise = rng.gen_range(-NOISE..NOISE);
    if (t - T0 + phase).rem_euclid(PERIOD) < BURST {
        INCIDENT + noise
    } else {
        noise
    }
}

/// `len` samples over `channels` channels, in non-decreasing event time.
pub fn in_order(len: usize, channels: u32) -> Vec<Sample> {
    let mut rng = Pcg64::seed_from_u64(SEED ^ u64::from(channels));
    (0..len)
        .map(|i| {
            let t = T0 + i as f64 / DENSITY;
            let class = rng.gen_range(0..CLASSES);
            let channel = rng.gen_range(0..channels);
            let value = value_at(&mut rng, t, class, channel);
            Sample::new(t, class, channel, value)
        })
        .collect()
}

/// The same arrival sequence with uniform ±[`JITTER`] s on each event time,
/// in arrival order (feed it to a reorder buffer of [`WINDOW`] seconds).
pub fn jittered(len: usize, channels: u32) -> Vec<Sample> {
    let mut jitter = Pcg64::seed_from_u64(SEED.rotate_left(17) ^ u64::from(channels));
    let mut rng = Pcg64::seed_from_u64(SEED ^ u64::from(channels));
    (0..len)
        .map(|i| {
            let t = T0 + i as f64 / DENSITY + jitter.gen_range(-JITTER..JITTER);
            let class = rng.gen_range(0..CLASSES);
            let channel = rng.gen_range(0..channels);
            let value = value_at(&mut rng, t, class, channel);
            Sample::new(t, class, channel, value)
        })
        .collect()
}

/// `samples` stably sorted by event time: what a correct reorder buffer releases.
pub fn sorted(samples: &[Sample]) -> Vec<Sample> {
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.t.total_cmp(&b.t));
    v
}
