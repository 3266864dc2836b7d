//! What watching a database costs it: pgbench throughput on a throwaway
//! PostgreSQL with no observer, with `motifd run --postgres` polling every
//! second, and every 100 ms (docs/performance.md).
//!
//! ```sh
//! cargo build --release && cargo run --release --example pg_overhead -- [ROUNDS] [SECONDS]
//! ```
//!
//! Each round runs every configuration once, in a rotating order, for
//! SECONDS (default 15) of unthrottled pgbench per workload (TPC-B-like and
//! select-only, 4 clients); the table gives the median over ROUNDS
//! (default 5) and the change against no observer. It also prints what the
//! observer itself used: the server's execution time of its statements per
//! poll (as pg_stat_statements accounts them) and motifd's CPU time per poll.

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use pg_support::{Cluster, Guard};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const CONFIGS: [(&str, Option<f64>); 3] = [
    ("no observer", None),
    ("motifd, 1 s", Some(1.0)),
    ("motifd, 100 ms", Some(0.1)),
];
const WORKLOADS: [(&str, &[&str]); 2] = [("TPC-B-like", &[]), ("select-only", &["-S"])];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).map_or(5, |a| a.parse().expect("ROUNDS"));
    let seconds: u32 = args.get(2).map_or(15, |a| a.parse().expect("SECONDS"));
    let motifd = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("motifd");
    assert!(
        motifd.is_file(),
        "build the binary first: cargo build --release"
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let c = Cluster::start("128MB");
    c.sql("postgres", "CREATE DATABASE bench");
    c.sql(
        "bench",
        &pg_support::observer_role_sql(&root.join("docs/sources.md"), "observer-pw"),
    );
    let init = c
        .client("pgbench", "bench")
        .args(["-i", "-s", "10", "-q", "bench"])
        .output()
        .unwrap();
    assert!(init.status.success());
    let url = c.url("motifd_observer", "observer-pw", "bench");
    let mut tps = vec![vec![Vec::new(); CONFIGS.len()]; WORKLOADS.len()];
    let mut polls = vec![Vec::new(); CONFIGS.len()];
    let mut cpu = vec![0.0f64; CONFIGS.len()];
    for round in 0..rounds {
        for k in 0..CONFIGS.len() {
            let i = (k + round) % CONFIGS.len();
            let observer = CONFIGS[i]
                .1
                .map(|interval| start_observer(&motifd, &url, interval));
            for (w, (_, flags)) in WORKLOADS.iter().enumerate() {
                let t = pgbench(&c, flags, seconds);
                tps[w][i].push(t);
                eprintln!(
                    "round {round}: {} / {}: {t:.0} tps",
                    WORKLOADS[w].0, CONFIGS[i].0
                );
            }
            if let Some(mut o) = observer {
                let (n, seconds) = stop_observer(&mut o);
                polls[i].push(n);
                cpu[i] += seconds;
            }
        }
    }
    println!("| workload | observer | median TPS | change | runs (TPS) |");
    println!("|---|---|---|---|---|");
    for (w, (name, _)) in WORKLOADS.iter().enumerate() {
        let base = median(&tps[w][0]);
        for (i, (config, _)) in CONFIGS.iter().enumerate() {
            let m = median(&tps[w][i]);
            let runs: Vec<String> = tps[w][i].iter().map(|t| format!("{t:.0}")).collect();
            let change = if i == 0 {
                "–".to_string()
            } else {
                format!("{:+.1} %", (m / base - 1.0) * 100.0)
            };
            println!(
                "| {name} | {config} | {m:.0} | {change} | {} |",
                runs.join(", ")
            );
        }
    }
    let all_polls: u64 = polls.iter().flatten().sum();
    let server_ms: f64 = c
        .sql(
            "bench",
            "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements \
             WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = 'motifd_observer')",
        )
        .trim()
        .parse()
        .unwrap();
    println!(
        "\nserver execution time of the observer's statements: {:.3} ms per poll ({all_polls} polls)",
        server_ms / all_polls as f64
    );
    for (i, (config, _)) in CONFIGS.iter().enumerate().skip(1) {
        let n: u64 = polls[i].iter().sum();
        println!(
            "{config}: {n} polls, motifd CPU {:.3} ms per poll ({:.2} % of a core)",
            cpu[i] * 1000.0 / n as f64,
            cpu[i] * 100.0 / (n as f64 * CONFIGS[i].1.unwrap())
        );
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn pgbench(c: &Cluster, flags: &[&str], seconds: u32) -> f64 {
    let out = c
        .client("pgbench", "bench")
        .args(["-n", "-c", "4", "-j", "2", "-T", &seconds.to_string()])
        .args(flags)
        .arg("bench")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no tps in {text}"))
}

struct Observer {
    child: Guard,
    metrics: String,
}

fn start_observer(motifd: &Path, url: &str, interval: f64) -> Observer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let child = Guard(
        Command::new(motifd)
            .args([
                "run",
                "--metrics-listen",
                &metrics,
                "--postgres",
                url,
                "--postgres-interval",
            ])
            .arg(interval.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let o = Observer { child, metrics };
    pg_support::wait_for(Duration::from_secs(30), "the observer's first poll", || {
        (polls(&o.metrics)? >= 1.0).then_some(())
    });
    o
}

fn polls(metrics: &str) -> Option<f64> {
    series(metrics, "dsfb_postgres_polls_total{source=\"bench\"}")
}

fn series(metrics: &str, key: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(metrics).ok()?;
    write!(s, "GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
}

/// Stops the observer; returns its polls and CPU seconds.
fn stop_observer(o: &mut Observer) -> (u64, f64) {
    let n = polls(&o.metrics).unwrap_or(0.0) as u64;
    let cpu = series(&o.metrics, "process_cpu_seconds_total").unwrap_or(f64::NAN);
    let _ = Command::new("kill")
        .args(["-TERM", &o.child.0.id().to_string()])
        .status();
    let _ = o.child.0.wait();
    (n, cpu)
}
