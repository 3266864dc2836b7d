//! Metrics exposition for motifd: a plain-data [`Snapshot`] the daemon fills
//! from the engine's counters, a deterministic renderer for OpenMetrics 1.0
//! and the classic Prometheus text format, a hardened HTTP scrape server and
//! an atomic textfile writer.
//!
//! # Wiring (daemon side)
//!
//! 1. Create a [`SnapshotHandle`] and a [`Liveness`]; keep a
//!    [`SnapshotPublisher`] on the engine thread.
//! 2. Every publish interval the engine thread calls
//!    [`SnapshotPublisher::publish_with`], filling the reusable snapshot from
//!    its counters, and [`Liveness::beat`] on every loop iteration.
//! 3. Start a [`ScrapeServer`] (and/or a [`TextfileWriter`]) with clones of
//!    the handle; on shutdown call their `stop()`, which joins every thread
//!    (the textfile writer writes once more before it returns).
//!
//! Rendering happens only on the scrape side; publishing costs the engine a
//! pointer swap under a `parking_lot` mutex.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod atomic_file;
pub mod histogram;
pub mod html;
pub mod live;
pub mod liveness;
pub mod process;
pub mod publish;
pub mod render;
pub mod self_stats;
pub mod server;
pub mod snapshot;
pub mod textfile;

pub use histogram::{from_hdr, FixedHistogram, HdrUnit, HistogramSnapshot};
pub use live::{LiveEpisodes, LiveHandle};
pub use liveness::Liveness;
pub use process::ProcessStats;
pub use publish::{SnapshotHandle, SnapshotPublisher};
pub use render::{render, render_to_vec, ExpositionFormat, Families, Namespace, RenderOptions};
pub use self_stats::{CloseReason, ExporterCounters, ExporterStats};
pub use server::{ScrapeServer, ServerConfig};
pub use snapshot::{
    BuildInfo, ChannelStats, CheckpointStats, KafkaStats, MotifStats, PostgresSourceStats,
    ReorderStats, Snapshot,
};
pub use textfile::{TextfileConfig, TextfileWriter};
