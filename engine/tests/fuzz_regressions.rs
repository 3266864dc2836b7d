//! Inputs found by the fuzz targets (fuzz/), kept as plain tests so the fixed
//! behaviour stays fixed without a fuzzing toolchain.

use motifd_engine::grammar::MotifParams;
use motifd_engine::{EngineLimits, Episode, Grammar, MotifSpec, Pipeline, PipelineConfig, Sample};
use std::sync::Arc;

fn one_motif(params: [f64; 5]) -> Arc<Grammar> {
    let [rho, sigma0, drift_threshold, slew_threshold, min_dwell_seconds] = params;
    let spec = MotifSpec {
        name: "fast".into(),
        class: "x".into(),
        params: MotifParams {
            rho,
            sigma0,
            drift_threshold,
            slew_threshold,
            min_dwell_seconds,
        },
    };
    Arc::new(Grammar::new(vec![spec]).expect("valid grammar"))
}

fn run(grammar: Arc<Grammar>, window: f64, samples: &[Sample]) -> Vec<Episode> {
    let limits = EngineLimits {
        channel_ttl: None,
        max_channels: 6,
    };
    let config = PipelineConfig {
        window,
        limits,
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(grammar, &config).unwrap();
    let mut episodes = Vec::new();
    for &s in samples {
        pipeline.push(s, &mut |e: &Episode| episodes.push(*e));
    }
    pipeline.finish(&mut |e: &Episode| episodes.push(*e));
    assert!(pipeline.counters().conserved());
    episodes
}

fn assert_trust_in_band(e: &Episode) {
    assert!(
        (0.99..=1.01).contains(&e.trust_sum),
        "trust_sum {} outside [0.99, 1.01]: {e:?}",
        e.trust_sum
    );
}

/// engine_sequence input `0a 02 02 05 a0 75 02 70 f9 5b 20 28 17 02 fd fc fd
/// fd fc fd`: window 1 s, one channel of a zero-dwell motif; a small residual
/// opens an episode, then a residual of -7.6e298 at the same time collapses
/// the channel's trust weight from about 4.3 to 2.6e-299. The block's running
/// sum lost the small weight to the rounding of the large one (it read 0), so
/// the end-of-stream close reported trust_sum 0 for the motif's only channel.
#[test]
fn a_collapsed_weight_keeps_the_trust_sum_at_one() {
    let grammar = one_motif([0.5, 0.01, 0.1, 0.5, 0.0]);
    let samples = [
        Sample::new(29.25, 0, 0, -0.4375),
        Sample::new(29.25, 0, 0, f64::from_bits(0xfdfc_fdfd_fcfd_0217)),
    ];
    let episodes = run(grammar, 1.0, &samples);
    assert_eq!(episodes.len(), 1, "{episodes:?}");
    assert_trust_in_band(&episodes[0]);
    assert_eq!(episodes[0].trust_weight, 1.0);
}
