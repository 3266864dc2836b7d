//! Group membership: the consumer's context, which librdkafka calls back on
//! rebalances (on the consumer's own thread, inside `poll`) and with
//! statistics (the partitions' high watermarks, for the lag).
//!
//! The rebalance callback does the handover itself, because it is the one
//! moment librdkafka guarantees: on revocation the partitions are still
//! ours until the callback returns, so their states are written and
//! committed first; on assignment the callback assigns with the offsets the
//! restored states cover, so no message before them is fetched.

use super::partitions::Work;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::TopicPartitionList;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The group consumer's context.
pub struct GroupContext {
    topic: String,
    work: Mutex<Work>,
    high_watermarks: Mutex<BTreeMap<i32, i64>>,
}

impl GroupContext {
    /// Membership of `topic`, holding `work`.
    pub fn new(topic: String, work: Work) -> Self {
        Self {
            topic,
            work: Mutex::new(work),
            high_watermarks: Mutex::default(),
        }
    }

    /// The shared state. Never held across `poll` (the callbacks lock it).
    pub fn work(&self) -> MutexGuard<'_, Work> {
        self.work.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last high watermark seen per partition.
    pub fn high_watermarks(&self) -> BTreeMap<i32, i64> {
        self.high_watermarks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements_for_topic(&self.topic)
            .iter()
            .map(rdkafka::topic_partition_list::TopicPartitionListElem::partition)
            .collect()
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let partitions = self.partitions(tpl);
        let starts = self.work().take_on(&partitions);
        for (p, offset) in starts {
            let _ = tpl.set_partition_offset(&self.topic, p, offset);
        }
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(tpl),
            _ => consumer.assign(tpl),
        };
        match result {
            Ok(()) => log::info!("kafka: assigned partitions {partitions:?}"),
            Err(e) => log::error!("kafka: assigning {partitions:?} failed: {e}"),
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let partitions = self.partitions(tpl);
        let lost = consumer.assignment_lost();
        self.work().hand_over(consumer, &partitions, lost);
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(e) = result {
            log::error!("kafka: unassigning {partitions:?} failed: {e}");
        }
    }
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let mut hw = self
            .high_watermarks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (&p, stats) in &topic.partitions {
            // librdkafka lists an internal "unassigned" partition as -1.
            if p >= 0 && stats.hi_offset >= 0 {
                hw.insert(p, stats.hi_offset);
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                log::error!("kafka: rebalance failed ({other:?}): giving up every partition");
                let all: Vec<i32> = self.work().positions().iter().map(|(p, _)| *p).collect();
                self.work().hand_over(consumer, &all, true);
                let _ = consumer.unassign();
            }
        }
    }
}
