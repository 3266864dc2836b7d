//! `Pipeline::push_all` and `push_all_from` step released samples in groups
//! (reading ahead); what anyone can observe must be exactly what pushing the
//! same samples one by one gives: the sink's calls in order, and every counter
//! after each batch.

mod pipeline_view;

use motifd_engine::{ChannelId, Episode, EpisodeSink, Grammar, MotifId, Pipeline, PipelineConfig};
use motifd_engine::{Producer, Sample};
use pipeline_view::{observe, times};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Every call a sink receives, in order.
#[derive(Debug, Default, PartialEq)]
struct Calls(Vec<String>);

impl EpisodeSink for Calls {
    fn episode(&mut self, e: &Episode) {
        self.0.push(format!("closed {e:?}"));
    }
    fn opened(&mut self, motif: MotifId, channel: ChannelId, t_start: f64) {
        self.0.push(format!("opened {motif} {channel} {t_start:?}"));
    }
    fn discarded(&mut self, motif: MotifId, channel: ChannelId) {
        self.0.push(format!("discarded {motif} {channel}"));
    }
}

fn samples(ts: &[f64], values: &[f64], channels: u32) -> Vec<Sample> {
    ts.iter()
        .enumerate()
        .map(|(i, &t)| {
            let channel = (i as u32).wrapping_mul(2_654_435_761) % channels;
            Sample::new(t, (i % 5) as u16, channel, values[i % values.len()])
        })
        .collect()
}

/// A pipeline whose engine already tracks more states than
/// `READ_AHEAD_ABOVE` when `big` (so batches take the read-ahead path), or a
/// fresh one.
fn pipeline(config: &PipelineConfig, big: bool) -> Pipeline {
    let mut p = Pipeline::new(Arc::new(Grammar::default()), config).unwrap();
    if big {
        let states = motifd_engine::motif::READ_AHEAD_ABOVE as u32;
        let mut ignore = |_: &Episode| {};
        for i in 0..states + 5 {
            p.push(Sample::new(-1e3, (i % 5) as u16, i / 5, 0.0), &mut ignore);
        }
        p.flush_staged(&mut ignore);
        assert!(p.engine().reads_ahead());
    }
    p
}

/// Feeds `samples` in batches of `batch` through `one` sample by sample and
/// through `all` a batch at a time, comparing after each batch and at the end.
fn compare(
    samples: &[Sample],
    batch: usize,
    config: &PipelineConfig,
    big: bool,
    mut one: impl FnMut(&mut Pipeline, &Sample, &mut Calls, usize),
    mut all: impl FnMut(&mut Pipeline, &[Sample], &mut Calls, usize),
) -> Result<(), TestCaseError> {
    let mut a = pipeline(config, big);
    let mut b = pipeline(config, big);
    let (mut ca, mut cb) = (Calls::default(), Calls::default());
    for (k, chunk) in samples.chunks(batch).enumerate() {
        for s in chunk {
            one(&mut a, s, &mut ca, k);
        }
        all(&mut b, chunk, &mut cb, k);
        prop_assert_eq!(observe(&a), observe(&b), "after batch {}", k);
        prop_assert!(ca == cb, "sink calls differ after batch {}", k);
    }
    a.finish(&mut ca);
    b.finish(&mut cb);
    prop_assert_eq!(observe(&a), observe(&b));
    prop_assert!(ca == cb);
    Ok(())
}

fn config(window: f64, cap: usize) -> PipelineConfig {
    PipelineConfig {
        window,
        max_staged: cap,
        ..PipelineConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// `producers` 0: one stream through `push` and `push_all`; otherwise
    /// batch k comes from producer k mod `producers`, seen at k ms, through
    /// `push_from` and `push_all_from`.
    #[test]
    fn a_batch_at_a_time_is_sample_by_sample(
        ts in times(2_000, 1_200),
        window in prop_oneof![Just(0.0), Just(2.0), 0.0..30.0f64],
        cap in prop_oneof![Just(1usize << 24), 1usize..6, Just(300usize)],
        batch in prop_oneof![1usize..40, 200usize..700],
        channels in prop_oneof![Just(1u32), 2u32..50, Just(5_000u32)],
        producers in 0u64..4,
        values in prop::collection::vec(-3.0..3.0f64, 1..400),
        big in any::<bool>(),
    ) {
        let samples = samples(&ts, &values, channels);
        let producer = |p: &mut Pipeline, k: usize| -> Producer {
            p.producer(k as u64 % producers, Duration::from_millis(k as u64))
        };
        let config = config(window, cap);
        if producers == 0 {
            compare(
                &samples,
                batch,
                &config,
                big,
                |p, s, sink, _| p.push(*s, sink),
                |p, chunk, sink, _| p.push_all(chunk, sink),
            )?;
        } else {
            compare(
                &samples,
                batch,
                &config,
                big,
                |p, s, sink, k| {
                    let who = producer(p, k);
                    p.push_from(who, *s, sink)
                },
                |p, chunk, sink, k| {
                    let who = producer(p, k);
                    p.push_all_from(who, chunk, sink)
                },
            )?;
        }
    }
}
