//! Hand-over from producer threads to the engine thread.
//!
//! Producers parse records and send them in batches over a bounded
//! `crossbeam-channel`; they share no lock with the engine (a producer touches the
//! shared channel-name table only for a name it has never seen, see
//! [`crate::intern`]). A full channel blocks the producer — backpressure — so an
//! accepted sample is never dropped on the way.

use crate::intern::NamesPin;
use crate::parse::RecordParser;
use crate::reject::{RejectCounts, RejectReason};
use crate::sample::Sample;
use crate::watermark::ProducerKey;
use crossbeam_channel::{bounded, Receiver, SendError, Sender};

/// Samples per batch: large enough to amortise the channel, small enough to keep
/// latency and memory low.
pub const DEFAULT_BATCH: usize = 4096;

/// What a producer hands over at once.
#[derive(Debug, Default)]
pub struct Batch {
    /// Valid samples, in the order the producer read them.
    pub samples: Vec<Sample>,
    /// Records the producer rejected since its previous batch.
    pub rejected: RejectCounts,
    /// Which grammar the samples' class ids refer to (see
    /// [`BatchWriter::set_generation`]); a receiver that has moved to another
    /// grammar maps the ids by class name.
    pub generation: u64,
    /// The epoch of the channel-name table the samples' channel ids were
    /// issued under (see [`BatchWriter::follow_names`]): while the batch
    /// exists, none of them is freed.
    pub names: Option<NamesPin>,
    /// Which producer sent it (see [`BatchWriter::set_producer`]), for
    /// per-producer watermarks ([`crate::Pipeline::producer`]); 0 unless set.
    pub producer: ProducerKey,
    /// The producer's last batch: it has ended (a writer tagged with a
    /// producer sends one, empty, when dropped), so the receiver can forget
    /// it ([`crate::Pipeline::remove_producer`]).
    pub ends_producer: bool,
}

/// Creates the producer → engine channel holding at most `capacity` batches.
pub fn channel(capacity: usize) -> (Sender<Batch>, Receiver<Batch>) {
    bounded(capacity.max(1))
}

/// Sample buffers the engine side hands back for producers to fill again,
/// so a large batch's memory is not given back to the system and faulted
/// in again for every batch.
#[derive(Debug, Clone)]
pub struct BufferPool {
    tx: Sender<Vec<Sample>>,
    rx: Receiver<Vec<Sample>>,
}

impl BufferPool {
    /// A pool keeping at most `buffers` spare buffers.
    pub fn new(buffers: usize) -> Self {
        let (tx, rx) = bounded(buffers.max(1));
        Self { tx, rx }
    }

    /// A spare buffer of at least `capacity` samples, or a new one.
    pub fn take(&self, capacity: usize) -> Vec<Sample> {
        match self.rx.try_recv() {
            Ok(v) if v.capacity() >= capacity => v,
            _ => Vec::with_capacity(capacity),
        }
    }

    /// Keeps `buffer`, emptied, unless the pool is full.
    pub fn give(&self, mut buffer: Vec<Sample>) {
        buffer.clear();
        let _ = self.tx.try_send(buffer);
    }
}

/// A producer's side: fills a batch and sends it when full.
#[derive(Debug)]
pub struct BatchWriter {
    tx: Sender<Batch>,
    batch: Batch,
    batch_size: usize,
    /// Where the next batch's buffer comes from, if not a new allocation.
    pool: Option<BufferPool>,
    generation: u64,
    /// The name-table epoch of the parser feeding this writer.
    names: Option<NamesPin>,
    /// The producer key every batch carries.
    producer: ProducerKey,
}

/// The engine thread has gone away; nothing more can be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

impl BatchWriter {
    /// A writer sending batches of `batch_size` samples on `tx`.
    pub fn new(tx: Sender<Batch>, batch_size: usize) -> Self {
        let batch_size = batch_size.max(1);
        Self {
            tx,
            batch: Batch {
                samples: Vec::with_capacity(batch_size),
                rejected: RejectCounts::default(),
                generation: 0,
                names: None,
                producer: 0,
                ends_producer: false,
            },
            batch_size,
            pool: None,
            generation: 0,
            names: None,
            producer: 0,
        }
    }

    /// Takes the buffers of following batches from `pool`.
    pub fn set_pool(&mut self, pool: BufferPool) {
        self.pool = Some(pool);
    }

    /// Tags this writer's batches with producer `key` (a connection number,
    /// a source index: anything unique among the producers of a pipeline;
    /// 0 is "untagged"). Dropping a tagged writer sends a last, empty batch
    /// marked [`Batch::ends_producer`].
    pub fn set_producer(&mut self, key: ProducerKey) {
        self.producer = key;
        self.batch.producer = key;
    }

    /// Keeps `parser`'s channel ids safe from collection: when the name
    /// table has moved to a new epoch, sends what is queued (pinned with the
    /// old epoch), refreshes the parser's name cache and pins the following
    /// batches with the new epoch. Call it before every chunk of lines the
    /// parser handles; costs one atomic load when nothing changed.
    ///
    /// # Errors
    /// [`Disconnected`] if the engine side has hung up.
    #[inline]
    pub fn follow_names(&mut self, parser: &mut RecordParser) -> Result<(), Disconnected> {
        let current = self
            .names
            .as_ref()
            .is_some_and(|pin| pin.same(parser.names_pin()));
        if current && !parser.names_stale() {
            return Ok(());
        }
        // Samples queued before the first call were parsed under the
        // parser's epoch as it is now.
        if self.batch.names.is_none() {
            self.batch.names = Some(parser.names_pin().clone());
        }
        self.flush()?;
        if parser.names_stale() {
            parser.refresh_names();
        }
        let pin = parser.names_pin().clone();
        self.batch.names = Some(pin.clone());
        self.names = Some(pin);
        Ok(())
    }

    /// Sends what is queued, then sends the following batches on `tx`
    /// instead (a parser that reads one run of a file's lines after
    /// another, each with its own channel to the engine side).
    ///
    /// # Errors
    /// [`Disconnected`] if the old channel's receiver has hung up.
    pub fn redirect(&mut self, tx: Sender<Batch>) -> Result<(), Disconnected> {
        self.flush()?;
        self.tx = tx;
        Ok(())
    }

    /// Tags the following samples with grammar `generation`; flushes first if
    /// the generation changes, so one batch never mixes two grammars.
    ///
    /// # Errors
    /// [`Disconnected`] if the engine side has hung up.
    pub fn set_generation(&mut self, generation: u64) -> Result<(), Disconnected> {
        if generation != self.generation {
            self.flush()?;
            self.generation = generation;
            self.batch.generation = generation;
        }
        Ok(())
    }

    /// Queues one sample; blocks while the channel is full.
    ///
    /// # Errors
    /// [`Disconnected`] if the engine side has hung up.
    #[inline]
    pub fn push(&mut self, s: Sample) -> Result<(), Disconnected> {
        self.batch.samples.push(s);
        if self.batch.samples.len() >= self.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    /// Counts one rejected record (delivered with the next batch).
    #[inline]
    pub fn reject(&mut self, reason: RejectReason) {
        self.batch.rejected.add(reason);
    }

    /// Sends what is queued, if anything.
    ///
    /// # Errors
    /// [`Disconnected`] if the engine side has hung up.
    pub fn flush(&mut self) -> Result<(), Disconnected> {
        if self.batch.samples.is_empty() && self.batch.rejected.total() == 0 {
            return Ok(());
        }
        let samples = match &self.pool {
            Some(pool) => pool.take(self.batch_size),
            None => Vec::with_capacity(self.batch_size),
        };
        let next = Batch {
            samples,
            rejected: RejectCounts::default(),
            generation: self.generation,
            names: self.names.clone(),
            producer: self.producer,
            ends_producer: false,
        };
        let full = std::mem::replace(&mut self.batch, next);
        self.tx.send(full).map_err(|SendError(_)| Disconnected)
    }
}

impl Drop for BatchWriter {
    fn drop(&mut self) {
        // Best effort: a writer dropped without an explicit flush still
        // delivers, and a tagged producer says it has ended, so that it stops
        // holding the frontier back at once rather than after an idle limit.
        if self.flush().is_ok() && self.producer != 0 {
            let _ = self.tx.send(Batch {
                producer: self.producer,
                ends_producer: true,
                ..Batch::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::Grammar;
    use crate::intern::ChannelNames;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn a_dropped_tagged_writer_says_its_producer_ended() {
        let (tx, rx) = channel(8);
        let mut w = BatchWriter::new(tx.clone(), 100);
        w.set_producer(7);
        w.push(Sample::new(1.0, 0, 0, 0.5)).unwrap();
        drop(w);
        let data = rx.try_recv().unwrap();
        assert_eq!(
            (data.producer, data.ends_producer, data.samples.len()),
            (7, false, 1)
        );
        let end = rx.try_recv().unwrap();
        assert_eq!(
            (end.producer, end.ends_producer, end.samples.len()),
            (7, true, 0)
        );
        // An untagged writer is one stream among none: nothing to end.
        let mut w = BatchWriter::new(tx, 100);
        w.push(Sample::new(2.0, 0, 0, 0.5)).unwrap();
        drop(w);
        assert!(!rx.try_recv().unwrap().ends_producer);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_redirected_writer_sends_what_it_held_to_the_old_channel() {
        let (old_tx, old_rx) = channel(8);
        let (new_tx, new_rx) = channel(8);
        let mut w = BatchWriter::new(old_tx, 100);
        w.push(Sample::new(1.0, 0, 0, 0.5)).unwrap();
        w.reject(RejectReason::Malformed);
        w.redirect(new_tx).unwrap();
        w.push(Sample::new(2.0, 0, 0, 0.5)).unwrap();
        drop(w);
        let old: Vec<Batch> = old_rx.iter().collect();
        assert_eq!(old.len(), 1, "the old channel closes with the redirect");
        assert_eq!((old[0].samples[0].t, old[0].rejected.total()), (1.0, 1));
        let new: Vec<Batch> = new_rx.iter().collect();
        assert_eq!(new.len(), 1);
        assert_eq!((new[0].samples[0].t, new[0].rejected.total()), (2.0, 0));
    }

    #[test]
    fn a_pooled_writer_fills_the_buffers_given_back() {
        let pool = BufferPool::new(1);
        let (tx, rx) = channel(8);
        let mut w = BatchWriter::new(tx, 2);
        w.set_pool(pool.clone());
        w.push(Sample::new(0.0, 0, 0, 0.5)).unwrap();
        w.push(Sample::new(1.0, 0, 0, 0.5)).unwrap();
        let first = rx.try_recv().unwrap().samples;
        let address = first.as_ptr();
        pool.give(first);
        // The pool holds one buffer: a second one given back is freed.
        pool.give(Vec::with_capacity(2));
        // This flush sends the buffer filled meanwhile and takes the first.
        w.push(Sample::new(2.0, 0, 0, 0.5)).unwrap();
        w.push(Sample::new(3.0, 0, 0, 0.5)).unwrap();
        let second = rx.try_recv().unwrap().samples;
        assert_eq!((second.len(), second[1].t), (2, 3.0));
        assert_ne!(second.as_ptr(), address);
        w.push(Sample::new(4.0, 0, 0, 0.5)).unwrap();
        w.flush().unwrap();
        let third = rx.try_recv().unwrap().samples;
        assert_eq!((third.as_ptr(), third.len(), third[0].t), (address, 1, 4.0));
        // A buffer smaller than a batch is not used.
        pool.give(Vec::with_capacity(1));
        assert!(pool.take(2).capacity() >= 2);
    }

    #[test]
    fn batches_pin_the_name_epoch_their_ids_come_from() {
        let names = ChannelNames::default();
        let mut parser = RecordParser::new(Arc::new(Grammar::default()), &names);
        let (tx, rx) = channel(8);
        let mut w = BatchWriter::new(tx, 100);
        w.push(parser.csv(b"1,cache_io,a,0").unwrap()).unwrap();
        w.follow_names(&mut parser).unwrap();
        let first = rx.try_recv().expect("the queued sample went with a pin");
        let pin = first.names.expect("pinned");
        assert!(pin.same(parser.names_pin()));
        w.push(parser.csv(b"2,cache_io,b,0").unwrap()).unwrap();
        w.follow_names(&mut parser).unwrap();
        assert!(rx.try_recv().is_err(), "nothing changed: nothing sent");
        w.flush().unwrap();
        assert!(rx.try_recv().unwrap().names.unwrap().same(&pin));
    }

    #[test]
    fn many_producers_deliver_every_sample_and_rejection() {
        let (tx, rx) = channel(2);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    let mut w = BatchWriter::new(tx, 100);
                    w.set_producer(u64::from(p) + 10);
                    for i in 0..10_000 {
                        w.push(Sample::new(i as f64, 0, p, 1.0)).unwrap();
                        if i % 1000 == 0 {
                            w.reject(RejectReason::Malformed);
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let (mut samples, mut rejected) = (vec![0u64; 4], 0);
        for batch in rx {
            for s in &batch.samples {
                samples[s.channel as usize] += 1;
                assert_eq!(batch.producer, u64::from(s.channel) + 10);
            }
            rejected += batch.rejected.total();
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(samples, [10_000; 4]);
        assert_eq!(rejected, 40);
    }
}
