//! The librdkafka clients of a Kafka source: the group consumer, the
//! producer of states and episodes, and the consumer that reads states
//! back; each configured with motifd's defaults, then the user's
//! `kafka_properties` over them.

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use std::sync::atomic::{AtomicU64, Ordering};

/// What every client of the source shares.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// `kafka_properties`, applied last.
    pub properties: Vec<(String, String)>,
}

impl ClientSettings {
    fn base(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (k, v) in defaults {
            config.set(*k, *v);
        }
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// The group member's consumer: offsets are committed by motifd only
    /// (after a state write), a new group starts at the earliest message,
    /// and statistics every second give the consumer lag.
    pub fn group_consumer(&self, group: &str) -> ClientConfig {
        let mut config = self.base(&[
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("statistics.interval.ms", "1000"),
            ("enable.partition.eof", "false"),
        ]);
        // The group is part of the source's identity: a property cannot
        // change it behind the state topic's keys.
        config.set("group.id", group);
        config
    }

    /// The consumer reading states back (no group: it assigns partitions;
    /// it reads to the end of a partition, which it learns from the
    /// end-of-partition event).
    pub fn state_reader(&self) -> ClientConfig {
        let mut config = self.base(&[
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ]);
        config.set("enable.partition.eof", "true");
        config.remove("group.id");
        config.set("group.id", "motifd-state-reader");
        config
    }

    /// The producer of states and episodes: acknowledged by every in-sync
    /// replica, idempotent, so a retry neither reorders nor duplicates.
    pub fn producer(&self) -> ClientConfig {
        self.base(&[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
        ])
    }
}

/// Delivery outcomes of the producer, by what was sent.
#[derive(Debug)]
pub struct Delivery {
    /// The state topic's name (the rest is episodes).
    pub state_topic: String,
    /// State records that failed.
    pub state_errors: AtomicU64,
    /// Episode records acknowledged.
    pub episodes_published: AtomicU64,
    /// Episode records that failed (or could not be queued).
    pub publish_errors: AtomicU64,
}

impl Delivery {
    /// Counts for a producer writing states to `state_topic`.
    pub fn new(state_topic: String) -> Self {
        Self {
            state_topic,
            state_errors: AtomicU64::new(0),
            episodes_published: AtomicU64::new(0),
            publish_errors: AtomicU64::new(0),
        }
    }
}

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        let (topic, failed) = match result {
            Ok(m) => (m.topic(), None),
            Err((e, m)) => (m.topic(), Some(e)),
        };
        let is_state = topic == self.state_topic;
        match (failed, is_state) {
            (None, true) => {}
            (None, false) => {
                self.episodes_published.fetch_add(1, Ordering::Relaxed);
            }
            (Some(e), true) => {
                let n = self.state_errors.fetch_add(1, Ordering::Relaxed) + 1;
                log::error!("kafka: a state record was not written ({n} so far): {e}");
            }
            (Some(e), false) => {
                let n = self.publish_errors.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n % 1000 == 0 {
                    log::error!("kafka: an episode was not published ({n} so far): {e}");
                }
            }
        }
    }
}
