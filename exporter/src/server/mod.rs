//! The HTTP scrape server: `GET|HEAD /metrics`, `/healthz`, `/`.
//!
//! Threads: `motifd-scrape-accept` (the public listener and the connection
//! cap, see the `front` module for the design), one `motifd-scrape-conn` per
//! connection (reads its requests with tiny_http, renders and answers them),
//! and `motifd-scrape-reaper` (request deadlines, lingering closes).
//! [`ScrapeServer::stop`] stops and joins all of them. With
//! [`ServerConfig::realtime_priority`] the accept and connection threads run
//! at that `SCHED_FIFO` priority ([`priority`]); the reaper does not.

mod connection;
mod front;
mod handler;
pub mod negotiate;
pub mod priority;
mod reaper;
mod registry;
pub mod route;
mod stream;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use crate::liveness::Liveness;
use crate::publish::SnapshotHandle;
use crate::render::RenderOptions;
use crate::self_stats::ExporterCounters;

pub use connection::MAX_HEAD_BYTES;

/// Open files one admitted scrape connection holds: its socket.
pub const FILES_PER_CONNECTION: usize = 1;
/// Open files the scrape server may hold besides the connections its cap
/// counts: the listener, a connection being accepted or refused, cut
/// connections still finishing, and the refused or answered connections
/// lingering until their clients close (or waiting to).
pub const FILES_BESIDES_CONNECTIONS: usize =
    2 + front::CUT_MAX * FILES_PER_CONNECTION + 2 * reaper::LINGER_MAX;

/// Open files a scrape server with a cap of `max_connections` may hold.
pub const fn files_needed(max_connections: usize) -> usize {
    FILES_BESIDES_CONNECTIONS + max_connections * FILES_PER_CONNECTION
}

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
    /// A request head (and its body, at most 1 KiB) must arrive whole within
    /// this long of its first byte; else 408 and a close. Default 5 s.
    pub request_timeout: Duration,
    /// Renders at once (each keeps its buffers between scrapes); a scrape
    /// beyond waits for one to finish. Default 2.
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
            request_timeout: Duration::from_secs(5),
            workers: 2,
            render: RenderOptions::default(),
            realtime_priority: None,
            live: crate::live::LiveHandle::default(),
        }
    }
}

/// A running scrape server. Dropping it stops it like [`ScrapeServer::stop`].
#[derive(Debug)]
pub struct ScrapeServer {
    addr: SocketAddr,
    front: front::Front,
    realtime: Option<Result<u8, String>>,
    counters: Arc<ExporterCounters>,
}

impl ScrapeServer {
    /// Binds `config.addr` and starts serving.
    ///
    /// # Errors
    /// Binding the address or spawning a thread failed.
    pub fn start(
        config: ServerConfig,
        snapshots: SnapshotHandle,
        liveness: Liveness,
        counters: Arc<ExporterCounters>,
    ) -> io::Result<Self> {
        let listener = listen(config.addr)?;
        let addr = listener.local_addr()?;
        let shared = handler::Shared {
            snapshots,
            liveness,
            counters: Arc::clone(&counters),
            render: config.render.clone(),
            scratch: handler::ScratchPool::new(config.workers),
            live: config.live.clone(),
        };
        let limits = front::Limits {
            max_connections: config.max_connections,
            idle_timeout: config.idle_timeout,
            write_timeout: config.write_timeout,
            request_timeout: config.request_timeout,
            realtime_priority: config.realtime_priority,
        };
        let (front, realtime) = front::Front::start(listener, limits, shared)?;
        let in_force = realtime.as_ref().and_then(|r| r.as_ref().ok().copied());
        counters.set_realtime_priority(in_force.unwrap_or(0));
        Ok(Self {
            addr,
            front,
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
        self.front.stop();
    }
}

/// Connections the kernel queues for the accept thread (capped by
/// `net.core.somaxconn`). Past it, a new connection's handshake is dropped
/// and the client retries only a second later; std's listener asks for 128,
/// which a burst of reconnecting clients fills before the accept thread gets
/// a core on a busy machine.
const LISTEN_BACKLOG: i32 = 1024;

/// A listener on `addr` with [`LISTEN_BACKLOG`], reusing the address as
/// std's listeners do on Unix.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

impl Drop for ScrapeServer {
    fn drop(&mut self) {
        self.front.stop();
    }
}
