//! Scrape load against a running daemon: N keep-alive scrapers, each scraping
//! once a second (spread over the second), plus M idle connections, for S
//! seconds. Reports per-connection answer counts and scrape latency quantiles
//! (hdrhistogram). Used by benches/scrape-under-ingest.sh.
//!
//! `cargo run --release --example scrapers -- METRICS_ADDR [SCRAPERS] [IDLE] [SECONDS]`
//!
//! `... -- METRICS_ADDR flat [SECONDS]`: one keep-alive scraper scraping as fast
//! as it can for SECONDS; reports scrapes/s and latency.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One keep-alive GET; returns the body length.
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .expect("usage: scrapers METRICS_ADDR [SCRAPERS] [IDLE] [SECONDS]")
        .clone();
    if args.get(1).map(String::as_str) == Some("flat") {
        let secs: u64 = args.get(2).map_or(5, |v| v.parse().expect("SECONDS"));
        flat_out(&addr, Duration::from_secs(secs));
        return;
    }
    let scrapers: usize = args.get(1).map_or(64, |v| v.parse().expect("SCRAPERS"));
    let idle: usize = args.get(2).map_or(32, |v| v.parse().expect("IDLE"));
    let secs: u64 = args.get(3).map_or(10, |v| v.parse().expect("SECONDS"));
    let idle_conns: Vec<TcpStream> = (0..idle)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    let start = Instant::now();
    let threads: Vec<_> = (0..scrapers)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut hist = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
                let mut answers = 0u64;
                let Ok(stream) = TcpStream::connect(&addr) else {
                    return (answers, hist);
                };
                let _ = stream.set_nodelay(true);
                let mut reader = BufReader::new(stream);
                // Spread the scrapers over each second.
                let offset = Duration::from_millis(1000 * i as u64 / scrapers.max(1) as u64);
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
    let mut all = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    let mut counts = Vec::new();
    for t in threads {
        let (answers, hist) = t.join().expect("scraper");
        counts.push(answers);
        all.add(&hist).expect("same precision");
    }
    let complete = counts.iter().filter(|&&c| c == secs).count();
    println!(
        "{scrapers} scrapers x {secs} s (+{} idle connections): {complete}/{scrapers} got every answer; per-connection answers min {} max {}",
        idle_conns.len(),
        counts.iter().min().unwrap_or(&0),
        counts.iter().max().unwrap_or(&0)
    );
    println!(
        "scrape latency: p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        all.value_at_quantile(0.5),
        all.value_at_quantile(0.99),
        all.value_at_quantile(0.999),
        all.max()
    );
    drop(idle_conns);
}

/// One keep-alive scraper, back to back, for `span`.
fn flat_out(addr: &str, span: Duration) {
    let stream = TcpStream::connect(addr).expect("connect");
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    let start = Instant::now();
    while start.elapsed() < span {
        let t = Instant::now();
        get(&mut reader).expect("scrape");
        hist.saturating_record(t.elapsed().as_micros() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "one scraper flat out for {secs:.1} s: {} scrapes, {:.0} scrapes/s; p50 {} us, p99 {} us",
        hist.len(),
        hist.len() as f64 / secs,
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99)
    );
}
