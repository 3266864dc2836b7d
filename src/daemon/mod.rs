//! `motifd run`: the long-lived daemon (docs/architecture.md).
//!
//! Start-up runs in named phases — signals, engine state (restored or
//! fresh), the exporter side, the sources — then the engine loop owns the
//! main thread until a stop signal or the end of every source, and
//! [`shut_down`] stops the rest in order.

mod checkpointing;
pub mod config;
mod engine_loop;
mod episode_log;
mod fd_budget;
mod live;
pub mod metrics;
mod publishing;
mod signals;
pub mod sources;

use crate::error::{Context, Failure};
use crate::grammar::{self, GrammarCell};
use checkpointing::Checkpointer;
use config::{secs, Config, RunFlags};
use engine_loop::{Control, EngineLoop, Outcome};
use episode_log::EpisodeLog;
use metrics::MetricsFiller;
use motifd_engine::checkpoint::Fingerprint;
use motifd_engine::{ingest, ChannelNames, Grammar, Pipeline};
use publishing::Publishing;
use signals::Signals;
use sources::{Running, Source, SourceContext, SourceReport};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Told the bound addresses (ingest, metrics) once the daemon listens.
pub type OnReady = Box<dyn FnOnce(Option<SocketAddr>, Option<SocketAddr>)>;

/// Reads and validates the grammar the configuration names now (SIGHUP).
pub type LoadGrammar = Box<dyn Fn() -> Result<Grammar, Failure>>;

/// Runs the daemon with `flags`.
pub fn run(flags: &RunFlags) -> Result<ExitCode, Failure> {
    let config = config::resolve(flags)?;
    init_logging(&config.log_level);
    let reload_flags = flags.clone();
    let load_grammar = Box::new(move || {
        let config = config::resolve(&reload_flags)?;
        grammar::load(config.grammar.as_deref())
    });
    run_with(config, load_grammar, Vec::new(), None)
}

/// Installs the stderr logger (`RUST_LOG` wins over the configured level).
pub fn init_logging(level: &str) {
    let env = env_logger::Env::default().default_filter_or(level);
    let _ = env_logger::Builder::from_env(env)
        .format_target(false)
        .try_init();
}

/// Runs the daemon on a resolved configuration. `extra` are sources besides
/// the configured ones (the embedded demo); `ready` is told the bound
/// addresses (ingest, metrics) once listening.
pub fn run_with(
    config: Config,
    load_grammar: LoadGrammar,
    extra: Vec<Box<dyn Source>>,
    ready: Option<OnReady>,
) -> Result<ExitCode, Failure> {
    let grammar = Arc::new(grammar::load(config.grammar.as_deref())?);
    let signals = Signals::install()?;
    let caps = connection_caps(&config);
    let state = restore_or_start(&config, &grammar)?;
    let mut publishing = Publishing::prepare(&config)?;
    // Published before anything can scrape: a restored daemon's counters
    // continue from the checkpoint, and zeros in between would read as a
    // reset.
    let mut metrics = MetricsFiller::for_daemon(&publishing, &state);
    let postgres = config.postgres_sources()?;
    metrics.postgres = crate::postgres::metrics::for_sources(&postgres);
    metrics.publish(&state.pipeline, &grammar, 0, &SourceReport::default());
    let live = live_feed(&config, &publishing, &state, &grammar);
    publishing.start(&config, caps.scrape_connections)?;
    let (tx, rx) = ingest::channel(config.channel_capacity);
    let ctx = SourceContext {
        grammar: Arc::new(GrammarCell::new(Arc::clone(&grammar))),
        names: state.names.clone(),
        tx,
        stop: Arc::clone(&signals.stop),
        format: config.input_format,
        max_line: config.max_line,
        max_ahead_of_clock: config.max_ahead_of_clock,
        episodes: state
            .log
            .as_ref()
            .map(EpisodeLog::appender)
            .transpose()
            .context("episode log")?,
    };
    let mut extra = extra;
    extra.extend(crate::postgres::source::sources(
        postgres,
        &metrics.postgres,
    ));
    let running = start_sources(&config, caps.producers, extra, &ctx)?;
    let grammar_cell = Arc::clone(&ctx.grammar);
    // The sources hold the only senders now: when they all end, the engine
    // loop sees the channel close.
    drop(ctx);
    let ingest_addr = running.iter().find_map(|s| s.listening_on());
    announce(&config, &grammar, ingest_addr, publishing.metrics_addr());
    if let Some(ready) = ready {
        ready(ingest_addr, publishing.metrics_addr());
    }

    let idle_flush = secs(config.idle_flush);
    let mut engine = EngineLoop::new(state, grammar_cell, metrics, idle_flush, running, live);
    let control = Control {
        stop: Arc::clone(&signals.stop),
        reload: signals.reload,
        checkpoint_now: signals.checkpoint_now,
        load_grammar,
    };
    let outcome = engine.run(&rx, &control);
    signals.stop.store(true, Ordering::Release);
    shut_down(engine, publishing, &outcome);
    Ok(ExitCode::SUCCESS)
}

/// Connection caps that fit the open-file limit.
fn connection_caps(config: &Config) -> fd_budget::Caps {
    fd_budget::for_daemon(fd_budget::Caps {
        producers: config.ingest_listen.map_or(0, |_| config.max_producers),
        scrape_connections: config
            .metrics_listen
            .map_or(0, |_| config.max_scrape_connections),
    })
}

/// The engine thread's state at start.
pub struct StartState {
    /// Reorder buffer and motif engine.
    pub pipeline: Pipeline,
    /// Channel names (restored with the pipeline: its samples refer to them).
    pub names: ChannelNames,
    /// The episode log, if configured.
    pub log: Option<EpisodeLog>,
    /// The checkpoint writer, if configured.
    pub checkpointer: Option<Checkpointer>,
    /// Whether a checkpoint was restored.
    pub restored: bool,
}

/// Opens the episode log and restores the engine state from the checkpoint
/// when there is one for this configuration (before any producer can intern
/// a channel name); otherwise starts fresh.
fn restore_or_start(config: &Config, grammar: &Arc<Grammar>) -> Result<StartState, Failure> {
    let mut log = match &config.episodes_out {
        Some(path) => {
            Some(EpisodeLog::open(path, secs(config.fsync_interval)).context(path.display())?)
        }
        None => None,
    };
    let pipeline_config = config.pipeline();
    let restored = config
        .checkpoint
        .as_deref()
        .and_then(|path| checkpointing::restore(path, grammar, &pipeline_config));
    let was_restored = restored.is_some();
    let (pipeline, names) = match restored {
        Some(r) => {
            if let (Some(log), Some(len)) = (log.as_mut(), r.meta.episode_log_len) {
                log.skip_logged_after(len);
            }
            (r.pipeline, ChannelNames::new(r.names))
        }
        None => (
            Pipeline::new(Arc::clone(grammar), &pipeline_config).context("config")?,
            ChannelNames::default(),
        ),
    };
    let checkpointer = config.checkpoint.clone().map(|path| {
        let fingerprint = Fingerprint::of(grammar, &pipeline_config);
        Checkpointer::new(path, secs(config.checkpoint_interval), fingerprint)
    });
    Ok(StartState {
        pipeline,
        names,
        log,
        checkpointer,
        restored: was_restored,
    })
}

/// The live page's episode ring, when the page is served; a restored engine
/// may hold open episodes already.
fn live_feed(
    config: &Config,
    publishing: &Publishing,
    state: &StartState,
    grammar: &Grammar,
) -> Option<live::LiveFeed> {
    if config.metrics_listen.is_none() || config.live_episodes == 0 {
        return None;
    }
    let mut feed = live::LiveFeed::new(publishing.live.clone(), config.live_episodes, grammar);
    let names = state.names.lock();
    for (motif, channel, t) in state.pipeline.engine().open_episodes() {
        feed.opened(motif, channel, t, &names);
    }
    feed.publish(state.pipeline.reorder().newest());
    Some(feed)
}

/// Starts the configured sources and `extra`; at least one is required.
fn start_sources(
    config: &Config,
    producers: usize,
    extra: Vec<Box<dyn Source>>,
    ctx: &SourceContext,
) -> Result<Vec<Box<dyn Running>>, Failure> {
    let mut all = sources::configured(config, producers)?;
    all.extend(extra);
    if all.is_empty() {
        return Err(Failure::new(
            "no source: give --input FILE (or -), --ingest-listen ADDR and/or --postgres URL",
        ));
    }
    sources::start_all(all, ctx)
}

fn announce(
    config: &Config,
    grammar: &Grammar,
    ingest: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
) {
    let off = || "off".to_string();
    log::info!(
        "motifd {} running: window {} s, idle flush {} s, channel ttl {}, {} motifs, inputs {:?}, ingest {}, metrics {}, textfile {}, episodes {}",
        env!("CARGO_PKG_VERSION"),
        config.window,
        config.idle_flush,
        config.channel_ttl.map_or_else(off, |t| format!("{t} s")),
        grammar.motifs().len(),
        config.inputs,
        ingest.map_or_else(off, |a| a.to_string()),
        metrics.map_or_else(off, |a| format!("http://{a}/metrics")),
        config.textfile.as_ref().map_or_else(off, |p| p.display().to_string()),
        config.episodes_out.as_ref().map_or_else(off, |p| p.display().to_string()),
    );
}

/// After the engine loop: stops the sources, the textfile writer (one last
/// write) and the scrape server, and logs what the run did.
fn shut_down(engine: EngineLoop, publishing: Publishing, outcome: &Outcome) {
    publishing.liveness.mark_stopped();
    let (c, logged) = engine.stop_sources();
    publishing.stop();
    log::info!(
        "stopped: received {}, flushed {}, dropped out of window {}, rejected {}, episodes logged {}, idle flushes {}, grammar reloads {}",
        c.received,
        c.flushed,
        c.dropped_out_of_window,
        c.rejected.total(),
        logged,
        outcome.idle_flushes,
        outcome.reloads
    );
}

impl MetricsFiller {
    fn for_daemon(publishing: &Publishing, state: &StartState) -> Self {
        let mut metrics = MetricsFiller::new(publishing.publisher(), publishing.liveness.clone());
        metrics.checkpoint = state
            .checkpointer
            .as_ref()
            .map(|c| (c.stats(), state.restored));
        metrics.episode_log_errors = state.log.as_ref().map(EpisodeLog::error_counter);
        metrics
    }
}
