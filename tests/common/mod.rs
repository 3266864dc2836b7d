//! Helpers shared by the end-to-end daemon tests (`tests/daemon_*.rs`): spawn the
//! real `motifd` binary, learn its bound ports from the startup log line, scrape
//! `/metrics` over a plain `TcpStream`, poll conditions with deadlines, and make
//! sure no child outlives a failing test.
#![allow(dead_code)] // every test file uses a different subset

pub mod http;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a daemon may take to print its startup line (debug build, busy box).
pub const STARTUP: Duration = Duration::from_secs(30);
/// Interval between polls of a condition.
pub const POLL: Duration = Duration::from_millis(50);

pub fn motifd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_motifd"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

/// The records of a CSV fixture, header dropped, in file order.
pub fn csv_records(name: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("t,"))
        .map(str::to_owned)
        .collect()
}

/// Event time of a CSV record.
pub fn t_of(record: &str) -> f64 {
    record.split(',').next().unwrap().parse().unwrap()
}

/// A scratch directory under cargo's per-target temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// Writes `text` to `file` and returns its path.
    pub fn write(&self, file: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(file);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Writes records as a CSV file with a header.
pub fn write_csv(path: &Path, records: &[String]) {
    let mut text = String::from("t,class,channel,value\n");
    for r in records {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// `motifd replay --quiet ARGS...` stdout (must succeed).
pub fn replay(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = motifd()
        .arg("replay")
        .arg("--quiet")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A running daemon. Killed (SIGKILL) and reaped on drop if still running, so a
/// failing assertion never leaves a child behind.
pub struct Daemon {
    pub child: Child,
    pub ingest: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
    stderr: Arc<Mutex<String>>,
    pub started: Instant,
}

impl Daemon {
    /// `motifd run ARGS...` with stdin closed.
    pub fn run(args: &[&str]) -> Self {
        let mut cmd = motifd();
        cmd.arg("run").args(args).stdin(Stdio::null());
        Self::spawn(cmd)
    }

    /// `motifd run ARGS...` with stdin piped; returns the daemon and its stdin.
    pub fn run_with_stdin(args: &[&str]) -> (Self, ChildStdin) {
        let mut cmd = motifd();
        cmd.arg("run").args(args).stdin(Stdio::piped());
        let mut d = Self::spawn(cmd);
        let stdin = d.child.stdin.take().unwrap();
        (d, stdin)
    }

    /// `motifd run ARGS...` started through `sh -c "SETUP && exec motifd run
    /// ARGS..."`, stdin closed: SETUP sets process limits (`ulimit ...`) that the
    /// daemon then runs under. The child is the daemon itself (`exec`).
    pub fn run_in_shell(setup: &str, args: &[&str]) -> Self {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{setup} && exec \"$0\" run \"$@\""))
            .arg(env!("CARGO_BIN_EXE_motifd"))
            .args(args)
            .stdin(Stdio::null());
        Self::spawn(cmd)
    }

    /// Spawns `cmd` (stdout discarded unless the caller set it) and waits for the
    /// startup log line, from which it parses the bound addresses.
    pub fn spawn(mut cmd: Command) -> Self {
        cmd.stderr(Stdio::piped()).env_remove("RUST_LOG");
        let started = Instant::now();
        let mut child = cmd.spawn().expect("motifd spawns");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if line.contains(" running: ") {
                    let _ = tx.send(line.clone());
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut daemon = Self {
            child,
            ingest: None,
            metrics: None,
            stderr,
            started,
        };
        let deadline = Instant::now() + STARTUP;
        let line = loop {
            if let Ok(line) = rx.recv_timeout(POLL) {
                break line;
            }
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!(
                    "motifd exited ({status}) before its startup line:\n{}",
                    daemon.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no startup line within {STARTUP:?}:\n{}",
                daemon.stderr()
            );
        };
        daemon.ingest = parse_after(&line, "ingest ", ",");
        daemon.metrics = parse_after(&line, "metrics http://", "/metrics");
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics.expect("the daemon serves /metrics")
    }

    pub fn ingest_addr(&self) -> SocketAddr {
        self.ingest.expect("the daemon listens for producers")
    }

    pub fn scrape(&self) -> Metrics {
        scrape(self.metrics_addr())
    }

    /// Sends `sig` (`TERM`, `HUP`, ...) with `kill(1)`.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {} failed", self.pid());
    }

    /// Waits for the daemon to exit, at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "motifd did not exit within {limit:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(POLL);
        }
    }

    /// SIGTERM, then waits; asserts exit code 0 and returns the elapsed time.
    pub fn terminate(&mut self) -> Duration {
        let asked = Instant::now();
        self.signal("TERM");
        let status = self.wait(Duration::from_secs(30));
        assert_eq!(
            status.code(),
            Some(0),
            "motifd exit status {status} after SIGTERM:\n{}",
            self.stderr()
        );
        asked.elapsed()
    }

    /// Polls until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) {
        poll(limit, &format!("log line containing {needle:?}"), || {
            self.stderr().contains(needle).then_some(())
        });
    }

    /// Polls `/metrics` until `cond` holds; returns that scrape.
    pub fn wait_metrics(
        &self,
        limit: Duration,
        what: &str,
        cond: impl Fn(&Metrics) -> bool,
    ) -> Metrics {
        let mut last = None;
        let found = poll_opt(limit, || {
            let m = self.scrape();
            if cond(&m) {
                return Some(m);
            }
            last = Some(m);
            None
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {limit:?} waiting for {what}; last scrape: {}\nlog:\n{}",
                last.map_or("none".into(), |m| m.summary()),
                self.stderr()
            )
        })
    }

    /// A field of `/proc/PID/status` (the number before any unit).
    pub fn status_field(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/PID/status"))
    }

    /// Threads of the daemon now.
    pub fn threads(&self) -> u64 {
        self.status_field("Threads")
    }

    /// Resident set of the daemon now, bytes.
    pub fn rss(&self) -> u64 {
        self.status_field("VmRSS") * 1024
    }

    /// Soft limit `name` (a row of `/proc/PID/limits`, e.g. `Max file size`) of
    /// the daemon; None when unlimited.
    pub fn soft_limit(&self, name: &str) -> Option<u64> {
        soft_limit(&format!("/proc/{}/limits", self.pid()), name)
    }

    /// Polls `/metrics` until the series `key` is there (the engine thread
    /// publishes its first snapshot a moment after the startup line).
    pub fn wait_for_series(&self, key: &str) -> Metrics {
        self.wait_metrics(STARTUP, &format!("series {key}"), |m| m.get(key).is_some())
    }

    /// VmHWM (peak resident set) of the daemon, bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in /proc/PID/status");
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap();
        kb * 1024
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Soft and hard value of row `name` of a `/proc/PID/limits` file (None =
/// unlimited).
fn limits_row(path: &str, name: &str) -> (Option<u64>, Option<u64>) {
    let text = std::fs::read_to_string(path).unwrap();
    let row = text
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name:?} in {path}"));
    let mut fields = row.split_whitespace().map(|v| v.parse().ok());
    (fields.next().flatten(), fields.next().flatten())
}

fn soft_limit(path: &str, name: &str) -> Option<u64> {
    limits_row(path, name).0
}

/// Makes sure this test process may hold `wanted` open files, raising its soft
/// limit with `prlimit(1)` up to the hard limit if needed (the daemons it
/// starts inherit the limit). Returns the soft limit in force afterwards.
pub fn raise_open_files(wanted: u64) -> u64 {
    let (soft, hard) = limits_row("/proc/self/limits", "Max open files");
    let (soft, hard) = (soft.unwrap_or(u64::MAX), hard.unwrap_or(u64::MAX));
    if soft >= wanted {
        return soft;
    }
    let target = wanted.min(hard);
    let raised = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!(
            "--nofile={target}:{}",
            if hard == u64::MAX {
                "unlimited".into()
            } else {
                hard.to_string()
            }
        ))
        .status()
        .is_ok_and(|s| s.success());
    let now = soft_limit("/proc/self/limits", "Max open files").unwrap_or(u64::MAX);
    if !raised {
        eprintln!("prlimit could not raise the open-file limit from {soft}; it stays {now}");
    }
    now
}

fn parse_after(line: &str, start: &str, end: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(start)? + start.len()..];
    rest[..rest.find(end)?].parse().ok()
}

/// Polls `f` every [`POLL`] until it returns `Some`, or panics after `limit`.
pub fn poll<T>(limit: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll_opt(limit, f).unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// Polls `f` every [`POLL`] until it returns `Some` or `limit` passes.
pub fn poll_opt<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// `GET path` over HTTP/1.0 (no chunking, no compression); returns status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).map_err(|e| std::io::Error::other(e.to_string()))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    Ok((status, body.to_owned()))
}

/// Scrapes `/metrics` (must answer 200).
pub fn scrape(addr: SocketAddr) -> Metrics {
    let (status, body) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "GET /metrics: {body}");
    Metrics::parse(&body)
}

/// Sample values of one exposition, keyed by `name{labels}` exactly as written.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub series: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn parse(text: &str) -> Self {
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (key, value) = split_sample(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
                (key.to_owned(), parse_value(value).unwrap())
            })
            .collect();
        Self { series }
    }

    /// Value of the series `key` (`name` or `name{labels}`), if present.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.series.get(key).copied()
    }

    /// Value of `key`, which must be present.
    pub fn value(&self, key: &str) -> f64 {
        self.get(key)
            .unwrap_or_else(|| panic!("no series {key} in the scrape"))
    }

    /// Sum over every series of metric `name` (any labels).
    pub fn sum(&self, name: &str) -> f64 {
        self.series
            .iter()
            .filter(|(k, _)| *k == name || k.starts_with(&format!("{name}{{")))
            .map(|(_, v)| *v)
            .sum()
    }

    pub fn received(&self) -> u64 {
        self.value("dsfb_samples_received_total") as u64
    }
    pub fn flushed(&self) -> u64 {
        self.value("dsfb_streaming_residuals_flushed_total") as u64
    }
    pub fn staged(&self) -> u64 {
        self.value("dsfb_streaming_residuals_staged") as u64
    }
    pub fn dropped(&self) -> u64 {
        self.value("dsfb_streaming_residuals_dropped_out_of_window_total") as u64
    }
    pub fn rejected(&self) -> u64 {
        self.sum("dsfb_samples_rejected_total") as u64
    }
    pub fn rejected_for(&self, reason: &str) -> u64 {
        self.value(&format!(
            "dsfb_samples_rejected_total{{reason=\"{reason}\"}}"
        )) as u64
    }
    pub fn episode_log_errors(&self) -> u64 {
        self.value("dsfb_episode_log_write_errors_total") as u64
    }
    pub fn textfile_writes(&self) -> u64 {
        self.value("dsfb_textfile_writes_total") as u64
    }
    pub fn textfile_errors(&self) -> u64 {
        self.value("dsfb_textfile_write_errors_total") as u64
    }
    pub fn producers_refused(&self) -> u64 {
        self.value("dsfb_ingest_producers_refused_total") as u64
    }
    pub fn episodes(&self, motif: &str) -> Option<u64> {
        self.get(&format!("dsfb_episodes_total{{motif=\"{motif}\"}}"))
            .map(|v| v as u64)
    }

    /// `received = flushed + staged + dropped + rejected`.
    pub fn assert_conserved(&self) {
        assert_eq!(
            self.received(),
            self.flushed() + self.staged() + self.dropped() + self.rejected(),
            "received != flushed + staged + dropped + rejected: {}",
            self.summary()
        );
    }

    pub fn summary(&self) -> String {
        let get = |k: &str| self.get(k).map_or("-".into(), |v| v.to_string());
        format!(
            "received {} flushed {} staged {} dropped {} rejected {} episodes {}",
            get("dsfb_samples_received_total"),
            get("dsfb_streaming_residuals_flushed_total"),
            get("dsfb_streaming_residuals_staged"),
            get("dsfb_streaming_residuals_dropped_out_of_window_total"),
            self.sum("dsfb_samples_rejected_total"),
            self.sum("dsfb_episodes_total"),
        )
    }
}

/// Splits a sample line into `name{labels}` and the value (timestamp ignored),
/// honouring quoted label values.
fn split_sample(line: &str) -> Result<(&str, &str), String> {
    let end_of_key = match line.find('{') {
        Some(open) if open < line.find(' ').unwrap_or(usize::MAX) => {
            let bytes = line.as_bytes();
            let (mut i, mut quoted) = (open + 1, false);
            loop {
                match bytes.get(i) {
                    None => return Err("unterminated label set".into()),
                    Some(b'\\') if quoted => i += 1,
                    Some(b'"') => quoted = !quoted,
                    Some(b'}') if !quoted => break i + 1,
                    _ => {}
                }
                i += 1;
            }
        }
        _ => line.find(' ').ok_or("no value")?,
    };
    let key = &line[..end_of_key];
    let rest = line[end_of_key..]
        .strip_prefix(' ')
        .ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value = fields.next().ok_or("no value")?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok((key, value))
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => v.parse().map_err(|_| format!("bad value {v:?}")),
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks the classic (0.0.4) text format: HELP/TYPE comments well formed, one
/// TYPE per family before its samples, every sample named, labelled and valued
/// correctly and belonging to a declared family (histogram/summary suffixes
/// included), no duplicate series, newline at the end. Returns the number of
/// samples.
pub fn check_classic_format(text: &str) -> Result<usize, String> {
    const TYPES: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    if text.contains("# EOF") {
        return Err("classic format must not carry the OpenMetrics # EOF".into());
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut samples = 0;
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _) if is_metric_name(name) => {}
                (Some("TYPE"), Some(name), Some(kind)) if is_metric_name(name) => {
                    if !TYPES.contains(&kind) {
                        return Err(err(format!("unknown type {kind}")));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(err("second TYPE for the family".into()));
                    }
                }
                (Some("HELP" | "TYPE"), _, _) => return Err(err("malformed HELP/TYPE".into())),
                _ => {}
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let (key, value) = split_sample(line).map_err(err)?;
        parse_value(value).map_err(err)?;
        let (name, labels) = match key.find('{') {
            Some(i) => (&key[..i], Some(&key[i + 1..key.len() - 1])),
            None => (key, None),
        };
        if !is_metric_name(name) {
            return Err(err(format!("bad metric name {name}")));
        }
        if let Some(labels) = labels {
            check_labels(labels).map_err(err)?;
        }
        let family_ok = types.contains_key(name)
            || ["_bucket", "_sum", "_count"].iter().any(|s| {
                name.strip_suffix(s).is_some_and(|base| {
                    matches!(
                        types.get(base).map(String::as_str),
                        Some("histogram" | "summary")
                    )
                })
            });
        if !family_ok {
            return Err(err(format!("sample of {name} has no TYPE before it")));
        }
        if !seen.insert(key.to_owned()) {
            return Err(err("duplicate series".into()));
        }
        samples += 1;
    }
    if samples == 0 {
        return Err("no samples".into());
    }
    Ok(samples)
}

fn check_labels(labels: &str) -> Result<(), String> {
    let mut rest = labels;
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("label without =")?;
        if !is_label_name(&rest[..eq]) {
            return Err(format!("bad label name {:?}", &rest[..eq]));
        }
        let after = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let bytes = after.as_bytes();
        let mut i = 0;
        loop {
            match bytes.get(i) {
                None => return Err("unterminated label value".into()),
                Some(b'\\') => {
                    if !matches!(bytes.get(i + 1), Some(b'\\' | b'"' | b'n')) {
                        return Err("bad escape in label value".into());
                    }
                    i += 2;
                }
                Some(b'"') => break,
                Some(b'\n') => return Err("raw newline in label value".into()),
                _ => i += 1,
            }
        }
        rest = &after[i + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    Ok(())
}

/// A TCP producer connection to the daemon's ingest listener.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

/// Lines of an episode log (or replay output) as text.
pub fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Shows the first differing line of two episode logs.
pub fn assert_same_episodes(got: &[u8], expected: &[u8], what: &str) {
    if got == expected {
        return;
    }
    let (g, e) = (lines(got), lines(expected));
    let first = g.iter().zip(&e).position(|(a, b)| a != b);
    panic!(
        "{what}: episode log differs from replay ({} vs {} lines); first difference at line {}:\n  got:      {:?}\n  expected: {:?}",
        g.len(),
        e.len(),
        first.map_or(g.len().min(e.len()) + 1, |i| i + 1),
        first.map(|i| &g[i]).or(g.get(e.len())),
        first.map(|i| &e[i]).or(e.get(g.len())),
    );
}
