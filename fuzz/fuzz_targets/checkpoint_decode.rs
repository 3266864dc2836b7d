//! Checkpoint decoding on arbitrary bytes: the file a restarted daemon reads.
//!
//! The first input byte picks the mode: odd, the rest is taken as the file
//! as it is (header, version, length and CRC checks); even, the rest gets a
//! correct CRC written into its header first, so mutations reach the body
//! decoder and its structural checks, as a writer bug (not a damaged disk)
//! would. Either way: no panic; a refusal has a message; a checkpoint that
//! restores has conserved counters, keeps running through more samples and
//! `finish` without a panic, and encodes back to bytes that decode to the same
//! summary. Seeds are checkpoints the daemon wrote for the default
//! configuration (window 10 s, channel TTL 3600 s, cap 10^6), format version 2.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motifd_engine::checkpoint::{self, Fingerprint, Meta};
use motifd_engine::{EngineLimits, Episode, Grammar, PipelineConfig, Sample};
use std::sync::Arc;

const HEADER: usize = 24;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let mut bytes = file.to_vec();
    if mode % 2 == 0 && bytes.len() >= HEADER {
        let crc = crc32fast::hash(&bytes[HEADER..]);
        bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    }
    let grammar = Arc::new(Grammar::default());
    let config = PipelineConfig {
        limits: EngineLimits {
            channel_ttl: Some(3600.0),
            max_channels: 1_000_000,
        },
        ..PipelineConfig::default()
    };
    let restored = match checkpoint::decode(&bytes, Arc::clone(&grammar), &config) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let mut pipeline = restored.pipeline;
    assert!(pipeline.counters().conserved());
    let fingerprint = Fingerprint::of(&grammar, &config);
    let again = checkpoint::encode(&pipeline, &restored.names, &fingerprint, &restored.meta);
    let decoded = checkpoint::decode(&again, Arc::clone(&grammar), &config)
        .expect("a restored checkpoint encodes to one that restores");
    assert_eq!(decoded.summary, restored.summary);
    let _: Meta = decoded.meta;

    let t0 = pipeline.reorder().newest();
    let t0 = if t0.is_finite() { t0 } else { 0.0 };
    let channels = restored.names.len() as u32;
    for i in 0..64u32 {
        let s = Sample::new(
            t0 + f64::from(i) * 0.5,
            (i % 5) as u16,
            i % channels.max(1),
            if i % 7 == 0 { 3.0 } else { 0.01 },
        );
        pipeline.push(s, &mut |_: &Episode| {});
        assert!(pipeline.counters().conserved());
    }
    pipeline.finish(&mut |_: &Episode| {});
    assert!(pipeline.counters().conserved());
    assert_eq!(pipeline.counters().staged, 0);
});
