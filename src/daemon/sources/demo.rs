//! The embedded default: the bundled demo stream, replayed in a loop with its
//! event times shifted to now and sped up, so `motifd` with no arguments shows
//! episodes and live metrics at once.

use super::{Running, Source, SourceContext};
use crate::error::{Context, Failure};
use motifd_engine::ingest::{BatchWriter, DEFAULT_BATCH};
use motifd_engine::parse::is_csv_header;
use motifd_engine::{RecordParser, Sample};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The demo stream (`fixtures/demo.csv`), compiled in.
pub const DEMO_CSV: &[u8] = include_bytes!("../../../fixtures/demo.csv");

/// Event seconds replayed per wall-clock second.
pub const SPEED: f64 = 10.0;

/// The demo stream as a source.
pub struct DemoSource;

impl Source for DemoSource {
    fn start(self: Box<Self>, ctx: SourceContext) -> Result<Box<dyn Running>, Failure> {
        let thread = thread::Builder::new()
            .name("motifd-demo".into())
            .spawn(move || play(&ctx))
            .context("cannot start the demo source")?;
        Ok(Box::new(Playing(thread)))
    }
}

/// The demo being played.
struct Playing(JoinHandle<()>);

impl Running for Playing {
    fn name(&self) -> &str {
        "demo"
    }

    fn stop(self: Box<Self>) {
        let _ = self.0.join();
    }
}

fn play(ctx: &SourceContext) {
    let (_, grammar) = ctx.grammar.load();
    let mut parser = RecordParser::new(grammar, &ctx.names);
    let samples: Vec<Sample> = DEMO_CSV
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !is_csv_header(l))
        .filter_map(|l| parser.csv(l).ok())
        .collect();
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return;
    };
    let (t_first, span) = (first.t, last.t - first.t + 1.0);
    let wall_start = Instant::now();
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut writer = BatchWriter::new(ctx.tx.clone(), DEFAULT_BATCH);
    writer.set_producer(super::producer_key());
    for lap in 0u64.. {
        let shift = now_unix - t_first + lap as f64 * span;
        for s in &samples {
            let offset = (s.t - t_first + lap as f64 * span) / SPEED;
            let due = wall_start + Duration::from_secs_f64(offset);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                if writer.flush().is_err() {
                    return;
                }
                thread::sleep(wait.min(Duration::from_millis(100)));
            }
            if ctx.stopping() {
                let _ = writer.flush();
                return;
            }
            let shifted = Sample {
                t: s.t + shift,
                ..*s
            };
            if writer.push(shifted).is_err() {
                return;
            }
        }
    }
}

/// The banner printed when the demo starts.
pub fn banner(metrics: Option<std::net::SocketAddr>) -> String {
    let url = metrics.map_or("(metrics disabled)".to_string(), |a| {
        format!("http://{a}/metrics")
    });
    format!(
        "motifd {} — demo: the bundled stream (fixtures/demo.csv) replayed in a loop at {SPEED}x, times shifted to now\n\
         \x20 metrics:   {url}\n\
         \x20 try:       curl -s {url} | grep dsfb_episodes_total\n\
         \x20 episodes:  printed below as JSON lines as they close\n\
         \x20 real data: motifd run --ingest-listen 127.0.0.1:9185 --episodes-out episodes.jsonl\n\
         \x20            then: nc -q1 127.0.0.1 9185 < fixtures/demo.csv\n\
         \x20 stop:      Ctrl-C\n",
        env!("CARGO_PKG_VERSION")
    )
}
