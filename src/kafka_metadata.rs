//! What the brokers say about a topic, for the Kafka source and
//! `motifd produce` alike.

use crate::error::{Context, Failure};
use rdkafka::client::{Client, ClientContext};
use std::time::Duration;

/// How many partitions `topic` has; an error naming `brokers` when the topic
/// does not exist (motifd never creates topics: their partition count and
/// retention are the operator's choice, see docs/kafka.md).
///
/// # Errors
/// The metadata could not be fetched within `timeout`, or the topic has no
/// partitions.
pub fn partitions_of<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
    brokers: &str,
) -> Result<usize, Failure> {
    let metadata = client
        .fetch_metadata(Some(topic), timeout)
        .context(format!("kafka: metadata of topic {topic}"))?;
    let n = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len());
    if n == 0 {
        return Err(Failure::new(format!(
            "kafka: topic {topic} does not exist on {brokers} (create it first, see docs/kafka.md)"
        )));
    }
    Ok(n)
}
