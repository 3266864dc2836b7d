//! The partitions this instance holds, and their handover.
//!
//! Each assigned partition has its own [`PartitionEngine`]. On assignment
//! its newest state is read from the state topic and restored, and the
//! consumer is told to start at the offset that state covers; on
//! revocation (and periodically, and at shutdown) every partition whose
//! state changed is checkpointed to the state topic, and only once the
//! broker has acknowledged those records — after the episode log has been
//! fsynced and the episodes published before them were flushed — are their
//! offsets committed. A crash therefore loses nothing: the next owner
//! restores the last written state and replays what came after it,
//! closing again (with the same ids) the episodes closed since.

use super::output::EpisodeOutput;
use super::state_topic::{self, StateTopic};
use crate::grammar::GrammarCell;
use crate::partition_engine::{PartitionEngine, Settings};
use motifd_engine::checkpoint::Meta;
use motifd_engine::{IngestCounters, RejectReason};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Counters of one partition's pipeline, or sums of them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Records received.
    pub received: u64,
    /// Records rejected, by [`RejectReason::ALL`] order.
    pub rejected: [u64; RejectReason::COUNT],
    /// Samples released in order.
    pub flushed: u64,
    /// Samples dropped below the frontier.
    pub dropped: u64,
    /// Channels evicted.
    pub evicted: u64,
    /// Samples refused at the channel cap.
    pub refused: u64,
}

impl Totals {
    fn of(engine: &PartitionEngine) -> Self {
        let c: IngestCounters = engine.pipeline().counters();
        let e = engine.pipeline().engine().counters();
        let mut rejected = [0; RejectReason::COUNT];
        for (slot, reason) in rejected.iter_mut().zip(RejectReason::ALL) {
            *slot = c.rejected.get(reason);
        }
        Self {
            received: c.received,
            rejected,
            flushed: c.flushed,
            dropped: c.dropped_out_of_window,
            evicted: e.channels_evicted,
            refused: e.refused_channel_cap,
        }
    }

    /// `self += now − base`, field by field.
    fn add_delta(&mut self, now: &Totals, base: &Totals) {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        self.received += d(now.received, base.received);
        for i in 0..RejectReason::COUNT {
            self.rejected[i] += d(now.rejected[i], base.rejected[i]);
        }
        self.flushed += d(now.flushed, base.flushed);
        self.dropped += d(now.dropped, base.dropped);
        self.evicted += d(now.evicted, base.evicted);
        self.refused += d(now.refused, base.refused);
    }
}

/// A partition held by this instance.
struct Held {
    engine: PartitionEngine,
    /// The next offset to apply (None: nothing applied or restored yet).
    next_offset: Option<i64>,
    /// The pipeline's counters when this instance took it on: what it did
    /// here is the difference.
    base: Totals,
}

/// Counters of the group membership.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Assignments received.
    pub rebalances: u64,
    /// Messages applied.
    pub messages: u64,
    /// Messages below a restored state's offset, skipped.
    pub skipped: u64,
    /// States restored.
    pub restores: u64,
    /// Partitions started without a state.
    pub fresh: u64,
    /// States that could not be restored.
    pub restore_failures: u64,
    /// Age of the last restored state at restore, seconds.
    pub restored_age: Option<f64>,
    /// State records written.
    pub state_writes: u64,
    /// State writes that failed.
    pub state_write_errors: u64,
    /// Unix time of the last successful state write.
    pub last_write_unix: Option<f64>,
    /// Offset commits that failed.
    pub commit_errors: u64,
}

/// Everything the consumer thread and the rebalance callback share.
pub struct Work {
    topic: String,
    cell: Arc<GrammarCell>,
    settings: Settings,
    held: BTreeMap<i32, Held>,
    state: StateTopic,
    /// Where episodes go.
    pub out: EpisodeOutput,
    idle_flush: Duration,
    /// Membership counters.
    pub counts: Counts,
    /// What partitions handed over had done here.
    retired: Totals,
    /// After the final handover: rebalances only (un)assign.
    closed: bool,
}

impl Work {
    /// Nothing held yet.
    pub fn new(
        topic: String,
        cell: Arc<GrammarCell>,
        settings: Settings,
        state: StateTopic,
        out: EpisodeOutput,
        idle_flush: Duration,
    ) -> Self {
        Self {
            topic,
            cell,
            settings,
            held: BTreeMap::new(),
            state,
            out,
            idle_flush,
            counts: Counts::default(),
            retired: Totals::default(),
            closed: false,
        }
    }

    /// Applies one message of `partition` at `offset`.
    pub fn apply(&mut self, partition: i32, offset: i64, payload: &[u8]) {
        let Some(held) = self.held.get_mut(&partition) else {
            return;
        };
        if held.next_offset.is_some_and(|next| offset < next) {
            self.counts.skipped += 1;
            return;
        }
        held.engine.feed(payload, &mut self.out);
        held.next_offset = Some(offset + 1);
        self.counts.messages += 1;
    }

    /// Idle flush of every partition that received nothing for
    /// `idle_flush` (each partition on its own clock, as each is its own
    /// stream).
    pub fn tick(&mut self) {
        for held in self.held.values_mut() {
            if held.engine.idle_for(self.idle_flush) {
                held.engine.flush_staged(&mut self.out);
            }
        }
    }

    /// Takes on newly assigned `partitions`: restores each one's state and
    /// returns where the consumer must start (`Offset::Invalid`: the
    /// committed offset, or the earliest for a new group).
    pub fn take_on(&mut self, partitions: &[i32]) -> Vec<(i32, Offset)> {
        self.counts.rebalances += 1;
        partitions
            .iter()
            .map(|&p| {
                let (engine, next_offset) = self.restore(p);
                let base = Totals::of(&engine);
                let start = next_offset.map_or(Offset::Invalid, Offset::Offset);
                self.held.insert(
                    p,
                    Held {
                        engine,
                        next_offset,
                        base,
                    },
                );
                (p, start)
            })
            .collect()
    }

    fn restore(&mut self, p: i32) -> (PartitionEngine, Option<i64>) {
        let number = u32::try_from(p).unwrap_or(0);
        let fresh = || PartitionEngine::fresh(&self.cell, number, &self.settings);
        let mut read = self.state.read_latest(p);
        for _ in 0..2 {
            if read.is_ok() {
                break;
            }
            read = self.state.read_latest(p);
        }
        match read {
            Ok(None) => {
                self.counts.fresh += 1;
                log::info!(
                    "kafka: {}/{p}: no state in {}, starting empty",
                    self.topic,
                    self.state.topic
                );
                (fresh(), None)
            }
            Ok(Some(s)) => {
                match PartitionEngine::restore(&self.cell, number, &self.settings, &s.checkpoint) {
                    Ok((engine, _)) => {
                        let age = (state_topic::now_unix() - s.written_unix).max(0.0);
                        self.counts.restores += 1;
                        self.counts.restored_age = Some(age);
                        log::info!(
                            "kafka: {}/{p}: state restored, continuing at offset {} (state written {age:.1} s ago)",
                            self.topic, s.next_offset
                        );
                        (engine, Some(s.next_offset))
                    }
                    Err(e) => {
                        self.counts.restore_failures += 1;
                        log::error!(
                            "kafka: {}/{p}: state not restored ({e}); starting empty at offset {}: open episodes and staged samples of that state are lost",
                            self.topic, s.next_offset
                        );
                        (fresh(), Some(s.next_offset))
                    }
                }
            }
            Err(e) => {
                self.counts.restore_failures += 1;
                log::error!(
                    "kafka: {}/{p}: cannot read the state topic ({e}); starting empty at the committed offset",
                    self.topic
                );
                (fresh(), None)
            }
        }
    }

    /// Writes the state of every changed partition (`only`: of those
    /// partitions) and, once acknowledged, commits their offsets. Returns
    /// whether everything was written and committed.
    pub fn write_states<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        only: Option<&[i32]>,
    ) -> bool {
        if self.closed {
            return true;
        }
        let due: Vec<i32> = self
            .held
            .iter()
            .filter(|(p, h)| h.engine.dirty() && only.is_none_or(|o| o.contains(p)))
            .filter(|(_, h)| h.next_offset.is_some())
            .map(|(&p, _)| p)
            .collect();
        if due.is_empty() {
            return true;
        }
        // Episodes first: the state about to be written covers them.
        self.out.sync_log();
        let delivery = Arc::clone(self.out.producer().context());
        let errors_before = delivery
            .state_errors
            .load(std::sync::atomic::Ordering::Relaxed);
        let meta = Meta {
            episode_log_len: None,
            written_unix: state_topic::now_unix(),
        };
        let mut offsets = TopicPartitionList::new();
        let mut queued = true;
        for &p in &due {
            let held = &self.held[&p];
            let next = held.next_offset.unwrap_or(0);
            let value = state_topic::encode(next, &held.engine.checkpoint(&meta));
            if let Err(e) = self.state.send(self.out.producer(), p, &value) {
                log::error!("kafka: {}/{p}: state not queued: {e}", self.topic);
                queued = false;
            }
            let _ = offsets.add_partition_offset(&self.topic, p, Offset::Offset(next));
        }
        if !(queued && state_topic::confirm(self.out.producer(), &delivery, errors_before)) {
            self.counts.state_write_errors += due.len() as u64;
            log::error!(
                "kafka: states of {} partitions not written; their offsets stay uncommitted, retrying at the next checkpoint",
                due.len()
            );
            return false;
        }
        self.counts.state_writes += due.len() as u64;
        self.counts.last_write_unix = Some(meta.written_unix);
        for p in &due {
            if let Some(h) = self.held.get_mut(p) {
                h.engine.mark_clean();
            }
        }
        if let Err(e) = consumer.commit(&offsets, CommitMode::Sync) {
            self.counts.commit_errors += 1;
            log::warn!("kafka: offset commit failed (the state topic holds the offsets): {e}");
        }
        log::info!(
            "kafka: state checkpoint: {} partitions written, offsets committed; episodes logged so far: {}",
            due.len(),
            self.out.logged
        );
        true
    }

    /// Hands `partitions` over: writes their states unless the assignment
    /// was lost (another member may own them already: writing would
    /// overwrite its newer state), then lets them go.
    pub fn hand_over<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        partitions: &[i32],
        lost: bool,
    ) {
        if self.closed {
            return;
        }
        if lost {
            log::warn!(
                "kafka: assignment lost (session timed out?): dropping {partitions:?} without writing their state"
            );
        } else {
            self.write_states(consumer, Some(partitions));
        }
        for p in partitions {
            if let Some(held) = self.held.remove(p) {
                self.retired
                    .add_delta(&Totals::of(&held.engine), &held.base);
            }
        }
        log::info!("kafka: revoked partitions {partitions:?}");
    }

    /// Shutdown: writes every changed state, then ignores rebalances.
    pub fn close<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        let all: Vec<i32> = self.held.keys().copied().collect();
        self.hand_over(consumer, &all, false);
        self.closed = true;
    }

    /// Partitions held and the next offset of each (None: none applied).
    pub fn positions(&self) -> Vec<(i32, Option<i64>)> {
        self.held.iter().map(|(&p, h)| (p, h.next_offset)).collect()
    }

    /// What this instance's partitions did here, retired ones included.
    pub fn totals(&self) -> Totals {
        let mut t = self.retired;
        for h in self.held.values() {
            t.add_delta(&Totals::of(&h.engine), &h.base);
        }
        t
    }

    /// Gauges summed over the partitions held: staged samples, tracked
    /// channels, and open episodes by motif name.
    pub fn gauges(&self) -> (u64, u64, Vec<(String, u64)>) {
        let mut open: Vec<(String, u64)> = Vec::new();
        let (mut staged, mut tracked) = (0, 0);
        for h in self.held.values() {
            let p = h.engine.pipeline();
            staged += p.counters().staged;
            tracked += p.engine().counters().channels_tracked;
            let grammar = p.engine().grammar();
            for (m, spec) in grammar.motifs().iter().enumerate() {
                let n = p.engine().stats(m as u16).open;
                match open.iter_mut().find(|(name, _)| *name == spec.name) {
                    Some((_, total)) => *total += n,
                    None => open.push((spec.name.clone(), n)),
                }
            }
        }
        (staged, tracked, open)
    }
}
