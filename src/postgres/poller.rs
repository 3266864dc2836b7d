//! The poll loop of one source: connect (and reconnect, with back-off),
//! poll at the configured interval, back off ×2 (up to `max_interval`) while
//! polls are slow or the thread uses too much CPU, hand each snapshot to the
//! tape and the residual distiller.

use super::config::Settings;
use super::metrics::SourceMetrics;
use super::output::EngineOutput;
use super::residuals::{Distiller, TimeOrigin};
use super::session::{Failure, Session};
use super::tape::{Header, TapeWriter};
use super::target::Target;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Polls in the rolling window the back-off looks at.
pub const WINDOW: usize = 16;
/// Good polls in a row before the interval halves back.
pub const RECOVER_AFTER: u32 = 3;
/// First wait before a reconnect; doubles up to the source's `max_interval`.
pub const RECONNECT_FIRST: Duration = Duration::from_secs(1);

/// The poll interval's governor: ×2 while the median poll of the last
/// [`WINDOW`] is slower than `slow_poll` or their CPU share is above
/// `cpu_share`, halved back toward the nominal interval after
/// [`RECOVER_AFTER`] good polls in a row.
#[derive(Debug, Clone)]
pub struct Backoff {
    nominal: Duration,
    max: Duration,
    slow_poll: Duration,
    cpu_share: f64,
    walls: VecDeque<Duration>,
    cpu: VecDeque<(Duration, Duration)>,
    good: u32,
    current: Duration,
}

impl Backoff {
    /// At the nominal interval.
    pub fn new(nominal: Duration, max: Duration, slow_poll: Duration, cpu_share: f64) -> Self {
        Self {
            nominal,
            max,
            slow_poll,
            cpu_share,
            walls: VecDeque::with_capacity(WINDOW),
            cpu: VecDeque::with_capacity(WINDOW),
            good: 0,
            current: nominal,
        }
    }

    /// Records a poll that took `wall` and `cpu` of the thread's time over a
    /// cycle of `cycle`; returns the interval to wait next.
    pub fn record(&mut self, wall: Duration, cpu: Duration, cycle: Duration) -> Duration {
        if self.walls.len() == WINDOW {
            self.walls.pop_front();
            self.cpu.pop_front();
        }
        self.walls.push_back(wall);
        self.cpu.push_back((cpu, cycle));
        let mut sorted: Vec<Duration> = self.walls.iter().copied().collect();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        let (used, over): (Duration, Duration) = self
            .cpu
            .iter()
            .fold((Duration::ZERO, Duration::ZERO), |(u, o), (c, w)| {
                (u + *c, o + *w)
            });
        let share = if over.is_zero() {
            0.0
        } else {
            used.as_secs_f64() / over.as_secs_f64()
        };
        if median > self.slow_poll || share > self.cpu_share {
            self.good = 0;
            self.current = (self.current * 2).min(self.max);
        } else {
            self.good += 1;
            if self.good >= RECOVER_AFTER {
                self.good = 0;
                self.current = (self.current / 2).max(self.nominal);
            }
        }
        self.current
    }

    /// The interval now.
    pub fn current(&self) -> Duration {
        self.current
    }
}

/// CPU time this thread has used (Linux: `/proc/thread-self/schedstat`, in
/// nanoseconds; zero where unavailable, which turns the CPU rule off).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Sleeps `d`, waking early when `stop` is set; false if stopped.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    false
}

/// What a poll did.
enum Step {
    /// Polled, or failed without losing the session: pace and go on.
    Polled,
    /// The session is gone: reconnect.
    Lost,
    /// Stopped, or the engine went away.
    Stop,
}

/// The loop's running state.
struct LoopState {
    distiller: Distiller,
    tape: Option<TapeWriter>,
    backoff: Backoff,
    session: Option<Session>,
    reconnect_wait: Duration,
    ever_connected: bool,
    last_cycle: Instant,
}

/// Everything the loop owns.
pub struct Poller {
    pub(super) settings: Settings,
    pub(super) target: Target,
    pub(super) output: EngineOutput,
    pub(super) metrics: Arc<SourceMetrics>,
    pub(super) stop: Arc<AtomicBool>,
}

impl Poller {
    /// Runs until `stop` is set or the engine goes away.
    pub fn run(mut self) {
        let s = &self.settings;
        let mut state = LoopState {
            distiller: Distiller::new(s.residuals, TimeOrigin::Unix),
            tape: self.open_tape(),
            backoff: Backoff::new(s.interval, s.max_interval, s.slow_poll, s.cpu_share),
            session: None,
            reconnect_wait: RECONNECT_FIRST,
            ever_connected: false,
            last_cycle: Instant::now(),
        };
        self.metrics.set_interval(state.backoff.current());
        self.output.set_source(&self.settings.name);
        while !self.stop.load(Ordering::Relaxed) {
            if state.session.is_none() {
                if !self.reconnect(&mut state) {
                    break;
                }
                continue;
            }
            let (cycle_start, cpu_start) = (Instant::now(), thread_cpu());
            match self.poll_once(&mut state) {
                Step::Polled => {}
                Step::Lost => continue,
                Step::Stop => break,
            }
            let wait = self.pace(&mut state, cycle_start, cpu_start);
            if !sleep_unless_stopped(wait, &self.stop) {
                break;
            }
        }
        self.finish(state.tape);
    }

    /// Tries to (re)connect; on failure waits the back-off. False if
    /// stopped meanwhile.
    fn reconnect(&self, state: &mut LoopState) -> bool {
        match self.connect(state.ever_connected) {
            Some(new) => {
                state.session = Some(new);
                state.ever_connected = true;
                state.reconnect_wait = RECONNECT_FIRST;
                true
            }
            None => {
                let waited = sleep_unless_stopped(state.reconnect_wait, &self.stop);
                state.reconnect_wait = (state.reconnect_wait * 2).min(self.settings.max_interval);
                waited
            }
        }
    }

    /// One poll: tape, residuals, engine.
    fn poll_once(&mut self, state: &mut LoopState) -> Step {
        let Some(live) = state.session.as_mut() else {
            return Step::Lost;
        };
        let started = Instant::now();
        let t = unix_now();
        match live.poll(t) {
            // Stopped during the poll: the engine may have drained already,
            // so the snapshot goes nowhere, tape included (a replay of the
            // tape gives what the engine saw).
            Ok(_) if self.stop.load(Ordering::Relaxed) => Step::Stop,
            Ok(snap) => {
                self.metrics.poll_ok(started.elapsed(), t);
                if let Some(w) = state.tape.as_mut() {
                    if let Err(e) = w.append(&snap) {
                        self.metrics.tape_error();
                        log::warn!("postgres {}: tape write failed: {e}", self.settings.name);
                    }
                }
                self.output.refresh_grammar();
                state.distiller.ingest(&snap, &mut self.output);
                if self.output.flush().is_err() {
                    return Step::Stop;
                }
                self.metrics.residuals(self.output.take_sent());
                Step::Polled
            }
            Err(e) => {
                self.metrics.error(e.reason);
                let (name, reason) = (&self.settings.name, e.reason.as_str());
                log::warn!("postgres {name}: poll failed ({reason}): {}", e.message);
                if live.is_closed() || e.reason == Failure::Connection {
                    self.metrics.set_up(false);
                    state.session = None;
                    return Step::Lost;
                }
                Step::Polled
            }
        }
    }

    /// Feeds the back-off with the cycle just done; returns the wait before
    /// the next poll.
    fn pace(&self, state: &mut LoopState, cycle_start: Instant, cpu_start: Duration) -> Duration {
        let cycle = state.last_cycle.elapsed();
        state.last_cycle = Instant::now();
        let before = state.backoff.current();
        let cpu = thread_cpu().saturating_sub(cpu_start);
        let next = state.backoff.record(cycle_start.elapsed(), cpu, cycle);
        if next != before {
            self.metrics.set_interval(next);
            log::info!(
                "postgres {}: poll interval now {:?} (median poll slower than {:?} or CPU share above {:.0} %)",
                self.settings.name,
                next,
                self.settings.slow_poll,
                self.settings.cpu_share * 100.0
            );
        }
        next.saturating_sub(cycle_start.elapsed())
    }

    fn finish(&self, tape: Option<TapeWriter>) {
        self.metrics.set_up(false);
        let name = &self.settings.name;
        match tape.map(TapeWriter::close) {
            Some(Ok(m)) => log::info!(
                "postgres {name}: tape closed ({} snapshots, sha256 {})",
                m.snapshots,
                m.sha256
            ),
            Some(Err(e)) => log::warn!("postgres {name}: closing the tape failed: {e}"),
            None => {}
        }
        log::info!(
            "postgres {name}: stopped after {} polls",
            self.metrics.polls()
        );
    }

    fn connect(&self, reconnect: bool) -> Option<Session> {
        match Session::connect(&self.target, self.settings.statement_timeout) {
            Ok(session) => {
                if reconnect {
                    self.metrics.reconnected();
                }
                self.metrics.set_up(true);
                log::info!(
                    "postgres {}: connected to {} (server {}, read-only session verified, statement_timeout {:?}, password from {}, residuals {})",
                    self.settings.name,
                    self.target,
                    session.server_version,
                    self.settings.statement_timeout,
                    self.target.password_source,
                    self.settings.residuals.as_str()
                );
                Some(session)
            }
            Err(e) => {
                self.metrics.error(e.reason);
                log::warn!(
                    "postgres {}: {} ({}): {}",
                    self.settings.name,
                    self.target,
                    e.reason.as_str(),
                    e.message
                );
                None
            }
        }
    }

    fn open_tape(&self) -> Option<TapeWriter> {
        let path = self.settings.tape.as_ref()?;
        let header = Header {
            tape: super::tape::MAGIC.into(),
            version: 1,
            source: self.settings.name.clone(),
            target: self.target.to_string(),
            residuals: self.settings.residuals.as_str().into(),
            motifd: env!("CARGO_PKG_VERSION").into(),
        };
        match TapeWriter::open(path, &header) {
            Ok(w) => Some(w),
            Err(e) => {
                self.metrics.tape_error();
                log::error!(
                    "postgres {}: tape {}: {e}; polling without a tape",
                    self.settings.name,
                    path.display()
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn slow_polls_double_the_interval_up_to_the_cap_and_good_ones_bring_it_back() {
        let mut b = Backoff::new(ms(1000), ms(60_000), ms(500), 0.10);
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.push(b.record(ms(800), ms(1), ms(1000)).as_millis());
        }
        assert_eq!(
            seen,
            [2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000, 60000]
        );
        // The median turns good after more than half the window is good.
        let mut polls = 0;
        while b.current() > ms(1000) {
            b.record(ms(10), ms(1), ms(1000));
            polls += 1;
            assert!(polls < 100, "never recovered");
        }
        assert_eq!(b.current(), ms(1000));
    }

    #[test]
    fn a_cpu_share_above_the_budget_backs_off() {
        let mut b = Backoff::new(ms(100), ms(60_000), ms(500), 0.10);
        assert_eq!(b.record(ms(5), ms(5), ms(100)), ms(100));
        assert_eq!(b.record(ms(5), ms(50), ms(100)), ms(200));
    }

    #[test]
    fn the_thread_cpu_clock_moves() {
        let before = thread_cpu();
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < ms(30) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(thread_cpu() > before);
    }
}
