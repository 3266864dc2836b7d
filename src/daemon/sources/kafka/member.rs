//! Starting the group member and its thread.

use super::clients::{ClientSettings, Delivery};
use super::group::GroupContext;
use super::output::EpisodeOutput;
use super::partitions::Work;
use super::state_topic::{StateTopic, TIMEOUT};
use super::view::KafkaView;
use crate::daemon::config::{secs, Config};
use crate::daemon::sources::{Running, Source, SourceContext, SourceReport, POLL};
use crate::error::{Context, Failure};
use crate::line_ingest::RejectReport;
use crate::log_throttle::{Say, Throttle};
use crate::partition_engine::Settings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{Producer, ThreadedProducer};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the member flushes idle partitions.
const TICK: Duration = Duration::from_millis(100);
/// How often it publishes its figures.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// `kafka_brokers` + `kafka_topic` + `kafka_group`.
pub struct KafkaSource {
    clients: ClientSettings,
    topic: String,
    group: String,
    state_topic: String,
    episodes_topic: Option<String>,
    state_every: Duration,
    idle_flush: Duration,
    settings: Settings,
}

impl KafkaSource {
    /// The member `config` describes.
    ///
    /// # Errors
    /// A topic or group is missing.
    pub fn new(config: &Config) -> Result<Self, Failure> {
        let need = |v: &Option<String>, key: &str| {
            v.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
                Failure::new(format!("config: kafka_brokers is set but {key} is not"))
            })
        };
        let brokers = need(&config.kafka_brokers, "kafka_brokers")?;
        let topic = need(&config.kafka_topic, "kafka_topic")?;
        let group = need(&config.kafka_group, "kafka_group")?;
        Ok(Self {
            clients: ClientSettings {
                brokers,
                properties: config.kafka_properties.clone(),
            },
            state_topic: config
                .kafka_state_topic
                .clone()
                .unwrap_or_else(|| format!("{topic}.motifd-state")),
            episodes_topic: config
                .kafka_episodes_topic
                .clone()
                .filter(|t| !t.is_empty()),
            topic,
            group,
            state_every: secs(config.kafka_state_interval),
            idle_flush: secs(config.idle_flush),
            settings: Settings {
                pipeline: config.pipeline(),
                format: config.input_format,
                max_line: config.max_line,
                report: RejectReport::Log,
            },
        })
    }

    /// Partitions of `topic`, which must exist.
    fn partitions_of(&self, reader: &BaseConsumer, topic: &str) -> Result<i32, Failure> {
        let brokers = &self.clients.brokers;
        let n = crate::kafka_metadata::partitions_of(reader.client(), topic, TIMEOUT, brokers)?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

impl Source for KafkaSource {
    fn start(self: Box<Self>, ctx: SourceContext) -> Result<Box<dyn Running>, Failure> {
        let reader: BaseConsumer = self
            .clients
            .state_reader()
            .create()
            .context("kafka: state reader")?;
        self.partitions_of(&reader, &self.topic)?;
        let state_partitions = self.partitions_of(&reader, &self.state_topic)?;
        if let Some(t) = &self.episodes_topic {
            self.partitions_of(&reader, t)?;
        }
        let producer: ThreadedProducer<Delivery> = self
            .clients
            .producer()
            .create_with_context(Delivery::new(self.state_topic.clone()))
            .context("kafka: producer")?;
        let delivery = Arc::clone(producer.context());
        let state = StateTopic::new(
            self.state_topic.clone(),
            state_partitions,
            &self.group,
            &self.topic,
            reader,
        );
        let out = EpisodeOutput::new(
            ctx.episodes.clone(),
            self.episodes_topic.clone(),
            producer,
            Arc::clone(&delivery),
        );
        let work = Work::new(
            self.topic.clone(),
            Arc::clone(&ctx.grammar),
            self.settings,
            state,
            out,
            self.idle_flush,
        );
        let consumer: BaseConsumer<GroupContext> = self
            .clients
            .group_consumer(&self.group)
            .create_with_context(GroupContext::new(self.topic.clone(), work))
            .context("kafka: consumer")?;
        consumer
            .subscribe(&[&self.topic])
            .context(format!("kafka: subscribing to {}", self.topic))?;
        log::info!(
            "kafka: joining group {} on {} (topic {}, state topic {}, episodes topic {})",
            self.group,
            self.clients.brokers,
            self.topic,
            self.state_topic,
            self.episodes_topic.as_deref().unwrap_or("off")
        );
        let view = Arc::new(KafkaView::default());
        let name = format!("kafka:{}/{}", self.group, self.topic);
        let thread = {
            let view = Arc::clone(&view);
            let state_every = self.state_every;
            thread::Builder::new()
                .name("motifd-kafka".into())
                .spawn(move || consume(&consumer, &ctx, &view, &delivery, state_every))
                .context("cannot start the Kafka thread")?
        };
        Ok(Box::new(Member { name, thread, view }))
    }
}

/// The member's loop: messages to their partitions' engines, idle flushes,
/// periodic state checkpoints and publishing, until the daemon stops; then
/// the final handover.
fn consume(
    consumer: &BaseConsumer<GroupContext>,
    ctx: &SourceContext,
    view: &KafkaView,
    delivery: &Delivery,
    state_every: Duration,
) {
    let group = consumer.context();
    let (mut last_tick, mut last_state) = (Instant::now(), Instant::now());
    let mut last_publish = Instant::now() - PUBLISH_EVERY;
    let mut errors = Throttle::every_ten_seconds();
    while !ctx.stopping() {
        match consumer.poll(POLL) {
            Some(Ok(m)) => {
                let payload = m.payload().unwrap_or_default();
                group.work().apply(m.partition(), m.offset(), payload);
            }
            Some(Err(e)) => {
                if let Say::Summary { total, .. } = errors.occurred() {
                    log::warn!("kafka: consumer error: {e} ({total} so far)");
                }
            }
            None => {}
        }
        if last_tick.elapsed() < TICK {
            continue;
        }
        last_tick = Instant::now();
        let mut work = group.work();
        work.tick();
        if last_state.elapsed() >= state_every {
            work.write_states(consumer, None);
            last_state = Instant::now();
        }
        if last_publish.elapsed() >= PUBLISH_EVERY {
            view.update(&work, &group.high_watermarks(), delivery);
            last_publish = Instant::now();
        }
    }
    let mut work = group.work();
    work.close(consumer);
    view.update(&work, &group.high_watermarks(), delivery);
    drop(work);
    // Leaving the group now hands the partitions to the other members at
    // once, instead of after the session timeout.
    consumer.unsubscribe();
    log::info!("kafka: left the group");
}

/// A running member.
struct Member {
    name: String,
    thread: JoinHandle<()>,
    view: Arc<KafkaView>,
}

impl Running for Member {
    fn name(&self) -> &str {
        &self.name
    }

    fn report(&self, report: &mut SourceReport) {
        report.parts.push(Arc::clone(&self.view) as _);
    }

    fn stop(self: Box<Self>) {
        let _ = self.thread.join();
    }
}
