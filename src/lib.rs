//! `motifd` as a library: the command implementations behind the binary, so
//! fuzz targets and benchmarks can reach the daemon's configuration loader and
//! line handling without spawning a process.
#![forbid(unsafe_code)]

pub mod checkpoint_command;
pub mod cli;
pub mod daemon;
pub mod distill;
pub mod episode_id;
pub mod error;
pub mod generate;
pub mod grammar;
#[cfg(feature = "kafka")]
pub mod kafka_metadata;
pub mod line_ingest;
pub mod lines;
pub mod log_throttle;
pub mod partition_engine;
pub mod partitioned_replay;
pub mod partitioning;
pub mod plot;
pub mod postgres;
#[cfg(feature = "kafka")]
pub mod produce;
pub mod replay;
pub mod report;
pub mod routed_lines;
pub mod settings_rules;
pub mod summary;
