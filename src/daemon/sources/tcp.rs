//! The TCP line listener: producers connect and send one record per line;
//! each connection is read on its own thread.
//!
//! At most `max_producers` are connected at once; a connection beyond that is
//! closed at once and counted. A producer that sends nothing for
//! `ingest_idle_timeout` is closed and counted too, so silent connections
//! cannot keep the slots from producers that have something to send.

use super::{Running, Source, SourceContext, SourceReport, POLL};
use crate::daemon::config::{secs, Config};
use crate::error::{Context, Failure};
use crate::line_ingest::Stopped;
use crate::log_throttle::{Say, Throttle};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// `ingest_listen`.
pub struct TcpSource {
    addr: SocketAddr,
    max_producers: usize,
    idle_timeout: Duration,
}

impl TcpSource {
    /// A listener on `addr` admitting `max_producers` at once.
    pub fn new(addr: SocketAddr, max_producers: usize, config: &Config) -> Self {
        Self {
            addr,
            max_producers,
            idle_timeout: secs(config.ingest_idle_timeout),
        }
    }
}

/// Counts the listener shares with the metrics.
#[derive(Debug, Default)]
struct Counts {
    /// Connections closed at once because `max_producers` were connected.
    refused: AtomicU64,
    /// Producers closed after the idle timeout.
    idle_closed: AtomicU64,
}

impl Source for TcpSource {
    fn start(self: Box<Self>, ctx: SourceContext) -> Result<Box<dyn Running>, Failure> {
        let what = format!("ingest_listen {}", self.addr);
        let listener = TcpListener::bind(self.addr).context(&what)?;
        listener.set_nonblocking(true).context(&what)?;
        let local_addr = listener.local_addr().context(&what)?;
        let counts = Arc::new(Counts::default());
        let thread = {
            let counts = Arc::clone(&counts);
            thread::Builder::new()
                .name("motifd-ingest".into())
                .spawn(move || Acceptor::new(&self, ctx, counts).run(&listener))
                .context("cannot start the ingest listener thread")?
        };
        Ok(Box::new(Listening {
            name: format!("tcp:{local_addr}"),
            local_addr,
            thread,
            counts,
        }))
    }

    /// Its lines go through [`LineIngest`](crate::line_ingest::LineIngest).
    fn follows_names(&self) -> bool {
        true
    }
}

/// A listener accepting producers.
struct Listening {
    name: String,
    local_addr: SocketAddr,
    thread: JoinHandle<()>,
    counts: Arc<Counts>,
}

impl Running for Listening {
    fn name(&self) -> &str {
        &self.name
    }

    fn listening_on(&self) -> Option<SocketAddr> {
        Some(self.local_addr)
    }

    fn report(&self, report: &mut SourceReport) {
        report.producers_refused = Some(self.counts.refused.load(Ordering::Relaxed));
        report.producers_idle_closed = Some(self.counts.idle_closed.load(Ordering::Relaxed));
    }

    fn stop(self: Box<Self>) {
        let _ = self.thread.join();
    }
}

/// The accept loop's state.
struct Acceptor {
    ctx: SourceContext,
    max_producers: usize,
    idle_timeout: Duration,
    counts: Arc<Counts>,
    live: Arc<AtomicUsize>,
    connections: Vec<JoinHandle<()>>,
    next_id: u64,
    refusals: Throttle,
    failures: Throttle,
}

impl Acceptor {
    fn new(source: &TcpSource, ctx: SourceContext, counts: Arc<Counts>) -> Self {
        Self {
            ctx,
            max_producers: source.max_producers,
            idle_timeout: source.idle_timeout,
            counts,
            live: Arc::default(),
            connections: Vec::new(),
            next_id: 0,
            refusals: Throttle::every_ten_seconds(),
            failures: Throttle::every_ten_seconds(),
        }
    }

    /// Accepts producers until the daemon stops, then waits for them.
    fn run(mut self, listener: &TcpListener) {
        while !self.ctx.stopping() {
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL / 4),
                Err(e) => {
                    // Out of files (EMFILE) fails every retry until a file
                    // frees: logged at most every ten seconds, with the count.
                    if let Say::Summary { total, .. } = self.failures.occurred() {
                        log::warn!(
                            "ingest: accept failed: {e} ({total} failures so far; retrying every {POLL:?})"
                        );
                    }
                    thread::sleep(POLL);
                }
            }
        }
        for h in self.connections {
            let _ = h.join();
        }
    }

    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        self.connections.retain(|h| !h.is_finished());
        if self.live.load(Ordering::Acquire) >= self.max_producers {
            let total = self.counts.refused.fetch_add(1, Ordering::Relaxed) + 1;
            if let Say::Summary { .. } = self.refusals.occurred() {
                log::warn!(
                    "ingest: refusing {peer}: {} producers connected already ({total} refused so far, see dsfb_ingest_producers_refused_total)",
                    self.max_producers
                );
            }
            return;
        }
        self.next_id += 1;
        self.live.fetch_add(1, Ordering::AcqRel);
        let producer = Producer {
            ctx: self.ctx.clone(),
            peer,
            idle_timeout: self.idle_timeout,
            counts: Arc::clone(&self.counts),
        };
        let slot = Slot(Arc::clone(&self.live));
        let spawned = thread::Builder::new()
            .name(format!("motifd-tcp-{}", self.next_id))
            .spawn(move || producer.serve(stream, slot));
        match spawned {
            Ok(h) => self.connections.push(h),
            // The closure, and the slot in it, is dropped with the error.
            Err(e) => log::error!("ingest: cannot start a thread for {peer}: {e}"),
        }
    }
}

/// One connected producer.
struct Producer {
    ctx: SourceContext,
    peer: SocketAddr,
    idle_timeout: Duration,
    counts: Arc<Counts>,
}

impl Producer {
    fn serve(self, mut stream: TcpStream, slot: Slot) {
        let peer = self.peer;
        if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(POLL)).is_err() {
            return;
        }
        log::debug!("ingest: producer {peer} connected");
        let mut ingest = self.ctx.line_ingest(format!("tcp:{peer}"));
        let mut buf = vec![0u8; 64 << 10];
        let mut last_read = Instant::now();
        while !self.ctx.stopping() {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    last_read = Instant::now();
                    if let Err(Stopped::Disconnected) = ingest.feed(&buf[..n]) {
                        return;
                    }
                }
                Err(e) if is_timeout(&e) => {
                    if last_read.elapsed() >= self.idle_timeout {
                        self.counts.idle_closed.fetch_add(1, Ordering::Relaxed);
                        log::info!(
                            "ingest: closing {peer}: nothing received for {:?} (ingest_idle_timeout)",
                            self.idle_timeout
                        );
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("ingest: {peer}: {e}");
                    break;
                }
            }
        }
        // A line without its newline at the end of a connection was cut short.
        let _ = ingest.end(false);
        log::debug!("ingest: producer {peer} disconnected");
        // The slot is free before the producer can see its connection
        // closed, so a producer the daemon closed can reconnect at once.
        drop(slot);
        drop(stream);
    }
}

/// One of the `max_producers` slots, held by a producer's thread.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
