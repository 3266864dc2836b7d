//! Clients that do not speak HTTP/1.1 properly, or do so to hold the server's
//! resources: each gets its answer at once and its connection closed, counted
//! by reason, and none of them stops a scraper beside it. One test per defect
//! of the reliability trial (docs/reliability.md, "Fault injection").

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::HttpClient;
use motifd_exporter::{
    CloseReason, ExporterCounters, Liveness, ScrapeServer, ServerConfig, SnapshotHandle,
};

struct Fixture {
    server: ScrapeServer,
    counters: Arc<ExporterCounters>,
}

impl Fixture {
    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Connections closed for the reason labelled `reason` (looked up by its
    /// label, so an unknown reason fails the test rather than the build).
    fn closed(&self, reason: &str) -> u64 {
        let i = CloseReason::ALL
            .iter()
            .position(|r| r.as_str() == reason)
            .unwrap_or_else(|| panic!("no close reason {reason:?}"));
        self.counters.snapshot().scrape_connections_closed_total[i]
    }

    fn wait_closed(&self, reason: &str, n: u64) {
        common::wait_for(
            &format!("{n} closes for {reason}"),
            Duration::from_secs(10),
            || (self.closed(reason) == n).then_some(()),
        );
    }

    fn wait_open(&self, n: u64) {
        common::wait_for(
            &format!("{n} open connections"),
            Duration::from_secs(10),
            || (self.counters.snapshot().scrape_connections_open == n).then_some(()),
        );
    }
}

fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Fixture {
    let mut config = ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let counters = Arc::new(ExporterCounters::default());
    let server = ScrapeServer::start(
        config,
        SnapshotHandle::new(common::busy_snapshot()),
        Liveness::default(),
        Arc::clone(&counters),
    )
    .unwrap();
    Fixture { server, counters }
}

/// What came back on a raw connection.
#[derive(Debug)]
struct Answer {
    /// Status of the first response, if one arrived.
    status: Option<u16>,
    /// The server closed the connection (end of stream or reset).
    closed: bool,
    /// Time from the first byte sent to the close (or to giving up).
    took: Duration,
}

/// Sends `bytes` (ignoring write errors: the server may close before all are
/// sent), then reads until the server closes or `wait` passes.
fn send_raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    let _ = s.write_all(bytes);
    read_answer(&mut s, started, wait)
}

fn read_answer(s: &mut TcpStream, started: Instant, wait: Duration) -> Answer {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            break false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            Err(_) => break true,
        }
    };
    let status = std::str::from_utf8(&got)
        .ok()
        .and_then(|t| t.strip_prefix("HTTP/1."))
        .and_then(|t| t.get(2..5))
        .and_then(|c| c.parse().ok());
    Answer {
        status,
        closed,
        took: started.elapsed(),
    }
}

/// A scrape on a fresh connection; its status, or None if it failed.
fn scrape(addr: SocketAddr) -> Option<u16> {
    let mut c = HttpClient::connect(addr);
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    c.request("GET", "/metrics", &[]).ok().map(|r| r.status)
}

/// Defect 3: headers were buffered whatever their size. A head over 16 KiB is
/// answered 431 once that much has arrived, and the connection closed: the
/// server neither keeps reading nor keeps what it read. Before the fix no
/// answer came (the server kept buffering headers).
#[test]
fn a_request_head_over_16_kib_is_answered_431_and_closed() {
    let f = start(|_| {});
    let many_headers = [
        &b"GET /metrics HTTP/1.1\r\nHost: x\r\n"[..],
        &b"a:b\r\n".repeat(100_000),
    ]
    .concat();
    let one_long_line = [&b"GET /metrics HTTP/1.1\r\nX-Long: "[..], &[b'y'; 500_000]].concat();
    let long_request_line = [&b"GET /"[..], &[b'z'; 100_000], b" HTTP/1.1\r\n"].concat();
    for (i, bytes) in [many_headers, one_long_line, long_request_line]
        .iter()
        .enumerate()
    {
        let a = send_raw(f.addr(), bytes, Duration::from_secs(5));
        assert_eq!(a.status, Some(431), "case {i}: {a:?}");
        assert!(a.closed, "case {i}: {a:?}");
    }
    f.wait_closed("header_too_large", 3);
    // A head just under the limit is served.
    let mut c = HttpClient::connect(f.addr());
    let filler = "v".repeat(15 * 1024);
    assert_eq!(c.get("/healthz", &[("X-Filler", &filler)]).status, 200);
    f.wait_open(1);
}

/// Defect 5: a client sending its request a byte at a time was never cut (the
/// idle timeout measures silence). The head must arrive whole within the
/// request timeout (5 s by default), else 408 and a close. Before the fix the
/// connection stayed open for as long as the bytes kept coming.
#[test]
fn a_request_head_dribbled_a_byte_at_a_time_is_cut_at_the_deadline() {
    let f = start(|_| {});
    let mut s = TcpStream::connect(f.addr()).unwrap();
    let started = Instant::now();
    let dribble = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
        .iter()
        .chain(b"X-Slow: ".iter())
        .copied();
    let mut bytes = dribble.chain(std::iter::repeat(b'a'));
    // One byte every 100 ms, until the server closes or 9 s pass.
    let answer = loop {
        if s.write_all(&[bytes.next().unwrap()]).is_err()
            || started.elapsed() > Duration::from_secs(9)
        {
            break read_answer(&mut s, started, Duration::from_secs(10));
        }
        if answered_or_closed(&s) {
            break read_answer(&mut s, started, Duration::from_secs(10));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(answer.status, Some(408), "{answer:?}");
    assert!(answer.closed, "{answer:?}");
    assert!(
        answer.took >= Duration::from_millis(4500) && answer.took < Duration::from_secs(8),
        "{answer:?}"
    );
    f.wait_closed("request_timeout", 1);
    f.wait_open(0);
}

/// Defect 5, with every slot taken: connections dribbling their heads fill
/// the connection cap. A new connection takes the slot of the one whose head
/// has been arriving longest (answered 408), so a scraper is served at once
/// instead of getting 503 until the attackers stop. Before the fix it got 503.
#[test]
fn slow_heads_filling_every_slot_do_not_lock_out_a_scraper() {
    let cap = 6;
    let f = start(|c| c.max_connections = cap);
    let open_slow = || {
        let mut s = TcpStream::connect(f.addr()).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
        s
    };
    let mut slow: Vec<TcpStream> = (0..cap).map(|_| open_slow()).collect();
    for round in 0..3u64 {
        // Every slot taken by a head in progress (the one displaced in the
        // previous round, answered 408, is replaced).
        for s in &mut slow {
            if answered_or_closed(s) {
                *s = open_slow();
            }
            let _ = s.write_all(b"X");
        }
        f.wait_open(cap as u64);
        let asked = Instant::now();
        assert_eq!(scrape(f.addr()), Some(200), "round {round}");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
        f.wait_closed("displaced", round + 1);
        // The scraper's connection and the displaced one are let go of.
        f.wait_open(cap as u64 - 1);
    }
    assert_eq!(f.closed("connection_limit"), 0);
    // Connections that are merely silent keep their slots: with the cap
    // full of them, a newcomer gets 503 (docs: connection cap).
    drop(slow);
    f.wait_open(0);
    let idle: Vec<TcpStream> = (0..cap)
        .map(|_| TcpStream::connect(f.addr()).unwrap())
        .collect();
    f.wait_open(cap as u64);
    assert_eq!(scrape(f.addr()), Some(503));
    drop(idle);
}

/// Whether the server has answered or closed `s` (without consuming).
fn answered_or_closed(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut probe = [0u8; 1];
    let seen = !matches!(s.peek(&mut probe), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    seen
}

/// Defect 8: two different Content-Length values were accepted (one of them
/// silently used), an HTTP/1.1 request without Host was answered 200. Both
/// are 400 and a close (RFC 9112 §6.3 and §3.2). Before the fix: 200 both.
#[test]
fn conflicting_content_lengths_and_a_missing_host_are_refused() {
    let f = start(|_| {});
    let cases: [(&[u8], u16); 6] = [
        (
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 4\r\n\r\nabcd",
            400,
        ),
        (
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: zero\r\n\r\n",
            400,
        ),
        (b"GET /metrics HTTP/1.1\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
        // Allowed: the same length twice, and HTTP/1.0 without Host.
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            200,
        ),
        (b"GET /healthz HTTP/1.0\r\n\r\n", 200),
    ];
    for (i, (bytes, status)) in cases.iter().enumerate() {
        let a = send_raw(f.addr(), bytes, Duration::from_secs(3));
        assert_eq!(a.status, Some(*status), "case {i}: {a:?}");
        assert!(a.closed, "case {i}: {a:?}");
    }
    f.wait_closed("bad_request", 4);
}

/// Defect 8: a request line ended by a bare LF, the HTTP/2 connection
/// preface, or bytes that are not HTTP at all (a TLS ClientHello, NULs)
/// got no answer and held their slot until the idle timeout (30 s). Now: 400
/// and a close at once. Before the fix: no answer within the 3 s waited.
#[test]
fn malformed_requests_are_answered_400_and_closed_at_once() {
    let f = start(|_| {});
    let cases: [&[u8]; 5] = [
        b"GET /metrics HTTP/1.1\nHost: x\n\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        &[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ],
        b"\0\0\0\0garbage\xff\xfe",
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let a = send_raw(f.addr(), bytes, Duration::from_secs(3));
        assert_eq!(a.status, Some(400), "case {i}: {a:?}");
        assert!(a.closed, "case {i}: {a:?}");
        assert!(a.took < Duration::from_secs(1), "case {i}: {a:?}");
    }
    f.wait_closed("bad_request", cases.len() as u64);
    f.wait_open(0);
    assert_eq!(f.closed("idle_timeout"), 0);
}

/// Defect 8: beyond the connection cap some clients got a reset or an empty
/// close instead of the 503 (the queue of refused connections was bounded,
/// and past it they were closed unanswered). A burst of 400 refused clients,
/// 8 at a time: every one reads a whole 503. Before the fix some read none.
#[test]
fn every_client_beyond_the_cap_gets_the_503() {
    let cap = 2;
    let f = start(|c| c.max_connections = cap);
    let addr = f.addr();
    let mut held: Vec<HttpClient> = (0..cap).map(|_| HttpClient::connect(addr)).collect();
    for c in &mut held {
        assert_eq!(c.get("/healthz", &[]).status, 200);
    }
    let per_thread = 50;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                // Open them all first, then ask on each: the refusals pile up.
                let conns: Vec<TcpStream> = (0..per_thread)
                    .map(|_| TcpStream::connect(addr).unwrap())
                    .collect();
                conns
                    .into_iter()
                    .map(|mut s| {
                        let started = Instant::now();
                        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
                        read_answer(&mut s, started, Duration::from_secs(10))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<Answer> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let not_503: Vec<_> = answers.iter().filter(|a| a.status != Some(503)).collect();
    assert!(
        not_503.is_empty(),
        "{} of {} refused clients got no 503: {:?}",
        not_503.len(),
        answers.len(),
        &not_503[..not_503.len().min(5)]
    );
    assert_eq!(f.closed("connection_limit"), answers.len() as u64);
    // The held connections were never disturbed.
    for c in &mut held {
        assert_eq!(c.get("/healthz", &[]).status, 200);
    }
}
