//! The producer side of the daemon-over-TCP benchmark: splits a CSV among N
//! concurrent TCP producers (round-robin by line), sends as fast as the daemon
//! accepts, and polls `/metrics` until the daemon has taken every record.
//! Prints samples/s and the ingest-to-flush latency quantiles from the
//! daemon's histogram buckets.
//!
//! Producers move through event time together: each sends its share in rounds
//! of `ROUND` lines (default 2,500) and waits at a barrier for the others before the next
//! round, so no producer runs more than about two rounds ahead in event time
//! (run the daemon with a window wider than that, see docs/performance.md).
//!
//! `cargo run --release --example tcp_feed -- INGEST_ADDR METRICS_ADDR FILE [PRODUCERS] [ROUND]`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn scrape(addr: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Upper bound of the bucket holding quantile `q` (from `le` buckets).
fn quantile(text: &str, family: &str, q: f64) -> Option<String> {
    let prefix = format!("{family}_bucket{{le=\"");
    let buckets: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (le, count) = rest.split_once("\"} ")?;
            Some((le.to_string(), count.parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    buckets
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map(|(le, _)| le.clone())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ingest, metrics, file, rest @ ..] = args.as_slice() else {
        panic!("usage: tcp_feed INGEST_ADDR METRICS_ADDR FILE [PRODUCERS] [ROUND]");
    };
    let producers: usize = rest.first().map_or(4, |p| p.parse().expect("PRODUCERS"));
    let round: usize = rest.get(1).map_or(2_500, |r| r.parse().expect("ROUND"));
    // Lives for the whole run; leaking it lets the sender threads borrow it.
    let data: &'static [u8] = Box::leak(std::fs::read(file)?.into_boxed_slice());
    // Each share is a list of lines (with their newline) into `data`.
    let mut shares: Vec<Vec<&[u8]>> = vec![Vec::new(); producers];
    let mut records = 0u64;
    let body = &data[data.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1)..];
    for (i, line) in body.split_inclusive(|&b| b == b'\n').enumerate() {
        shares[i % producers].push(line);
        records += 1;
    }
    let before = value(&scrape(metrics)?, "dsfb_samples_received_total").unwrap_or(0.0) as u64;
    let started = Instant::now();
    let rounds = shares
        .iter()
        .map(|s| s.len().div_ceil(round))
        .max()
        .unwrap_or(0);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(producers));
    let senders: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let ingest = ingest.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut s = TcpStream::connect(ingest)?;
                let mut buf = Vec::with_capacity(round * 48);
                for k in 0..rounds {
                    let end = ((k + 1) * round).min(share.len());
                    buf.clear();
                    for line in share.get(k * round..end).unwrap_or(&[]) {
                        buf.extend_from_slice(line);
                    }
                    s.write_all(&buf)?;
                    barrier.wait();
                }
                Ok(())
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender thread")?;
    }
    let sent = started.elapsed();
    let text = loop {
        let text = scrape(metrics)?;
        let received = value(&text, "dsfb_samples_received_total").unwrap_or(0.0) as u64;
        if received >= before + records {
            break text;
        }
        if started.elapsed() > Duration::from_secs(600) {
            panic!(
                "daemon took only {} of {records} records",
                received - before
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed().as_secs_f64();
    println!(
        "{records} records over {producers} TCP producers: sent in {:.3} s, ingested in {took:.3} s ({:.2} M samples/s)",
        sent.as_secs_f64(),
        records as f64 / took / 1e6
    );
    let dropped = value(
        &text,
        "dsfb_streaming_residuals_dropped_out_of_window_total",
    )
    .unwrap_or(0.0);
    println!("dropped out of window: {dropped}");
    for q in [0.5, 0.99] {
        let le = quantile(&text, "dsfb_ingest_to_flush_latency_seconds", q);
        println!(
            "ingest-to-flush p{}: <= {} s",
            q * 100.0,
            le.unwrap_or_else(|| "?".into())
        );
    }
    Ok(())
}
