//! The `motifd-scrape-reaper` thread: cuts request heads that miss their
//! deadline, and closes connections the server is done with once the client
//! has had its answer.
//!
//! Closing a socket while the client's bytes are still arriving makes the
//! kernel answer them with a reset, which can reach the client before it has
//! read the answer it was sent (the 503 beyond the cap, a 400, a 408). So a
//! connection the server refuses or gives up on is answered, its sending
//! side shut, and handed here to linger: what the client still sends is read
//! and dropped until it closes its end, [`LINGER`] passes or [`LINGER_BYTES`]
//! arrive. At most [`LINGER_MAX`] linger at once (each holds a file): past
//! that the one lingering longest is closed, having had the most time. As
//! many again may wait to be taken in; past those (the reaper is behind) a
//! connection is closed at once, after what it sent so far is read. All are
//! closed at once when the accept thread reports the process out of files.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::registry::{Registry, Slot};

/// Connections lingering at once; as many again may wait to be taken in.
pub(crate) const LINGER_MAX: usize = 64;
/// Longest a closing connection lingers.
const LINGER: Duration = Duration::from_secs(1);
/// Bytes read from a lingering connection before it is closed anyway: more
/// than a client that pipelined its requests has sent, far less than a
/// flood would in [`LINGER`].
const LINGER_BYTES: usize = 1 << 20;
/// How often lingering connections are looked at.
const LINGER_POLL: Duration = Duration::from_millis(5);

/// What the other threads hand to the reaper.
#[derive(Debug)]
enum Handoff {
    Linger(Socket),
    /// The process is out of files: close every lingering connection now.
    FilesShort,
}

/// The other threads' way to the reaper.
#[derive(Debug, Clone)]
pub(crate) struct Closer {
    handoffs: SyncSender<Handoff>,
}

impl Closer {
    /// A connection answered 503, its sending side shut.
    pub(crate) fn refused(&self, stream: TcpStream) {
        self.linger(Socket::Refused(stream));
    }

    /// A connection answered and done with, its sending side shut.
    pub(crate) fn closing(&self, slot: Arc<Slot>) {
        self.linger(Socket::Closing(slot));
    }

    /// The process is out of files.
    pub(crate) fn files_short(&self) {
        let _ = self.handoffs.try_send(Handoff::FilesShort);
    }

    fn linger(&self, socket: Socket) {
        if socket.stream().set_nonblocking(true).is_err() {
            return;
        }
        if let Err(
            TrySendError::Full(Handoff::Linger(s)) | TrySendError::Disconnected(Handoff::Linger(s)),
        ) = self.handoffs.try_send(Handoff::Linger(socket))
        {
            drain(s.stream());
        }
    }
}

/// Reads (and drops) what a closing connection has sent so far, so that
/// closing it sends no reset for unread bytes.
fn drain(stream: &TcpStream) {
    let mut buf = [0u8; 4096];
    let mut left = LINGER_BYTES;
    while let Ok(n @ 1..) = (&*stream).read(&mut buf) {
        left = left.saturating_sub(n);
        if left == 0 {
            break;
        }
    }
}

/// A connection being closed.
#[derive(Debug)]
struct Lingering {
    socket: Socket,
    since: Instant,
    drained: usize,
}

#[derive(Debug)]
enum Socket {
    Refused(TcpStream),
    Closing(Arc<Slot>),
}

impl Socket {
    fn stream(&self) -> &TcpStream {
        match self {
            Socket::Refused(s) => s,
            Socket::Closing(slot) => slot.stream(),
        }
    }
}

impl Lingering {
    fn stream(&self) -> &TcpStream {
        self.socket.stream()
    }

    /// Reads what has arrived; whether to keep lingering.
    fn keep(&mut self, buf: &mut [u8]) -> bool {
        loop {
            match self.stream().read(buf) {
                Ok(0) => return false,
                Ok(n) => {
                    self.drained += n;
                    if self.drained > LINGER_BYTES {
                        return false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return self.since.elapsed() < LINGER
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// Starts the reaper; it ends once every [`Closer`] is gone.
pub(crate) fn start(
    registry: Arc<Registry>,
    request_timeout: Duration,
) -> std::io::Result<(JoinHandle<()>, Closer)> {
    let (handoffs, received) = mpsc::sync_channel(LINGER_MAX);
    let closer = Closer { handoffs };
    let thread = thread::Builder::new()
        .name("motifd-scrape-reaper".into())
        .spawn(move || run(&received, &registry, request_timeout))?;
    Ok((thread, closer))
}

fn run(handoffs: &Receiver<Handoff>, registry: &Registry, request_timeout: Duration) {
    let mut lingering: VecDeque<Lingering> = VecDeque::new();
    let mut buf = [0u8; 4096];
    // A head that starts while the reaper sleeps has its deadline at least
    // `request_timeout` away, so sleeping that long never wakes too late.
    let mut next_deadline = request_timeout;
    loop {
        let wait = if lingering.is_empty() {
            next_deadline
        } else {
            next_deadline.min(LINGER_POLL)
        };
        let first = match handoffs.recv_timeout(wait) {
            Ok(h) => Some(h),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        for handoff in first.into_iter().chain(handoffs.try_iter()) {
            match handoff {
                Handoff::Linger(socket) => {
                    if lingering.len() >= LINGER_MAX {
                        lingering.pop_front().inspect(|l| drain(l.stream()));
                    }
                    lingering.push_back(Lingering {
                        socket,
                        since: Instant::now(),
                        drained: 0,
                    });
                }
                Handoff::FilesShort => {
                    for l in lingering.drain(..) {
                        drain(l.stream());
                    }
                }
            }
        }
        lingering.retain_mut(|l| l.keep(&mut buf));
        next_deadline = registry
            .cut_overdue(request_timeout)
            .unwrap_or(request_timeout);
    }
}
