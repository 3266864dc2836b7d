//! A `motifd run` child process: started with its ports learnt from the
//! startup log line, signalled, waited for, and killed on drop.

use super::files::motifd;
use super::http::scrape;
use super::metrics::Metrics;
use super::poll::{poll, poll_opt, POLL};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a daemon may take to print its startup line (debug build, busy box).
pub const STARTUP: Duration = Duration::from_secs(30);

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

    /// `motifd run` with a TCP line listener and `/metrics`, both on free
    /// ports of 127.0.0.1, then `ARGS...`; stdin closed.
    pub fn listening(args: &[&str]) -> Self {
        let mut all = vec![
            "--ingest-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ];
        all.extend_from_slice(args);
        Self::run(&all)
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
