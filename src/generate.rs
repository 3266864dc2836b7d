//! `motifd generate-fixtures`: the seeded recorder of the fixture streams in
//! `fixtures/`. Same binary, same bytes: the fixture test regenerates every
//! stream and compares it with the committed copy.
//!
//! Each channel is quiet noise plus scheduled events — steps, ramps, spikes and
//! exponential decays — sized against its class's thresholds in the default
//! grammar, so every motif fires. Variants add duplicate timestamps, long gaps,
//! anonymous channels, thousands of channels, and an arrival-jittered copy.

use crate::cli::GenerateArgs;
use crate::error::Failure;
use motifd_engine::Grammar;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Event time of the first sample (a Unix time, so precision is exercised).
const T0: f64 = 1_700_000_000.0;
/// Largest arrival jitter of `demo-jittered.csv`, seconds; below half the
/// default 10 s window, so replaying it gives exactly the episodes of `demo.csv`.
const JITTER: f64 = 4.0;

#[derive(Clone, Copy)]
enum Shape {
    Step,
    Ramp,
    Spike,
    Decay,
}

#[derive(Clone, Copy)]
struct Event {
    shape: Shape,
    start: f64,
    length: f64,
    amplitude: f64,
}

impl Event {
    fn at(&self, t: f64) -> f64 {
        let x = t - self.start;
        if x < 0.0 || x > self.length {
            return 0.0;
        }
        match self.shape {
            Shape::Step => self.amplitude,
            Shape::Ramp => self.amplitude * x / self.length,
            Shape::Spike => {
                if x < 1.0 {
                    self.amplitude
                } else {
                    0.0
                }
            }
            Shape::Decay => self.amplitude * (-3.0 * x / self.length).exp(),
        }
    }
}

struct Channel {
    class: &'static str,
    /// Empty: the sample names no channel.
    name: String,
    period: f64,
    phase: f64,
    noise: f64,
    /// Every n-th sample is followed by a second one at the same time.
    duplicate_every: Option<u64>,
    gaps: Vec<(f64, f64)>,
    events: Vec<Event>,
}

struct Record {
    t: f64,
    class: &'static str,
    channel: String,
    value: f64,
}

const CLASSES: [&str; 5] = [
    "plan_regression",
    "cardinality",
    "contention",
    "cache_io",
    "workload_phase",
];

fn thresholds(class: &str) -> (f64, f64, f64) {
    let grammar = Grammar::default();
    let m = grammar
        .motifs()
        .iter()
        .find(|m| m.class == class)
        .expect("fixture classes are default-grammar classes");
    (
        m.params.drift_threshold,
        m.params.slew_threshold,
        m.params.min_dwell_seconds,
    )
}

fn random_events(rng: &mut Pcg64, class: &str, duration: f64, count: usize) -> Vec<Event> {
    let (_, slew, dwell) = thresholds(class);
    let mut events = Vec::with_capacity(count);
    let slot = duration / count.max(1) as f64;
    for i in 0..count {
        let shape = match rng.gen_range(0..4) {
            0 => Shape::Step,
            1 => Shape::Ramp,
            2 => Shape::Spike,
            _ => Shape::Decay,
        };
        let length = rng
            .gen_range(5.0..(slot / 2.0).max(6.0))
            .min(slot / 2.0 + 5.0);
        let start = i as f64 * slot + rng.gen_range(0.0..(slot - length - 2.0 * dwell).max(1.0));
        let sign = if rng.gen_bool(0.8) { 1.0 } else { -1.0 };
        events.push(Event {
            shape,
            start,
            length,
            amplitude: sign * slew * rng.gen_range(0.6..3.0),
        });
    }
    events
}

fn channel(
    rng: &mut Pcg64,
    class: &'static str,
    name: String,
    duration: f64,
    events: usize,
) -> Channel {
    let (drift, _, _) = thresholds(class);
    Channel {
        class,
        name,
        period: [0.5, 1.0, 2.0][rng.gen_range(0..3)],
        phase: f64::from(rng.gen_range(0u32..8)) * 0.25,
        noise: drift * rng.gen_range(0.05..0.4),
        duplicate_every: None,
        gaps: Vec::new(),
        events: random_events(rng, class, duration, events),
    }
}

fn record(channels: &[Channel], duration: f64, rng: &mut Pcg64) -> Vec<Record> {
    let mut out = Vec::new();
    for ch in channels {
        let mut k = 0u64;
        loop {
            let offset = ch.phase + k as f64 * ch.period;
            if offset > duration {
                break;
            }
            k += 1;
            if ch.gaps.iter().any(|&(a, b)| offset >= a && offset < b) {
                continue;
            }
            let copies = match ch.duplicate_every {
                Some(n) if k % n == 0 => 2,
                _ => 1,
            };
            for _ in 0..copies {
                let signal: f64 = ch.events.iter().map(|e| e.at(offset)).sum();
                let noise = ch.noise * rng.gen_range(-1.0..1.0);
                out.push(Record {
                    t: T0 + offset,
                    class: ch.class,
                    channel: ch.name.clone(),
                    value: ((signal + noise) * 1e4).round() / 1e4,
                });
            }
        }
    }
    // Stable: ties keep channel order, then generation order.
    out.sort_by(|a, b| a.t.total_cmp(&b.t));
    out
}

fn jittered<'a>(records: &'a [Record], rng: &mut Pcg64) -> Vec<&'a Record> {
    let mut keyed: Vec<(f64, usize)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.t + rng.gen_range(-JITTER..JITTER), i))
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Equal times keep their recorded order: the positions a group of equal-time
    // records lands on are refilled in that order. Arrival order decides how ties
    // flush, so this is what makes the jittered copy replay to the same bytes.
    let mut order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    let mut by_time: Vec<usize> = order.clone();
    by_time.sort_by(|&a, &b| records[a].t.total_cmp(&records[b].t).then(a.cmp(&b)));
    let mut next_of_group = std::collections::HashMap::new();
    let mut start = 0;
    while start < by_time.len() {
        let t = records[by_time[start]].t.to_bits();
        let mut end = start;
        while end < by_time.len() && records[by_time[end]].t.to_bits() == t {
            end += 1;
        }
        next_of_group.insert(t, (start, end));
        start = end;
    }
    for slot in &mut order {
        let group = next_of_group
            .get_mut(&records[*slot].t.to_bits())
            .expect("every time has a group");
        *slot = by_time[group.0];
        group.0 += 1;
    }
    order.into_iter().map(|i| &records[i]).collect()
}

fn float(v: f64) -> String {
    ryu::Buffer::new().format(v).to_string()
}

fn write_csv<'a>(
    path: &Path,
    records: impl IntoIterator<Item = &'a Record>,
) -> Result<(), Failure> {
    write_file(path, |w| {
        writeln!(w, "{}", motifd_engine::parse::CSV_HEADER)?;
        for r in records {
            writeln!(
                w,
                "{},{},{},{}",
                float(r.t),
                r.class,
                r.channel,
                float(r.value)
            )?;
        }
        Ok(())
    })
}

fn write_jsonl(path: &Path, records: &[Record]) -> Result<(), Failure> {
    write_file(path, |w| {
        for r in records {
            // An empty channel is left out, as producers without one write it.
            let channel = if r.channel.is_empty() {
                String::new()
            } else {
                format!(r#""channel":"{}","#, r.channel)
            };
            writeln!(
                w,
                r#"{{"t":{},"class":"{}",{channel}"value":{}}}"#,
                float(r.t),
                r.class,
                float(r.value)
            )?;
        }
        Ok(())
    })
}

fn write_file(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<fs::File>) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::new(format!("{}: {e}", path.display()));
    let mut w = BufWriter::new(fs::File::create(path).map_err(fail)?);
    body(&mut w).and_then(|()| w.flush()).map_err(fail)
}

/// `demo.csv`: two channels per class, 15 minutes, every shape.
fn demo(rng: &mut Pcg64) -> (Vec<Channel>, f64) {
    let duration = 900.0;
    let mut channels = Vec::new();
    for class in CLASSES {
        for i in 0..2 {
            let name = format!("{}-{i}", &class[..4]);
            channels.push(channel(rng, class, name, duration, 6));
        }
    }
    // One channel that never leaves its envelope.
    let mut quiet = channel(rng, "cache_io", "cach-quiet".into(), duration, 0);
    quiet.events.clear();
    channels.push(quiet);
    (channels, duration)
}

/// `gaps.csv`: long silences, decays, duplicate timestamps, anonymous channels.
fn gaps(rng: &mut Pcg64) -> (Vec<Channel>, f64) {
    let duration = 1800.0;
    let mut channels = Vec::new();
    for (i, class) in CLASSES.iter().enumerate() {
        let name = if i % 2 == 0 {
            String::new()
        } else {
            format!("gap-{class}")
        };
        let mut ch = channel(rng, class, name, duration, 5);
        ch.period = 1.0;
        ch.duplicate_every = Some(3);
        let start = rng.gen_range(200.0..900.0);
        ch.gaps = vec![(start, start + rng.gen_range(60.0..600.0))];
        for e in &mut ch.events {
            if rng.gen_bool(0.5) {
                e.shape = Shape::Decay;
            }
        }
        channels.push(ch);
    }
    (channels, duration)
}

/// `many-channels.jsonl`: 2,000 short channels, a few with events.
fn many(rng: &mut Pcg64) -> (Vec<Channel>, f64) {
    let duration = 5.0;
    let channels = (0..2000)
        .map(|i| {
            let class = CLASSES[i % CLASSES.len()];
            let name = if i < CLASSES.len() {
                String::new()
            } else {
                format!("q{i:04}")
            };
            let (drift, slew, _) = thresholds(class);
            let mut events = Vec::new();
            if rng.gen_bool(0.15) {
                events.push(Event {
                    shape: Shape::Step,
                    start: rng.gen_range(0.0..1.5),
                    length: rng.gen_range(0.5..2.0),
                    amplitude: slew * rng.gen_range(1.0..2.0),
                });
            }
            Channel {
                class,
                name,
                period: 0.5,
                phase: 0.0,
                noise: drift * 0.2,
                duplicate_every: (i % 7 == 0).then_some(4),
                gaps: Vec::new(),
                events,
            }
        })
        .collect();
    (channels, duration)
}

/// `rejects.csv`: good lines with one bad line of every kind mixed in.
fn rejects(path: &Path) -> Result<(), Failure> {
    let bad: [&[u8]; 10] = [
        b"this is not a record",
        b"1700000003,plan_regression,q1",
        b"1700000004,plan_regression,q1,1,surplus",
        b"NaN,plan_regression,q1,0.5",
        b"1700000006,plan_regression,q1,inf",
        b"1700000007,latency,q1,0.5",
        b"1700000008,plan_regression,\xff\xfe,0.5",
        b"1700000009,plan_regression,\"unterminated,0.5",
        b"one,plan_regression,q1,0.5",
        b",plan_regression,q1,0.5",
    ];
    let fail = |e: std::io::Error| Failure::new(format!("{}: {e}", path.display()));
    let mut w = BufWriter::new(fs::File::create(path).map_err(fail)?);
    let mut body = || -> std::io::Result<()> {
        writeln!(w, "{}", motifd_engine::parse::CSV_HEADER)?;
        for k in 0..120u32 {
            let t = 1_700_000_000 + k;
            let v = if (20..40).contains(&k) { 0.9 } else { 0.01 };
            writeln!(w, "{t},plan_regression,q1,{v}")?;
            if let Some(line) = bad.get((k / 10) as usize).filter(|_| k % 10 == 5) {
                w.write_all(line)?;
                w.write_all(b"\n")?;
            }
            if k == 60 {
                writeln!(w)?;
            }
        }
        w.flush()
    };
    body().map_err(fail)
}

/// Writes every fixture stream into `args.out`.
pub fn run(args: &GenerateArgs) -> Result<(), Failure> {
    let dir = &args.out;
    fs::create_dir_all(dir).map_err(|e| Failure::new(format!("{}: {e}", dir.display())))?;
    let mut rng = Pcg64::seed_from_u64(0x6d6f_7469_6664);

    let (channels, duration) = demo(&mut rng);
    let demo_records = record(&channels, duration, &mut rng);
    write_csv(&dir.join("demo.csv"), &demo_records)?;
    write_csv(
        &dir.join("demo-jittered.csv"),
        jittered(&demo_records, &mut rng),
    )?;

    let (channels, duration) = gaps(&mut rng);
    write_csv(
        &dir.join("gaps.csv"),
        &record(&channels, duration, &mut rng),
    )?;

    let (channels, duration) = many(&mut rng);
    write_jsonl(
        &dir.join("many-channels.jsonl"),
        &record(&channels, duration, &mut rng),
    )?;

    rejects(&dir.join("rejects.csv"))?;
    eprintln!("fixtures written to {}", dir.display());
    Ok(())
}
