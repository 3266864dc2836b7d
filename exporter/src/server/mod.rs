//! The HTTP scrape server: `GET|HEAD /metrics`, `/healthz`, `/`.
//!
//! Threads: `motifd-scrape-accept` (public listener, see the `front` module for why
//! connections pass through our own layer), three `motifd-scrape-conn` per
//! connection, `motifd-scrape-reject` (503 beyond the connection cap),
//! tiny_http's own accept/connection threads on a private Unix socket
//! (`motifd-scrape-h`), and
//! `workers` × `motifd-scrape-N` that render and answer requests in arrival
//! order. [`ScrapeServer::stop`] stops and joins all of them. With
//! [`ServerConfig::realtime_priority`] all of them but the 503 thread run
//! at that `SCHED_FIFO` priority ([`priority`]).

mod front;
mod handler;
pub mod negotiate;
pub mod priority;
pub mod route;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::liveness::Liveness;
use crate::publish::SnapshotHandle;
use crate::render::RenderOptions;
use crate::self_stats::ExporterCounters;

/// Configuration of a [`ScrapeServer`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:9184`; use port 0 in tests.
    pub addr: SocketAddr,
    /// Open connections served at once; more are answered 503. Default 128.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed. Default 30 s
    /// (longer than common scrape intervals' keep-alive reuse is not needed:
    /// a scraper simply reconnects).
    pub idle_timeout: Duration,
    /// A response write that makes no progress for this long closes the
    /// connection. Default 10 s.
    pub write_timeout: Duration,
    /// Request-handling (rendering) threads. Default 2.
    pub workers: usize,
    /// Rendering options (namespace).
    pub render: RenderOptions,
    /// Run the scrape path at this `SCHED_FIFO` priority (1..=99); `None`
    /// (the default) leaves it at normal priority. See [`priority`].
    pub realtime_priority: Option<u8>,
    /// The live episode view served at `/` and `/episodes.json`; until
    /// something is published into it, `/` is a plain index.
    pub live: crate::live::LiveHandle,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 9184)),
            max_connections: 128,
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            workers: 2,
            render: RenderOptions::default(),
            realtime_priority: None,
            live: crate::live::LiveHandle::default(),
        }
    }
}

/// A running scrape server. Dropping it stops it like [`ScrapeServer::stop`].
pub struct ScrapeServer {
    addr: SocketAddr,
    front: front::Front,
    tiny: Option<Arc<tiny_http::Server>>,
    workers: Vec<JoinHandle<()>>,
    socket_dir: PathBuf,
    realtime: Option<Result<u8, String>>,
    counters: Arc<ExporterCounters>,
}

impl std::fmt::Debug for ScrapeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeServer")
            .field("addr", &self.addr)
            .field("workers", &self.workers.len())
            .field("socket_dir", &self.socket_dir)
            .finish_non_exhaustive()
    }
}

impl ScrapeServer {
    /// Binds `config.addr` and starts serving.
    ///
    /// # Errors
    /// Binding the address, creating the private socket directory (under the
    /// system temp dir) or spawning a thread failed.
    pub fn start(
        config: ServerConfig,
        snapshots: SnapshotHandle,
        liveness: Liveness,
        counters: Arc<ExporterCounters>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(config.addr)?;
        let addr = listener.local_addr()?;
        let socket_dir = private_dir()?;
        let socket_path = socket_dir.join("scrape.sock");
        let unix = std::os::unix::net::UnixListener::bind(&socket_path)?;
        // tiny_http's threads inherit the name and the scheduling policy of
        // the thread that creates the server: a short-lived thread does it,
        // so they show as `motifd-scrape-h` (15 characters of its name) and,
        // when asked for, run at real-time priority.
        let realtime_wanted = config.realtime_priority;
        let (tiny, realtime) = thread::Builder::new()
            .name("motifd-scrape-http".into())
            .spawn(move || {
                let realtime =
                    realtime_wanted.map(|p| priority::make_current_thread_realtime(p).map(|()| p));
                (tiny_http::Server::from_listener(unix, None), realtime)
            })?
            .join()
            .map_err(|_| io::Error::other("motifd-scrape-http panicked"))?;
        let tiny = Arc::new(tiny.map_err(io::Error::other)?);
        // Only where the first switch worked: the others would fail alike.
        let realtime_priority = realtime.as_ref().and_then(|r| r.as_ref().ok().copied());
        counters.set_realtime_priority(realtime_priority.unwrap_or(0));
        let shared = Arc::new(handler::Shared {
            snapshots,
            liveness,
            counters: Arc::clone(&counters),
            render: config.render.clone(),
            live: config.live.clone(),
        });
        let mut workers = Vec::with_capacity(config.workers.max(1));
        for n in 0..config.workers.max(1) {
            let (tiny, shared) = (Arc::clone(&tiny), Arc::clone(&shared));
            workers.push(
                thread::Builder::new()
                    .name(format!("motifd-scrape-{n}"))
                    .spawn(move || {
                        if let Some(p) = realtime_priority {
                            // Already allowed once: a refusal now leaves this
                            // worker at normal priority and nothing else.
                            let _ = priority::make_current_thread_realtime(p);
                        }
                        let mut scratch = handler::Scratch::default();
                        // recv() fails once unblock() is called: that is the stop signal.
                        while let Ok(request) = tiny.recv() {
                            handler::handle(&shared, &mut scratch, request);
                        }
                    })?,
            );
        }
        let limits = front::Limits {
            max_connections: config.max_connections,
            idle_timeout: config.idle_timeout,
            write_timeout: config.write_timeout,
            realtime_priority,
        };
        let front = front::Front::start(listener, socket_path, limits, Arc::clone(&counters))?;
        Ok(Self {
            addr,
            front,
            tiny: Some(tiny),
            workers,
            socket_dir,
            realtime,
            counters,
        })
    }

    /// Whether the scrape path runs at real-time priority: `None` if it was
    /// not asked for, else the priority in force or why the kernel refused
    /// it (the server then runs at normal priority).
    pub fn realtime(&self) -> Option<Result<u8, String>> {
        self.realtime.clone()
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections refused with 503 because of the connection cap.
    pub fn rejected_connections(&self) -> u64 {
        self.counters
            .connections_closed(crate::self_stats::CloseReason::ConnectionLimit)
    }

    /// Stops accepting, closes open connections, and joins every thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(tiny) = self.tiny.take() else {
            return;
        };
        self.front.stop();
        for _ in &self.workers {
            tiny.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        // Dropping tiny_http's server stops its accept thread; it connects to
        // its socket to do so, so the file goes only afterwards.
        drop(tiny);
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

impl Drop for ScrapeServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A fresh directory only this user can enter, for the internal socket.
fn private_dir() -> io::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "motifd-exporter-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}
