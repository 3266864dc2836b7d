//! Shared test support: fixed snapshots, a minimal HTTP/1.1 client, a guard
//! that kills spawned programs, and helpers to find the external validators.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use motifd_exporter::histogram::{
    FixedHistogram, EPISODE_DURATION_BOUNDS_SECONDS, EPISODE_PEAK_BOUNDS,
    INGEST_TO_FLUSH_BOUNDS_SECONDS, LATENESS_BOUNDS_SECONDS, RENDER_DURATION_BOUNDS_SECONDS,
};
use motifd_exporter::{
    BuildInfo, CheckpointStats, ExporterStats, MotifStats, ProcessStats, Snapshot,
};

/// The five motif classes of the reference implementation.
pub const MOTIFS: [&str; 5] = [
    "plan_regression_onset",
    "cardinality_mismatch_regime",
    "contention_ramp",
    "cache_collapse",
    "workload_phase_transition",
];

/// The rejection reasons the daemon reports.
pub const REASONS: [&str; 7] = [
    "malformed",
    "missing_field",
    "non_finite",
    "unknown_class",
    "channel_cap",
    "line_too_long",
    "invalid_utf8",
];

fn hist(
    bounds: &'static [f64],
    values: impl IntoIterator<Item = f64>,
) -> motifd_exporter::HistogramSnapshot {
    let mut h = FixedHistogram::new(bounds);
    for v in values {
        h.observe(v);
    }
    h.snapshot()
}

/// A snapshot after some activity, every field set, deterministic.
/// The busy snapshot with `n` motifs (its five repeated, renamed `<name>_<i>`):
/// the renderer's many-series case, shared by the render and icount benches.
pub fn busy_snapshot_with_motifs(n: usize) -> Snapshot {
    let template = busy_snapshot();
    let mut s = template.clone();
    s.motifs = (0..n)
        .map(|i| {
            let base = &template.motifs[i % template.motifs.len()];
            MotifStats {
                name: format!("{}_{i}", base.name),
                ..base.clone()
            }
        })
        .collect();
    s
}

pub fn busy_snapshot() -> Snapshot {
    let motifs = MOTIFS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let k = i as f64;
            let mut m = MotifStats::new(*name);
            m.episodes_total = (i as u64 + 1) * 7;
            m.peak_last = 2.5 + k * 1.25;
            m.trust_sum_last = 1.0 - k * 0.0025;
            m.open_episodes = i as u64 % 3;
            m.duration = hist(
                EPISODE_DURATION_BOUNDS_SECONDS,
                (0..m.episodes_total).map(|j| 0.03 * (j as f64 + k)),
            );
            m.peak = hist(
                EPISODE_PEAK_BOUNDS,
                (0..m.episodes_total).map(|j| 0.75 + j as f64 * 1.5),
            );
            m
        })
        .collect();
    let mut s = Snapshot {
        motifs,
        received_total: 1_234_567,
        rejected: REASONS
            .iter()
            .enumerate()
            .map(|(i, r)| (r.to_string(), (i as u64) * 3))
            .collect(),
        ingest_channel_depth: Some(17),
        ingest_producers_refused_total: Some(5),
        episode_log_write_errors_total: Some(2),
        checkpoint: Some(CheckpointStats {
            writes_total: 31,
            write_errors_total: 1,
            skipped_total: 0,
            last_success_timestamp_seconds: 1_700_001_860.5,
            size_bytes: 48_213,
            restored: true,
        }),
        build: BuildInfo {
            version: "0.1.0".into(),
            git_commit: "0123456789abcdef0123456789abcdef01234567".into(),
            rustc: "1.85.0".into(),
        },
        process: Some(ProcessStats {
            start_time_seconds: 1_700_000_000.25,
            resident_memory_bytes: 12_582_912,
            cpu_seconds_total: 2.75,
        }),
        ..Snapshot::default()
    };
    s.reorder.staged = 42;
    s.reorder.flushed_total = 1_234_000;
    s.reorder.dropped_out_of_window_total = 3;
    s.reorder.dropped_recoverable_with_double_window_total = 2;
    s.reorder.held_future = 3;
    s.reorder.released_at_cap_total = 7;
    s.reorder.time_jumps_total = 1;
    s.reorder.watermark_seconds = 1_700_000_100.5;
    s.reorder.newest_event_seconds = 1_700_000_101.75;
    s.reorder.lateness = hist(LATENESS_BOUNDS_SECONDS, (0..50).map(|j| j as f64 * 0.02));
    s.ingest_to_flush_latency = hist(
        INGEST_TO_FLUSH_BOUNDS_SECONDS,
        (0..40).map(|j| 1e-5 * (j * j) as f64),
    );
    s.channels.tracked = 96;
    s.channels.evicted_total = 4;
    s
}

/// A snapshot at start-up: motifs known, nothing happened yet (NaN gauges).
pub fn fresh_snapshot() -> Snapshot {
    Snapshot {
        motifs: MOTIFS.iter().map(|m| MotifStats::new(*m)).collect(),
        rejected: REASONS.iter().map(|r| (r.to_string(), 0)).collect(),
        build: BuildInfo {
            version: "0.1.0".into(),
            git_commit: "unknown".into(),
            rustc: "unknown".into(),
        },
        ..Snapshot::default()
    }
}

/// The busy snapshot with two live PostgreSQL sources, one that never
/// polled (NaN timestamp, empty histogram) and one with history.
pub fn postgres_snapshot() -> Snapshot {
    let mut s = busy_snapshot();
    let mut fresh = motifd_exporter::PostgresSourceStats::new("orders");
    fresh.poll_errors_total = vec![("connect", 3), ("setup", 0), ("timeout", 0)];
    let mut busy = motifd_exporter::PostgresSourceStats::new("billing-eu.1");
    busy.up = true;
    busy.polls_total = 86_400;
    busy.poll_errors_total = vec![("connect", 0), ("setup", 0), ("timeout", 12)];
    busy.reconnects_total = 2;
    busy.last_success_timestamp_seconds = 1_795_824_435.198_974;
    busy.poll_interval_seconds = 2.0;
    busy.residuals_total = 1_234_567;
    let mut h = motifd_exporter::FixedHistogram::new(
        motifd_exporter::histogram::POSTGRES_POLL_DURATION_BOUNDS_SECONDS,
    );
    for v in [0.0021, 0.004, 0.03, 0.6, 12.0] {
        h.observe(v);
    }
    busy.poll_duration = h.snapshot();
    s.postgres = vec![fresh, busy];
    s
}

/// Label values and floats that need escaping or special spelling.
pub fn tricky_snapshot() -> Snapshot {
    let names = [
        "quote\"d",
        "back\\slash",
        "new\nline",
        "ünïcødé ✓",
        "all\\\"\n",
    ];
    let mut s = fresh_snapshot();
    s.motifs = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut m = MotifStats::new(*n);
            m.episodes_total = i as u64;
            m.peak_last = [f64::INFINITY, f64::NEG_INFINITY, 1e300, -0.0, 5e-324][i];
            m.trust_sum_last = [0.1 + 0.2, f64::NAN, 1e21, 1.0, 123456789.125][i];
            m
        })
        .collect();
    s.build.git_commit = "dirty \"tree\" \\ with\nnewline".into();
    s
}

/// Fixed exporter self-statistics.
pub fn exporter_stats() -> ExporterStats {
    let mut h = FixedHistogram::new(RENDER_DURATION_BOUNDS_SECONDS);
    for v in [2e-6, 4e-6, 3e-5, 0.002] {
        h.observe(v);
    }
    ExporterStats {
        scrapes_total: 4,
        render_duration: h.snapshot(),
        scrape_connections_open: 3,
        scrape_connections_closed_total: [5, 6, 7, 8, 9, 10, 11, 12],
        scrape_realtime_priority: 1,
        textfile_writes_total: 9,
        textfile_write_errors_total: 1,
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct HttpClient {
    reader: BufReader<TcpStream>,
}

impl HttpClient {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            reader: BufReader::new(stream),
        }
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Sends one request and reads the answer; the body is not read for HEAD.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<HttpResponse> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.reader.get_mut().write_all(req.as_bytes())?;
        self.read_response(method == "HEAD")
    }

    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.request("GET", path, headers).expect("GET")
    }

    fn read_response(&mut self, head: bool) -> std::io::Result<HttpResponse> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| std::io::Error::other("bad header"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let chunked = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        if chunked && !head {
            let body = self.read_chunked()?;
            return Ok(HttpResponse {
                status,
                headers,
                body,
            });
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; if head { 0 } else { len }];
        self.reader.read_exact(&mut body)?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
            let mut chunk = vec![0; size + 2];
            self.reader.read_exact(&mut chunk)?;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
}

/// Kills and reaps a spawned program when dropped, so a failing assertion
/// never leaves Prometheus or node_exporter running.
pub struct ChildGuard {
    pub child: Child,
    pub name: &'static str,
}

impl ChildGuard {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Self {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { child, name }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "motifd-exporter-test-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port that was free a moment ago (for programs that cannot bind port 0
/// and report it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Fetches `http://addr/path` on a fresh connection (for tools' HTTP APIs).
pub fn fetch(addr: SocketAddr, path: &str) -> Option<String> {
    let mut c = HttpClient {
        reader: BufReader::new(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?),
    };
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    let r = c.request("GET", path, &[("Connection", "close")]).ok()?;
    (r.status == 200).then(|| r.text())
}

/// Path of an external program, or a panic naming the package to install.
pub fn require_program(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| panic!("{name} not found on PATH: install {package}"))
}

/// One sample as the python parser returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Prints every sample as `name \t k=hex(v),... \t repr(value)`; hex keeps
/// label values free of any escaping between the two languages.
const PY_DUMP: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = sys.stdin.buffer.read().decode("utf-8")
try:
    families = list(text_string_to_metric_families(text))
except Exception as e:
    print("PARSE-ERROR", repr(e))
    sys.exit(1)
for f in families:
    for s in f.samples:
        labels = ",".join("%s=%s" % (k, v.encode("utf-8").hex()) for k, v in sorted(s.labels.items()))
        print("%s\t%s\t%r" % (s.name, labels, float(s.value)))
"#;

/// Runs the strict OpenMetrics parser of python's `prometheus_client` on
/// `text`; returns its samples or its error.
pub fn python_om_parse(text: &[u8]) -> Result<Vec<ParsedSample>, String> {
    use std::process::Stdio;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .args(["-c", PY_DUMP])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {python}: {e} (needs python3 with prometheus_client)")
        });
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("ModuleNotFoundError"),
            "python lacks prometheus_client: {stderr}"
        );
        return Err(format!("{stdout}{stderr}"));
    }
    Ok(stdout
        .lines()
        .map(|line| {
            let mut parts = line.split('\t');
            let name = parts.next().unwrap().to_string();
            let labels = parts
                .next()
                .unwrap()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|kv| {
                    let (k, hex) = kv.split_once('=').unwrap();
                    let bytes: Vec<u8> = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                        .collect();
                    (k.to_string(), String::from_utf8(bytes).unwrap())
                })
                .collect();
            let value = parts.next().unwrap().parse().unwrap();
            ParsedSample {
                name,
                labels,
                value,
            }
        })
        .collect())
}

/// Number of sample lines (not comments) in an exposition.
pub fn sample_lines(text: &[u8]) -> usize {
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .count()
}
