//! The connection layer in front of tiny_http.
//!
//! tiny_http 0.12 accepts connections itself and offers no hook to configure
//! them: it never sets `TCP_NODELAY` (every small response then waits ~40 ms
//! for Nagle + delayed ACK), has no read/write timeouts (an idle or slow
//! client holds a thread forever) and no connection limit. `std` cannot set
//! socket options on a listener without `unsafe`/`libc`, and tiny_http cannot
//! be handed an accepted socket. So this layer owns the public TCP listener
//! and relays each accepted connection to tiny_http over a private Unix
//! socket (no Nagle there, ~10 µs per hop). Per connection it:
//!
//! - sets `TCP_NODELAY`;
//! - closes it after `idle_timeout` without a byte from the client;
//! - gives up writing to it after `write_timeout` (a client that stops
//!   reading);
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
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use parking_lot::Mutex;

/// Limits applied by the front layer.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
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

/// Copies bytes both ways until either side closes or times out, then closes
/// both. The client→server direction runs on this thread; the other on a
/// helper thread joined before returning.
fn relay(client: TcpStream, server: UnixStream) {
    let (Ok(client_w), Ok(server_r)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let back = thread::Builder::new()
        .name("motifd-scrape-conn".into())
        .spawn(move || {
            copy(server_r, &client_w);
            let _ = client_w.shutdown(Shutdown::Both);
        });
    copy(&client, &server);
    let _ = server.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
    if let Ok(h) = back {
        let _ = h.join();
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

/// Answers refused connections: read what the client sent (briefly, so the
/// close does not reset the connection before the client reads the answer),
/// send 503, close.
fn reject_loop(rx: mpsc::Receiver<TcpStream>) {
    for mut stream in rx {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(REJECT_RESPONSE);
        let _ = stream.shutdown(Shutdown::Write);
        let _ = stream.read(&mut buf);
    }
}
