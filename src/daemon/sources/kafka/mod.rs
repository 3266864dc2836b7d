//! The Kafka source: this instance is one member of a consumer group
//! reading a topic of residual lines (each message one or more lines, CSV
//! or JSON), and it runs the engines of the partitions the group gives it.
//!
//! Why the partitions' engines run here and not on the engine thread: the
//! engine thread owns one pipeline whose results depend on everything it
//! is fed. A group's results must not depend on which instance holds which
//! partition, so each partition needs a pipeline of its own — reorder
//! buffer, motif engine, channel names, trust normalised within it — that
//! can be checkpointed alone and moved to another instance at a rebalance.
//! That is [`crate::partition_engine::PartitionEngine`], the same code
//! `motifd replay --partitions` runs. The source's own thread (`motifd-kafka`)
//! polls the consumer and applies each message to its partition's engine;
//! librdkafka calls the rebalance callback on that same thread, so a
//! handover never races a message. Episodes go to the same episode log as
//! the engine thread's (through its [`Appender`](crate::daemon::episode_log::Appender)),
//! to the episodes topic, and into this instance's metrics
//! ([`view::KafkaView`]). The rest of the daemon — its engine thread, other
//! sources, the exporter — is unchanged and runs beside it.
//!
//! Handover and what a crash costs: see [`partitions`]; the state topic's
//! format: [`state_topic`]. docs/kafka.md is the user's side of all this.

#[cfg(feature = "kafka")]
mod clients;
#[cfg(feature = "kafka")]
mod group;
#[cfg(feature = "kafka")]
mod output;
#[cfg(feature = "kafka")]
mod partitions;
#[cfg(feature = "kafka")]
mod state_topic;
#[cfg(feature = "kafka")]
mod view;

use super::Source;
use crate::daemon::config::Config;
use crate::error::Failure;

/// The Kafka source `config` asks for, if any.
///
/// # Errors
/// A broker list without topic or group, or a build without the `kafka`
/// feature.
pub fn configured(config: &Config) -> Result<Option<Box<dyn Source>>, Failure> {
    if config.kafka_brokers.is_none() {
        return Ok(None);
    }
    #[cfg(not(feature = "kafka"))]
    return Err(Failure::new(
        "kafka_brokers is set, but this motifd was built without Kafka support: build it with `cargo build --release --features kafka`",
    ));
    #[cfg(feature = "kafka")]
    member::KafkaSource::new(config).map(|s| Some(Box::new(s) as Box<dyn Source>))
}

#[cfg(feature = "kafka")]
mod member;
