//! The accept loop: the public listener, the connection cap, and the hand-off
//! of each admitted connection to a thread of its own.
//!
//! # Design
//!
//! A scrape is served by one thread, from the accepted socket to the
//! written response: `motifd-scrape-accept` accepts, a `motifd-scrape-conn`
//! thread per connection reads its requests with tiny_http's HTTP/1.1 reader,
//! renders and writes each answer itself. One thread and one file per
//! connection, no hand-off between threads per request. Until this design,
//! the front layer relayed each connection to tiny_http's own server over a
//! private Unix socket: three relay threads and a tiny_http thread per
//! connection, eight files, and four thread hand-offs per scrape
//! (`docs/performance.md` has both measured).
//!
//! tiny_http is kept for what it does well: parsing requests, keep-alive,
//! pipelining order and response framing. Its server is not used: it accepts
//! connections itself with no hook to configure, count, refuse or close them,
//! and its accept thread ends at the first accept error (an `EMFILE` ended
//! `/metrics` for good). `vendor/tiny_http` is patched so that its connection
//! reader can be given any stream and driven from the caller's thread
//! ([`tiny_http::ClientConnection::from_halves`]), with a bound on the head
//! (16 KiB, 431 beyond), strict HTTP/1.1 syntax (400 and a close at once for
//! a bare LF, a control byte, another protocol's bytes; Host and
//! Content-Length checked) and an account of why a connection ends
//! (`vendor/tiny_http/PATCHES.md`). The guarantees the relay gave are kept
//! where they now belong:
//!
//! - `TCP_NODELAY`, the idle timeout (receive timeout) and the write timeout
//!   (send timeout) are set on each accepted socket here, with a fixed send
//!   buffer ([`SEND_BUFFER`]).
//! - A client that does not read never holds up another: each connection
//!   renders on its own thread; a client that asks for more while over
//!   256 KiB of answers sit unread is cut (`stream.rs`).
//! - A request head must arrive whole within the request timeout of its
//!   first byte; the reaper thread cuts it otherwise (`reaper.rs`).
//! - Stop closes every connection and joins every thread (`registry.rs`).
//! - Renders at once stay bounded by the scratch pool (`handler.rs`).
//!
//! # The connection cap
//!
//! A connection counts against `max_connections` from the moment this loop
//! accepts it. The kernel hands out connections in the order their
//! handshakes completed, so a connection made after another is judged with
//! the earlier one already counted. It stops counting when the server has
//! let go of it: for a close of the server's making (a response with
//! `Connection: close` or to HTTP/1.0, a timeout, a refusal) the count is
//! lowered before the close is sent, so a client that sees its connection
//! closed sees its slot free; for a client's own close, when its thread reads
//! the end of the stream, which it is always waiting for between requests.
//!
//! At the cap, a new connection takes the slot of the connection whose
//! request head has been arriving longest (it is answered 408 and closed,
//! counted as `displaced`): a client that trickles its request cannot hold a
//! slot against one that sends it whole. A connection that is merely silent
//! (no request begun) is never displaced: if every slot is held by such
//! connections, or by requests being answered, the newcomer gets `503 Service
//! Unavailable` with `Retry-After`, sent at once, before anything is read;
//! so does it while [`CUT_MAX`] cut connections are still finishing.
//! Refused and answered connections linger on the reaper thread until the
//! client has closed, so a client reads its answer rather than a reset.
//!
//! An accept error (out of files, most often) is logged at most every ten
//! seconds and retried after 10 ms; meanwhile the reaper lets go of lingering
//! connections. Nothing ends the loop but [`Front::stop`].

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connection::{self, Context};
use super::reaper::{self, Closer};
use super::registry::Registry;
use crate::self_stats::CloseReason;

/// Limits applied to each connection.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub request_timeout: Duration,
    /// `SCHED_FIFO` priority of the accept thread, inherited by the
    /// connection threads it spawns; the result is sent back at start.
    pub realtime_priority: Option<u8>,
}

/// Send buffer asked for on each client socket (Linux doubles it for its
/// bookkeeping). Left to autotuning, a client that stops reading makes the
/// kernel buffer up to `tcp_wmem`'s maximum (4 MiB by default) for it; fixed,
/// a connection holds at most about 0.5 MiB in the kernel, and a stalled
/// write is noticed after that much rather than after megabytes. Even a
/// 10,000-series exposition (about 1 MB) needs only a few refills of it.
const SEND_BUFFER: usize = 256 * 1024;

/// Connections cut (displaced, or past their deadline) whose threads have
/// not finished yet, beyond which no more are displaced. A cut connection
/// ends as soon as its thread gets a core, but one whose thread is waiting to
/// write (its client reads nothing) ends only after the write timeout;
/// without this bound, connections displacing such ones could hold threads
/// and files without end. With 16, slowloris clients reconnecting at once
/// kept all 16 busy on a loaded 2-core machine, and 1–5 % of the scrapes
/// beside them got 503; with 64, none did (`faults_scrape_attacks.rs`).
pub(crate) const CUT_MAX: usize = 64;

/// Least time between two log lines about failing accepts.
const ACCEPT_FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n";

/// The running accept loop and reaper.
#[derive(Debug)]
pub(crate) struct Front {
    stopping: Arc<AtomicBool>,
    registry: Arc<Registry>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
    reaper: Option<JoinHandle<()>>,
}

impl Front {
    /// Starts `motifd-scrape-accept` and `motifd-scrape-reaper`; returns the
    /// front and the outcome of the real-time request (if one was made).
    pub(crate) fn start(
        listener: TcpListener,
        limits: Limits,
        shared: super::handler::Shared,
    ) -> io::Result<(Self, Option<Result<u8, String>>)> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let registry = Arc::new(Registry::new(Arc::clone(&shared.counters)));
        let (reaper, closer) = reaper::start(Arc::clone(&registry), limits.request_timeout)?;
        let ctx = Arc::new(Context {
            registry: Arc::clone(&registry),
            shared,
            closer,
        });
        let (realtime_tx, realtime_rx) = mpsc::channel();
        let acceptor = {
            let stopping = Arc::clone(&stopping);
            thread::Builder::new()
                .name("motifd-scrape-accept".into())
                .spawn(move || {
                    let realtime = limits
                        .realtime_priority
                        .map(|p| super::priority::make_current_thread_realtime(p).map(|()| p));
                    let _ = realtime_tx.send(realtime);
                    accept_loop(&listener, &limits, &stopping, &ctx);
                })?
        };
        let realtime = realtime_rx
            .recv()
            .map_err(|_| io::Error::other("motifd-scrape-accept ended at start"))?;
        let front = Self {
            stopping,
            registry,
            addr,
            acceptor: Some(acceptor),
            reaper: Some(reaper),
        };
        Ok((front, realtime))
    }

    /// Stops accepting, closes every live connection and joins all threads.
    pub(crate) fn stop(&mut self) {
        if self.acceptor.is_none() {
            return;
        }
        self.stopping.store(true, SeqCst);
        // Wake the blocking accept() with a throwaway connection.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        self.registry.close_all();
        // Every sender of hand-offs is gone with the threads: the reaper
        // closes what lingers and ends.
        if let Some(t) = self.reaper.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if self.acceptor.is_some() {
            self.stop();
        }
    }
}

fn accept_loop(listener: &TcpListener, limits: &Limits, stopping: &AtomicBool, ctx: &Arc<Context>) {
    let mut failures = 0u64;
    let mut last_failure_log: Option<Instant> = None;
    while !stopping.load(SeqCst) {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: free what lingers, back off instead of
                // spinning, and say so once every ten seconds at most.
                failures += 1;
                ctx.closer.files_short();
                if last_failure_log.is_none_or(|t| t.elapsed() >= ACCEPT_FAILURE_LOG_EVERY) {
                    log::warn!("scrape accept failed: {e} ({failures} failures so far)");
                    last_failure_log = Some(Instant::now());
                }
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if stopping.load(SeqCst) {
            break;
        }
        let _ = stream.set_nodelay(true);
        let load = ctx.registry.load();
        if load.counted >= limits.max_connections
            && (load.cut >= CUT_MAX || !ctx.registry.displace_slowest())
        {
            refuse(stream, &ctx.shared.counters, &ctx.closer);
            continue;
        }
        if let Err(e) = admit(stream, peer, limits, ctx) {
            log::warn!("scrape connection from {peer} not served: {e}");
        }
    }
}

/// Answers 503 at once and hands the socket to the reaper to linger.
fn refuse(stream: TcpStream, counters: &crate::ExporterCounters, closer: &Closer) {
    counters.connection_closed(CloseReason::ConnectionLimit);
    // A few hundred bytes always fit the empty send buffer of a new socket.
    if stream.set_nonblocking(true).is_ok() && (&stream).write_all(REFUSAL).is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
        closer.refused(stream);
    }
}

/// Configures the socket, registers it and starts its thread.
fn admit(
    stream: TcpStream,
    peer: SocketAddr,
    limits: &Limits,
    ctx: &Arc<Context>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(limits.idle_timeout))?;
    stream.set_write_timeout(Some(limits.write_timeout))?;
    // Best effort: without it the connection works, only with more buffered.
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
    let slot = ctx.registry.slot(stream, Some(peer));
    let thread_ctx = Arc::clone(ctx);
    let thread_slot = Arc::clone(&slot);
    ctx.registry.admit(slot, move |id| {
        thread::Builder::new()
            .name("motifd-scrape-conn".into())
            .spawn(move || connection::serve(id, thread_slot, &thread_ctx))
    })
}
