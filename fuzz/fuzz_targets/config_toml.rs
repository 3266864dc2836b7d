//! The daemon's config loader (`motifd::daemon::config::from_toml`) on
//! arbitrary text.
//!
//! A refused config must carry a message starting with `config:`. An accepted
//! one must satisfy every documented rule (docs/configuration.md), and
//! everything the daemon builds from it before touching the network or the
//! file system must build without a panic: the durations, the reorder buffer
//! and engine, the producer → engine channel and the line splitter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motifd::daemon::config::{from_toml, secs, Config, MAX_CHANNEL_CAPACITY, MAX_INTERVAL_SECONDS};
use motifd::lines::LineSplitter;
use motifd_engine::{ingest, EngineLimits, Grammar, Pipeline, PipelineConfig};
use motifd_exporter::Namespace;
use std::sync::{Arc, OnceLock};

fn grammar() -> &'static Arc<Grammar> {
    static GRAMMAR: OnceLock<Arc<Grammar>> = OnceLock::new();
    GRAMMAR.get_or_init(|| Arc::new(Grammar::default()))
}

fn check_rules(c: &Config) {
    for v in [c.window, c.idle_flush] {
        assert!(v >= 0.0 && v.is_finite(), "{v}");
    }
    for v in [c.textfile_interval, c.fsync_interval, c.checkpoint_interval] {
        assert!(v > 0.0 && v.is_finite(), "{v}");
    }
    if let Some(ttl) = c.channel_ttl {
        assert!(ttl > 0.0 && ttl.is_finite(), "channel_ttl {ttl}");
    }
    for n in [
        c.max_channels,
        c.max_producers,
        c.channel_capacity,
        c.max_line,
    ] {
        assert!(n >= 1);
    }
    assert!(c.channel_capacity <= MAX_CHANNEL_CAPACITY);
    for v in [
        c.idle_flush,
        c.textfile_interval,
        c.fsync_interval,
        c.checkpoint_interval,
    ] {
        assert!(v <= MAX_INTERVAL_SECONDS, "{v}");
    }
    assert!(Namespace::new(&c.namespace).is_ok(), "{:?}", c.namespace);
    assert!(c.inputs.iter().filter(|i| *i == "-").count() <= 1);
}

/// What `motifd run` builds from the config before any I/O.
fn build(c: &Config) {
    let _durations = [
        secs(c.idle_flush),
        secs(c.textfile_interval),
        secs(c.fsync_interval),
        secs(c.checkpoint_interval),
    ];
    let config = PipelineConfig {
        window: c.window,
        limits: EngineLimits {
            channel_ttl: c.channel_ttl,
            max_channels: c.max_channels,
        },
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::new(Arc::clone(grammar()), &config)
        .expect("a configuration that validated builds a pipeline");
    assert!(pipeline.counters().conserved());
    let (tx, rx) = ingest::channel(c.channel_capacity);
    drop((tx, rx));
    let _splitter = LineSplitter::new(c.max_line);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match from_toml(text) {
        Ok(c) => {
            check_rules(&c);
            build(&c);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("config: "), "{msg}");
        }
    }
});
