//! A scraper that pipelines `GET /metrics` requests and never reads a byte of
//! the answers. Its responses fill the socket buffers; the daemon must not let
//! it hold up the rendering workers: other scrapers keep getting prompt
//! answers, the stuck connection is closed (logged), threads go back to where
//! they were, and a producer streaming meanwhile loses nothing.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);
/// Pipelined requests: their answers (~18 KiB each) are far more than the
/// kernel buffers of one loopback connection hold.
const PIPELINED: usize = 2000;
/// Longest a concurrent scrape may take. Without the fix it waited for the
/// 10 s write timeout and then for every pipelined request to be rendered.
const PROMPT: Duration = Duration::from_secs(3);

#[test]
fn a_scraper_that_never_reads_does_not_stall_other_scrapers_or_ingest() {
    let records = csv_records("demo.csv");
    let daemon = Daemon::listening(&[]);
    let first = daemon.wait_for_series("dsfb_ingest_channel_depth");
    let response_bytes = {
        let (status, body) = http_get(daemon.metrics_addr(), "/metrics").unwrap();
        assert_eq!(status, 200);
        body.len()
    };
    let threads_before = daemon.threads();

    // The stuck scraper: every request at once, then silence.
    let mut stuck = TcpStream::connect(daemon.metrics_addr()).unwrap();
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {}\r\n\r\n",
        daemon.metrics_addr()
    );
    stuck
        .write_all(request.repeat(PIPELINED).as_bytes())
        .unwrap();

    // A producer streams the fixture meanwhile, in pieces.
    let ingest = daemon.ingest_addr();
    let feed = records.clone();
    let producer = std::thread::spawn(move || {
        let mut conn = connect(ingest);
        for piece in feed.chunks(500) {
            let text: String = piece.iter().map(|r| format!("{r}\n")).collect();
            conn.write_all(text.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    });

    // Other scrapers are answered promptly, throughout.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let asked = Instant::now();
        let (status, body) = http_get(daemon.metrics_addr(), "/metrics")
            .unwrap_or_else(|e| panic!("scrape beside the stuck one: {e}\n{}", daemon.stderr()));
        let took = asked.elapsed();
        assert_eq!(status, 200, "{body}");
        assert!(
            took < PROMPT,
            "a scrape took {took:?} beside the stuck scraper"
        );
        slowest = slowest.max(took);
        std::thread::sleep(Duration::from_millis(50));
    }
    producer.join().unwrap();
    let m = daemon.wait_metrics(LIMIT, "every record", |m| {
        m.received() == records.len() as u64
    });
    m.assert_conserved();
    assert!(m.value("dsfb_scrapes_total") > first.value("dsfb_scrapes_total"));

    // The stuck connection was closed by the daemon: reading it now drains what
    // the kernel buffered and reaches the end, long before all answers.
    stuck
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buffered = Vec::new();
    let end = stuck.read_to_end(&mut buffered);
    assert!(end.is_ok(), "the stuck connection was not closed: {end:?}");
    let answered = buffered.len() / response_bytes;
    assert!(
        answered < PIPELINED / 2,
        "{answered} of {PIPELINED} answers reached the stuck scraper"
    );
    daemon.wait_for_log("left unread", LIMIT);
    let closed =
        |reason: &str| format!("dsfb_scrape_connections_closed_total{{reason=\"{reason}\"}}");
    let m = daemon.wait_metrics(LIMIT, "the close counted", |m| {
        m.value(&closed("unread_responses")) == 1.0
    });
    for other in ["connection_limit", "idle_timeout", "write_timeout"] {
        assert_eq!(m.value(&closed(other)), 0.0, "{other}");
    }

    // Its threads are gone again (tiny_http's spare workers leave after 5 s).
    let threads = poll_opt(Duration::from_secs(15), || {
        let n = daemon.threads();
        (n <= threads_before + 2).then_some(n)
    });
    assert!(
        threads.is_some(),
        "threads {} (before the stuck scraper: {threads_before})",
        daemon.threads()
    );
    println!(
        "stuck scraper: {PIPELINED} pipelined requests, {} bytes ({answered} answers) delivered before the daemon closed it; slowest concurrent scrape {slowest:?}; threads {threads_before} -> {}; {} samples conserved",
        buffered.len(),
        threads.unwrap(),
        m.received()
    );
}
