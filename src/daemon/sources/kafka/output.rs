//! Where the partitions' episodes go: the daemon's episode log (shared with
//! the engine thread through its [`Appender`]), the episodes topic (key
//! `motif|channel`, the id as header `id`), and this instance's per-motif
//! counters.

use super::clients::Delivery;
use crate::daemon::episode_log::Appender;
use crate::episode_id::id_hex;
use crate::partition_engine::RecordSink;
use motifd_engine::Episode;
use motifd_engine::FixedHistogram;
use motifd_exporter::histogram::{
    EPISODE_DURATION_BOUNDS_SECONDS as DURATION_BOUNDS, EPISODE_PEAK_BOUNDS as PEAK_BOUNDS,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, ThreadedProducer};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Per-motif figures of the episodes this instance closed.
#[derive(Debug, Clone)]
pub struct MotifCounts {
    /// Episodes closed.
    pub episodes: u64,
    /// Peak of the last one.
    pub last_peak: f64,
    /// Trust sum of the last one.
    pub last_trust_sum: f64,
    /// Durations.
    pub duration: FixedHistogram,
    /// Peaks.
    pub peak: FixedHistogram,
}

impl Default for MotifCounts {
    fn default() -> Self {
        Self {
            episodes: 0,
            last_peak: f64::NAN,
            last_trust_sum: f64::NAN,
            duration: FixedHistogram::new(DURATION_BOUNDS),
            peak: FixedHistogram::new(PEAK_BOUNDS),
        }
    }
}

/// The partitions' episode sink.
pub struct EpisodeOutput {
    log: Option<Appender>,
    topic: Option<String>,
    producer: ThreadedProducer<Delivery>,
    delivery: Arc<Delivery>,
    key: Vec<u8>,
    /// By motif name (a grammar reload renumbers motifs, names stay).
    pub motifs: Vec<(String, MotifCounts)>,
    /// Episodes written to the log.
    pub logged: u64,
    log_errors: u64,
}

impl EpisodeOutput {
    /// Writes to `log` and, if given, to `topic` through `producer`.
    pub fn new(
        log: Option<Appender>,
        topic: Option<String>,
        producer: ThreadedProducer<Delivery>,
        delivery: Arc<Delivery>,
    ) -> Self {
        Self {
            log,
            topic,
            producer,
            delivery,
            key: Vec::with_capacity(128),
            motifs: Vec::new(),
            logged: 0,
            log_errors: 0,
        }
    }

    /// The producer (shared with the state writes).
    pub fn producer(&self) -> &ThreadedProducer<Delivery> {
        &self.producer
    }

    /// Fsyncs the episode log (before a state that covers its episodes is
    /// written).
    pub fn sync_log(&self) {
        if let Some(log) = &self.log {
            if let Err(e) = log.sync() {
                log::error!("kafka: episode log fsync failed: {e}");
            }
        }
    }

    fn publish(&mut self, line: &[u8], id: u64, motif: &str, channel: &str) {
        let Some(topic) = &self.topic else {
            return;
        };
        self.key.clear();
        crate::partitioning::write_key(motif, channel, &mut self.key);
        let id = id_hex(id);
        let value = line.strip_suffix(b"\n").unwrap_or(line);
        let mut record = BaseRecord::to(topic)
            .key(&self.key[..])
            .payload(value)
            .headers(OwnedHeaders::new().insert(Header {
                key: "id",
                value: Some(&id[..]),
            }));
        // A full queue drains as the broker acknowledges: wait a little,
        // then count the episode as not published.
        for _ in 0..1000 {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    let n = self.delivery.publish_errors.fetch_add(1, Ordering::Relaxed) + 1;
                    log::error!("kafka: an episode was not published ({n} so far): {e}");
                    return;
                }
            }
        }
        self.delivery.publish_errors.fetch_add(1, Ordering::Relaxed);
    }
}

impl RecordSink for EpisodeOutput {
    fn record(&mut self, e: &Episode, line: &[u8], id: u64, motif: &str, channel: &str) {
        let at = match self.motifs.iter().position(|(name, _)| name == motif) {
            Some(at) => at,
            None => {
                self.motifs.push((motif.to_owned(), MotifCounts::default()));
                self.motifs.len() - 1
            }
        };
        let counts = &mut self.motifs[at].1;
        counts.episodes += 1;
        counts.last_peak = e.peak;
        counts.last_trust_sum = e.trust_sum;
        counts.duration.observe(e.duration());
        counts.peak.observe(e.peak);
        if let Some(log) = &mut self.log {
            match log.append(line) {
                Ok(()) => self.logged += 1,
                Err(err) => {
                    // Counted by the log; said once, then every 1000th.
                    self.log_errors += 1;
                    if self.log_errors == 1 || self.log_errors % 1000 == 0 {
                        log::error!(
                            "kafka: episode log write failed ({} so far): {err}",
                            self.log_errors
                        );
                    }
                }
            }
        }
        self.publish(line, id, motif, channel);
    }
}
