//! The daemon's outputs besides the episode log: the scrape server and the
//! node_exporter textfile, both serving the snapshots the engine thread
//! publishes.

use super::config::{secs, Config};
use crate::error::{Context, Failure};
use motifd_exporter::atomic_file::parent_dir;
use motifd_exporter::{
    ExporterCounters, LiveHandle, Liveness, Namespace, RenderOptions, ScrapeServer, ServerConfig,
    SnapshotHandle, SnapshotPublisher, TextfileConfig, TextfileWriter,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The running exporter side.
pub struct Publishing {
    handle: SnapshotHandle,
    /// Beaten by the engine thread on every publish; `/healthz` reads it.
    pub liveness: Liveness,
    /// Some output reads snapshots.
    wanted: bool,
    /// The live page's data, served at `/` and `/episodes.json`.
    pub live: LiveHandle,
    server: Option<ScrapeServer>,
    textfile: Option<TextfileWriter>,
}

impl Publishing {
    /// The snapshot handle and liveness `config`'s outputs will read; no
    /// thread yet, so the engine can publish a first snapshot before
    /// anything can scrape.
    ///
    /// # Errors
    /// The textfile's directory does not exist.
    pub fn prepare(config: &Config) -> Result<Self, Failure> {
        if let Some(path) = &config.textfile {
            let dir = parent_dir(path);
            if !dir.is_dir() {
                return Err(Failure::new(format!(
                    "textfile {}: directory {} does not exist",
                    path.display(),
                    dir.display()
                )));
            }
        }
        Ok(Self {
            handle: SnapshotHandle::default(),
            liveness: Liveness::new(Duration::from_secs(5)),
            wanted: config.metrics_listen.is_some() || config.textfile.is_some(),
            live: LiveHandle::default(),
            server: None,
            textfile: None,
        })
    }

    /// Starts the scrape server (at most `scrape_connections` connections)
    /// and the textfile writer, as `config` asks.
    ///
    /// # Errors
    /// The metrics address cannot be bound or a thread cannot start.
    pub fn start(&mut self, config: &Config, scrape_connections: usize) -> Result<(), Failure> {
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
        let counters = Arc::new(ExporterCounters::default());
        if let Some(addr) = config.metrics_listen {
            let mut server_config = server_config(config, addr, scrape_connections, &render);
            server_config.live = self.live.clone();
            self.server = Some(start_server(server_config, self, &counters)?);
        }
        if let Some(path) = &config.textfile {
            let textfile = TextfileConfig {
                interval: secs(config.textfile_interval),
                render,
                ..TextfileConfig::new(path.clone())
            };
            let writer = TextfileWriter::start(textfile, self.handle.clone(), counters);
            self.textfile = Some(writer.context(format!("textfile {}", path.display()))?);
        }
        Ok(())
    }

    /// A publisher for the engine thread; None when nothing reads snapshots.
    pub fn publisher(&self) -> Option<SnapshotPublisher> {
        self.wanted
            .then(|| SnapshotPublisher::new(self.handle.clone()))
    }

    /// The address `/metrics` is served on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(ScrapeServer::local_addr)
    }

    /// Writes the textfile once more and stops every thread.
    pub fn stop(self) {
        self.liveness.mark_stopped();
        if let Some(t) = self.textfile {
            t.stop();
        }
        if let Some(s) = self.server {
            s.stop();
        }
    }
}

fn server_config(
    config: &Config,
    addr: SocketAddr,
    max_connections: usize,
    render: &RenderOptions,
) -> ServerConfig {
    ServerConfig {
        addr,
        render: render.clone(),
        max_connections,
        idle_timeout: secs(config.scrape_idle_timeout),
        write_timeout: secs(config.scrape_write_timeout),
        request_timeout: secs(config.scrape_request_timeout),
        realtime_priority: (config.scrape_realtime_priority > 0)
            .then_some(config.scrape_realtime_priority),
        ..ServerConfig::default()
    }
}

fn start_server(
    config: ServerConfig,
    publishing: &Publishing,
    counters: &Arc<ExporterCounters>,
) -> Result<ScrapeServer, Failure> {
    let addr = config.addr;
    let server = ScrapeServer::start(
        config,
        publishing.handle.clone(),
        publishing.liveness.clone(),
        Arc::clone(counters),
    )
    .context(format!("metrics_listen {addr}"))?;
    match server.realtime() {
        Some(Ok(p)) => log::info!("scrape threads run at SCHED_FIFO priority {p}"),
        Some(Err(why)) => log::warn!(
            "scrape_realtime_priority not applied, the scrape threads run at normal priority: {why}"
        ),
        None => {}
    }
    Ok(server)
}
