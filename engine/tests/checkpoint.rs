//! Checkpoints: a pipeline saved at any point and restored continues exactly as
//! if it had never stopped, and a damaged or foreign checkpoint is refused with
//! a message, never restored in part and never a panic.

use motifd_engine::checkpoint::{self, CheckpointError, Fingerprint, Meta};
use motifd_engine::intern::Interner;
use motifd_engine::{EngineLimits, Episode, Grammar, Pipeline, PipelineConfig, Sample};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::sync::Arc;

fn grammar() -> Arc<Grammar> {
    Arc::new(Grammar::default())
}

/// A jittered stream over `channels` channels and every default class, with
/// bursts that open and close episodes, idle gaps (so a TTL evicts) and times
/// on a quarter-second grid, so many samples share a time and their arrival
/// order matters.
fn stream(seed: u64, len: usize, channels: u32) -> (Vec<Sample>, Interner) {
    let g = grammar();
    let classes = g.classes().len() as u16;
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut names = Interner::default();
    let ids: Vec<u32> = (0..channels)
        .map(|c| names.intern(&format!("q{c}")))
        .collect();
    let mut t = 1_700_000_000.0;
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        if rng.gen_bool(0.9) {
            t += 0.25 * f64::from(rng.gen_range(0..3u8));
        } else if rng.gen_bool(0.1) {
            t += 40.0; // an idle gap longer than the TTL used below
        }
        let jitter = 0.25 * f64::from(rng.gen_range(0..12u8));
        let burst = (i / 97) % 3 == 0;
        let value = if burst {
            rng.gen_range(0.3..4.0)
        } else {
            rng.gen_range(-0.05..0.05)
        };
        let channel = if rng.gen_bool(0.05) {
            0 // anonymous
        } else {
            ids[rng.gen_range(0..ids.len())]
        };
        out.push(Sample::new(
            t - jitter,
            rng.gen_range(0..classes),
            channel,
            value,
        ));
    }
    (out, names)
}

fn config(window: f64, limits: EngineLimits) -> PipelineConfig {
    PipelineConfig {
        window,
        limits,
        ..PipelineConfig::default()
    }
}

fn limits(ttl: bool, cap: usize) -> EngineLimits {
    EngineLimits {
        channel_ttl: ttl.then_some(30.0),
        max_channels: cap,
    }
}

/// Everything observable about a run: every episode (all fields, exact), the
/// counters, and per-motif statistics.
fn observe(p: &Pipeline, episodes: &[Episode]) -> String {
    let motifs = p.engine().grammar().motifs().len();
    let stats: Vec<_> = (0..motifs).map(|m| p.engine().stats(m as u16)).collect();
    format!(
        "{episodes:?}\n{:?}\n{:?}\n{:?}\n{stats:?}",
        p.counters(),
        p.engine().counters(),
        p.reorder().counters()
    )
}

fn run_straight(samples: &[Sample], window: f64, lim: EngineLimits) -> String {
    let mut p = Pipeline::new(grammar(), &config(window, lim)).unwrap();
    let mut episodes = Vec::new();
    for s in samples {
        p.push(*s, &mut |e: &Episode| episodes.push(*e));
    }
    p.finish(&mut |e: &Episode| episodes.push(*e));
    observe(&p, &episodes)
}

fn save(p: &Pipeline, names: &Interner, window: f64, lim: &EngineLimits) -> Vec<u8> {
    let fp = Fingerprint::of(p.engine().grammar(), &config(window, *lim));
    let meta = Meta {
        episode_log_len: Some(1234),
        written_unix: 1.5e9,
    };
    checkpoint::encode(p, names, &fp, &meta)
}

/// Runs `samples[..split]`, checkpoints, restores into a fresh pipeline and
/// runs the rest there.
fn run_split(
    samples: &[Sample],
    names: &Interner,
    split: usize,
    window: f64,
    lim: EngineLimits,
) -> String {
    let mut p = Pipeline::new(grammar(), &config(window, lim)).unwrap();
    let mut episodes = Vec::new();
    for s in &samples[..split] {
        p.push(*s, &mut |e: &Episode| episodes.push(*e));
    }
    let bytes = save(&p, names, window, &lim);
    drop(p);
    let restored = checkpoint::decode(&bytes, grammar(), &config(window, lim)).expect("restores");
    assert_eq!(restored.meta.episode_log_len, Some(1234));
    // Only the names the state refers to travel, each with its id.
    assert!(restored.names.len() <= names.len());
    for id in 0..names.len() as u32 {
        if restored.names.contains(id) {
            assert_eq!(restored.names.name(id), names.name(id));
        }
    }
    let mut p = restored.pipeline;
    for s in &samples[split..] {
        p.push(*s, &mut |e: &Episode| episodes.push(*e));
    }
    p.finish(&mut |e: &Episode| episodes.push(*e));
    observe(&p, &episodes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn restoring_anywhere_continues_bit_for_bit(
        seed in any::<u64>(),
        len in 1usize..3000,
        channels in 1u32..300,
        split_frac in 0.0f64..=1.0,
        window in prop_oneof![Just(0.0), Just(2.0), Just(10.0)],
        ttl in any::<bool>(),
        cap in prop_oneof![Just(1_000_000usize), Just(40usize)],
    ) {
        let (samples, names) = stream(seed, len, channels);
        let split = ((len as f64) * split_frac) as usize;
        let lim = limits(ttl, cap);
        prop_assert_eq!(
            run_split(&samples, &names, split, window, lim),
            run_straight(&samples, window, lim)
        );
    }
}

#[test]
fn a_split_run_with_many_open_episodes_matches() {
    // A deterministic large case: 2,000 channels, checkpoint mid-burst.
    let (samples, names) = stream(7, 60_000, 2_000);
    let lim = limits(true, 1_000_000);
    let straight = run_straight(&samples, 10.0, lim);
    for split in [1, 29_100, 59_999] {
        assert_eq!(run_split(&samples, &names, split, 10.0, lim), straight);
    }
}

/// A checkpoint with staged samples and open episodes, and its config.
fn sample_checkpoint() -> (Vec<u8>, EngineLimits) {
    let (samples, names) = stream(11, 400, 12);
    let lim = limits(true, 1_000_000);
    let mut p = Pipeline::new(grammar(), &config(10.0, lim)).unwrap();
    for s in &samples {
        p.push(*s, &mut |_: &Episode| {});
    }
    assert!(p.counters().staged > 0);
    (save(&p, &names, 10.0, &lim), lim)
}

#[test]
fn every_truncation_is_refused() {
    let (bytes, lim) = sample_checkpoint();
    for cut in 0..bytes.len() {
        let err = checkpoint::decode(&bytes[..cut], grammar(), &config(10.0, lim))
            .err()
            .unwrap_or_else(|| panic!("a checkpoint cut to {cut} bytes was restored"));
        if cut >= 24 {
            assert!(
                matches!(err, CheckpointError::Truncated { .. }),
                "cut {cut}: {err}"
            );
        }
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn every_flipped_bit_is_refused() {
    let (bytes, lim) = sample_checkpoint();
    for i in 0..bytes.len() {
        for bit in [0, 3, 7] {
            let mut damaged = bytes.clone();
            damaged[i] ^= 1 << bit;
            assert!(
                checkpoint::decode(&damaged, grammar(), &config(10.0, lim)).is_err(),
                "byte {i} bit {bit} flipped and still restored"
            );
        }
    }
}

#[test]
fn a_different_configuration_is_named() {
    let (bytes, lim) = sample_checkpoint();
    let err = checkpoint::decode(&bytes, grammar(), &config(5.0, lim))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("window=10") && err.to_string().contains("window=5"),
        "{err}"
    );
    let other = EngineLimits {
        channel_ttl: None,
        ..lim
    };
    let err = checkpoint::decode(&bytes, grammar(), &config(10.0, other))
        .err()
        .unwrap();
    assert!(err.to_string().contains("channel_ttl"), "{err}");
    let toml = "extend_defaults = true\n[[motif]]\nname = \"x\"\nclass = \"contention\"\nrho = 0.9\nsigma0 = 0.05\ndrift_threshold = 0.2\nslew_threshold = 0.5\nmin_dwell_seconds = 1\n";
    let g = Arc::new(Grammar::from_toml(toml).unwrap());
    let err = checkpoint::decode(&bytes, g, &config(10.0, lim))
        .err()
        .unwrap();
    assert!(matches!(err, CheckpointError::ConfigChanged(_)), "{err}");
}

#[test]
fn foreign_and_future_files_are_refused() {
    let (bytes, lim) = sample_checkpoint();
    let err = checkpoint::decode(b"t,class,channel,value\n", grammar(), &config(10.0, lim));
    assert_eq!(err.err(), Some(CheckpointError::NotACheckpoint));
    let mut future = bytes.clone();
    future[8] = 99;
    let err = checkpoint::decode(&future, grammar(), &config(10.0, lim))
        .err()
        .unwrap();
    assert_eq!(err, CheckpointError::UnsupportedVersion(99));
    // A checkpoint of the previous format is refused by name, not misread.
    let mut older = bytes.clone();
    older[8..12].copy_from_slice(&1u32.to_le_bytes());
    let err = checkpoint::decode(&older, grammar(), &config(10.0, lim))
        .err()
        .unwrap();
    assert_eq!(err, CheckpointError::UnsupportedVersion(1));
    assert!(
        err.to_string().contains("version 1 is not supported")
            && err.to_string().contains("reads version 2"),
        "{err}"
    );
    let mut longer = bytes;
    longer.push(0);
    assert!(checkpoint::decode(&longer, grammar(), &config(10.0, lim)).is_err());
}

/// Rewrites the header checksum after a change to the body, as a writer with
/// a bug (rather than a damaged disk) would produce.
fn reseal(bytes: &mut [u8]) {
    let crc = crc32fast::hash(&bytes[24..]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A body that passes the checksum but was altered is either refused or
    /// restored into a state that keeps running without a panic.
    #[test]
    fn altered_bodies_never_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let (mut bytes, lim) = sample_checkpoint_cached();
        for (at, v) in edits {
            let i = 24 + at % (bytes.len() - 24);
            bytes[i] = v;
        }
        reseal(&mut bytes);
        if let Ok(restored) = checkpoint::decode(&bytes, grammar(), &config(10.0, lim)) {
            let mut p = restored.pipeline;
            let (more, _) = stream(5, 200, 12);
            for s in more {
                p.push(s, &mut |_: &Episode| {});
            }
            p.finish(&mut |_: &Episode| {});
            prop_assert!(p.counters().conserved());
        }
    }
}

fn sample_checkpoint_cached() -> (Vec<u8>, EngineLimits) {
    static CACHE: std::sync::OnceLock<(Vec<u8>, EngineLimits)> = std::sync::OnceLock::new();
    CACHE.get_or_init(sample_checkpoint).clone()
}

/// Found by the `checkpoint_decode` fuzz target: a header announcing a body
/// of u64::MAX bytes overflowed while the truncation was being described.
#[test]
fn an_absurd_body_length_is_a_truncation() {
    let (mut bytes, lim) = sample_checkpoint();
    bytes[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = checkpoint::decode(&bytes, grammar(), &config(10.0, lim))
        .err()
        .unwrap();
    assert!(matches!(err, CheckpointError::Truncated { .. }), "{err}");
}

/// Found by the `checkpoint_decode` fuzz target: counters near u64::MAX
/// overflowed the conservation check (and would overflow at the next
/// sample). Counters beyond 2^58 are refused as corruption.
#[test]
fn a_counter_beyond_any_real_run_is_refused() {
    let (bytes, lim) = sample_checkpoint();
    let fp_len = u64::from_le_bytes(bytes[24..32].try_into().unwrap()) as usize;
    // header, fingerprint, episode log length, write time, then the summary.
    let received_at = 24 + 8 + fp_len + 8 + 8;
    for value in [u64::MAX, (1 << 58) + 1] {
        let mut damaged = bytes.clone();
        damaged[received_at..received_at + 8].copy_from_slice(&value.to_le_bytes());
        reseal(&mut damaged);
        let err = checkpoint::decode(&damaged, grammar(), &config(10.0, lim))
            .err()
            .unwrap();
        assert!(err.to_string().contains("beyond any real run"), "{err}");
    }
}
