//! The motifd engine: samples, reorder buffer, DSFB observer, motif engine,
//! episodes and counters. No I/O, no clocks, no HTTP: callers feed it samples and
//! read its counters.
//!
//! Data flow: producers parse lines ([`parse::RecordParser`]) into [`Sample`]s and
//! hand them over in batches ([`ingest`]); the engine thread owns a
//! [`pipeline::Pipeline`] — a [`reorder::ReorderBuffer`] releasing samples in
//! event-time order into a [`motif::MotifEngine`] — which reports closed
//! [`episode::Episode`]s to an [`motif::EpisodeSink`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod channels;
pub mod checkpoint;
pub mod dsfb;
pub mod dwell;
pub mod episode;
pub mod grammar;
pub mod histogram;
pub mod ingest;
pub mod intern;
pub mod motif;
pub mod parse;
pub mod pipeline;
pub mod reject;
pub mod reorder;
pub mod sample;
pub mod trust;

pub use episode::{ClosedBy, Episode};
pub use grammar::{Grammar, GrammarError, MotifId, MotifParams, MotifSpec};
pub use intern::ChannelNames;
pub use motif::{EngineLimits, EpisodeSink, MotifEngine};
pub use parse::{Format, RecordParser};
pub use pipeline::{IngestCounters, Pipeline};
pub use reject::{RejectCounts, RejectReason};
pub use reorder::ReorderBuffer;
pub use sample::{ChannelId, ClassId, Sample};
