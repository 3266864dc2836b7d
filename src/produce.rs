//! `motifd produce`: residual files to a Kafka topic, each line to the
//! partition its key `class|channel` gives ([`crate::partitioning`]), in
//! file order — what `motifd replay --partitions N` assumes, so the replay
//! of the same files gives what a consumer group gives for the topic.
//!
//! Lines of one partition are sent together, `--lines-per-message` to a
//! message (the key of a message is its first line's); with one line per
//! message the partition is left to librdkafka's `murmur2_random`
//! partitioner, which agrees with ours (`replay --partitions` checks it).

use crate::cli::ProduceArgs;
use crate::error::{Context, Failure};
use crate::grammar;
use crate::partitioning::Router;
use crate::routed_lines::{route_files, Reading};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the end of a run waits for the broker's acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);
/// With `--rate`, partly filled messages leave at least this often.
const PACED_FLUSH: Duration = Duration::from_millis(100);

/// Runs `motifd produce`.
///
/// # Errors
/// Bad arguments, unreadable input, a topic that does not exist, or
/// messages the broker did not acknowledge.
pub fn run(args: &ProduceArgs) -> Result<ExitCode, Failure> {
    if args.lines_per_message == 0 {
        return Err(Failure::new("--lines-per-message must be at least 1"));
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(Failure::new(
            "--rate must be a finite number of lines per second > 0",
        ));
    }
    let grammar = Arc::new(grammar::load(args.grammar.as_deref())?);
    let producer = producer(args)?;
    let partitions = partitions_of(&producer, args)?;
    let started = Instant::now();
    let mut batcher = Batcher {
        topic: &args.kafka_topic,
        producer: &producer,
        lines_per_message: args.lines_per_message,
        pending: (0..partitions).map(|_| Pending::default()).collect(),
        messages: vec![0; partitions as usize],
        sent_lines: 0,
        pace: args.rate.map(|r| (r, Instant::now())),
        last_flush: Instant::now(),
    };
    let reading = Reading {
        format: args.input_format,
        max_line: args.input.max_line,
        show_rejects: args.input.show_rejects,
        strict: args.input.strict,
    };
    let mut router = Router::new(grammar, partitions);
    let routed = route_files(&args.inputs, reading, &mut router, |p, line, key| {
        batcher.line(p, line, key)
    })?;
    batcher.flush_all()?;
    let messages = batcher.messages;
    let total: u64 = messages.iter().sum();
    producer
        .flush(FLUSH_TIMEOUT)
        .context("kafka: waiting for the broker's acknowledgements")?;
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if !args.input.quiet {
        let per_partition: Vec<String> = messages
            .iter()
            .enumerate()
            .map(|(p, n)| format!("{p}:{n}"))
            .collect();
        eprintln!(
            "produce: {} records in {total} messages to {} ({partitions} partitions) in {:.3} s; rejected {}; not acknowledged {failed}\n  messages per partition: {}",
            routed.records(),
            args.kafka_topic,
            started.elapsed().as_secs_f64(),
            routed.rejected.total(),
            per_partition.join(" "),
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn producer(args: &ProduceArgs) -> Result<ThreadedProducer<Acks>, Failure> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.kafka_brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random");
    for kv in &args.kafka_property {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Failure::new(format!("--kafka-property must be KEY=VALUE, got {kv:?}"))
        })?;
        config.set(k.trim(), v.trim());
    }
    config
        .create_with_context(Acks::default())
        .context("kafka: producer")
}

fn partitions_of(producer: &ThreadedProducer<Acks>, args: &ProduceArgs) -> Result<u32, Failure> {
    let (topic, brokers) = (&args.kafka_topic, &args.kafka_brokers);
    let n = crate::kafka_metadata::partitions_of(producer.client(), topic, METADATA, brokers)?;
    u32::try_from(n).context("kafka: partition count")
}

/// How long the brokers have to say how many partitions the topic has.
const METADATA: Duration = Duration::from_secs(15);

/// Counts messages the broker did not acknowledge.
#[derive(Default)]
struct Acks {
    failed: AtomicU64,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Err((e, _)) = result {
            let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n % 1000 == 0 {
                eprintln!("produce: a message was not acknowledged ({n} so far): {e}");
            }
        }
    }
}

/// A partition's lines not sent yet.
#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    count: usize,
    key: Vec<u8>,
}

struct Batcher<'a> {
    topic: &'a str,
    producer: &'a ThreadedProducer<Acks>,
    lines_per_message: usize,
    pending: Vec<Pending>,
    /// Messages sent, per partition.
    messages: Vec<u64>,
    sent_lines: u64,
    /// Lines per second, and when the run started.
    pace: Option<(f64, Instant)>,
    last_flush: Instant,
}

impl Batcher<'_> {
    fn line(&mut self, p: u32, line: &[u8], key: &[u8]) -> Result<(), Failure> {
        self.pace()?;
        let pending = &mut self.pending[p as usize];
        if pending.count == 0 {
            pending.key.clear();
            pending.key.extend_from_slice(key);
        }
        pending.lines.extend_from_slice(line);
        pending.lines.push(b'\n');
        pending.count += 1;
        self.sent_lines += 1;
        if pending.count >= self.lines_per_message {
            self.send(p)?;
        }
        Ok(())
    }

    /// With `--rate`: waits until this line is due, and sends partly
    /// filled messages regularly so a slow stream is not held back.
    fn pace(&mut self) -> Result<(), Failure> {
        let Some((rate, start)) = self.pace else {
            return Ok(());
        };
        let due = Duration::from_secs_f64(self.sent_lines as f64 / rate);
        let elapsed = start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
        if self.last_flush.elapsed() >= PACED_FLUSH {
            self.flush_all()?;
        }
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), Failure> {
        self.last_flush = Instant::now();
        for p in 0..self.pending.len() {
            if self.pending[p].count > 0 {
                self.send(p as u32)?;
            }
        }
        Ok(())
    }

    fn send(&mut self, p: u32) -> Result<(), Failure> {
        let pending = &mut self.pending[p as usize];
        let mut record = BaseRecord::to(self.topic)
            .key(&pending.key[..])
            .payload(&pending.lines[..]);
        // One line per message: the key alone places it (librdkafka's
        // murmur2_random), which must agree with our partition.
        if self.lines_per_message > 1 {
            record = record.partition(i32::try_from(p).unwrap_or(i32::MAX));
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => return Err(Failure::new(format!("kafka: sending a message: {e}"))),
            }
        }
        pending.lines.clear();
        pending.count = 0;
        self.messages[p as usize] += 1;
        Ok(())
    }
}
