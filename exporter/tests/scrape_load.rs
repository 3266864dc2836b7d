//! Scrape-load harness (not a timing assertion): 64 keep-alive scrapers,
//! each scraping once a second, plus 32 idle connections, against a snapshot
//! republished in a busy loop; then one scraper as fast as it can. Prints
//! per-connection counts and latency percentiles (hdrhistogram); asserts that
//! every scraper got every answer, complete and well-formed.
//!
//! `LOAD_SECS` sets the duration of the first phase (default 5).
//! Run: `cargo test -p motifd-exporter --release --test scrape_load -- --ignored --nocapture`

mod common;

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use motifd_exporter::{
    ExporterCounters, Families, Liveness, RenderOptions, ScrapeServer, ServerConfig,
    SnapshotHandle, SnapshotPublisher,
};

const SCRAPERS: usize = 64;
const IDLE: usize = 32;
const ACCEPT_OM: (&str, &str) = ("Accept", "application/openmetrics-text;version=1.0.0");

fn start(families: Families) -> (ScrapeServer, SnapshotHandle) {
    let handle = SnapshotHandle::new(common::busy_snapshot());
    let server = ScrapeServer::start(
        ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            render: RenderOptions {
                families,
                ..RenderOptions::default()
            },
            ..ServerConfig::default()
        },
        handle.clone(),
        Liveness::default(),
        Arc::new(ExporterCounters::default()),
    )
    .unwrap();
    (server, handle)
}

/// Republishes in a busy loop until `stop`; returns the publish count.
fn busy_publisher(handle: SnapshotHandle, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut publisher = SnapshotPublisher::new(handle);
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            publisher.publish_with(|s| {
                s.received_total = n;
                s.motifs[0].episodes_total = n;
            });
        }
        n
    })
}

fn report(name: &str, h: &Histogram<u64>) {
    eprintln!(
        "{name}: n={} p50={}µs p99={}µs p99.9={}µs max={}µs",
        h.len(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

#[test]
#[ignore = "load harness: several seconds of load; run with --release --nocapture to read the report"]
fn many_keep_alive_scrapers_with_idle_connections() {
    let secs: u64 = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let (server, handle) = start(Families::All);
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = busy_publisher(handle, stop.clone());
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();

    let started = Instant::now();
    let scrapers: Vec<_> = (0..SCRAPERS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let mut c = common::HttpClient::connect(addr);
                // Spread the scrapers over the second, as independent ones would be.
                let offset = Duration::from_millis((i as u64 * 1000) / SCRAPERS as u64);
                let mut ok = 0u64;
                for tick in 0..secs {
                    let due = started + offset + Duration::from_secs(tick);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    let t = Instant::now();
                    let r = c.get("/metrics", &[ACCEPT_OM]);
                    h.record(t.elapsed().as_micros() as u64).unwrap();
                    if r.status == 200 && r.body.ends_with(b"# EOF\n") {
                        ok += 1;
                    }
                }
                (ok, h)
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut counts = Vec::new();
    for s in scrapers {
        let (ok, h) = s.join().unwrap();
        all.add(&h).unwrap();
        counts.push(ok);
    }
    stop.store(true, Ordering::Relaxed);
    let publishes = publisher.join().unwrap();
    eprintln!(
        "phase a: {SCRAPERS} scrapers x {secs} s + {IDLE} idle; per-connection answers: {counts:?}"
    );
    eprintln!("phase a: {publishes} snapshots published meanwhile");
    report("phase a scrape latency", &all);
    assert_eq!(
        counts,
        vec![secs; SCRAPERS],
        "every scraper gets every answer"
    );
    drop(idle);
    server.stop();
}

#[test]
#[ignore = "load harness: several seconds of load; run with --release --nocapture to read the report"]
fn one_scraper_as_fast_as_it_can() {
    for families in [Families::Core, Families::All] {
        let (server, handle) = start(families);
        let stop = Arc::new(AtomicBool::new(false));
        let publisher = busy_publisher(handle, stop.clone());
        let mut c = common::HttpClient::connect(server.local_addr());
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        let started = Instant::now();
        let mut ok = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            let t = Instant::now();
            let r = c.get("/metrics", &[ACCEPT_OM]);
            h.record(t.elapsed().as_micros() as u64).unwrap();
            ok += u64::from(r.status == 200 && r.body.ends_with(b"# EOF\n"));
        }
        let rate = h.len() as f64 / started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let publishes = publisher.join().unwrap();
        eprintln!("phase b ({families:?}): {rate:.0} scrapes/s, {publishes} publishes meanwhile");
        report(&format!("phase b ({families:?}) latency"), &h);
        assert_eq!(ok, h.len(), "every scrape answered in full");
        server.stop();
    }
}
