//! A thousand connections opened and left idle on each port, ingest and
//! metrics, while a real producer streams. Ingest: beyond `max_producers` (256)
//! a connection is closed at once and counted in
//! `dsfb_ingest_producers_refused_total`; the producer connected before the
//! flood keeps streaming, and one connecting after it is accepted. Metrics:
//! beyond the connection cap (128) a scrape is answered 503 promptly; once the
//! idle scrapers leave, scrapes answer 200 again. Threads and memory stay
//! bounded by the caps, not by the number of connections, and go back down.
//! The episode log equals `motifd replay` of the fixture: nothing was lost.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);
/// Idle connections per port.
const IDLE: usize = 1000;
/// Defaults of the daemon: producers, and scrape connections served at once.
const MAX_PRODUCERS: usize = 256;
const MAX_SCRAPE_CONNECTIONS: usize = 128;
/// Threads one admitted scrape connection costs: three relay threads in the
/// front layer and tiny_http's own.
const THREADS_PER_SCRAPE_CONNECTION: u64 = 4;

/// Opens `n` connections to `addr` and sends nothing on them. They go in
/// bursts the size of the listen backlog (128) with a pause between, so the
/// daemon's accept loop takes each burst before the next: connecting faster
/// than that overflows the backlog, and the kernel then holds a connect back
/// for a second before retrying it.
fn open_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_millis(50));
        }
        conns.push(
            TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("idle connection {i} to {addr}: {e}")),
        );
    }
    conns
}

/// How many of `conns` the daemon has closed (end of stream or reset).
fn closed_by_peer(conns: &[TcpStream]) -> usize {
    conns
        .iter()
        .filter(|c| {
            c.set_nonblocking(true).unwrap();
            let mut byte = [0u8; 1];
            match (&**c).read(&mut byte) {
                Ok(0) => true,
                Err(e) => e.kind() != ErrorKind::WouldBlock,
                Ok(_) => false,
            }
        })
        .count()
}

fn send(conn: &mut TcpStream, records: &[String]) {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    conn.write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_thousand_idle_connections_per_port_do_not_stop_ingest_or_scrapes() {
    // Both ends of 2 × IDLE connections live in this process's children and in
    // this process; raise the open-file limit (often 1024) if needed.
    let fds = raise_open_files((2 * IDLE + 512) as u64);
    let idle = if fds >= (2 * IDLE + 512) as u64 {
        IDLE
    } else {
        // The hard limit is too low to raise: still well past both caps.
        let n = ((fds.saturating_sub(512)) / 2) as usize;
        eprintln!("open-file limit {fds}: {n} idle connections per port instead of {IDLE}");
        n
    };
    assert!(
        idle > MAX_PRODUCERS + MAX_SCRAPE_CONNECTIONS,
        "open-file limit {fds} leaves too few connections ({idle}) to pass the caps"
    );

    let dir = Scratch::new("faults-idle");
    let episodes = dir.path("episodes.jsonl");
    let records = csv_records("demo.csv");
    let third = records.len() / 3;
    let mut daemon = Daemon::listening(&["--episodes-out", episodes.to_str().unwrap()]);
    daemon.wait_for_series("dsfb_ingest_producers_refused_total");
    let (threads_before, rss_before) = (daemon.threads(), daemon.rss());

    let mut producer = connect(daemon.ingest_addr());
    send(&mut producer, &records[..third]);
    daemon.wait_metrics(LIMIT, "the first third", |m| m.received() == third as u64);

    // Ingest flood: the producer holds one slot, idle connections the rest.
    let ingest_idle = open_idle(daemon.ingest_addr(), idle);
    let refused = (idle - (MAX_PRODUCERS - 1)) as u64;
    let m = daemon.wait_metrics(LIMIT, "refused producers counted", |m| {
        m.producers_refused() == refused
    });
    assert_eq!(m.rejected(), 0, "refusals are not sample rejections");
    let closed = poll_opt(Duration::from_secs(10), || {
        let n = closed_by_peer(&ingest_idle);
        (n as u64 == refused).then_some(n)
    });
    assert!(
        closed.is_some(),
        "{} of {idle} idle producers closed by the daemon, {refused} expected",
        closed_by_peer(&ingest_idle)
    );
    let refusal_lines = daemon.stderr().matches("ingest: refusing").count();
    assert!(
        (1..=3).contains(&refusal_lines),
        "{refusal_lines} refusal lines for {refused} refusals:\n{}",
        daemon.stderr()
    );

    // Metrics flood on top.
    let scrape_idle = open_idle(daemon.metrics_addr(), idle);
    // The refused idle scrapers are answered first, one by one (each is given
    // a moment to send its request, which idle ones never do; past a queue of
    // 64 they are closed unanswered). Once they are, a scrape beyond the cap
    // gets its 503 at once.
    let answered_503 = poll_opt(LIMIT, || {
        let asked = Instant::now();
        let status = http_get(daemon.metrics_addr(), "/metrics").map(|(s, _)| s);
        (matches!(status, Ok(503)) && asked.elapsed() < Duration::from_millis(500)).then_some(())
    });
    assert!(
        answered_503.is_some(),
        "no prompt 503 beyond the scrape cap"
    );
    for _ in 0..5 {
        let asked = Instant::now();
        let (status, body) = http_get(daemon.metrics_addr(), "/metrics").unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body, "too many connections\n");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
    }

    // The producer connected before the flood keeps streaming through it.
    send(&mut producer, &records[third..2 * third]);
    let (threads_flood, rss_flood) = (daemon.threads(), daemon.rss());
    // Slack for a connection being torn down while the next one starts.
    let thread_bound = threads_before
        + MAX_PRODUCERS as u64
        + THREADS_PER_SCRAPE_CONNECTION * MAX_SCRAPE_CONNECTIONS as u64
        + 16;
    assert!(
        threads_flood <= thread_bound,
        "{threads_flood} threads with {idle} idle connections per port (bound {thread_bound})"
    );
    assert!(
        rss_flood < rss_before + (256 << 20),
        "resident set {rss_before} -> {rss_flood} bytes"
    );

    // The idle scrapers leave: scrapes answer 200 again, and everything sent
    // during the flood has arrived.
    drop(scrape_idle);
    let back = poll_opt(LIMIT, || {
        matches!(http_get(daemon.metrics_addr(), "/metrics"), Ok((200, _))).then_some(())
    });
    assert!(
        back.is_some(),
        "scrapes answer 200 once the idle scrapers left"
    );
    daemon.wait_metrics(LIMIT, "two thirds", |m| m.received() == 2 * third as u64);

    // The idle producers leave: a new producer is accepted. The daemon frees
    // their slots as it notices each close, so a producer connecting at once
    // may still be refused; each attempt sends one record and waits until the
    // daemon has either received it (accepted) or counted a refusal.
    drop(ingest_idle);
    drop(producer);
    let (mut late, mut retries) = (None, 0u64);
    while late.is_none() {
        let mut conn = connect(daemon.ingest_addr());
        let _ = conn.write_all(format!("{}\n", records[2 * third]).as_bytes());
        let m = daemon.wait_metrics(LIMIT, "the late producer accepted or refused", |m| {
            m.received() == 2 * third as u64 + 1 || m.producers_refused() > refused + retries
        });
        if m.received() == 2 * third as u64 + 1 {
            late = Some(conn);
        } else {
            retries += 1;
        }
    }
    let mut late = late.unwrap();
    send(&mut late, &records[2 * third + 1..]);
    drop(late);
    let m = daemon.wait_metrics(LIMIT, "every record", |m| {
        m.received() == records.len() as u64
    });
    m.assert_conserved();
    assert_eq!(m.rejected() + m.dropped(), 0, "{}", m.summary());
    assert_eq!(
        m.producers_refused(),
        refused + retries,
        "every refusal after the flood was a retried late producer"
    );

    let threads_after = poll_opt(Duration::from_secs(20), || {
        let n = daemon.threads();
        (n <= threads_before + 2).then_some(n)
    });
    assert!(
        threads_after.is_some(),
        "threads {} after the flood (before: {threads_before})",
        daemon.threads()
    );
    daemon.terminate();
    let expected = replay(&[fixture("demo.csv").as_os_str()]);
    assert_same_episodes(&std::fs::read(&episodes).unwrap(), &expected, "idle flood");
    println!(
        "{idle} idle connections per port: {refused} producers refused and counted, scrapes 503 beyond the cap; threads {threads_before} -> {threads_flood} (bound {thread_bound}) -> {}; RSS {} -> {} MiB; {} samples, episodes identical to replay",
        threads_after.unwrap(),
        rss_before >> 20,
        rss_flood >> 20,
        m.received()
    );
}

/// The number after `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> usize {
    let rest = &text[text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} in {text}"))
        + prefix.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number after {prefix:?} in {text}"))
}

#[test]
fn under_a_low_open_file_limit_the_caps_shrink_and_a_flood_cannot_end_metrics() {
    // 400 files cannot hold 256 producers and 128 scrape connections (8 files
    // each). Were they all admitted, the first "too many open files" would
    // stop tiny_http's accept thread for good and /metrics with it.
    let records = csv_records("demo.csv");
    let half = records.len() / 2;
    let daemon = Daemon::run_in_shell(
        "ulimit -n 400",
        &[
            "--ingest-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    daemon.wait_for_log("open-file limit 400 is too low", LIMIT);
    let log = daemon.stderr();
    let producers = number_after(&log, "serving at most ");
    let scrapers = number_after(&log, &format!("serving at most {producers} and "));
    assert!(
        producers < MAX_PRODUCERS && (1..MAX_SCRAPE_CONNECTIONS).contains(&scrapers),
        "{log}"
    );
    daemon.wait_for_series("dsfb_ingest_producers_refused_total");
    let mut producer = connect(daemon.ingest_addr());
    send(&mut producer, &records[..half]);

    let flood = 300;
    let ingest_idle = open_idle(daemon.ingest_addr(), flood);
    let scrape_idle = open_idle(daemon.metrics_addr(), flood);
    // Scrapes beyond the lowered cap are refused promptly, not left hanging.
    let answered = poll_opt(LIMIT, || {
        matches!(http_get(daemon.metrics_addr(), "/metrics"), Ok((503, _))).then_some(())
    });
    assert!(answered.is_some(), "no 503 beyond the lowered scrape cap");
    send(&mut producer, &records[half..]);
    drop(scrape_idle);
    let back = poll_opt(LIMIT, || {
        matches!(http_get(daemon.metrics_addr(), "/metrics"), Ok((200, _))).then_some(())
    });
    assert!(
        back.is_some(),
        "/metrics answers again after the flood:\n{}",
        daemon.stderr()
    );
    let m = daemon.wait_metrics(LIMIT, "every record", |m| {
        m.received() == records.len() as u64
    });
    m.assert_conserved();
    assert_eq!(m.producers_refused(), (flood - (producers - 1)) as u64);
    assert!(
        !daemon.stderr().contains("Too many open files"),
        "{}",
        daemon.stderr()
    );
    drop(ingest_idle);
    println!(
        "open-file limit 400: caps lowered to {producers} producers and {scrapers} scrape connections; {flood} idle connections per port; /metrics kept answering; {} samples conserved",
        m.received()
    );
}
