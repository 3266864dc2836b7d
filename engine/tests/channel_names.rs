//! Channel-name memory is bounded by the caps (docs/semantics.md,
//! "Channel names"): with `max_channels` 10, 20,000 channel names of 64 KB
//! fed through a producer thread and the pipeline leave a few megabytes of
//! names, not 1.3 GB, and a checkpoint holds only the names the state refers
//! to. Before names were collected, every name stayed for good.

use motifd_engine::checkpoint::{self, Fingerprint, Meta};
use motifd_engine::ingest::{self, BatchWriter};
use motifd_engine::{
    ChannelNames, EngineLimits, Episode, Grammar, Pipeline, PipelineConfig, RecordParser,
};
use std::sync::Arc;
use std::thread;

const NAMES: usize = 20_000;
const NAME_BYTES: usize = 64 << 10;

fn name(i: usize) -> String {
    format!("ch-{i:08}-{}", "x".repeat(NAME_BYTES - 12))
}

#[test]
fn names_of_refused_channels_are_freed_and_not_checkpointed() {
    let grammar = Arc::new(Grammar::default());
    let names = ChannelNames::default();
    names.set_collection(true);
    let (tx, rx) = ingest::channel(8);
    let producer = {
        let (grammar, names) = (Arc::clone(&grammar), names.clone());
        thread::spawn(move || {
            let mut parser = RecordParser::new(grammar, &names);
            let mut writer = BatchWriter::new(tx, 16);
            let tail = "x".repeat(NAME_BYTES - 12);
            for i in 0..NAMES {
                writer.follow_names(&mut parser).unwrap();
                // One sample a second: a 10 s window stages about ten.
                let line = format!("{},contention,ch-{i:08}-{tail},0.01", 1000 + i);
                writer.push(parser.csv(line.as_bytes()).unwrap()).unwrap();
            }
        })
    };
    let config = PipelineConfig {
        limits: EngineLimits {
            channel_ttl: None,
            max_channels: 10,
        },
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(Arc::clone(&grammar), &config).unwrap();
    let mut most = 0;
    for batch in rx {
        for &s in &batch.samples {
            pipeline.push(s, &mut |_: &Episode| {});
        }
        drop(batch);
        names.collect(&pipeline);
        most = most.max(names.name_bytes());
    }
    producer.join().unwrap();
    let c = pipeline.engine().counters();
    assert_eq!(c.channels_tracked, 10);
    let staged = pipeline.counters().staged;
    assert!(staged <= 12, "{staged} staged");
    assert_eq!(c.refused_channel_cap + 10 + staged, NAMES as u64);
    // A collection starts beyond 4 MiB plus twice the referenced names; until
    // the batches pinned with the old epoch are applied, the producer keeps
    // interning: the channel's 8 batches, the one being filled and one more,
    // for the round that frees, the one after it and while the engine thread
    // waits for the CPU (27.1 MB seen under load). A bound set by the
    // channel, not by the 1.3 GB fed.
    let in_flight = 3 * (8 + 2) * 16 * NAME_BYTES;
    let bound = (4 << 20) + 2 * 40 * NAME_BYTES + in_flight;
    assert!(
        most <= bound,
        "{most} bytes of names held at most (bound {bound}), for {} bytes fed",
        NAMES * NAME_BYTES
    );
    let table = names.lock();
    assert_eq!(
        table.freed() + table.len() as u64,
        NAMES as u64 + 1,
        "every name is either freed or still held"
    );
    assert!(
        table.name_bytes() <= bound,
        "{} bytes left",
        table.name_bytes()
    );
    // Tracked channels keep their names.
    let mut tracked = Vec::new();
    pipeline.for_each_channel(|id| tracked.push(table.name(id).to_string()));
    assert!(tracked.contains(&name(0)) && tracked.contains(&name(9)));

    let fp = Fingerprint::of(&grammar, &config);
    let meta = Meta {
        episode_log_len: None,
        written_unix: 0.0,
    };
    let bytes = checkpoint::encode(&pipeline, &table, &fp, &meta);
    eprintln!(
        "{NAMES} names of {NAME_BYTES} bytes: at most {most} bytes of names held, {} freed, checkpoint {} bytes",
        table.freed(),
        bytes.len()
    );
    assert!(bytes.len() < 2 << 20, "checkpoint of {} bytes", bytes.len());
    let restored = checkpoint::decode(&bytes, grammar, &config).unwrap();
    assert!(
        restored.names.len() <= 1 + 10 + 12,
        "{}",
        restored.names.len()
    );
    assert_eq!(restored.names.name_bytes(), {
        let ids = restored.names.len() - 1;
        11 + ids * NAME_BYTES
    });
}
