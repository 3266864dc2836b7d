//! The metric catalogue: every family, in rendering order, and how each is
//! filled from a [`Snapshot`] / [`ExporterStats`]. `docs/metrics.md` documents
//! the same list; the order here is the order on the wire.

use super::encoder::{Encoder, Family, Kind, Value};
use crate::self_stats::{CloseReason, ExporterStats};
use crate::snapshot::{CheckpointStats, ReorderStats, Snapshot};

const fn fam(
    name: &'static str,
    kind: Kind,
    unit: Option<&'static str>,
    help: &'static str,
) -> Family {
    Family {
        name,
        kind,
        unit,
        help,
        namespaced: true,
    }
}

const fn process(name: &'static str, kind: Kind, unit: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind,
        unit: Some(unit),
        help,
        namespaced: false,
    }
}

use Kind::{Counter, Gauge, Histogram};

// The six core families (those the reference exporter has): names and
// meanings are fixed.
const EPISODES: Family = fam(
    "episodes",
    Counter,
    None,
    "Episodes emitted per motif class since process start.",
);
const PEAK_LAST: Family = fam(
    "episode_peak_last",
    Gauge,
    None,
    "Absolute peak of the most recently closed episode per motif; NaN until one has closed.",
);
const TRUST_SUM_LAST: Family = fam("episode_trust_sum_last", Gauge, None, "Trust sum at the most recent episode boundary per motif; should stay in [0.99, 1.01]; NaN until one has closed.");
const STAGED: Family = fam(
    "streaming_residuals_staged",
    Gauge,
    None,
    "Samples currently held in the reorder buffer.",
);
const FLUSHED: Family = fam(
    "streaming_residuals_flushed",
    Counter,
    None,
    "Samples moved from the reorder buffer into the canonical stream.",
);
const DROPPED: Family = fam("streaming_residuals_dropped_out_of_window", Counter, None, "Samples dropped because they arrived behind the flushed frontier (earlier than a sample already released in order).");

const OPEN: Family = fam(
    "episodes_open",
    Gauge,
    None,
    "Episodes currently open per motif.",
);
const DURATION: Family = fam(
    "episode_duration_seconds",
    Histogram,
    Some("seconds"),
    "Event-time duration of closed episodes per motif.",
);
const PEAK: Family = fam(
    "episode_peak",
    Histogram,
    None,
    "Absolute peak of closed episodes per motif.",
);
const LOG_ERRORS: Family = fam(
    "episode_log_write_errors",
    Counter,
    None,
    "Failed writes and fsyncs of the episode log; each failed write is an episode missing from the log.",
);
const RECEIVED: Family = fam(
    "samples_received",
    Counter,
    None,
    "Samples parsed and accepted for ingest.",
);
const REJECTED: Family = fam(
    "samples_rejected",
    Counter,
    None,
    "Input samples rejected, by reason.",
);
const WATERMARK: Family = fam(
    "streaming_watermark_seconds",
    Gauge,
    Some("seconds"),
    "Flushed frontier of the reorder buffer, event time; NaN before the first flush.",
);
const NEWEST: Family = fam(
    "streaming_newest_event_seconds",
    Gauge,
    Some("seconds"),
    "Newest event time seen on an accepted sample; NaN before the first.",
);
const LATENESS: Family = fam(
    "streaming_lateness_seconds",
    Histogram,
    Some("seconds"),
    "How far behind the newest event time samples arrived (0 when in order).",
);
const RECOVERABLE: Family = fam(
    "streaming_dropped_recoverable_with_double_window",
    Counter,
    None,
    "Out-of-window drops that a reorder window twice as long would have admitted.",
);
const HELD_FUTURE: Family = fam(
    "streaming_residuals_held_future",
    Gauge,
    None,
    "Of the staged samples, those held as far ahead of the stream (more than max_future_jump) until the stream confirms the jump or carries on without them.",
);
const RELEASED_AT_CAP: Family = fam(
    "streaming_released_at_cap",
    Counter,
    None,
    "Samples released before their time because the reorder buffer held max_staged samples.",
);
const TIME_JUMPS: Family = fam(
    "streaming_time_jumps",
    Counter,
    None,
    "Jumps of the whole stream's event time that the far-future guard confirmed.",
);
const LATENCY: Family = fam(
    "ingest_to_flush_latency_seconds",
    Histogram,
    Some("seconds"),
    "Wall time from accepting a sample to its release from the reorder buffer.",
);
const DEPTH: Family = fam(
    "ingest_channel_depth",
    Gauge,
    None,
    "Batches of samples waiting in the channel between the producers and the engine thread.",
);
const CKPT_WRITES: Family = fam(
    "checkpoint_writes",
    Counter,
    None,
    "Checkpoints written (periodic, on SIGUSR1 and at shutdown).",
);
const CKPT_ERRORS: Family = fam(
    "checkpoint_write_errors",
    Counter,
    None,
    "Checkpoint writes that failed; the previous checkpoint stayed in place.",
);
const CKPT_SKIPPED: Family = fam(
    "checkpoint_skipped",
    Counter,
    None,
    "Periodic checkpoints skipped because the previous one was still being written.",
);
const CKPT_LAST: Family = fam(
    "checkpoint_last_success_timestamp_seconds",
    Gauge,
    Some("seconds"),
    "Unix time of the last checkpoint written; NaN before the first.",
);
const CKPT_SIZE: Family = fam(
    "checkpoint_size_bytes",
    Gauge,
    Some("bytes"),
    "Size of the last checkpoint written.",
);
const CKPT_RESTORED: Family = fam(
    "checkpoint_restored",
    Gauge,
    None,
    "1 when this process started from a restored checkpoint, else 0.",
);
const PRODUCERS_REFUSED: Family = fam(
    "ingest_producers_refused",
    Counter,
    None,
    "TCP producer connections closed at once because the producer cap was reached.",
);
const PRODUCERS_IDLE_CLOSED: Family = fam(
    "ingest_producers_idle_closed",
    Counter,
    None,
    "TCP producers disconnected after the ingest idle timeout without sending a byte.",
);
const TRACKED: Family = fam(
    "channels_tracked",
    Gauge,
    None,
    "Channels with live per-channel state.",
);
const EVICTED: Family = fam(
    "channels_evicted",
    Counter,
    None,
    "Channels whose state was evicted.",
);
const REFUSED: Family = fam(
    "channels_refused",
    Counter,
    None,
    "Samples refused because they would have started tracking a channel beyond the channel cap.",
);
const SCRAPES: Family = fam(
    "scrapes",
    Counter,
    None,
    "Metric scrapes answered by the HTTP server.",
);
const RENDER: Family = fam(
    "scrape_render_duration_seconds",
    Histogram,
    Some("seconds"),
    "Time spent rendering an exposition for a scrape.",
);
const CONNECTIONS_OPEN: Family = fam(
    "scrape_connections_open",
    Gauge,
    None,
    "Scrape connections open now.",
);
const CONNECTIONS_CLOSED: Family = fam(
    "scrape_connections_closed",
    Counter,
    None,
    "Scrape connections the server refused or closed itself, by reason.",
);
const REALTIME: Family = fam(
    "scrape_realtime_priority",
    Gauge,
    None,
    "SCHED_FIFO priority the scrape path runs at; 0 is normal scheduling.",
);
const TEXTFILE_WRITES: Family = fam(
    "textfile_writes",
    Counter,
    None,
    "Successful atomic writes of the metrics textfile.",
);
const TEXTFILE_ERRORS: Family = fam(
    "textfile_write_errors",
    Counter,
    None,
    "Failed writes of the metrics textfile.",
);
const KAFKA_ASSIGNED: Family = fam(
    "kafka_assigned_partitions",
    Gauge,
    None,
    "Kafka partitions assigned to this instance now.",
);
const KAFKA_LAG: Family = fam(
    "kafka_consumer_lag",
    Gauge,
    None,
    "Messages in an assigned partition not yet applied (high watermark minus next offset).",
);
const KAFKA_NEXT_OFFSET: Family = fam(
    "kafka_next_offset",
    Gauge,
    None,
    "Offset of the next message to apply in an assigned partition.",
);
const KAFKA_REBALANCES: Family = fam(
    "kafka_rebalances",
    Counter,
    None,
    "Partition assignments this instance received from the consumer group.",
);
const KAFKA_MESSAGES: Family = fam("kafka_messages", Counter, None, "Kafka messages applied.");
const KAFKA_SKIPPED: Family = fam(
    "kafka_messages_skipped",
    Counter,
    None,
    "Kafka messages skipped because a restored partition state already covered them.",
);
const KAFKA_RESTORES: Family = fam(
    "kafka_state_restores",
    Counter,
    None,
    "Partition states taken on at assignment, by result: restored, fresh (no state), failed (unusable state).",
);
const KAFKA_RESTORED_AGE: Family = fam(
    "kafka_state_restored_age_seconds",
    Gauge,
    Some("seconds"),
    "Age of the last partition state restored, when it was restored; NaN before the first.",
);
const KAFKA_STATE_WRITES: Family = fam(
    "kafka_state_writes",
    Counter,
    None,
    "Partition states written to the state topic.",
);
const KAFKA_STATE_ERRORS: Family = fam(
    "kafka_state_write_errors",
    Counter,
    None,
    "Partition state writes that failed; offsets stay uncommitted.",
);
const KAFKA_STATE_LAST: Family = fam(
    "kafka_state_last_write_timestamp_seconds",
    Gauge,
    Some("seconds"),
    "Unix time of the last partition state written; NaN before the first.",
);
const KAFKA_COMMIT_ERRORS: Family = fam(
    "kafka_commit_errors",
    Counter,
    None,
    "Offset commits that failed.",
);
const KAFKA_PUBLISHED: Family = fam(
    "kafka_episodes_published",
    Counter,
    None,
    "Episodes published to the episodes topic.",
);
const KAFKA_PUBLISH_ERRORS: Family = fam(
    "kafka_publish_errors",
    Counter,
    None,
    "Episodes that could not be published to the episodes topic.",
);
const PG_UP: Family = fam(
    "postgres_up",
    Gauge,
    None,
    "1 while the PostgreSQL source has a verified read-only session open.",
);
const PG_POLLS: Family = fam(
    "postgres_polls",
    Counter,
    None,
    "Polls of the PostgreSQL source completed.",
);
const PG_ERRORS: Family = fam(
    "postgres_poll_errors",
    Counter,
    None,
    "Failed connects and polls of the PostgreSQL source, by reason.",
);
const PG_RECONNECTS: Family = fam(
    "postgres_reconnects",
    Counter,
    None,
    "Sessions the PostgreSQL source re-established after losing or failing one.",
);
const PG_LAST: Family = fam(
    "postgres_last_success_timestamp_seconds",
    Gauge,
    Some("seconds"),
    "Unix time of the last successful poll of the PostgreSQL source; NaN before the first.",
);
const PG_INTERVAL: Family = fam(
    "postgres_poll_interval_seconds",
    Gauge,
    Some("seconds"),
    "Interval between polls of the PostgreSQL source now, after back-off.",
);
const PG_RESIDUALS: Family = fam(
    "postgres_residuals",
    Counter,
    None,
    "Residual samples the PostgreSQL source handed to the engine.",
);
const PG_TAPE_ERRORS: Family = fam(
    "postgres_tape_write_errors",
    Counter,
    None,
    "Failed writes to the PostgreSQL source's tape.",
);
const PG_DURATION: Family = fam(
    "postgres_poll_duration_seconds",
    Histogram,
    Some("seconds"),
    "Wall time of one poll of the PostgreSQL source.",
);
const BUILD: Family = fam(
    "build_info",
    Gauge,
    None,
    "Build information; the value is always 1.",
);
const START: Family = process(
    "process_start_time_seconds",
    Gauge,
    "seconds",
    "Start time of the process since the Unix epoch.",
);
const RSS: Family = process(
    "process_resident_memory_bytes",
    Gauge,
    "bytes",
    "Resident memory size.",
);
const CPU: Family = process(
    "process_cpu_seconds",
    Counter,
    "seconds",
    "Total user and system CPU time spent.",
);

/// Writes the six core families.
pub(super) fn core(enc: &mut Encoder<'_>, s: &Snapshot) {
    per_motif(enc, s, &EPISODES, "_total", |m| {
        Value::Int(m.episodes_total)
    });
    per_motif(enc, s, &PEAK_LAST, "", |m| Value::Float(m.peak_last));
    per_motif(enc, s, &TRUST_SUM_LAST, "", |m| {
        Value::Float(m.trust_sum_last)
    });
    scalar(enc, &STAGED, "", Value::Int(s.reorder.staged));
    counter(enc, &FLUSHED, s.reorder.flushed_total);
    counter(enc, &DROPPED, s.reorder.dropped_out_of_window_total);
}

/// Writes every family after the six core ones, in the order of
/// `docs/metrics.md`.
pub(super) fn after_core(
    enc: &mut Encoder<'_>,
    s: &Snapshot,
    x: &ExporterStats,
    with_process: bool,
) {
    episode_detail(enc, s);
    ingest_counts(enc, s);
    reorder(enc, &s.reorder);
    ingest_path(enc, s);
    channels(enc, s);
    exporter_self(enc, x);
    if let Some(c) = &s.checkpoint {
        checkpoint(enc, c);
    }
    if let Some(k) = &s.kafka {
        kafka(enc, k);
    }
    build(enc, s);
    if !s.postgres.is_empty() {
        postgres(enc, s);
    }
    if let Some(p) = s.process.as_ref().filter(|_| with_process) {
        scalar(enc, &START, "", Value::Float(p.start_time_seconds));
        scalar(enc, &RSS, "", Value::Int(p.resident_memory_bytes));
        scalar(enc, &CPU, "_total", Value::Float(p.cpu_seconds_total));
    }
}

/// Open episodes, the per-motif histograms and episode-log errors.
fn episode_detail(enc: &mut Encoder<'_>, s: &Snapshot) {
    per_motif(enc, s, &OPEN, "", |m| Value::Int(m.open_episodes));
    enc.family(&DURATION);
    for (i, m) in s.motifs.iter().enumerate() {
        enc.motif_histogram(i, &m.duration);
    }
    enc.family(&PEAK);
    for (i, m) in s.motifs.iter().enumerate() {
        enc.motif_histogram(i, &m.peak);
    }
    if let Some(errors) = s.episode_log_write_errors_total {
        counter(enc, &LOG_ERRORS, errors);
    }
}

/// Records received, and rejected by reason.
fn ingest_counts(enc: &mut Encoder<'_>, s: &Snapshot) {
    counter(enc, &RECEIVED, s.received_total);
    enc.family(&REJECTED);
    for (reason, n) in &s.rejected {
        enc.sample("_total", &[("reason", reason)], Value::Int(*n));
    }
}

/// The reorder buffer beyond the core three: frontier, lateness, the
/// far-future guard and the staged cap.
fn reorder(enc: &mut Encoder<'_>, r: &ReorderStats) {
    scalar(enc, &WATERMARK, "", Value::Float(r.watermark_seconds));
    scalar(enc, &NEWEST, "", Value::Float(r.newest_event_seconds));
    enc.family(&LATENESS);
    enc.histogram(&[], &r.lateness);
    counter(
        enc,
        &RECOVERABLE,
        r.dropped_recoverable_with_double_window_total,
    );
    scalar(enc, &HELD_FUTURE, "", Value::Int(r.held_future));
    counter(enc, &RELEASED_AT_CAP, r.released_at_cap_total);
    counter(enc, &TIME_JUMPS, r.time_jumps_total);
}

/// Ingest-to-flush latency, the producer → engine channel and the TCP
/// producers.
fn ingest_path(enc: &mut Encoder<'_>, s: &Snapshot) {
    enc.family(&LATENCY);
    enc.histogram(&[], &s.ingest_to_flush_latency);
    if let Some(depth) = s.ingest_channel_depth {
        scalar(enc, &DEPTH, "", Value::Int(depth));
    }
    if let Some(refused) = s.ingest_producers_refused_total {
        counter(enc, &PRODUCERS_REFUSED, refused);
    }
    if let Some(closed) = s.ingest_producers_idle_closed_total {
        counter(enc, &PRODUCERS_IDLE_CLOSED, closed);
    }
}

/// Channel tracking.
fn channels(enc: &mut Encoder<'_>, s: &Snapshot) {
    let c = &s.channels;
    scalar(enc, &TRACKED, "", Value::Int(c.tracked));
    counter(enc, &EVICTED, c.evicted_total);
    counter(enc, &REFUSED, c.refused_total);
}

/// The exporter's own figures: scrapes, connections, textfile writes.
fn exporter_self(enc: &mut Encoder<'_>, x: &ExporterStats) {
    counter(enc, &SCRAPES, x.scrapes_total);
    enc.family(&RENDER);
    enc.histogram(&[], &x.render_duration);
    let open = Value::Int(x.scrape_connections_open);
    scalar(enc, &CONNECTIONS_OPEN, "", open);
    enc.family(&CONNECTIONS_CLOSED);
    for (reason, n) in CloseReason::ALL
        .iter()
        .zip(x.scrape_connections_closed_total)
    {
        enc.sample("_total", &[("reason", reason.as_str())], Value::Int(n));
    }
    scalar(enc, &REALTIME, "", Value::Int(x.scrape_realtime_priority));
    let writes = Value::Int(x.textfile_writes_total);
    scalar(enc, &TEXTFILE_WRITES, "_total", writes);
    let errors = Value::Int(x.textfile_write_errors_total);
    scalar(enc, &TEXTFILE_ERRORS, "_total", errors);
}

/// Checkpoint writes, for a daemon with checkpoints configured.
fn checkpoint(enc: &mut Encoder<'_>, c: &CheckpointStats) {
    counter(enc, &CKPT_WRITES, c.writes_total);
    counter(enc, &CKPT_ERRORS, c.write_errors_total);
    counter(enc, &CKPT_SKIPPED, c.skipped_total);
    let last = Value::Float(c.last_success_timestamp_seconds);
    scalar(enc, &CKPT_LAST, "", last);
    scalar(enc, &CKPT_SIZE, "", Value::Int(c.size_bytes));
    scalar(enc, &CKPT_RESTORED, "", Value::Int(u64::from(c.restored)));
}

/// The build-info series.
fn build(enc: &mut Encoder<'_>, s: &Snapshot) {
    enc.family(&BUILD);
    let b = &s.build;
    let labels = [
        ("version", b.version.as_str()),
        ("git_commit", &b.git_commit),
        ("rustc", &b.rustc),
    ];
    enc.sample("", &labels, Value::Int(1));
}

fn kafka(enc: &mut Encoder<'_>, k: &crate::snapshot::KafkaStats) {
    scalar(enc, &KAFKA_ASSIGNED, "", Value::Int(k.assigned_partitions));
    enc.family(&KAFKA_LAG);
    for &(partition, lag) in &k.lag {
        let label = partition.to_string();
        let lag = u64::try_from(lag).unwrap_or(0);
        enc.sample("", &[("partition", &label)], Value::Int(lag));
    }
    enc.family(&KAFKA_NEXT_OFFSET);
    for &(partition, offset) in &k.next_offsets {
        let label = partition.to_string();
        let offset = u64::try_from(offset).unwrap_or(0);
        enc.sample("", &[("partition", &label)], Value::Int(offset));
    }
    let counters = [
        (&KAFKA_REBALANCES, k.rebalances_total),
        (&KAFKA_MESSAGES, k.messages_total),
        (&KAFKA_SKIPPED, k.messages_skipped_total),
    ];
    for (family, n) in counters {
        scalar(enc, family, "_total", Value::Int(n));
    }
    enc.family(&KAFKA_RESTORES);
    for (result, n) in [
        ("restored", k.restores_total),
        ("fresh", k.fresh_starts_total),
        ("failed", k.restore_failures_total),
    ] {
        enc.sample("_total", &[("result", result)], Value::Int(n));
    }
    let age = Value::Float(k.restored_age_seconds);
    scalar(enc, &KAFKA_RESTORED_AGE, "", age);
    let counters = [
        (&KAFKA_STATE_WRITES, k.state_writes_total),
        (&KAFKA_STATE_ERRORS, k.state_write_errors_total),
    ];
    for (family, n) in counters {
        scalar(enc, family, "_total", Value::Int(n));
    }
    let last = Value::Float(k.state_last_write_timestamp_seconds);
    scalar(enc, &KAFKA_STATE_LAST, "", last);
    let counters = [
        (&KAFKA_COMMIT_ERRORS, k.commit_errors_total),
        (&KAFKA_PUBLISHED, k.episodes_published_total),
        (&KAFKA_PUBLISH_ERRORS, k.publish_errors_total),
    ];
    for (family, n) in counters {
        scalar(enc, family, "_total", Value::Int(n));
    }
}

/// The `<ns>_postgres_*` families, one series per source.
fn postgres(enc: &mut Encoder<'_>, s: &Snapshot) {
    let each = |enc: &mut Encoder<'_>,
                family: &Family,
                suffix: &str,
                value: &dyn Fn(&crate::snapshot::PostgresSourceStats) -> Value| {
        enc.family(family);
        for p in &s.postgres {
            enc.sample(suffix, &[("source", &p.source)], value(p));
        }
    };
    each(enc, &PG_UP, "", &|p| Value::Int(u64::from(p.up)));
    each(enc, &PG_POLLS, "_total", &|p| Value::Int(p.polls_total));
    enc.family(&PG_ERRORS);
    for p in &s.postgres {
        for (reason, n) in &p.poll_errors_total {
            let labels = [("source", p.source.as_str()), ("reason", reason)];
            enc.sample("_total", &labels, Value::Int(*n));
        }
    }
    each(enc, &PG_RECONNECTS, "_total", &|p| {
        Value::Int(p.reconnects_total)
    });
    each(enc, &PG_LAST, "", &|p| {
        Value::Float(p.last_success_timestamp_seconds)
    });
    each(enc, &PG_INTERVAL, "", &|p| {
        Value::Float(p.poll_interval_seconds)
    });
    each(enc, &PG_RESIDUALS, "_total", &|p| {
        Value::Int(p.residuals_total)
    });
    each(enc, &PG_TAPE_ERRORS, "_total", &|p| {
        Value::Int(p.tape_write_errors_total)
    });
    enc.family(&PG_DURATION);
    for p in &s.postgres {
        enc.histogram(&[("source", &p.source)], &p.poll_duration);
    }
}

fn per_motif(
    enc: &mut Encoder<'_>,
    s: &Snapshot,
    family: &Family,
    suffix: &str,
    value: impl Fn(&crate::snapshot::MotifStats) -> Value,
) {
    enc.family(family);
    enc.motif_samples(suffix, s.motifs.iter().map(value));
}

/// A counter family of one series without labels.
fn counter(enc: &mut Encoder<'_>, family: &Family, n: u64) {
    scalar(enc, family, "_total", Value::Int(n));
}

/// A family of one series without labels.
fn scalar(enc: &mut Encoder<'_>, family: &Family, suffix: &str, value: Value) {
    enc.family(family);
    enc.sample(suffix, &[], value);
}
