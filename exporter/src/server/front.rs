//! The connection layer in front of tiny_http.
//!
//! tiny_http 0.12 accepts connections itself and offers no hook to configure
//! them: it never sets `TCP_NODELAY` (every small response then waits ~40 ms
//! for Nagle + delayed ACK), has no read/write timeouts (an idle or slow
//! client holds a thread forever) and no connection limit. `TCP_NODELAY` and
//! both timeouts, set on a listener, would be inherited by the accepted
//! sockets (`tests/listener_options.rs`), but tiny_http would still hold the
//! connections where nothing can count them, refuse them beyond a cap or close
//! them at stop, and it cannot be handed an accepted socket. So this layer
//! owns the public TCP listener and relays each accepted connection to
//! tiny_http over a private Unix socket (no Nagle there). The hand-offs cost
//! 25–100 µs per scrape at the median (`docs/performance.md`). Per connection
//! it:
//!
//! - sets `TCP_NODELAY`;
//! - closes it after `idle_timeout` without a byte from the client;
//! - gives up writing to it after `write_timeout` (a client that stops
//!   reading);
//! - never lets such a client hold up the rendering workers: responses are
//!   taken from tiny_http at once into a per-connection queue, and a client
//!   that leaves more than [`UNREAD_LIMIT`] bytes of them queued (it
//!   pipelines requests and reads nothing) is disconnected on the spot;
//! - counts it against `max_connections`; beyond the cap it answers
//!   `503 Service Unavailable` (with `Retry-After`) and closes, so a flood of
//!   idle sockets cannot lock out the scrapers already connected.
//!
//! Open connections and every close of the server's own making are counted
//! by reason in [`ExporterCounters`].
//!
//! tiny_http still does all HTTP parsing, keep-alive and response framing.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::self_stats::{CloseReason, ExporterCounters};

/// Limits applied by the front layer.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    /// `SCHED_FIFO` priority of the accept thread, inherited by the relay
    /// threads it spawns.
    pub realtime_priority: Option<u8>,
}

/// A live connection: a handle on the client socket (to close it at stop)
/// and its relay thread (set right after spawning).
type LiveConnection = (TcpStream, Option<JoinHandle<()>>);

/// Live connections, so `stop` can close them and join their threads.
#[derive(Debug, Default)]
struct Registry {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, LiveConnection>>,
}

/// The running front layer.
#[derive(Debug)]
pub(crate) struct Front {
    stopping: Arc<AtomicBool>,
    registry: Arc<Registry>,
    addr: std::net::SocketAddr,
    acceptor: Option<JoinHandle<()>>,
    rejecter: Option<JoinHandle<()>>,
}

impl Front {
    /// Starts the `motifd-scrape-accept` and `motifd-scrape-reject` threads.
    pub fn start(
        listener: TcpListener,
        upstream: PathBuf,
        limits: Limits,
        counters: Arc<ExporterCounters>,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let registry = Arc::new(Registry::default());
        // Bounded: under a flood, sockets beyond it are closed without a 503.
        let (reject_tx, reject_rx) = mpsc::sync_channel::<TcpStream>(64);
        let rejecter = thread::Builder::new()
            .name("motifd-scrape-reject".into())
            .spawn(move || reject_loop(reject_rx))?;
        let acceptor = {
            let (stopping, registry) = (stopping.clone(), registry.clone());
            thread::Builder::new()
                .name("motifd-scrape-accept".into())
                .spawn(move || {
                    if let Some(p) = limits.realtime_priority {
                        let _ = super::priority::make_current_thread_realtime(p);
                    }
                    accept_loop(
                        &listener, &upstream, &limits, &stopping, &registry, &counters, reject_tx,
                    )
                })?
        };
        Ok(Self {
            stopping,
            registry,
            addr,
            acceptor: Some(acceptor),
            rejecter: Some(rejecter),
        })
    }

    /// Stops accepting, closes every live connection and joins all threads.
    pub fn stop(&mut self) {
        self.stopping.store(true, SeqCst);
        // Wake the blocking accept() with a throwaway connection.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        if let Some(t) = self.rejecter.take() {
            let _ = t.join();
        }
        let live: Vec<_> = self.registry.live.lock().drain().collect();
        for (_, (stream, handle)) in live {
            let _ = stream.shutdown(Shutdown::Both);
            if let Some(h) = handle {
                let _ = h.join();
            }
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

fn accept_loop(
    listener: &TcpListener,
    upstream: &PathBuf,
    limits: &Limits,
    stopping: &AtomicBool,
    registry: &Arc<Registry>,
    counters: &Arc<ExporterCounters>,
    reject_tx: SyncSender<TcpStream>,
) {
    let mut failures = 0u64;
    let mut last_failure_log: Option<Instant> = None;
    for stream in listener.incoming() {
        if stopping.load(SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning, and say
                // so once every ten seconds at most, with the running count.
                failures += 1;
                if last_failure_log.is_none_or(|t| t.elapsed() >= ACCEPT_FAILURE_LOG_EVERY) {
                    eprintln!(
                        "motifd-exporter: scrape accept failed: {e} ({failures} failures so far)"
                    );
                    last_failure_log = Some(Instant::now());
                }
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let live = registry.live.lock().len();
        if live >= limits.max_connections {
            counters.connection_closed(CloseReason::ConnectionLimit);
            if let Err(TrySendError::Full(s) | TrySendError::Disconnected(s)) =
                reject_tx.try_send(stream)
            {
                let _ = s.shutdown(Shutdown::Both);
            }
            continue;
        }
        if let Err(e) = admit(stream, upstream, limits, registry, counters) {
            eprintln!("motifd-exporter: scrape connection setup failed: {e}");
        }
    }
}

/// Least time between two log lines about failing accepts.
const ACCEPT_FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

/// Connects the client to tiny_http and starts its relay thread.
fn admit(
    client: TcpStream,
    upstream: &PathBuf,
    limits: &Limits,
    registry: &Arc<Registry>,
    counters: &Arc<ExporterCounters>,
) -> io::Result<()> {
    client.set_read_timeout(Some(limits.idle_timeout))?;
    client.set_write_timeout(Some(limits.write_timeout))?;
    // Best effort: without it the connection works, only with more buffered.
    let _ = socket2::SockRef::from(&client).set_send_buffer_size(SEND_BUFFER);
    let server = UnixStream::connect(upstream)?;
    let id = registry.next_id.fetch_add(1, SeqCst);
    let registry_clone = Arc::clone(registry);
    let counters_clone = Arc::clone(counters);
    let kept = client.try_clone()?;
    // Register and count under the lock, held until the end: the relay's own
    // deregistration (and `connection_ended`) cannot run first and leave a
    // stale entry or a negative count behind.
    let mut live = registry.live.lock();
    live.insert(id, (kept, None));
    let spawned = thread::Builder::new()
        .name("motifd-scrape-conn".into())
        .spawn(move || {
            relay(client, server, &counters_clone);
            registry_clone.live.lock().remove(&id);
            counters_clone.connection_ended();
        });
    match spawned {
        Ok(handle) => {
            counters.connection_opened();
            if let Some(entry) = live.get_mut(&id) {
                entry.1 = Some(handle);
            }
            Ok(())
        }
        Err(e) => {
            live.remove(&id);
            Err(e)
        }
    }
}

/// Size of one relayed chunk.
const CHUNK: usize = 16 * 1024;
/// Response bytes queued for a client beyond what the kernel buffers hold.
/// A scraper reads each response before asking for the next, so it never
/// comes near this; 128 connections at the cap hold 32 MiB at most.
const UNREAD_LIMIT: usize = 16 * CHUNK;
/// Send buffer asked for on each client socket (Linux doubles it for its
/// bookkeeping). Left to autotuning, a client that stops reading makes the
/// kernel buffer up to `tcp_wmem`'s maximum (4 MiB by default) for it; fixed,
/// a connection holds at most about 0.5 MiB in the kernel plus
/// [`UNREAD_LIMIT`] here, and a stalled write is noticed after that much
/// rather than after megabytes. Even a 10,000-series exposition (about
/// 1 MB) needs only a few refills of it.
const SEND_BUFFER: usize = 256 * 1024;

/// Copies bytes both ways until either side closes or times out, then closes
/// both. The client→server direction runs on this thread. Responses are read
/// from tiny_http by a second thread into a queue bounded in bytes and
/// written to the client by a third, so a tiny_http worker writing a
/// response never waits on a client that does not read: a full queue
/// disconnects the client.
fn relay(client: TcpStream, server: UnixStream, counters: &Arc<ExporterCounters>) {
    let (Ok(client_w), Ok(client_k), Ok(server_r)) =
        (client.try_clone(), client.try_clone(), server.try_clone())
    else {
        return;
    };
    let queued = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let writer = {
        let (queued, counters) = (Arc::clone(&queued), Arc::clone(counters));
        thread::Builder::new()
            .name("motifd-scrape-conn".into())
            .spawn(move || write_responses(&client_w, &rx, &queued, &counters))
    };
    let Ok(writer) = writer else {
        return;
    };
    let back = {
        let counters = Arc::clone(counters);
        thread::Builder::new()
            .name("motifd-scrape-conn".into())
            .spawn(move || take_responses(&server_r, &tx, &queued, &client_k, &counters))
    };
    if back.is_ok() && copy(&client, &server) == CopyEnd::Timeout {
        counters.connection_closed(CloseReason::IdleTimeout);
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
    if let Ok(h) = back {
        let _ = h.join();
    }
    let _ = writer.join();
}

/// Writes queued responses to the client until the queue closes or a write
/// fails. A write that makes no progress for the write timeout closes the
/// connection and is counted; other failures (the client went away, or
/// [`take_responses`] closed it) are not this thread's to count.
fn write_responses(
    client: &TcpStream,
    queue: &mpsc::Receiver<Vec<u8>>,
    queued: &AtomicUsize,
    counters: &ExporterCounters,
) {
    for chunk in queue {
        if let Err(e) = (&*client).write_all(&chunk) {
            if is_timeout(&e) {
                counters.connection_closed(CloseReason::WriteTimeout);
                eprintln!(
                    "motifd-exporter: closing a scrape connection from {}: no write progress for the write timeout",
                    peer(client)
                );
            }
            break;
        }
        queued.fetch_sub(chunk.len(), SeqCst);
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Moves tiny_http's responses into the client's queue without ever waiting
/// for the client. If the bytes queued would pass [`UNREAD_LIMIT`] the client
/// is not reading: both sides are closed, which also ends the writer's
/// pending write at once.
fn take_responses(
    server: &UnixStream,
    queue: &Sender<Vec<u8>>,
    queued: &AtomicUsize,
    client: &TcpStream,
    counters: &ExporterCounters,
) {
    let mut buf = [0u8; CHUNK];
    loop {
        let n = match (&*server).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if queued.fetch_add(n, SeqCst) + n > UNREAD_LIMIT {
            counters.connection_closed(CloseReason::UnreadResponses);
            eprintln!(
                "motifd-exporter: closing a scrape connection from {}: more than {} KiB of responses left unread",
                peer(client),
                UNREAD_LIMIT >> 10
            );
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
            return;
        }
        if queue.send(buf[..n].to_vec()).is_err() {
            // The writer gave up (write timeout, client gone).
            return;
        }
    }
}

fn peer(client: &TcpStream) -> String {
    client
        .peer_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string())
}

/// A socket timeout surfaces as `WouldBlock` or `TimedOut` depending on the
/// platform.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// How a [`copy`] ended.
#[derive(Debug, PartialEq, Eq)]
enum CopyEnd {
    /// End of file or an error other than a timeout, on either side.
    Closed,
    /// Nothing to read for the read timeout (the idle timeout).
    Timeout,
}

/// Copies until EOF, an error or a read timeout.
fn copy(mut from: impl Read, mut to: impl Write) -> CopyEnd {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return CopyEnd::Closed,
            Err(e) => {
                return if is_timeout(&e) {
                    CopyEnd::Timeout
                } else {
                    CopyEnd::Closed
                }
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return CopyEnd::Closed;
                }
            }
        }
    }
}

const REJECT_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n";

/// How long a refused connection is given to send its request, and then to
/// close its end after the answer.
const REJECT_GRACE: Duration = Duration::from_millis(100);
/// Refused connections being answered at once; more wait in the channel.
/// Each holds a file, and the daemon budgets its open files for this many.
const REJECT_PENDING: usize = 64;

/// A refused connection being answered.
struct Refused {
    stream: TcpStream,
    since: Instant,
    answered: bool,
}

impl Refused {
    fn new(stream: TcpStream) -> Option<Self> {
        stream.set_nonblocking(true).ok()?;
        Some(Self {
            stream,
            since: Instant::now(),
            answered: false,
        })
    }
}

/// Answers refused connections: read what the client sent (so the close does
/// not reset the connection before the client reads the answer), send 503,
/// wait for the client to close, close. Each step waits at most
/// [`REJECT_GRACE`]. The sockets are non-blocking and polled together, so a
/// flood of idle connections (which never send a request) costs each its
/// grace period, not the scrapers queued behind it.
fn reject_loop(rx: mpsc::Receiver<TcpStream>) {
    let mut pending: Vec<Refused> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let next = if pending.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else if pending.len() < REJECT_PENDING {
            rx.recv_timeout(Duration::from_millis(5))
        } else {
            thread::sleep(Duration::from_millis(5));
            Err(RecvTimeoutError::Timeout)
        };
        match next {
            Ok(stream) => {
                pending.extend(Refused::new(stream));
                while pending.len() < REJECT_PENDING {
                    let Ok(stream) = rx.try_recv() else { break };
                    pending.extend(Refused::new(stream));
                }
            }
            Err(RecvTimeoutError::Disconnected) if pending.is_empty() => return,
            Err(_) => {}
        }
        pending.retain_mut(|r| {
            let closed = match (&r.stream).read(&mut buf) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if r.since.elapsed() < REJECT_GRACE {
                        return true;
                    }
                    false
                }
                Err(_) => return false,
            };
            if r.answered {
                return !closed && r.since.elapsed() < REJECT_GRACE;
            }
            // A few hundred bytes always fit an empty send buffer.
            let _ = (&r.stream).write_all(REJECT_RESPONSE);
            let _ = r.stream.shutdown(Shutdown::Write);
            r.answered = true;
            r.since = Instant::now();
            !closed
        });
    }
}
