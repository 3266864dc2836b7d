//! The plain-data metrics snapshot the daemon fills from the engine's counters.
//!
//! Nothing here refers to the engine: the daemon copies numbers in, the
//! renderer reads them out. Every field documents what the daemon must put
//! there and which metric family it becomes (`<ns>` is the namespace, `dsfb`
//! by default). Order matters only where stated: the renderer emits series in
//! the order of the vectors, so the daemon keeps them in a stable order
//! (e.g. sorted by name) for byte-identical output across scrapes.

use crate::histogram::{
    HistogramSnapshot, EPISODE_DURATION_BOUNDS_SECONDS, EPISODE_PEAK_BOUNDS,
    INGEST_TO_FLUSH_BOUNDS_SECONDS, LATENESS_BOUNDS_SECONDS, POSTGRES_POLL_DURATION_BOUNDS_SECONDS,
};

/// Everything the engine side contributes to one exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// One entry per motif, in a stable order; motif names must be unique
    /// (a repeated name would render duplicate series).
    pub motifs: Vec<MotifStats>,
    /// Samples parsed and accepted for ingest since start
    /// (`<ns>_samples_received_total`).
    pub received_total: u64,
    /// Samples rejected since start, by reason
    /// (`<ns>_samples_rejected_total{reason}`). The reasons are a closed set
    /// fixed by the daemon (e.g. `malformed`, `missing_field`, `non_finite`,
    /// `unknown_class`, `line_too_long`, `invalid_utf8`); list
    /// every reason from the start, with 0, so the series exist before the
    /// first rejection.
    pub rejected: Vec<(String, u64)>,
    /// Reorder-buffer state.
    pub reorder: ReorderStats,
    /// Channel (series key) tracking.
    pub channels: ChannelStats,
    /// Batches waiting in the ingest channel between the producers and the
    /// engine thread (`<ns>_ingest_channel_depth`); `None` omits the family.
    pub ingest_channel_depth: Option<u64>,
    /// TCP producer connections closed at once because the producer cap was
    /// reached (`<ns>_ingest_producers_refused_total`); `None` omits the
    /// family (no TCP listener).
    pub ingest_producers_refused_total: Option<u64>,
    /// TCP producers disconnected after the ingest idle timeout without a
    /// byte (`<ns>_ingest_producers_idle_closed_total`); `None` omits the
    /// family (no TCP listener).
    pub ingest_producers_idle_closed_total: Option<u64>,
    /// Failed writes and fsyncs of the episode log
    /// (`<ns>_episode_log_write_errors_total`); `None` omits the family (no
    /// episode log).
    pub episode_log_write_errors_total: Option<u64>,
    /// Wall-clock time from accepting a sample to the reorder buffer releasing
    /// it (`<ns>_ingest_to_flush_latency_seconds`); fill with
    /// [`crate::histogram::from_hdr`].
    pub ingest_to_flush_latency: HistogramSnapshot,
    /// `<ns>_build_info{version,git_commit,rustc} 1`.
    pub build: BuildInfo,
    /// Process metrics (`process_*`); `None` omits them (non-Linux).
    /// Fill with [`crate::process::ProcessStats::read`].
    pub process: Option<crate::process::ProcessStats>,
    /// Checkpoint outcomes (`<ns>_checkpoint_*`); `None` omits the families
    /// (no checkpoint configured).
    pub checkpoint: Option<CheckpointStats>,
    /// Kafka consumer-group member (`<ns>_kafka_*`); `None` omits the
    /// families (no Kafka source).
    pub kafka: Option<KafkaStats>,
    /// Live PostgreSQL sources (`<ns>_postgres_*{source}`), in configuration
    /// order; empty omits the families.
    pub postgres: Vec<PostgresSourceStats>,
}

/// One live PostgreSQL source.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresSourceStats {
    /// The source's configured name: the `source` label value.
    pub source: String,
    /// 1 while a verified read-only session is open (`<ns>_postgres_up`).
    pub up: bool,
    /// Polls completed (`<ns>_postgres_polls_total`).
    pub polls_total: u64,
    /// Failed connects and polls by reason
    /// (`<ns>_postgres_poll_errors_total{reason}`): a closed set, every
    /// reason listed from the start.
    pub poll_errors_total: Vec<(&'static str, u64)>,
    /// Connections re-established after one was lost or refused
    /// (`<ns>_postgres_reconnects_total`).
    pub reconnects_total: u64,
    /// Unix time of the last successful poll; NaN before the first
    /// (`<ns>_postgres_last_success_timestamp_seconds`).
    pub last_success_timestamp_seconds: f64,
    /// The interval between polls now, seconds, after back-off
    /// (`<ns>_postgres_poll_interval_seconds`).
    pub poll_interval_seconds: f64,
    /// Residual samples handed to the engine (`<ns>_postgres_residuals_total`).
    pub residuals_total: u64,
    /// Failed writes to the source's tape (`<ns>_postgres_tape_write_errors_total`).
    pub tape_write_errors_total: u64,
    /// Wall time of a poll (`<ns>_postgres_poll_duration_seconds`), over
    /// [`POSTGRES_POLL_DURATION_BOUNDS_SECONDS`].
    pub poll_duration: HistogramSnapshot,
}

impl PostgresSourceStats {
    /// A source that has not polled yet.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            up: false,
            polls_total: 0,
            poll_errors_total: Vec::new(),
            reconnects_total: 0,
            last_success_timestamp_seconds: f64::NAN,
            poll_interval_seconds: f64::NAN,
            residuals_total: 0,
            tape_write_errors_total: 0,
            poll_duration: HistogramSnapshot::empty(POSTGRES_POLL_DURATION_BOUNDS_SECONDS),
        }
    }
}

/// Per-motif episode statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct MotifStats {
    /// The motif's name: the `motif` label value. From the motif catalogue
    /// (a bounded set), never from input data.
    pub name: String,
    /// Episodes of this motif closed since start (`<ns>_episodes_total`).
    pub episodes_total: u64,
    /// Peak of the most recently closed episode (`<ns>_episode_peak_last`);
    /// `f64::NAN` until the first episode closes.
    pub peak_last: f64,
    /// Trust sum of the most recently closed episode
    /// (`<ns>_episode_trust_sum_last`); `f64::NAN` until the first episode
    /// closes. Expected within [0.99, 1.01].
    pub trust_sum_last: f64,
    /// Episodes of this motif currently open (`<ns>_episodes_open`).
    pub open_episodes: u64,
    /// Event-time duration of closed episodes, seconds
    /// (`<ns>_episode_duration_seconds`), over
    /// [`EPISODE_DURATION_BOUNDS_SECONDS`].
    pub duration: HistogramSnapshot,
    /// Peak of closed episodes (`<ns>_episode_peak`), over
    /// [`EPISODE_PEAK_BOUNDS`].
    pub peak: HistogramSnapshot,
}

impl MotifStats {
    /// A motif with no episodes yet: counters 0, last values NaN, empty
    /// histograms over the documented bounds.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            episodes_total: 0,
            peak_last: f64::NAN,
            trust_sum_last: f64::NAN,
            open_episodes: 0,
            duration: HistogramSnapshot::empty(EPISODE_DURATION_BOUNDS_SECONDS),
            peak: HistogramSnapshot::empty(EPISODE_PEAK_BOUNDS),
        }
    }
}

/// Reorder (event-time window) buffer statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ReorderStats {
    /// Samples currently held in the buffer (`<ns>_streaming_residuals_staged`).
    pub staged: u64,
    /// Samples released in event-time order since start
    /// (`<ns>_streaming_residuals_flushed_total`).
    pub flushed_total: u64,
    /// Samples that arrived behind the flushed frontier and were dropped
    /// (`<ns>_streaming_residuals_dropped_out_of_window_total`).
    pub dropped_out_of_window_total: u64,
    /// Of those drops, the ones a window twice as long would have admitted
    /// (`<ns>_streaming_dropped_recoverable_with_double_window_total`).
    pub dropped_recoverable_with_double_window_total: u64,
    /// The flushed frontier: event time (seconds) up to which samples have
    /// been released (`<ns>_streaming_watermark_seconds`); `f64::NAN` before
    /// the first flush.
    pub watermark_seconds: f64,
    /// Newest event time (seconds) seen on any accepted sample
    /// (`<ns>_streaming_newest_event_seconds`); `f64::NAN` before the first.
    pub newest_event_seconds: f64,
    /// How far behind the newest event time each sample arrived, seconds
    /// (`<ns>_streaming_lateness_seconds`; in-order samples count as 0), over
    /// [`LATENESS_BOUNDS_SECONDS`].
    pub lateness: HistogramSnapshot,
    /// Of the staged samples, those held as far ahead of the stream until it
    /// confirms or refutes the jump (`<ns>_streaming_residuals_held_future`).
    pub held_future: u64,
    /// Samples released early because the buffer held its cap
    /// (`<ns>_streaming_released_at_cap_total`).
    pub released_at_cap_total: u64,
    /// Jumps of the whole stream's event time the far-future guard confirmed
    /// (`<ns>_streaming_time_jumps_total`).
    pub time_jumps_total: u64,
}

impl Default for ReorderStats {
    fn default() -> Self {
        Self {
            staged: 0,
            flushed_total: 0,
            dropped_out_of_window_total: 0,
            dropped_recoverable_with_double_window_total: 0,
            watermark_seconds: f64::NAN,
            newest_event_seconds: f64::NAN,
            lateness: HistogramSnapshot::empty(LATENESS_BOUNDS_SECONDS),
            held_future: 0,
            released_at_cap_total: 0,
            time_jumps_total: 0,
        }
    }
}

/// Channel (per-series state) tracking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelStats {
    /// Channels with live state (`<ns>_channels_tracked`).
    pub tracked: u64,
    /// Channels whose state was evicted (idle or over the cap) since start
    /// (`<ns>_channels_evicted_total`).
    pub evicted_total: u64,
    /// Samples refused because tracking their channel would exceed the
    /// channel cap (`<ns>_channels_refused_total`). They had been released by
    /// the reorder buffer, so they count in `flushed_total`, not as rejected.
    pub refused_total: u64,
}

/// Build identification (`<ns>_build_info`, a gauge with value 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// Crate version, e.g. `env!("CARGO_PKG_VERSION")`.
    pub version: String,
    /// Git commit the binary was built from (`unknown` if not known).
    pub git_commit: String,
    /// rustc version the binary was built with (`unknown` if not known).
    pub rustc: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: "unknown".to_owned(),
            rustc: "unknown".to_owned(),
        }
    }
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            motifs: Vec::new(),
            received_total: 0,
            rejected: Vec::new(),
            reorder: ReorderStats::default(),
            channels: ChannelStats::default(),
            ingest_channel_depth: None,
            ingest_producers_refused_total: None,
            ingest_producers_idle_closed_total: None,
            episode_log_write_errors_total: None,
            ingest_to_flush_latency: HistogramSnapshot::empty(INGEST_TO_FLUSH_BOUNDS_SECONDS),
            build: BuildInfo::default(),
            process: None,
            checkpoint: None,
            kafka: None,
            postgres: Vec::new(),
        }
    }
}

/// Checkpoint outcomes of the daemon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckpointStats {
    /// Checkpoints written.
    pub writes_total: u64,
    /// Checkpoint writes that failed (the previous checkpoint stayed).
    pub write_errors_total: u64,
    /// Periodic checkpoints skipped because the previous one was still being
    /// written.
    pub skipped_total: u64,
    /// Unix time of the last checkpoint written; NaN before the first.
    pub last_success_timestamp_seconds: f64,
    /// Size of the last checkpoint written, bytes.
    pub size_bytes: u64,
    /// Whether this process started from a restored checkpoint.
    pub restored: bool,
}

/// What a Kafka consumer-group member did since it started.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KafkaStats {
    /// Partitions assigned now (`<ns>_kafka_assigned_partitions`).
    pub assigned_partitions: u64,
    /// Consumer lag of each assigned partition whose high watermark is known:
    /// `(partition, messages)`, sorted by partition
    /// (`<ns>_kafka_consumer_lag{partition}`).
    pub lag: Vec<(i32, i64)>,
    /// The next offset to apply of each assigned partition that has one:
    /// `(partition, offset)`, sorted by partition
    /// (`<ns>_kafka_next_offset{partition}`).
    pub next_offsets: Vec<(i32, i64)>,
    /// Assignments received (`<ns>_kafka_rebalances_total`).
    pub rebalances_total: u64,
    /// Messages applied (`<ns>_kafka_messages_total`).
    pub messages_total: u64,
    /// Messages skipped because a restored state already covered them
    /// (`<ns>_kafka_messages_skipped_total`).
    pub messages_skipped_total: u64,
    /// Partition states restored from the state topic
    /// (`<ns>_kafka_state_restores_total{result="restored"}`).
    pub restores_total: u64,
    /// Partitions started empty: no state in the state topic
    /// (`{result="fresh"}`).
    pub fresh_starts_total: u64,
    /// States found but not usable (damaged, another configuration)
    /// (`{result="failed"}`).
    pub restore_failures_total: u64,
    /// Age of the last state restored when it was restored, seconds
    /// (`<ns>_kafka_state_restored_age_seconds`); NaN before the first.
    pub restored_age_seconds: f64,
    /// Partition states written to the state topic
    /// (`<ns>_kafka_state_writes_total`).
    pub state_writes_total: u64,
    /// State writes that failed (`<ns>_kafka_state_write_errors_total`).
    pub state_write_errors_total: u64,
    /// Unix time of the last state write that succeeded
    /// (`<ns>_kafka_state_last_write_timestamp_seconds`); NaN before it.
    pub state_last_write_timestamp_seconds: f64,
    /// Offset commits that failed (`<ns>_kafka_commit_errors_total`).
    pub commit_errors_total: u64,
    /// Episodes published to the episodes topic
    /// (`<ns>_kafka_episodes_published_total`).
    pub episodes_published_total: u64,
    /// Episode publishes that failed (`<ns>_kafka_publish_errors_total`).
    pub publish_errors_total: u64,
}
