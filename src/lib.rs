//! `motifd` as a library: the command implementations behind the binary, so
//! fuzz targets and benchmarks can reach the daemon's configuration loader and
//! line handling without spawning a process.
#![forbid(unsafe_code)]

pub mod cli;
pub mod daemon;
pub mod error;
pub mod generate;
pub mod inspect;
pub mod lines;
pub mod postgres;
pub mod replay;
pub mod summary;
