//! `motifd run`: the long-lived daemon (docs/architecture.md).

mod checkpointing;
pub mod config;
pub mod demo;
mod engine_loop;
mod episode_log;
mod fd_budget;
pub mod metrics;
pub mod sources;

use crate::error::Failure;
use checkpointing::Checkpointer;
use config::{secs, Config, RunFlags};
use engine_loop::{Control, EngineLoop};
use episode_log::EpisodeLog;
use metrics::MetricsFiller;
use motifd_engine::checkpoint::Fingerprint;
use motifd_engine::{ingest, ChannelNames, EngineLimits, Pipeline};
use motifd_exporter::{
    ExporterCounters, Liveness, Namespace, RenderOptions, ScrapeServer, ServerConfig,
    SnapshotHandle, SnapshotPublisher, TextfileConfig, TextfileWriter,
};
use sources::{GrammarCell, SourceContext};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Extra, non-file producers (the embedded demo).
pub type ExtraSource =
    Box<dyn FnOnce(SourceContext) -> std::io::Result<std::thread::JoinHandle<()>>>;

/// Told the bound addresses (ingest, metrics) once the daemon listens.
pub type OnReady = Box<dyn FnOnce(Option<std::net::SocketAddr>, Option<std::net::SocketAddr>)>;

/// Runs the daemon with `flags`.
pub fn run(flags: &RunFlags) -> Result<ExitCode, Failure> {
    let config = config::resolve(flags)?;
    init_logging(&config.log_level);
    let reload_flags = flags.clone();
    let load_grammar = Box::new(move || {
        let config = config::resolve(&reload_flags)?;
        crate::replay::load_grammar(config.grammar.as_deref())
    });
    run_with(config, load_grammar, None, None)
}

/// Installs the stderr logger (`RUST_LOG` wins over the configured level).
pub fn init_logging(level: &str) {
    let env = env_logger::Env::default().default_filter_or(level);
    let _ = env_logger::Builder::from_env(env)
        .format_target(false)
        .try_init();
}

/// Runs the daemon on a resolved configuration. `extra` adds a producer;
/// `ready` is told the bound addresses (ingest, metrics) once listening.
pub fn run_with(
    config: Config,
    load_grammar: Box<dyn Fn() -> Result<motifd_engine::Grammar, Failure>>,
    extra: Option<ExtraSource>,
    ready: Option<OnReady>,
) -> Result<ExitCode, Failure> {
    let grammar = Arc::new(crate::replay::load_grammar(config.grammar.as_deref())?);
    let namespace = Namespace::new(&config.namespace).map_err(|_| {
        Failure::new(format!(
            "config: namespace {:?} is not a metric name",
            config.namespace
        ))
    })?;
    let render = RenderOptions {
        namespace,
        ..RenderOptions::default()
    };

    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Failure::new(format!("cannot install a signal handler: {e}")))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))
        .map_err(|e| Failure::new(format!("cannot install a signal handler: {e}")))?;
    let checkpoint_now = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&checkpoint_now))
        .map_err(|e| Failure::new(format!("cannot install a signal handler: {e}")))?;
    // Past the file-size limit (RLIMIT_FSIZE) the kernel sends SIGXFSZ, which
    // kills by default. Caught, the write just fails with EFBIG, and the episode
    // log counts it like any other write error.
    signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    )
    .map_err(|e| Failure::new(format!("cannot install a signal handler: {e}")))?;

    let mut log = match &config.episodes_out {
        Some(path) => Some(
            EpisodeLog::open(path, secs(config.fsync_interval))
                .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };

    // Engine state: restored from the checkpoint when there is one for this
    // configuration (before any producer can intern a channel name).
    let limits = EngineLimits {
        channel_ttl: config.channel_ttl,
        max_channels: config.max_channels,
    };
    let restored = config
        .checkpoint
        .as_deref()
        .and_then(|path| checkpointing::restore(path, &grammar, config.window, limits));
    let restored_ok = restored.is_some();
    let (pipeline, names) = match restored {
        Some(r) => {
            if let (Some(log), Some(path), Some(len)) = (
                log.as_mut(),
                config.episodes_out.as_deref(),
                r.meta.episode_log_len,
            ) {
                skip_logged_after_checkpoint(log, path, len);
            }
            (r.pipeline, ChannelNames::new(r.names))
        }
        None => (
            Pipeline::new(Arc::clone(&grammar), config.window, limits),
            ChannelNames::default(),
        ),
    };
    let checkpointer = config.checkpoint.clone().map(|path| {
        let fingerprint = Fingerprint::of(&grammar, config.window, &limits);
        Checkpointer::new(path, secs(config.checkpoint_interval), fingerprint)
    });

    // Exporter side.
    let handle = SnapshotHandle::default();
    let liveness = Liveness::new(Duration::from_secs(5));
    let publisher = (config.metrics_listen.is_some() || config.textfile.is_some())
        .then(|| SnapshotPublisher::new(handle.clone()));
    let mut metrics = MetricsFiller::new(publisher, liveness.clone());
    metrics.checkpoint = checkpointer.as_ref().map(|c| (c.stats(), restored_ok));
    // Before the first scrape: a restored daemon's counters continue from the
    // checkpoint, and a scrape of zeros in between would read as a reset.
    metrics.publish(&pipeline, &grammar, 0);
    let exporter_counters = Arc::new(ExporterCounters::default());
    let caps = fd_budget::for_daemon(fd_budget::Caps {
        producers: config.ingest_listen.map_or(0, |_| config.max_producers),
        scrape_connections: config
            .metrics_listen
            .map_or(0, |_| config.max_scrape_connections),
    });
    let server = match config.metrics_listen {
        Some(addr) => Some(
            ScrapeServer::start(
                ServerConfig {
                    addr,
                    render: render.clone(),
                    max_connections: caps.scrape_connections,
                    idle_timeout: secs(config.scrape_idle_timeout),
                    write_timeout: secs(config.scrape_write_timeout),
                    request_timeout: secs(config.scrape_request_timeout),
                    realtime_priority: (config.scrape_realtime_priority > 0)
                        .then_some(config.scrape_realtime_priority),
                    ..ServerConfig::default()
                },
                handle.clone(),
                liveness.clone(),
                Arc::clone(&exporter_counters),
            )
            .map_err(|e| Failure::new(format!("metrics_listen {addr}: {e}")))?,
        ),
        None => None,
    };
    match server.as_ref().and_then(ScrapeServer::realtime) {
        Some(Ok(p)) => log::info!("scrape threads run at SCHED_FIFO priority {p}"),
        Some(Err(why)) => log::warn!(
            "scrape_realtime_priority not applied, the scrape threads run at normal priority: {why}"
        ),
        None => {}
    }
    if let Some(path) = &config.textfile {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            return Err(Failure::new(format!(
                "textfile {}: directory {} does not exist",
                path.display(),
                dir.display()
            )));
        }
    }
    let textfile = match &config.textfile {
        Some(path) => Some(
            TextfileWriter::start(
                TextfileConfig {
                    interval: secs(config.textfile_interval),
                    render: render.clone(),
                    ..TextfileConfig::new(path.clone())
                },
                handle.clone(),
                Arc::clone(&exporter_counters),
            )
            .map_err(|e| Failure::new(format!("textfile {}: {e}", path.display())))?,
        ),
        None => None,
    };

    // Producers.
    let (tx, rx) = ingest::channel(config.channel_capacity);
    let grammar_cell = Arc::new(GrammarCell::new(Arc::clone(&grammar)));
    let ctx = SourceContext {
        grammar: Arc::clone(&grammar_cell),
        names: names.clone(),
        tx,
        stop: Arc::clone(&stop),
        format: config.input_format,
        max_line: config.max_line,
    };
    let mut threads = Vec::new();
    for input in &config.inputs {
        let reader: Box<dyn std::io::Read + Send> = if input == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(input).map_err(|e| Failure::new(format!("{input}: {e}")))?)
        };
        let name = if input == "-" {
            "stdin".to_string()
        } else {
            input.clone()
        };
        let thread =
            sources::spawn_reader(name, reader, config.follow && input != "-", ctx.clone())
                .map_err(|e| Failure::new(format!("cannot start a source thread: {e}")))?;
        threads.push(thread);
    }
    let mut producers_refused = None;
    let ingest_addr = match config.ingest_listen {
        Some(addr) => {
            let tcp = sources::spawn_tcp(addr, caps.producers, ctx.clone())
                .map_err(|e| Failure::new(format!("ingest_listen {addr}: {e}")))?;
            threads.push(tcp.thread);
            producers_refused = Some(tcp.refused);
            Some(tcp.local_addr)
        }
        None => None,
    };
    if let Some(extra) = extra {
        threads.push(
            extra(ctx.clone())
                .map_err(|e| Failure::new(format!("cannot start the demo source: {e}")))?,
        );
    }
    drop(ctx);
    if threads.is_empty() {
        return Err(Failure::new(
            "no source: give --input FILE (or -) and/or --ingest-listen ADDR",
        ));
    }
    let metrics_addr = server.as_ref().map(ScrapeServer::local_addr);
    log::info!(
        "motifd {} running: window {} s, idle flush {} s, channel ttl {}, {} motifs, inputs {:?}, ingest {}, metrics {}, textfile {}, episodes {}",
        env!("CARGO_PKG_VERSION"),
        config.window,
        config.idle_flush,
        config.channel_ttl.map_or("off".into(), |t| format!("{t} s")),
        grammar.motifs().len(),
        config.inputs,
        ingest_addr.map_or("off".into(), |a| a.to_string()),
        metrics_addr.map_or("off".into(), |a| format!("http://{a}/metrics")),
        config.textfile.as_ref().map_or("off".into(), |p| p.display().to_string()),
        config.episodes_out.as_ref().map_or("off".into(), |p| p.display().to_string()),
    );
    if let Some(ready) = ready {
        ready(ingest_addr, metrics_addr);
    }

    metrics.episode_log_errors = log.as_ref().map(EpisodeLog::error_counter);
    metrics.producers_refused = producers_refused;
    let mut engine = EngineLoop {
        pipeline,
        grammar_cell,
        names,
        log,
        metrics,
        idle_flush: secs(config.idle_flush),
        past_grammars: Vec::new(),
        checkpointer,
    };
    let control = Control {
        stop: Arc::clone(&stop),
        reload,
        checkpoint_now,
        load_grammar,
    };
    let outcome = engine.run(&rx, &control);
    stop.store(true, Ordering::Release);
    liveness.mark_stopped();

    // Sources blocked on stdin cannot be interrupted; they are left to exit with
    // the process. Everything else stops within its poll interval.
    for t in threads {
        if t.is_finished() {
            let _ = t.join();
        }
    }
    if let Some(t) = textfile {
        t.stop();
    }
    if let Some(s) = server {
        s.stop();
    }
    let c = engine.pipeline.counters();
    log::info!(
        "stopped: received {}, flushed {}, dropped out of window {}, rejected {}, episodes logged {}, idle flushes {}, grammar reloads {}",
        c.received,
        c.flushed,
        c.dropped_out_of_window,
        c.rejected.total(),
        engine.log.as_ref().map_or(0, |l| l.written),
        outcome.idle_flushes,
        outcome.reloads
    );
    Ok(ExitCode::SUCCESS)
}

/// After a restart from a checkpoint: the episodes the log holds beyond the
/// length the checkpoint recorded were closed after it was taken (the process
/// died before the next one). Replaying the same input closes them again;
/// they are not written twice.
fn skip_logged_after_checkpoint(log: &mut EpisodeLog, path: &std::path::Path, len: u64) {
    match checkpointing::lines_after(path, len) {
        Ok(Some(lines)) if !lines.is_empty() => {
            log::info!(
                "episode log {}: {} episodes were logged after the checkpoint; if they close again they are not written twice",
                path.display(),
                lines.len()
            );
            log.skip_once(lines);
        }
        Ok(Some(_)) => {}
        Ok(None) => log::warn!(
            "episode log {} is shorter than when the checkpoint was taken (rotated or truncated?): episodes replayed after the restart may appear in both files",
            path.display()
        ),
        Err(err) => log::warn!(
            "episode log {}: cannot read what was logged after the checkpoint ({err}): episodes replayed after the restart may be logged twice",
            path.display()
        ),
    }
}
