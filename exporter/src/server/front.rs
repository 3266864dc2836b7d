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
//!   taken from tiny_http at once into a small per-connection queue, and a
//!   client that leaves more than [`UNREAD_LIMIT`] bytes of them unread (it
//!   pipelines requests and reads nothing) is disconnected on the spot;
//! - counts it against `max_connections`; beyond the cap it answers
//!   `503 Service Unavailable` (with `Retry-After`) and closes, so a flood of
//!   idle sockets cannot lock out the scrapers already connected.
//!
//! tiny_http still does all HTTP parsing, keep-alive and response framing.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

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
    rejected: Arc<AtomicU64>,
}

impl Front {
    /// Starts the `motifd-scrape-accept` and `motifd-scrape-reject` threads.
    pub fn start(listener: TcpListener, upstream: PathBuf, limits: Limits) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let registry = Arc::new(Registry::default());
        let rejected = Arc::new(AtomicU64::new(0));
        // Bounded: under a flood, sockets beyond it are closed without a 503.
        let (reject_tx, reject_rx) = mpsc::sync_channel::<TcpStream>(64);
        let rejecter = thread::Builder::new()
            .name("motifd-scrape-reject".into())
            .spawn(move || reject_loop(reject_rx))?;
        let acceptor = {
            let (stopping, registry, rejected) =
                (stopping.clone(), registry.clone(), rejected.clone());
            thread::Builder::new()
                .name("motifd-scrape-accept".into())
                .spawn(move || {
                    if let Some(p) = limits.realtime_priority {
                        let _ = super::priority::make_current_thread_realtime(p);
                    }
                    accept_loop(
                        &listener, &upstream, &limits, &stopping, &registry, &rejected, reject_tx,
                    )
                })?
        };
        Ok(Self {
            stopping,
            registry,
            addr,
            acceptor: Some(acceptor),
            rejecter: Some(rejecter),
            rejected,
        })
    }

    /// Connections refused with 503 so far.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.load(SeqCst)
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
    rejected: &AtomicU64,
    reject_tx: SyncSender<TcpStream>,
) {
    for stream in listener.incoming() {
        if stopping.load(SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // EMFILE and friends: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let live = registry.live.lock().len();
        if live >= limits.max_connections {
            rejected.fetch_add(1, SeqCst);
            if let Err(TrySendError::Full(s) | TrySendError::Disconnected(s)) =
                reject_tx.try_send(stream)
            {
                let _ = s.shutdown(Shutdown::Both);
            }
            continue;
        }
        if let Err(e) = admit(stream, upstream, limits, registry) {
            eprintln!("motifd-exporter: scrape connection setup failed: {e}");
        }
    }
}

/// Connects the client to tiny_http and starts its relay thread.
fn admit(
    client: TcpStream,
    upstream: &PathBuf,
    limits: &Limits,
    registry: &Arc<Registry>,
) -> io::Result<()> {
    client.set_read_timeout(Some(limits.idle_timeout))?;
    client.set_write_timeout(Some(limits.write_timeout))?;
    let server = UnixStream::connect(upstream)?;
    let id = registry.next_id.fetch_add(1, SeqCst);
    let registry_clone = Arc::clone(registry);
    let kept = client.try_clone()?;
    // Register before spawning, so the relay's own deregistration cannot
    // run first and leave a stale entry behind.
    let mut live = registry.live.lock();
    live.insert(id, (kept, None));
    let spawned = thread::Builder::new()
        .name("motifd-scrape-conn".into())
        .spawn(move || {
            relay(client, server);
            registry_clone.live.lock().remove(&id);
        });
    match spawned {
        Ok(handle) => {
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

/// Copies bytes both ways until either side closes or times out, then closes
/// both. The client→server direction runs on this thread. Responses are read
/// from tiny_http by a second thread into a bounded queue and written to the
/// client by a third, so a tiny_http worker writing a response never waits
/// on a client that does not read: a full queue disconnects the client.
fn relay(client: TcpStream, server: UnixStream) {
    let (Ok(client_w), Ok(client_k), Ok(server_r)) =
        (client.try_clone(), client.try_clone(), server.try_clone())
    else {
        return;
    };
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(UNREAD_LIMIT / CHUNK);
    let Ok(writer) = thread::Builder::new()
        .name("motifd-scrape-conn".into())
        .spawn(move || {
            for chunk in rx {
                if (&client_w).write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = client_w.shutdown(Shutdown::Both);
        })
    else {
        return;
    };
    let back = thread::Builder::new()
        .name("motifd-scrape-conn".into())
        .spawn(move || take_responses(&server_r, &tx, &client_k));
    if back.is_ok() {
        copy(&client, &server);
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
    if let Ok(h) = back {
        let _ = h.join();
    }
    let _ = writer.join();
}

/// Moves tiny_http's responses into the client's queue without ever waiting
/// for the client. If the queue is full the client is not reading: both
/// sides are closed, which also ends the writer's pending write at once.
fn take_responses(server: &UnixStream, queue: &SyncSender<Vec<u8>>, client: &TcpStream) {
    let mut buf = [0u8; CHUNK];
    loop {
        let n = match (&*server).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match queue.try_send(buf[..n].to_vec()) {
            Ok(()) => {}
            // The writer gave up (write timeout, client gone).
            Err(TrySendError::Disconnected(_)) => return,
            Err(TrySendError::Full(_)) => {
                eprintln!(
                    "motifd-exporter: closing a scrape connection from {}: more than {} KiB of responses left unread",
                    client
                        .peer_addr()
                        .map_or_else(|_| "?".into(), |a| a.to_string()),
                    UNREAD_LIMIT >> 10
                );
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Copies until EOF or an error (a read timeout on the client side is the
/// idle timeout; a write timeout is the slow-reader limit).
fn copy(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
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
