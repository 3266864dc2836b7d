//! Scrape load against a running daemon, measured while it ingests. Used by
//! benches/scrape-under-ingest.sh.
//!
//! ```text
//! cargo run --release --example scrapers -- METRICS_ADDR [SCRAPERS] [IDLE] [SECONDS]
//! cargo run --release --example scrapers -- METRICS_ADDR flat [SECONDS]
//! ```
//!
//! First it waits until the daemon's `dsfb_samples_received_total` is rising
//! (the feed is under way), so the timed window does not cover a feeder still
//! reading its file. Then SCRAPERS keep-alive connections (default 64) each
//! scrape once a second, spread over the second, with IDLE (default 32) idle
//! connections open, for SECONDS (default 10); or, with `flat`, one keep-alive
//! connection scrapes back to back. Every connection is opened and answered
//! once before the window starts. Reports the answers per connection, scrape
//! latency quantiles (hdrhistogram, 1 µs to 60 s: nothing is clamped) and the
//! ingest rate inside the window, from the counter read at its two ends.
//! `SCRAPERS = 0` measures that rate with no scrape load at all.
//!
//! Its last line says whether ingest was still running when the window
//! closed; a window that outlasts the feed measures an idle daemon.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

const RECEIVED: &str = "dsfb_samples_received_total";

/// One keep-alive GET of the OpenMetrics catalogue; returns the body length.
fn get(reader: &mut BufReader<TcpStream>) -> std::io::Result<usize> {
    reader
        .get_mut()
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: load\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n")?;
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok();
            }
        }
    }
    let n = length.ok_or(std::io::ErrorKind::InvalidData)?;
    let mut body = vec![0u8; n];
    reader.read_exact(&mut body)?;
    if !body.ends_with(b"# EOF\n") {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    Ok(n)
}

/// The daemon's received-samples counter, over a fresh connection.
fn received(addr: &str) -> u64 {
    let mut s = TcpStream::connect(addr).expect("connect to read the ingest counter");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n")
        .expect("ask for the ingest counter");
    let mut text = String::new();
    s.read_to_string(&mut text)
        .expect("read the ingest counter");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(RECEIVED)?
                .strip_prefix(' ')?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("{RECEIVED} missing from /metrics")) as u64
}

/// Waits (up to 10 minutes) until the counter moves between two reads.
fn wait_for_ingest(addr: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = received(addr);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let now = received(addr);
        if now > last {
            return now;
        }
        last = now;
    }
    panic!("ingest did not start within 10 minutes");
}

/// The counter comes from the snapshot the engine publishes every 250 ms, so
/// both ends of a window are taken at a publication: the first change of the
/// counter (polled every 2 ms), or after a second without one (no ingest).
fn next_publication(addr: &str) -> (u64, Instant) {
    let first = received(addr);
    let give_up = Instant::now() + Duration::from_secs(1);
    loop {
        std::thread::sleep(Duration::from_millis(2));
        let now = received(addr);
        if now != first || Instant::now() > give_up {
            return (now, Instant::now());
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

fn keep_alive(addr: &str) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).expect("connect");
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    get(&mut reader).expect("warm-up scrape");
    reader
}

/// Ingest over the window: counter at both ends, and whether it still moves
/// right after (the feed outlasted the window).
struct Window {
    start: Instant,
    at_start: u64,
}

impl Window {
    fn open(addr: &str) -> Self {
        let (at_start, start) = next_publication(addr);
        Self { start, at_start }
    }

    fn close(self, addr: &str) {
        let (at_end, end) = next_publication(addr);
        let secs = end.duration_since(self.start).as_secs_f64();
        let (after, _) = next_publication(addr);
        let still = after > at_end;
        println!(
            "ingest during the {secs:.2} s window: {:.2} M samples/s; ingest still running at its end: {}",
            (at_end - self.at_start) as f64 / secs / 1e6,
            if still { "yes" } else { "NO (window outlasted the feed)" }
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .expect("usage: scrapers METRICS_ADDR [SCRAPERS] [IDLE] [SECONDS] | METRICS_ADDR flat [SECONDS]")
        .clone();
    if args.get(1).map(String::as_str) == Some("flat") {
        let secs: u64 = args.get(2).map_or(10, |v| v.parse().expect("SECONDS"));
        wait_for_ingest(&addr);
        flat_out(&addr, Duration::from_secs(secs));
        return;
    }
    let scrapers: usize = args.get(1).map_or(64, |v| v.parse().expect("SCRAPERS"));
    let idle: usize = args.get(2).map_or(32, |v| v.parse().expect("IDLE"));
    let secs: u64 = args.get(3).map_or(10, |v| v.parse().expect("SECONDS"));
    wait_for_ingest(&addr);
    let idle_conns: Vec<TcpStream> = (0..idle)
        .map(|_| TcpStream::connect(&addr).expect("idle connection"))
        .collect();
    let readers: Vec<_> = (0..scrapers).map(|_| keep_alive(&addr)).collect();
    let window = Window::open(&addr);
    let start = window.start;
    let threads: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, mut reader)| {
            std::thread::spawn(move || {
                let mut hist = histogram();
                let mut answers = 0u64;
                // Spread the scrapers over each second.
                let offset = Duration::from_millis(1000 * i as u64 / scrapers as u64);
                for k in 0..secs {
                    let due = start + offset + Duration::from_secs(k);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let t = Instant::now();
                    if get(&mut reader).is_err() {
                        break;
                    }
                    answers += 1;
                    hist.saturating_record(t.elapsed().as_micros() as u64);
                }
                (answers, hist)
            })
        })
        .collect();
    if scrapers == 0 {
        std::thread::sleep(Duration::from_secs(secs));
    }
    let mut all = histogram();
    let mut counts = Vec::new();
    for t in threads {
        let (answers, hist) = t.join().expect("scraper thread");
        counts.push(answers);
        all.add(&hist).expect("same bounds");
    }
    if scrapers > 0 {
        let complete = counts.iter().filter(|&&c| c == secs).count();
        println!(
            "{scrapers} scrapers x {secs} s (+{idle} idle connections): {complete}/{scrapers} got every answer; answers per connection min {} max {}",
            counts.iter().min().unwrap_or(&0),
            counts.iter().max().unwrap_or(&0)
        );
        println!(
            "scrape latency over {} scrapes: p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, max {} us",
            all.len(),
            all.value_at_quantile(0.5),
            all.value_at_quantile(0.9),
            all.value_at_quantile(0.99),
            all.value_at_quantile(0.999),
            all.max()
        );
    } else {
        println!("no scrapers, no idle connections, {secs} s");
    }
    window.close(&addr);
    drop(idle_conns);
}

/// One keep-alive scraper, back to back, for `span`.
fn flat_out(addr: &str, span: Duration) {
    let mut reader = keep_alive(addr);
    let mut hist = histogram();
    let window = Window::open(addr);
    while window.start.elapsed() < span {
        let t = Instant::now();
        get(&mut reader).expect("scrape");
        hist.saturating_record(t.elapsed().as_micros() as u64);
    }
    let secs = window.start.elapsed().as_secs_f64();
    println!(
        "one scraper flat out for {secs:.1} s: {} scrapes, {:.0} scrapes/s; p50 {} us, p99 {} us, max {} us",
        hist.len(),
        hist.len() as f64 / secs,
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.max()
    );
    window.close(addr);
}
