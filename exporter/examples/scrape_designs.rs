//! Scrape latency of the scrape server (`front`: its accept loop, one thread
//! per connection reading with tiny_http's connection reader) against
//! tiny_http's own server owning the TCP connections (`direct`: a listener
//! prepared with `socket2`, whose `TCP_NODELAY` and timeouts the accepted
//! sockets inherit, and two workers), in alternating rounds so drift in the
//! machine's load hits both alike. `direct` is a measuring reference, not a
//! supported design: it has no connection cap, no request deadline, and
//! leaves open connections open at stop (`stop` below shows the latter).
//!
//! Each round and design: phase a, 64 keep-alive scrapers scraping once a
//! second (spread over the second) plus 32 idle connections, full catalogue,
//! OpenMetrics; phase b, one keep-alive scraper as fast as it can for 2 s, seed
//! catalogue. Connections are opened and used once before timing starts.
//! `BURNERS` threads spin the whole time to saturate the cores.
//!
//! ```text
//! cargo run --release -p motifd-exporter --example scrape_designs -- [ROUNDS] [BURNERS] [SECONDS]
//! cargo run --release -p motifd-exporter --example scrape_designs -- stop
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Cursor, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use motifd_exporter::{
    render, ExporterCounters, ExporterStats, ExpositionFormat, Families, Liveness, RenderOptions,
    ScrapeServer, ServerConfig, SnapshotHandle,
};
use socket2::{Domain, Socket, Type};

const ACCEPT_OM: (&str, &str) = ("Accept", "application/openmetrics-text;version=1.0.0");
const SCRAPERS: u64 = 64;
const IDLE: usize = 32;

enum Server {
    Front(ScrapeServer),
    Direct {
        addr: SocketAddr,
        tiny: Arc<tiny_http::Server>,
        workers: Vec<JoinHandle<()>>,
    },
}

impl Server {
    fn start(design: &str, families: Families) -> Self {
        let handle = SnapshotHandle::new(common::busy_snapshot());
        let config = ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            render: RenderOptions {
                families,
                ..RenderOptions::default()
            },
            ..ServerConfig::default()
        };
        if design == "front" {
            let counters = Arc::new(ExporterCounters::default());
            let server = ScrapeServer::start(config, handle, Liveness::default(), counters);
            return Server::Front(server.expect("start the scrape server"));
        }
        let listener = direct_listener(&config);
        let addr = listener.local_addr().unwrap();
        let tiny = Arc::new(tiny_http::Server::from_listener(listener, None).unwrap());
        let workers = (0..config.workers)
            .map(|_| {
                let (tiny, handle, options) = (tiny.clone(), handle.clone(), config.render.clone());
                std::thread::spawn(move || {
                    let stats = ExporterStats::default();
                    let mut body = Vec::new();
                    while let Ok(request) = tiny.recv() {
                        body.clear();
                        render(
                            &handle.load(),
                            &stats,
                            &options,
                            ExpositionFormat::OpenMetrics,
                            &mut body,
                        );
                        let _ = request.respond(om_response(&body));
                    }
                })
            })
            .collect();
        Server::Direct {
            addr,
            tiny,
            workers,
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Server::Front(s) => s.local_addr(),
            Server::Direct { addr, .. } => *addr,
        }
    }

    fn stop(self) {
        match self {
            Server::Front(s) => s.stop(),
            Server::Direct { tiny, workers, .. } => {
                for _ in &workers {
                    tiny.unblock();
                }
                for w in workers {
                    let _ = w.join();
                }
            }
        }
    }
}

/// A listener whose accepted sockets inherit `TCP_NODELAY` and the server's
/// idle and write timeouts (`tests/listener_options.rs`).
fn direct_listener(config: &ServerConfig) -> TcpListener {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_tcp_nodelay(true).unwrap();
    socket.set_read_timeout(Some(config.idle_timeout)).unwrap();
    socket
        .set_write_timeout(Some(config.write_timeout))
        .unwrap();
    socket.bind(&config.addr.into()).unwrap();
    socket.listen(1024).unwrap();
    socket.into()
}

/// The headers the scrape server sends with an uncompressed OpenMetrics body.
fn om_response(body: &[u8]) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let header = |k: &str, v: &str| tiny_http::Header::from_bytes(k, v).unwrap();
    tiny_http::Response::from_data(body.to_vec())
        .with_header(header(
            "Content-Type",
            ExpositionFormat::OpenMetrics.content_type(),
        ))
        .with_header(header("Vary", "Accept, Accept-Encoding"))
        .with_chunked_threshold(usize::MAX)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

fn quantiles(h: &Histogram<u64>) -> String {
    format!(
        "p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    )
}

/// Phase a; returns the answers received and the latency histogram.
fn many_scrapers(design: &str, secs: u64) -> (u64, Histogram<u64>) {
    let server = Server::start(design, Families::All);
    let addr = server.addr();
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let started = Instant::now() + Duration::from_secs(1);
    let scrapers: Vec<_> = (0..SCRAPERS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut h = histogram();
                let mut c = common::HttpClient::connect(addr);
                assert_eq!(c.get("/metrics", &[ACCEPT_OM]).status, 200);
                let offset = Duration::from_millis(i * 1000 / SCRAPERS);
                let mut ok = 0;
                for tick in 0..secs {
                    let due = started + offset + Duration::from_secs(tick);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    let t = Instant::now();
                    let r = c.get("/metrics", &[ACCEPT_OM]);
                    h.record(t.elapsed().as_micros() as u64).unwrap();
                    ok += u64::from(r.status == 200 && r.body.ends_with(b"# EOF\n"));
                }
                (ok, h)
            })
        })
        .collect();
    let mut all = histogram();
    let mut answers = 0;
    for s in scrapers {
        let (ok, h) = s.join().unwrap();
        answers += ok;
        all.add(&h).unwrap();
    }
    drop(idle);
    server.stop();
    (answers, all)
}

/// Phase b; returns scrapes per second and the latency histogram.
fn one_fast_scraper(design: &str) -> (f64, Histogram<u64>) {
    let server = Server::start(design, Families::Core);
    let mut c = common::HttpClient::connect(server.addr());
    assert_eq!(c.get("/metrics", &[ACCEPT_OM]).status, 200);
    let mut h = histogram();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        let r = c.get("/metrics", &[ACCEPT_OM]);
        h.record(t.elapsed().as_micros() as u64).unwrap();
        assert!(r.status == 200 && r.body.ends_with(b"# EOF\n"));
    }
    let rate = h.len() as f64 / started.elapsed().as_secs_f64();
    drop(c);
    server.stop();
    (rate, h)
}

/// What happens to open connections when each design stops.
fn stop_behaviour(design: &str) {
    let server = Server::start(design, Families::Core);
    let addr = server.addr();
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut active = common::HttpClient::connect(addr);
    assert_eq!(active.get("/metrics", &[]).status, 200);
    std::thread::sleep(Duration::from_millis(50));
    server.stop();
    let started = Instant::now();
    let idle_read = match idle.read(&mut [0u8; 64]) {
        Ok(0) => format!("closed after {:?}", started.elapsed()),
        Ok(n) => format!("sent {n} bytes"),
        Err(e) => format!("still open after {:?} ({:?})", started.elapsed(), e.kind()),
    };
    // The client's read timeout is 10 s.
    let active_request = match active.request("GET", "/metrics", &[]) {
        Ok(r) => format!("answered {}", r.status),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => "no answer in 10 s".to_owned(),
        Err(e) => format!("failed ({:?})", e.kind()),
    };
    println!("{design}: after stop, an idle connection: {idle_read}; a request on a kept-alive one: {active_request}");
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split(' ').next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("stop") {
        for design in ["front", "direct"] {
            stop_behaviour(design);
        }
        return;
    }
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |v| v.parse().expect("ROUNDS BURNERS SECONDS"))
    };
    let (rounds, burners, secs) = (arg(0, 3), arg(1, 0), arg(2, 5));
    let stop = Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..burners)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005) + 1);
                }
            })
        })
        .collect();
    println!("{rounds} rounds, {burners} spinning threads, phase a {secs} s");
    for round in 1..=rounds {
        for design in ["front", "direct"] {
            let (answers, a) = many_scrapers(design, secs);
            let (rate, b) = one_fast_scraper(design);
            println!(
                "round {round} {design:6} load {}: a: {answers}/{} answers, {}; b: {rate:.0} scrapes/s, {}",
                loadavg(),
                SCRAPERS * secs,
                quantiles(&a),
                quantiles(&b)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        let _ = s.join();
    }
}
