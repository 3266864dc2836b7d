//! The motifd engine: samples, far-future guard, reorder buffer, DSFB
//! observer, motif engine, episodes and counters. No I/O, no clocks, no HTTP:
//! callers feed it samples and read its counters.
//!
//! Data flow: producers parse lines ([`parse::RecordParser`]) into [`Sample`]s and
//! hand them over in batches ([`ingest`]); the engine thread owns a
//! [`pipeline::Pipeline`] — a [`future`] guard holding far-ahead samples, a
//! [`reorder::ReorderBuffer`] releasing samples in event-time order (with
//! [`watermark`]s per producer when fed through `push_from`) into a
//! [`motif::MotifEngine`] — which reports closed [`episode::Episode`]s to an
//! [`motif::EpisodeSink`]. What a checkpoint holds, each type encodes and
//! validates itself ([`checkpoint`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod channels;
pub mod checkpoint;
mod decimal;
pub mod dsfb;
pub mod dwell;
pub mod episode;
pub mod episode_stats;
mod flat_json;
pub mod future;
pub mod grammar;
pub mod ingest;
pub mod intern;
pub mod motif;
pub mod parse;
pub mod pipeline;
mod radix_heap;
pub mod reject;
pub mod reorder;
pub mod sample;
mod staging;
pub mod trust;
pub mod watermark;

pub use episode::{ClosedBy, Episode};
pub use grammar::{Grammar, GrammarError, MotifId, MotifParams, MotifSpec};
pub use intern::ChannelNames;
pub use motif::{EngineLimits, EpisodeSink, EpisodeStats, MotifEngine};
pub use motifd_histogram::FixedHistogram;
pub use parse::{RecordFormat, RecordParser};
pub use pipeline::{IngestCounters, InvalidConfig, Pipeline, PipelineConfig};
pub use reject::{RejectCounts, RejectReason};
pub use reorder::ReorderBuffer;
pub use sample::{ChannelId, ClassId, Sample};
pub use watermark::{Producer, ProducerKey, Watermarks};
