//! The socket of one scrape connection as tiny_http reads and writes it.
//!
//! The connection's thread reads requests, renders and writes responses
//! itself, so a client that does not read must not make it wait where
//! waiting is avoidable, and must not hold it forever:
//!
//! - Responses go into a per-connection queue and leave it without waiting
//!   (`MSG_DONTWAIT`), as much as the kernel takes.
//! - Before the thread blocks for the next request, it looks without waiting
//!   for bytes the client already sent (a pipelined request): if there are
//!   some it reads them, renders and queues the next answer; only if there
//!   are none does it wait for the client to take the queued bytes. A write
//!   that makes no progress for the write timeout closes the connection
//!   ([`Failure::WriteTimeout`]).
//! - A client that keeps asking while more than [`UNREAD_LIMIT`] bytes of
//!   earlier responses sit unread is disconnected on the spot
//!   ([`Failure::UnreadResponses`]). One response alone may be larger.
//! - Waiting for a request is bounded by the idle timeout (the socket's
//!   receive timeout, [`Failure::IdleTimeout`]); the first byte of a head
//!   starts its clock for the request deadline ([`Slot::head_started`]).

use std::io::{self, Read, Write};
use std::sync::Arc;

use parking_lot::Mutex;

use super::registry::Slot;

/// Bytes of unread responses a client may leave queued while it asks for
/// more. A scraper reads each response before asking for the next, so it
/// never comes near this; 128 connections at the cap hold 32 MiB at most
/// beyond their current responses.
pub(crate) const UNREAD_LIMIT: usize = 256 * 1024;
/// Queued bytes at which a response is handed to the kernel before it is
/// complete, so a large one is not held in full.
const SEND_AT: usize = 64 * 1024;
/// Queue capacity kept between responses; a larger one is given back.
const KEEP: usize = 64 * 1024;

/// Why a connection's stream stopped working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Nothing arrived for the idle timeout while a request was awaited.
    IdleTimeout,
    /// A write made no progress for the write timeout.
    WriteTimeout,
    /// The client asked for more with over [`UNREAD_LIMIT`] unread.
    UnreadResponses,
    /// The socket failed (the client reset or went away).
    Gone,
}

/// Queued output and what went wrong.
#[derive(Debug, Default)]
struct Output {
    queue: Vec<u8>,
    /// Bytes of `queue` already sent.
    sent: usize,
    /// Bytes still queued that belong to complete responses (those
    /// tiny_http has flushed).
    owed: usize,
    failure: Option<Failure>,
}

impl Output {
    fn queued(&self) -> usize {
        self.queue.len() - self.sent
    }

    fn advance(&mut self, n: usize) {
        self.sent += n;
        self.owed = self.owed.saturating_sub(n);
        if self.sent == self.queue.len() {
            self.queue.clear();
            self.sent = 0;
            if self.queue.capacity() > KEEP {
                self.queue.shrink_to(KEEP);
            }
        }
    }

    fn fail(&mut self, failure: Failure) -> io::Error {
        self.failure = Some(failure);
        failure_error(failure)
    }
}

fn failure_error(failure: Failure) -> io::Error {
    io::Error::other(format!("scrape connection: {failure:?}"))
}

/// A socket timeout surfaces as `WouldBlock` or `TimedOut` depending on the
/// platform.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A handle on one connection's socket; tiny_http gets two (reading and
/// writing), both used by the connection's one thread.
#[derive(Debug, Clone)]
pub(crate) struct ConnStream(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    slot: Arc<Slot>,
    output: Mutex<Output>,
}

impl ConnStream {
    pub(crate) fn new(slot: Arc<Slot>) -> Self {
        Self(Arc::new(Shared {
            slot,
            output: Mutex::new(Output::default()),
        }))
    }

    /// What stopped the stream, if anything did.
    pub(crate) fn failure(&self) -> Option<Failure> {
        self.0.output.lock().failure
    }

    /// Writes out everything queued, waiting for the client (at most the
    /// write timeout without progress).
    pub(crate) fn finish(&self) -> Result<(), Failure> {
        let mut out = self.0.output.lock();
        if let Some(f) = out.failure {
            return Err(f);
        }
        self.send_waiting(&mut out)
            .map_err(|_| out.failure.unwrap_or(Failure::Gone))
    }

    /// Sends what the kernel takes now.
    fn send_now(&self, out: &mut Output) -> io::Result<()> {
        let socket = socket2::SockRef::from(self.0.slot.stream());
        while out.queued() > 0 {
            match socket.send_with_flags(
                &out.queue[out.sent..],
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            ) {
                Ok(n) => out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(out.fail(Failure::Gone)),
            }
        }
        Ok(())
    }

    /// Sends everything queued, waiting as the socket's send timeout allows.
    fn send_waiting(&self, out: &mut Output) -> io::Result<()> {
        let mut socket = self.0.slot.stream();
        while out.queued() > 0 {
            match socket.write(&out.queue[out.sent..]) {
                Ok(0) => return Err(out.fail(Failure::Gone)),
                Ok(n) => out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(out.fail(Failure::WriteTimeout)),
                Err(_) => return Err(out.fail(Failure::Gone)),
            }
        }
        Ok(())
    }

    /// Reads what the client has sent already, without waiting.
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        let socket = self.0.slot.stream();
        socket.set_nonblocking(true)?;
        let read = (&*socket).read(buf);
        socket.set_nonblocking(false)?;
        read
    }

    fn received(&self, read: io::Result<usize>) -> io::Result<usize> {
        match read {
            Ok(n) => {
                if n > 0 {
                    self.0.slot.head_started();
                }
                Ok(n)
            }
            Err(e) if is_timeout(&e) => Err(self.0.output.lock().fail(Failure::IdleTimeout)),
            Err(e) => Err(e),
        }
    }
}

impl Read for ConnStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        {
            let mut out = self.0.output.lock();
            if let Some(f) = out.failure {
                return Err(failure_error(f));
            }
            if out.queued() > 0 {
                self.send_now(&mut out)?;
            }
            if out.queued() > 0 {
                match self.read_now(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.send_waiting(&mut out)?;
                    }
                    read => {
                        drop(out);
                        return self.received(read);
                    }
                }
            }
        }
        let read = self.0.slot.stream().read(buf);
        self.received(read)
    }
}

impl Write for ConnStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = self.0.output.lock();
        if let Some(f) = out.failure {
            return Err(failure_error(f));
        }
        if out.owed > 0 && out.queued() + buf.len() > UNREAD_LIMIT {
            self.send_now(&mut out)?;
            if out.owed > 0 && out.queued() + buf.len() > UNREAD_LIMIT {
                return Err(out.fail(Failure::UnreadResponses));
            }
        }
        out.queue.extend_from_slice(buf);
        if out.queued() >= SEND_AT {
            self.send_now(&mut out)?;
        }
        Ok(buf.len())
    }

    /// tiny_http flushes once, at the end of each response: the response is
    /// sent as far as the kernel takes it now, and what is left counts as
    /// owed to the client.
    fn flush(&mut self) -> io::Result<()> {
        let mut out = self.0.output.lock();
        if let Some(f) = out.failure {
            return Err(failure_error(f));
        }
        self.send_now(&mut out)?;
        out.owed = out.queued();
        Ok(())
    }
}
