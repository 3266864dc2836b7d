//! Attacks on the metrics port of a running daemon, with a scraper polling
//! every 100 ms beside them (docs/reliability.md, "Fault injection"): a header
//! flood, slowloris, and running out of file descriptors. The scraper must
//! fail no scrape once an attack has ended, and at most briefly during it;
//! memory must not grow with what an attacker sends.
//!
//! `ATTACK_SECS` sets the slowloris duration (default 12 s, beyond two request
//! timeouts; the figures in docs/reliability.md are from 60 s) and
//! `FD_ROUNDS` the number of daemons started under `ulimit -n 64` (default 10).

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest RSS growth allowed during an attack.
const RSS_GROWTH: u64 = 20 << 20;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One scrape of the poller.
#[derive(Debug, Clone, Copy)]
struct Probe {
    at: Instant,
    ok: bool,
    took: Duration,
}

/// Scrapes `/metrics` on a fresh connection every 100 ms until stopped.
struct Poller {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Probe>>,
}

impl Poller {
    fn start(addr: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut probes = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let at = Instant::now();
                let ok = matches!(http_get(addr, "/metrics"), Ok((200, ref body)) if body.contains("dsfb_scrapes_total"));
                probes.push(Probe {
                    at,
                    ok,
                    took: at.elapsed(),
                });
                std::thread::sleep(Duration::from_millis(100).saturating_sub(at.elapsed()));
            }
            probes
        });
        Self { stop, thread }
    }

    fn finish(self) -> Vec<Probe> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Failed probes and the worst latency among `probes` in `[from, to)`.
fn summarise(probes: &[Probe], from: Instant, to: Instant) -> (usize, usize, Duration) {
    let window: Vec<_> = probes
        .iter()
        .filter(|p| p.at >= from && p.at < to)
        .collect();
    let failed = window.iter().filter(|p| !p.ok).count();
    let worst = window.iter().map(|p| p.took).max().unwrap_or_default();
    (window.len(), failed, worst)
}

/// Longest stretch of consecutive failed probes, in time.
fn longest_outage(probes: &[Probe]) -> Duration {
    let mut longest = Duration::ZERO;
    let mut since: Option<Instant> = None;
    for p in probes {
        match (p.ok, since) {
            (false, None) => since = Some(p.at),
            (true, Some(s)) => {
                longest = longest.max(p.at - s);
                since = None;
            }
            _ => {}
        }
    }
    if let (Some(s), Some(last)) = (since, probes.last()) {
        longest = longest.max(last.at + last.took - s);
    }
    longest
}

fn scrape_daemon() -> Daemon {
    let daemon = Daemon::run(&[
        "--ingest-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    daemon.wait_for_series("dsfb_scrape_connections_open");
    daemon
}

fn closed(reason: &str) -> String {
    format!("dsfb_scrape_connections_closed_total{{reason=\"{reason}\"}}")
}

/// Writes `chunk` until the server closes, `total` bytes are sent or 20 s
/// pass; returns the bytes sent.
fn flood(addr: SocketAddr, first: &[u8], chunk: &[u8], total: usize) -> usize {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut sent = 0;
    if s.write_all(first).is_err() {
        return 0;
    }
    while sent < total && started.elapsed() < Duration::from_secs(20) {
        match s.write(chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    sent
}

/// Defect 3: 30 MB of small headers on one connection raised the daemon's
/// resident set by 641 MB, one 256 MB header line by 256 MB. Now each is cut
/// at 16 KiB with a 431. Eight connections at once, four of each kind, each
/// reopened when cut, for `FLOOD_SECS` (default 3 s): the peak resident set
/// grows by less than 20 MB and no scrape beside them fails. Before the fix
/// the first floods alone took hundreds of MB.
#[test]
fn a_header_flood_grows_neither_memory_nor_holds_the_server() {
    let duration = Duration::from_secs(env_or("FLOOD_SECS", 3));
    let daemon = scrape_daemon();
    let addr = daemon.metrics_addr();
    let peak_before = daemon.peak_rss();
    let poller = Poller::start(addr);
    let started = Instant::now();
    let floods: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let headers = b"a:b\r\n".repeat(200_000);
                let line = vec![b'y'; 1 << 20];
                let (mut sent, mut connections) = (0, 0u64);
                while started.elapsed() < duration {
                    sent += if i % 2 == 0 {
                        flood(addr, b"GET /metrics HTTP/1.1\r\n", &headers, 30 << 20)
                    } else {
                        flood(addr, b"GET /metrics HTTP/1.1\r\nX-Long: ", &line, 256 << 20)
                    };
                    connections += 1;
                }
                (sent, connections)
            })
        })
        .collect();
    let (sent, connections): (Vec<usize>, Vec<u64>) =
        floods.into_iter().map(|t| t.join().unwrap()).unzip();
    let connections: u64 = connections.iter().sum();
    let ended = Instant::now();
    let counted = poll_opt(Duration::from_secs(10), || {
        let m = daemon.scrape();
        (m.get(&closed("header_too_large")) == Some(connections as f64)).then_some(m)
    });
    std::thread::sleep(Duration::from_millis(500));
    let probes = poller.finish();
    let growth = daemon.peak_rss().saturating_sub(peak_before);
    let (during, failed_during, worst_during) = summarise(&probes, started, ended);
    let (after, failed_after, worst_after) = summarise(&probes, ended, Instant::now());
    println!(
        "header flood for {duration:?}: {} MB sent on {connections} connections, each cut; peak RSS +{} KiB; scrapes during {during} ({failed_during} failed, worst {worst_during:?}), after {after} ({failed_after} failed, worst {worst_after:?})",
        sent.iter().sum::<usize>() >> 20,
        growth >> 10
    );
    assert!(growth < RSS_GROWTH, "peak RSS grew by {growth} bytes");
    assert_eq!(failed_during + failed_after, 0, "{probes:?}");
    let m = counted.expect("every flood counted as header_too_large");
    assert_eq!(m.value(&closed("connection_limit")), 0.0);
}

/// 300 slowloris connections: each sends a request head one byte a second,
/// and is reopened as soon as the server closes it.
struct Slowloris {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Slowloris {
    fn start(addr: SocketAddr, connections: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let open = || {
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
                s.write_all(b"G").ok()?;
                Some(s)
            };
            let mut conns: Vec<Option<TcpStream>> = (0..connections).map(|_| open()).collect();
            let mut reopened = 0u64;
            let mut byte = 0usize;
            while !flag.load(Ordering::Relaxed) {
                let second = Instant::now();
                for c in &mut conns {
                    let next = b"ET /metrics HTTP/1.1\r\nHost: x\r\nX-a: "
                        .get(byte)
                        .copied()
                        .unwrap_or(b'a');
                    let alive = c
                        .as_mut()
                        .is_some_and(|s| s.write_all(&[next]).is_ok() && !closed_by_server(s));
                    if !alive {
                        *c = open();
                        reopened += 1;
                    }
                }
                byte += 1;
                std::thread::sleep(Duration::from_secs(1).saturating_sub(second.elapsed()));
            }
            reopened
        });
        Self { stop, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Whether the server has answered or closed `s`.
fn closed_by_server(s: &TcpStream) -> bool {
    let _ = s.set_nonblocking(true);
    let mut probe = [0u8; 1];
    let seen = !matches!((&*s).read(&mut probe), Err(e) if e.kind() == ErrorKind::WouldBlock);
    let _ = s.set_nonblocking(false);
    seen
}

/// Defect 5: 128 connections sending a byte a second held every scrape slot
/// for as long as they liked. Now a request head must arrive within 5 s, and
/// at the cap a new connection displaces the slowest head. 300 attackers that
/// reconnect at once when cut, for `ATTACK_SECS`: the scraper beside them is
/// served throughout, fails nothing afterwards, and the daemon's peak
/// resident set grows by less than 20 MB. "Served throughout" means no run of
/// failed scrapes lasting a second and at most one scrape in ten failed: a
/// 503 comes when a burst of reconnects meets 64 cut connections still
/// finishing, which with both cores busy (two spinning loops besides other
/// builds, load average 8–19) happened to 0–5 % of the scrapes, never
/// for more than 0.3 s at a time. Before the fix every scrape during the
/// attack got 503.
#[test]
fn slowloris_does_not_lock_out_scrapers() {
    let attack = Duration::from_secs(env_or("ATTACK_SECS", 12));
    raise_open_files(2048);
    let daemon = scrape_daemon();
    let addr = daemon.metrics_addr();
    let peak_before = daemon.peak_rss();
    let poller = Poller::start(addr);
    let started = Instant::now();
    let attackers = Slowloris::start(addr, 300);
    std::thread::sleep(attack);
    let reopened = attackers.stop();
    let ended = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let probes = poller.finish();
    let growth = daemon.peak_rss().saturating_sub(peak_before);
    let (during, failed_during, worst_during) = summarise(&probes, started, ended);
    let (after, failed_after, worst_after) = summarise(&probes, ended, Instant::now());
    let attack_probes: Vec<Probe> = probes
        .iter()
        .filter(|p| p.at >= started && p.at < ended)
        .copied()
        .collect();
    let outage = longest_outage(&attack_probes);
    let m = daemon.scrape();
    let count = |reason: &str| m.get(&closed(reason)).unwrap_or(f64::NAN);
    println!(
        "slowloris, 300 connections for {attack:?}: {reopened} reconnects; closed {} by the request timeout, {} displaced, {} refused; scrapes during {during} ({failed_during} failed, longest outage {outage:?}, worst {worst_during:?}), after {after} ({failed_after} failed, worst {worst_after:?}); peak RSS +{} KiB",
        count("request_timeout"),
        count("displaced"),
        count("connection_limit"),
        growth >> 10
    );
    assert_eq!(failed_after, 0, "{probes:?}");
    assert!(
        failed_during * 10 <= during && outage < Duration::from_secs(1),
        "{failed_during} of {during} scrapes failed during the attack, longest outage {outage:?}"
    );
    assert!(growth < RSS_GROWTH, "peak RSS grew by {growth} bytes");
}

/// Opens up to `n` connections to `addr`, giving up on the port after a few
/// consecutive failures (a full backlog); returns the ones that opened.
fn open_many(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    let mut failures = 0;
    while conns.len() < n && failures < 5 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => {
                failures = 0;
                conns.push(s);
            }
            Err(_) => failures += 1,
        }
    }
    conns
}

/// Defect 4: at `ulimit -n 64`, 600 connections to each port made tiny_http's
/// accept thread panic (`try_clone().unwrap()`) or exit ("Error accepting new
/// client"), and /metrics and /healthz were gone until a restart: 5 runs of
/// 14. Here `FD_ROUNDS` daemons (default 10) each take such a flood; once the
/// flood's connections close, both answer 200 again in every run. Before the
/// fix some runs never answered again.
#[test]
fn running_out_of_file_descriptors_does_not_end_metrics() {
    raise_open_files(4096);
    let rounds = env_or("FD_ROUNDS", 10);
    let mut slowest = Duration::ZERO;
    for round in 0..rounds {
        let daemon = Daemon::run_in_shell(
            "ulimit -n 64",
            &[
                "--ingest-listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
        );
        daemon.wait_for_series("dsfb_scrape_connections_open");
        let flood: Vec<TcpStream> = [daemon.ingest_addr(), daemon.metrics_addr()]
            .into_iter()
            .flat_map(|a| open_many(a, 600))
            .collect();
        let opened = flood.len();
        drop(flood);
        let closed_at = Instant::now();
        for path in ["/metrics", "/healthz"] {
            let back = poll_opt(Duration::from_secs(30), || {
                matches!(http_get(daemon.metrics_addr(), path), Ok((200, _))).then_some(())
            });
            assert!(
                back.is_some(),
                "round {round}: {path} did not answer 200 after {opened} connections:\n{}",
                daemon.stderr()
            );
        }
        slowest = slowest.max(closed_at.elapsed());
        let log = daemon.stderr();
        assert!(!log.contains("panicked"), "round {round}:\n{log}");
        println!(
            "round {round}: {opened} connections opened under ulimit -n 64, /metrics and /healthz back {:?} after they closed",
            closed_at.elapsed()
        );
    }
    println!("{rounds} rounds; slowest recovery {slowest:?}");
}
