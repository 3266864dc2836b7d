//! Behaviour of the scrape server over real sockets (port 0 on 127.0.0.1).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::HttpClient;
use motifd_exporter::render::{CLASSIC_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE};
use motifd_exporter::{
    render_to_vec, CloseReason, ExporterCounters, ExporterStats, ExpositionFormat, Families,
    Liveness, RenderOptions, ScrapeServer, ServerConfig, SnapshotHandle,
};

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

struct Fixture {
    server: ScrapeServer,
    liveness: Liveness,
    counters: Arc<ExporterCounters>,
}

impl Fixture {
    fn closed(&self, reason: CloseReason) -> u64 {
        self.counters.connections_closed(reason)
    }

    fn open(&self) -> u64 {
        self.counters.snapshot().scrape_connections_open
    }

    /// Waits until the server counts `n` open connections.
    fn wait_open(&self, n: u64) {
        common::wait_for(
            &format!("{n} open connections"),
            Duration::from_secs(5),
            || (self.open() == n).then_some(()),
        );
    }
}

fn seed_options() -> RenderOptions {
    RenderOptions {
        families: Families::Core,
        ..RenderOptions::default()
    }
}

fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Fixture {
    let mut config = ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let liveness = Liveness::default();
    let counters = Arc::new(ExporterCounters::default());
    let server = ScrapeServer::start(
        config,
        SnapshotHandle::new(common::busy_snapshot()),
        liveness.clone(),
        Arc::clone(&counters),
    )
    .unwrap();
    Fixture {
        server,
        liveness,
        counters,
    }
}

fn seed_server() -> Fixture {
    start(|c| c.render = seed_options())
}

/// The core families do not include the exporter's own (changing) counters,
/// so the expected body can be computed exactly.
fn expected_seed(format: ExpositionFormat) -> Vec<u8> {
    render_to_vec(
        &common::busy_snapshot(),
        &ExporterStats::default(),
        &seed_options(),
        format,
    )
}

#[test]
fn negotiates_format_and_sets_content_type() {
    let f = seed_server();
    let mut c = HttpClient::connect(f.server.local_addr());
    let cases = [
        (
            Some(PROMETHEUS_ACCEPT),
            ExpositionFormat::OpenMetrics,
            OPENMETRICS_CONTENT_TYPE,
        ),
        (
            Some("text/plain;version=0.0.4"),
            ExpositionFormat::Classic,
            CLASSIC_CONTENT_TYPE,
        ),
        (Some("*/*"), ExpositionFormat::Classic, CLASSIC_CONTENT_TYPE),
        (None, ExpositionFormat::Classic, CLASSIC_CONTENT_TYPE),
    ];
    for (accept, format, content_type) in cases {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let r = c.get("/metrics?ignored=1", &headers);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("Content-Type"),
            Some(content_type),
            "Accept {accept:?}"
        );
        assert_eq!(r.body, expected_seed(format), "Accept {accept:?}");
    }
}

#[test]
fn gzip_when_asked() {
    let f = seed_server();
    let mut c = HttpClient::connect(f.server.local_addr());
    let r = c.get(
        "/metrics",
        &[("Accept", PROMETHEUS_ACCEPT), ("Accept-Encoding", "gzip")],
    );
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert!(r
        .header("Vary")
        .is_some_and(|v| v.contains("Accept-Encoding")));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, expected_seed(ExpositionFormat::OpenMetrics));
    let r = c.get("/metrics", &[("Accept-Encoding", "gzip;q=0")]);
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.body, expected_seed(ExpositionFormat::Classic));
}

#[test]
fn head_has_headers_but_no_body() {
    let f = seed_server();
    let mut c = HttpClient::connect(f.server.local_addr());
    let head = c
        .request("HEAD", "/metrics", &[("Accept", PROMETHEUS_ACCEPT)])
        .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), Some(OPENMETRICS_CONTENT_TYPE));
    let len: usize = head.header("Content-Length").unwrap().parse().unwrap();
    assert_eq!(len, expected_seed(ExpositionFormat::OpenMetrics).len());
    // Had a body been sent, this response would be garbage.
    let get = c.get("/metrics", &[]);
    assert_eq!(get.body, expected_seed(ExpositionFormat::Classic));
}

#[test]
fn routes_404_405_index_and_health() {
    let f = seed_server();
    let mut c = HttpClient::connect(f.server.local_addr());
    assert_eq!(c.get("/nope", &[]).status, 404);
    for path in ["/metrics", "/healthz", "/"] {
        let r = c.request("POST", path, &[("Content-Length", "0")]).unwrap();
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    }
    let index = c.get("/", &[]);
    assert_eq!(index.status, 200);
    assert!(index
        .header("Content-Type")
        .unwrap()
        .starts_with("text/html"));
    assert!(
        index.text().contains("href=\"/metrics\"") && index.text().contains("href=\"/healthz\"")
    );
    assert_eq!(c.get("/healthz", &[]).status, 200);
    f.liveness.mark_stopped();
    assert_eq!(c.get("/healthz", &[]).status, 503);
}

#[test]
fn counts_its_own_scrapes() {
    let f = start(|_| {});
    let mut c = HttpClient::connect(f.server.local_addr());
    let value = |body: &str| -> u64 {
        let line = body
            .lines()
            .find(|l| l.starts_with("dsfb_scrapes_total "))
            .unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let first = value(&c.get("/metrics", &[]).text());
    let second = value(&c.get("/metrics", &[]).text());
    assert_eq!(second, first + 1);
}

/// Without TCP_NODELAY each small response waits ~40 ms (Nagle + delayed
/// ACK), so 200 sequential requests would take ~8 s; with it, milliseconds.
#[test]
fn small_responses_are_not_delayed_by_nagle() {
    let f = seed_server();
    let mut c = HttpClient::connect(f.server.local_addr());
    let started = Instant::now();
    for _ in 0..200 {
        assert_eq!(c.get("/metrics", &[]).status, 200);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(3),
        "200 requests took {elapsed:?}"
    );
}

fn scrape_many(addr: std::net::SocketAddr, clients: usize, requests: usize) -> Vec<usize> {
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = HttpClient::connect(addr);
                (0..requests)
                    .filter(|_| c.get("/metrics", &[("Accept", PROMETHEUS_ACCEPT)]).status == 200)
                    .count()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn forty_keep_alive_clients_are_all_served() {
    let f = seed_server();
    let served = scrape_many(f.server.local_addr(), 40, 25);
    assert_eq!(served, vec![25; 40]);
}

/// Keep-alive connections opened in a burst, each then asked in turn. tiny_http
/// 0.12's connection pool, as published, counted a thread woken for one
/// connection as still free, queued the next connection behind the busy
/// threads and served it only once some other connection closed: with it,
/// two runs of this test in three failed, in their first round. The patched
/// copy in vendor/tiny_http serves them all.
#[test]
fn connections_opened_in_a_burst_are_all_served() {
    let f = seed_server();
    let addr = f.server.local_addr();
    for round in 0..20 {
        let mut clients: Vec<HttpClient> = (0..8).map(|_| HttpClient::connect(addr)).collect();
        for c in &clients {
            c.stream()
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
        }
        for (i, c) in clients.iter_mut().enumerate() {
            let r = c.request("GET", "/metrics", &[]);
            assert_eq!(
                r.map(|r| r.status).map_err(|e| e.kind()),
                Ok(200),
                "round {round}, connection {i}"
            );
        }
    }
}

#[test]
fn idle_and_slow_clients_do_not_starve_scrapers() {
    let f = seed_server();
    let addr = f.server.local_addr();
    let idle: Vec<TcpStream> = (0..24).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Slow clients: a request started but never finished.
    let slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let served = scrape_many(addr, 8, 20);
    assert_eq!(served, vec![20; 8]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop((idle, slow));
}

#[test]
fn idle_connections_are_closed_after_the_timeout() {
    let f = start(|c| c.idle_timeout = Duration::from_millis(300));
    let mut s = TcpStream::connect(f.server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the server to close the idle connection");
    assert!(
        started.elapsed() >= Duration::from_millis(250)
            && started.elapsed() < Duration::from_secs(3)
    );
    f.wait_open(0);
    assert_eq!(f.closed(CloseReason::IdleTimeout), 1);
    for other in [
        CloseReason::ConnectionLimit,
        CloseReason::WriteTimeout,
        CloseReason::UnreadResponses,
    ] {
        assert_eq!(f.closed(other), 0, "{other:?}");
    }
}

#[test]
fn clients_closing_their_end_are_not_counted_as_closed_by_the_server() {
    let f = seed_server();
    let addr = f.server.local_addr();
    let mut clients: Vec<HttpClient> = (0..5).map(|_| HttpClient::connect(addr)).collect();
    for c in &mut clients {
        assert_eq!(c.get("/metrics", &[]).status, 200);
    }
    f.wait_open(5);
    drop(clients);
    f.wait_open(0);
    for reason in CloseReason::ALL {
        assert_eq!(f.closed(reason), 0, "{reason:?}");
    }
}

/// A client that keeps asking but stops reading, slowly enough that the
/// response queue stays below its limit: the write timeout closes it.
#[test]
fn a_client_that_stops_reading_is_closed_by_the_write_timeout() {
    let write_timeout = Duration::from_millis(200);
    let f = start(|c| c.write_timeout = write_timeout);
    let addr = f.server.local_addr();
    let mut probe = HttpClient::connect(addr);
    let response = probe.get("/metrics", &[]).body.len();
    drop(probe);
    f.wait_open(0);

    let mut stuck = TcpStream::connect(addr).unwrap();
    // Paced at 256 KB/s, the 256 KiB response queue takes about a second to
    // fill once the kernel buffers are full: five write timeouts.
    let pace = Duration::from_secs_f64(response as f64 / 256e3);
    let started = Instant::now();
    let mut sent = 0usize;
    while f.closed(CloseReason::WriteTimeout) + f.closed(CloseReason::UnreadResponses) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no close after {sent} unread responses"
        );
        // Writes fail once the server has closed; the counters say why.
        if stuck
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_ok()
        {
            sent += 1;
        }
        std::thread::sleep(pace);
    }
    assert_eq!(
        f.closed(CloseReason::WriteTimeout),
        1,
        "after {sent} requests"
    );
    assert_eq!(f.closed(CloseReason::UnreadResponses), 0);
    assert_eq!(f.closed(CloseReason::IdleTimeout), 0);
    f.wait_open(0);
    // What the kernel had buffered can still be read, then the stream ends.
    stuck
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut drained = Vec::new();
    let _ = stuck.read_to_end(&mut drained);
    assert!(
        drained.len() < sent * response,
        "{} of {} bytes arrived",
        drained.len(),
        sent * response
    );
    // The server keeps serving.
    assert_eq!(HttpClient::connect(addr).get("/metrics", &[]).status, 200);
}

#[test]
fn connections_beyond_the_cap_get_503() {
    let f = start(|c| c.max_connections = 4);
    let addr = f.server.local_addr();
    let mut held: Vec<HttpClient> = (0..4).map(|_| HttpClient::connect(addr)).collect();
    for c in &mut held {
        assert_eq!(c.get("/healthz", &[]).status, 200);
    }
    assert_eq!(f.open(), 4);
    let mut extra = HttpClient::connect(addr);
    let r = extra.get("/metrics", &[]);
    assert_eq!(r.status, 503);
    assert!(r.header("Retry-After").is_some());
    assert_eq!(f.server.rejected_connections(), 1);
    assert_eq!(f.closed(CloseReason::ConnectionLimit), 1);
    assert_eq!(f.open(), 4, "a refused connection is not counted as open");
    // The held connections still work, and freeing one admits a new client.
    assert_eq!(held[0].get("/metrics", &[]).status, 200);
    drop(held.pop());
    common::wait_for("a freed connection slot", Duration::from_secs(5), || {
        let mut c = HttpClient::connect(addr);
        (c.get("/healthz", &[]).status == 200).then_some(())
    });
}

#[test]
fn stop_closes_connections_and_joins() {
    let f = seed_server();
    let addr = f.server.local_addr();
    let mut active = HttpClient::connect(addr);
    assert_eq!(active.get("/metrics", &[]).status, 200);
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::thread::sleep(Duration::from_millis(50)); // let the accept thread admit it
    let started = Instant::now();
    f.server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        started.elapsed()
    );
    let mut buf = [0u8; 1];
    assert_eq!(
        idle.read(&mut buf).unwrap_or(0),
        0,
        "open connection closed by stop"
    );
    assert!(active.request("GET", "/metrics", &[]).is_err());
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "listener closed"
    );
}
