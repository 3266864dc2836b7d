//! The connections the scrape server holds: what the connection cap counts,
//! what the request deadline and the displacement rule cut, what `stop`
//! closes.
//!
//! Each connection is one [`Slot`]: its socket (the connection's only file)
//! and the state of the request head it is reading, in one atomic so that
//! the connection's own thread and the threads that may cut it (the reaper
//! for the deadline, the accept thread for displacement) agree on one
//! outcome without a lock: a head completes, or it is cut, never both.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::self_stats::ExporterCounters;

/// Why the server cut a request head short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The head was not whole within the request timeout of its first byte.
    RequestTimeout,
    /// At the connection cap, a new connection took this one's slot: of the
    /// heads in progress, this one had been arriving longest.
    Displaced,
}

/// Head state: no request head in progress (silent, or being answered).
const NO_HEAD: u64 = 0;
/// Head states at and above this are cuts (`CUT + Cut as u64`); below, a
/// head in progress since that many nanoseconds (plus one) after the epoch.
const CUT: u64 = u64::MAX - 4;

/// One connection: its socket and the state of the head it is reading.
#[derive(Debug)]
pub(crate) struct Slot {
    stream: TcpStream,
    peer: Option<SocketAddr>,
    epoch: Instant,
    /// [`NO_HEAD`], the start of the head in progress, or a cut. Moves
    /// NO_HEAD → start (first byte read) → NO_HEAD (head complete), or
    /// start → cut (by another thread, once); nothing leaves a cut.
    head: AtomicU64,
}

impl Slot {
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub(crate) fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Bytes of a request arrived: starts the head's clock if none runs.
    pub(crate) fn head_started(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .clamp(1, CUT - 1);
        let _ = self.head.compare_exchange(NO_HEAD, now, SeqCst, SeqCst);
    }

    /// The head is whole: stops its clock, unless it was cut first.
    pub(crate) fn head_complete(&self) -> Result<(), Cut> {
        let mut state = self.head.load(SeqCst);
        loop {
            if let Some(cut) = cut_of(state) {
                return Err(cut);
            }
            match self.head.compare_exchange(state, NO_HEAD, SeqCst, SeqCst) {
                Ok(_) => return Ok(()),
                Err(now) => state = now,
            }
        }
    }

    /// Why the head was cut, if it was.
    pub(crate) fn cut(&self) -> Option<Cut> {
        cut_of(self.head.load(SeqCst))
    }

    /// When the head in progress started (nanoseconds after the epoch).
    fn head_since(&self) -> Option<u64> {
        let state = self.head.load(SeqCst);
        (state != NO_HEAD && state < CUT).then_some(state)
    }

    /// Cuts the head that started at `since`, if it is still the one in
    /// progress, and ends the connection's reading (its thread answers 408).
    fn try_cut(&self, since: u64, cut: Cut) -> bool {
        let value = CUT + cut as u64;
        if self
            .head
            .compare_exchange(since, value, SeqCst, SeqCst)
            .is_err()
        {
            return false;
        }
        let _ = self.stream.shutdown(Shutdown::Read);
        true
    }
}

fn cut_of(state: u64) -> Option<Cut> {
    match state.checked_sub(CUT)? {
        0 => Some(Cut::RequestTimeout),
        _ => Some(Cut::Displaced),
    }
}

/// How many connections are live, by whether they count against the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Load {
    pub counted: usize,
    pub cut: usize,
}

/// A live connection: its slot and its thread (joined at stop).
#[derive(Debug)]
struct Live {
    slot: Arc<Slot>,
    thread: Option<JoinHandle<()>>,
}

/// The live connections.
#[derive(Debug)]
pub(crate) struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Live>>,
    counters: Arc<ExporterCounters>,
}

impl Registry {
    pub(crate) fn new(counters: Arc<ExporterCounters>) -> Self {
        Self {
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
            counters,
        }
    }

    /// A slot for an accepted connection (not yet registered).
    pub(crate) fn slot(&self, stream: TcpStream, peer: Option<SocketAddr>) -> Arc<Slot> {
        Arc::new(Slot {
            stream,
            peer,
            epoch: self.epoch,
            head: AtomicU64::new(NO_HEAD),
        })
    }

    /// Live connections: those that count against the cap, and those whose
    /// head was cut (their threads are answering 408 and closing).
    pub(crate) fn load(&self) -> Load {
        let live = self.live.lock();
        let cut = live.values().filter(|l| l.slot.cut().is_some()).count();
        Load {
            counted: live.len() - cut,
            cut,
        }
    }

    /// Registers `slot` and starts its thread with `spawn(id)`, counting it
    /// open. The lock is held until the thread's handle is stored, so the
    /// thread's own [`Registry::remove`] cannot come first.
    pub(crate) fn admit(
        &self,
        slot: Arc<Slot>,
        spawn: impl FnOnce(u64) -> std::io::Result<JoinHandle<()>>,
    ) -> std::io::Result<()> {
        let id = self.next_id.fetch_add(1, SeqCst);
        let mut live = self.live.lock();
        let thread = spawn(id)?;
        self.counters.connection_opened();
        live.insert(
            id,
            Live {
                slot,
                thread: Some(thread),
            },
        );
        Ok(())
    }

    /// Forgets connection `id` and counts it gone. Its thread calls this
    /// before it closes the socket, so a client that sees the close sees the
    /// slot free and the open count lowered.
    pub(crate) fn remove(&self, id: u64) {
        if self.live.lock().remove(&id).is_some() {
            self.counters.connection_ended();
        }
    }

    /// Cuts the head in progress that started first, if any.
    pub(crate) fn displace_slowest(&self) -> bool {
        let live = self.live.lock();
        let slowest = live
            .values()
            .filter_map(|l| Some((l.slot.head_since()?, &l.slot)))
            .min_by_key(|(since, _)| *since);
        slowest.is_some_and(|(since, slot)| slot.try_cut(since, Cut::Displaced))
    }

    /// Cuts every head in progress for `timeout` or longer; returns how long
    /// until the next one's deadline (None: no head in progress).
    pub(crate) fn cut_overdue(&self, timeout: Duration) -> Option<Duration> {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let timeout = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let live = self.live.lock();
        let mut next: Option<u64> = None;
        for l in live.values() {
            let Some(since) = l.slot.head_since() else {
                continue;
            };
            let deadline = since.saturating_add(timeout);
            if deadline <= now {
                l.slot.try_cut(since, Cut::RequestTimeout);
            } else {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        next.map(|d| Duration::from_nanos(d - now))
    }

    /// Closes every live connection and joins its thread.
    pub(crate) fn close_all(&self) {
        let live: Vec<Live> = self.live.lock().drain().map(|(_, l)| l).collect();
        for l in &live {
            let _ = l.slot.stream.shutdown(Shutdown::Both);
            self.counters.connection_ended();
        }
        for mut l in live {
            if let Some(t) = l.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn slot(registry: &Registry) -> (Arc<Slot>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        (registry.slot(accepted, Some(peer)), client)
    }

    #[test]
    fn a_head_completes_or_is_cut_never_both() {
        let registry = Registry::new(Arc::default());
        let (s, _client) = slot(&registry);
        assert_eq!(s.head_since(), None);
        s.head_started();
        let since = s.head_since().unwrap();
        // A second start while one runs keeps the first clock.
        s.head_started();
        assert_eq!(s.head_since(), Some(since));
        assert_eq!(s.head_complete(), Ok(()));
        // Cutting a head that completed does nothing.
        assert!(!s.try_cut(since, Cut::RequestTimeout));
        assert_eq!(s.cut(), None);
        s.head_started();
        let since = s.head_since().unwrap();
        assert!(s.try_cut(since, Cut::Displaced));
        assert!(!s.try_cut(since, Cut::RequestTimeout), "cut once");
        assert_eq!(s.cut(), Some(Cut::Displaced));
        assert_eq!(s.head_complete(), Err(Cut::Displaced));
        s.head_started();
        assert_eq!(s.cut(), Some(Cut::Displaced), "nothing leaves a cut");
    }

    #[test]
    fn the_slowest_head_is_displaced_and_silent_connections_never() {
        let registry = Registry::new(Arc::default());
        let mut clients = Vec::new();
        let mut slots = Vec::new();
        for _ in 0..3 {
            let (s, c) = slot(&registry);
            registry
                .admit(Arc::clone(&s), |_| std::thread::Builder::new().spawn(|| {}))
                .unwrap();
            clients.push(c);
            slots.push(s);
        }
        assert!(!registry.displace_slowest(), "no head in progress");
        slots[2].head_started();
        std::thread::sleep(Duration::from_millis(2));
        slots[1].head_started();
        assert_eq!(registry.load(), Load { counted: 3, cut: 0 });
        assert!(registry.displace_slowest());
        assert_eq!(slots[2].cut(), Some(Cut::Displaced));
        assert_eq!(slots[1].cut(), None);
        assert_eq!(registry.load(), Load { counted: 2, cut: 1 });
        let next = registry.cut_overdue(Duration::from_secs(60)).unwrap();
        assert!(next > Duration::from_secs(59) && next <= Duration::from_secs(60));
        assert_eq!(registry.cut_overdue(Duration::ZERO), None);
        assert_eq!(slots[1].cut(), Some(Cut::RequestTimeout));
        assert_eq!(slots[0].cut(), None);
        registry.close_all();
    }
}
