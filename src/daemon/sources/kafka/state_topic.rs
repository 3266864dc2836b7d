//! The state topic: each partition's engine state (the engine's checkpoint
//! codec) with the offset it covers, one record per write, keyed
//! `group/topic/partition`, so a compacted topic keeps the newest per
//! partition.
//!
//! The state of input partition `p` goes to state partition `p mod S` (`S`
//! the state topic's partition count); a restore reads that partition's last
//! record and, only if it belongs to another key (a state topic shared by
//! several groups or topics), scans the partition for the newest of its own.
//!
//! Record value: `"MOTIFDKS" | version u32 | next offset i64 | written at
//! (Unix seconds) f64 | checkpoint` (little-endian). "Next offset" is the
//! first message the state does not include: the new owner seeks there.

use super::clients::Delivery;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 8] = b"MOTIFDKS";
const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 8;

/// How long a state read or write may take before it counts as failed.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// A partition's state as read back.
#[derive(Debug)]
pub struct State {
    /// First offset the state does not cover.
    pub next_offset: i64,
    /// When it was written, Unix seconds.
    pub written_unix: f64,
    /// The engine checkpoint.
    pub checkpoint: Vec<u8>,
}

/// Encodes a state record's value.
pub fn encode(next_offset: i64, checkpoint: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + checkpoint.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&next_offset.to_le_bytes());
    out.extend_from_slice(&now_unix().to_le_bytes());
    out.extend_from_slice(checkpoint);
    out
}

/// Decodes a state record's value.
///
/// # Errors
/// Not a state record, or one of another version.
pub fn decode(value: &[u8]) -> Result<State, String> {
    if value.len() < HEADER || &value[..8] != MAGIC {
        return Err("not a motifd state record".into());
    }
    let word = |at: usize| -> [u8; 8] { value[at..at + 8].try_into().unwrap_or_default() };
    let version = u32::from_le_bytes(value[8..12].try_into().unwrap_or_default());
    if version != VERSION {
        return Err(format!(
            "state record version {version}, this build reads {VERSION}"
        ));
    }
    Ok(State {
        next_offset: i64::from_le_bytes(word(12)),
        written_unix: f64::from_le_bytes(word(20)),
        checkpoint: value[HEADER..].to_vec(),
    })
}

/// Wall-clock time, Unix seconds.
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Reads and writes the states of one group's partitions of one topic.
pub struct StateTopic {
    /// The state topic's name.
    pub topic: String,
    partitions: i32,
    key_prefix: String,
    reader: BaseConsumer,
}

impl StateTopic {
    /// The state topic `topic` (with `partitions` partitions) of `group`'s
    /// consumption of `input`, read through `reader`.
    pub fn new(
        topic: String,
        partitions: i32,
        group: &str,
        input: &str,
        reader: BaseConsumer,
    ) -> Self {
        Self {
            topic,
            partitions: partitions.max(1),
            key_prefix: format!("{group}/{input}/"),
            reader,
        }
    }

    fn key(&self, partition: i32) -> String {
        format!("{}{partition}", self.key_prefix)
    }

    fn state_partition(&self, partition: i32) -> i32 {
        partition.rem_euclid(self.partitions)
    }

    /// Queues the state of `partition` on `producer`; delivery is confirmed
    /// by the caller's flush.
    ///
    /// # Errors
    /// The producer's queue refused it.
    pub fn send(
        &self,
        producer: &ThreadedProducer<Delivery>,
        partition: i32,
        value: &[u8],
    ) -> Result<(), String> {
        let key = self.key(partition);
        let record = BaseRecord::to(&self.topic)
            .partition(self.state_partition(partition))
            .key(&key)
            .payload(value);
        producer.send(record).map_err(|(e, _)| e.to_string())
    }

    /// The newest state of `partition`, if the topic holds one.
    ///
    /// # Errors
    /// The state topic cannot be read within [`TIMEOUT`].
    pub fn read_latest(&self, partition: i32) -> Result<Option<State>, String> {
        let sp = self.state_partition(partition);
        let (low, high) = self
            .reader
            .fetch_watermarks(&self.topic, sp, TIMEOUT)
            .map_err(|e| format!("watermarks of {}/{sp}: {e}", self.topic))?;
        if high <= low {
            return Ok(None);
        }
        let key = self.key(partition);
        // From the last record to the end of the partition (a broker may
        // report the high watermark a batch short): this partition's newest
        // state, unless other keys were written after it.
        if let Some(found) = self.scan(sp, high - 1, &key)? {
            return Ok(Some(found));
        }
        self.scan(sp, low, &key)
    }

    /// The last record keyed `key` from offset `from` to the end of state
    /// partition `sp`.
    fn scan(&self, sp: i32, from: i64, key: &str) -> Result<Option<State>, String> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, sp, Offset::Offset(from))
            .map_err(|e| e.to_string())?;
        self.reader.assign(&tpl).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + TIMEOUT;
        let mut found = None;
        let result = loop {
            if Instant::now() >= deadline {
                break Err(format!(
                    "{}/{sp}: not read to its end within {TIMEOUT:?}",
                    self.topic
                ));
            }
            let m = match self.reader.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Err(KafkaError::PartitionEOF(_))) => break Ok(found.take()),
                Some(Err(e)) => break Err(format!("reading {}/{sp}: {e}", self.topic)),
                Some(Ok(m)) => m,
            };
            if m.key() == Some(key.as_bytes()) {
                if let Some(value) = m.payload() {
                    found = Some(decode(value).map_err(|why| format!("{key}: {why}"))?);
                }
            }
        };
        let _ = self.reader.unassign();
        result
    }
}

/// Waits for every queued record of `producer`; true when no state record
/// failed since `errors_before` (the delivery counter's value before the
/// sends).
pub fn confirm(
    producer: &ThreadedProducer<Delivery>,
    delivery: &Delivery,
    errors_before: u64,
) -> bool {
    let flushed = producer.flush(TIMEOUT).is_ok();
    flushed && delivery.state_errors.load(Ordering::Relaxed) == errors_before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_record_round_trips_and_others_are_refused() {
        let value = encode(1234, b"checkpoint bytes");
        let state = decode(&value).unwrap();
        assert_eq!(state.next_offset, 1234);
        assert_eq!(state.checkpoint, b"checkpoint bytes");
        assert!((state.written_unix - now_unix()).abs() < 60.0);
        assert!(decode(b"MOTIFDKS").is_err());
        assert!(decode(b"something else entirely, long enough").is_err());
        let mut other = value.clone();
        other[8] = 9;
        assert!(decode(&other).unwrap_err().contains("version 9"));
    }
}
