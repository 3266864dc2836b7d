//! `motifd run` configuration: a TOML file (`--config`) with CLI flags on top.
//! Every key, its default and its flag are listed in docs/configuration.md.

use crate::error::Failure;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How lines of a source are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LineFormat {
    /// Decide per line: `{` starts a JSON object, anything else is CSV.
    Auto,
    /// `t,class,channel,value` (a header line, if present, is skipped).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// The daemon's settings after defaults, file and flags are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Reorder window, seconds.
    pub window: f64,
    /// Wall-clock seconds without a new sample after which everything staged is
    /// flushed.
    pub idle_flush: f64,
    /// Event-time seconds after which an idle channel is evicted (None: never).
    pub channel_ttl: Option<f64>,
    /// Most (motif, channel) states tracked.
    pub max_channels: usize,
    /// Grammar file (None: the default grammar).
    pub grammar: Option<PathBuf>,
    /// Input files (`-` = stdin).
    pub inputs: Vec<String>,
    /// Keep reading input files as they grow.
    pub follow: bool,
    /// Line format of every source.
    pub input_format: LineFormat,
    /// TCP line listener.
    pub ingest_listen: Option<SocketAddr>,
    /// Most concurrent TCP producers.
    pub max_producers: usize,
    /// Episode log (JSON lines, appended; `-` = stdout).
    pub episodes_out: Option<PathBuf>,
    /// `/metrics` listener (None: no HTTP server).
    pub metrics_listen: Option<SocketAddr>,
    /// node_exporter textfile path.
    pub textfile: Option<PathBuf>,
    /// Seconds between textfile writes.
    pub textfile_interval: f64,
    /// Metric namespace.
    pub namespace: String,
    /// `SCHED_FIFO` priority of the scrape path (0: normal priority).
    pub scrape_realtime_priority: u8,
    /// Most scrape connections open at once (more get 503).
    pub max_scrape_connections: usize,
    /// Seconds a scrape connection may stay silent before it is closed.
    pub scrape_idle_timeout: f64,
    /// Seconds a response write may make no progress before the connection
    /// is closed.
    pub scrape_write_timeout: f64,
    /// Seconds a scrape request head may take to arrive whole (408 beyond).
    pub scrape_request_timeout: f64,
    /// Batches buffered between producers and the engine (backpressure bound).
    pub channel_capacity: usize,
    /// Longest accepted line, bytes.
    pub max_line: usize,
    /// Seconds between episode-log fsyncs.
    pub fsync_interval: f64,
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace` or a RUST_LOG spec).
    pub log_level: String,
    /// Checkpoint file: restored at start, written every `checkpoint_interval`
    /// and at shutdown (None: no checkpoints).
    pub checkpoint: Option<PathBuf>,
    /// Seconds between checkpoints.
    pub checkpoint_interval: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window: motifd_engine::reorder::DEFAULT_WINDOW,
            idle_flush: motifd_engine::reorder::DEFAULT_WINDOW,
            channel_ttl: Some(3600.0),
            max_channels: 1_000_000,
            grammar: None,
            inputs: Vec::new(),
            follow: false,
            input_format: LineFormat::Auto,
            ingest_listen: None,
            max_producers: 256,
            episodes_out: None,
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9184))),
            textfile: None,
            textfile_interval: 15.0,
            namespace: "dsfb".into(),
            scrape_realtime_priority: 0,
            max_scrape_connections: 128,
            scrape_idle_timeout: 30.0,
            scrape_write_timeout: 10.0,
            scrape_request_timeout: 5.0,
            channel_capacity: 64,
            max_line: 1 << 20,
            fsync_interval: 1.0,
            log_level: "info".into(),
            checkpoint: None,
            checkpoint_interval: 60.0,
        }
    }
}

/// The config file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    window: Option<f64>,
    idle_flush: Option<f64>,
    /// 0 disables eviction.
    channel_ttl: Option<f64>,
    max_channels: Option<usize>,
    grammar: Option<PathBuf>,
    inputs: Option<Vec<String>>,
    follow: Option<bool>,
    input_format: Option<LineFormat>,
    ingest_listen: Option<String>,
    max_producers: Option<usize>,
    episodes_out: Option<PathBuf>,
    /// `""` or `"off"` disables the HTTP server.
    metrics_listen: Option<String>,
    textfile: Option<PathBuf>,
    textfile_interval: Option<f64>,
    namespace: Option<String>,
    scrape_realtime_priority: Option<u32>,
    max_scrape_connections: Option<usize>,
    scrape_idle_timeout: Option<f64>,
    scrape_write_timeout: Option<f64>,
    scrape_request_timeout: Option<f64>,
    channel_capacity: Option<usize>,
    max_line: Option<usize>,
    fsync_interval: Option<f64>,
    log_level: Option<String>,
    checkpoint: Option<PathBuf>,
    checkpoint_interval: Option<f64>,
}

/// Flag values given on the command line (None: not given).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct RunFlags {
    /// Configuration file (TOML); flags override its keys.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Input file to read (repeatable; `-` = stdin).
    #[arg(long = "input", value_name = "FILE")]
    pub inputs: Vec<String>,
    /// Keep reading input files as lines are appended.
    #[arg(long)]
    pub follow: bool,
    /// Line format of every source [default: auto].
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<LineFormat>,
    /// Accept producers on this TCP address (one record per line).
    #[arg(long, value_name = "ADDR")]
    pub ingest_listen: Option<String>,
    /// Serve /metrics on this address (`off` = no HTTP server) [default: 127.0.0.1:9184].
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Append closed episodes to this file (JSON lines; `-` = stdout).
    #[arg(long, value_name = "FILE")]
    pub episodes_out: Option<PathBuf>,
    /// Write the metrics to this node_exporter textfile (.prom).
    #[arg(long, value_name = "FILE")]
    pub textfile: Option<PathBuf>,
    /// Seconds between textfile writes [default: 15].
    #[arg(long, value_name = "SECONDS")]
    pub textfile_interval: Option<f64>,
    /// Reorder window in seconds [default: 10].
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub window: Option<f64>,
    /// Flush the reorder buffer after this many wall-clock seconds without a
    /// sample [default: the window].
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub idle_flush: Option<f64>,
    /// Evict channels idle this many event-time seconds (0 = never) [default: 3600].
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub channel_ttl: Option<f64>,
    /// Most (motif, channel) states tracked [default: 1000000].
    #[arg(long, value_name = "N")]
    pub max_channels: Option<usize>,
    /// Motif grammar (TOML) [default: the five dsfb-database motifs].
    #[arg(long, value_name = "FILE")]
    pub grammar: Option<PathBuf>,
    /// Metric namespace [default: dsfb].
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,
    /// Run the HTTP server's threads at this SCHED_FIFO priority, 1-99
    /// (0 = normal priority) [default: 0].
    #[arg(long, value_name = "N")]
    pub scrape_realtime_priority: Option<u32>,
    /// Batches buffered between producers and the engine [default: 64].
    #[arg(long, value_name = "N")]
    pub channel_capacity: Option<usize>,
    /// Log level or RUST_LOG-style filter [default: info]; RUST_LOG, when set, wins.
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Checkpoint file: restored at start when it matches the configuration,
    /// written periodically and at SIGTERM/SIGINT (open episodes then continue
    /// after a restart instead of being closed).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Seconds between checkpoints [default: 60].
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub checkpoint_interval: Option<f64>,
}

/// Longest wall-clock interval accepted, seconds (about 31 years).
pub const MAX_INTERVAL_SECONDS: f64 = 1e9;
/// Shortest period or timeout accepted, seconds.
pub const MIN_INTERVAL_SECONDS: f64 = 0.001;

/// Most batches the producer → engine channel may buffer: its slots are
/// allocated when the daemon starts.
pub const MAX_CHANNEL_CAPACITY: usize = 65_536;

fn bad(key: &str, rule: &str, got: impl std::fmt::Display) -> Failure {
    Failure::new(format!("config: {key} {rule}, got {got}"))
}

fn addr(key: &str, text: &str) -> Result<Option<SocketAddr>, Failure> {
    if text.is_empty() || text == "off" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        bad(
            key,
            "must be an address like 127.0.0.1:9184 (or off)",
            format!("{text:?}"),
        )
    })
}

/// Reads a config file's keys (no merge).
pub fn read_file(path: &Path) -> Result<FileConfig, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
    parse(&text).map_err(|e| Failure::new(format!("{}: {e}", path.display())))
}

/// Parses a config file's text into its keys (no merge, no file system).
pub fn parse(text: &str) -> Result<FileConfig, Failure> {
    toml::from_str(text).map_err(|e| Failure::new(format!("config: {e}")))
}

/// A config file's text over the defaults, validated: what `--config` with no
/// other flag gives.
pub fn from_toml(text: &str) -> Result<Config, Failure> {
    merge(parse(text)?, &RunFlags::default())
}

/// Defaults, then the file, then the flags; validated.
pub fn resolve(flags: &RunFlags) -> Result<Config, Failure> {
    let file = match &flags.config {
        Some(path) => read_file(path)?,
        None => FileConfig::default(),
    };
    merge(file, flags)
}

/// Merges `file` and `flags` over the defaults and validates the result.
pub fn merge(file: FileConfig, flags: &RunFlags) -> Result<Config, Failure> {
    let mut c = Config::default();
    let window_given = flags.window.or(file.window);
    if let Some(v) = window_given {
        c.window = v;
    }
    c.idle_flush = flags.idle_flush.or(file.idle_flush).unwrap_or(c.window);
    if let Some(ttl) = flags.channel_ttl.or(file.channel_ttl) {
        c.channel_ttl = (ttl != 0.0).then_some(ttl);
    }
    if let Some(v) = flags.max_channels.or(file.max_channels) {
        c.max_channels = v;
    }
    c.grammar = flags.grammar.clone().or(file.grammar);
    c.inputs = if flags.inputs.is_empty() {
        file.inputs.unwrap_or_default()
    } else {
        flags.inputs.clone()
    };
    c.follow = flags.follow || file.follow.unwrap_or(false);
    if let Some(f) = flags.input_format.or(file.input_format) {
        c.input_format = f;
    }
    if let Some(a) = flags
        .ingest_listen
        .as_deref()
        .or(file.ingest_listen.as_deref())
    {
        c.ingest_listen = addr("ingest_listen", a)?;
    }
    if let Some(v) = file.max_producers {
        c.max_producers = v;
    }
    c.episodes_out = flags.episodes_out.clone().or(file.episodes_out);
    if let Some(a) = flags
        .metrics_listen
        .as_deref()
        .or(file.metrics_listen.as_deref())
    {
        c.metrics_listen = addr("metrics_listen", a)?;
    }
    c.textfile = flags.textfile.clone().or(file.textfile);
    if let Some(v) = flags.textfile_interval.or(file.textfile_interval) {
        c.textfile_interval = v;
    }
    if let Some(v) = flags.namespace.clone().or(file.namespace) {
        c.namespace = v;
    }
    if let Some(v) = flags
        .scrape_realtime_priority
        .or(file.scrape_realtime_priority)
    {
        c.scrape_realtime_priority = u8::try_from(v)
            .ok()
            .filter(|&p| p <= motifd_exporter::server::priority::MAX_REALTIME_PRIORITY)
            .ok_or_else(|| bad("scrape_realtime_priority", "must be 0 (off) to 99", v))?;
    }
    if let Some(v) = file.max_scrape_connections {
        c.max_scrape_connections = v;
    }
    if let Some(v) = file.scrape_idle_timeout {
        c.scrape_idle_timeout = v;
    }
    if let Some(v) = file.scrape_write_timeout {
        c.scrape_write_timeout = v;
    }
    if let Some(v) = file.scrape_request_timeout {
        c.scrape_request_timeout = v;
    }
    if let Some(v) = flags.channel_capacity.or(file.channel_capacity) {
        c.channel_capacity = v;
    }
    if let Some(v) = file.max_line {
        c.max_line = v;
    }
    if let Some(v) = file.fsync_interval {
        c.fsync_interval = v;
    }
    if let Some(v) = flags.log_level.clone().or(file.log_level) {
        c.log_level = v;
    }
    c.checkpoint = flags.checkpoint.clone().or(file.checkpoint);
    if let Some(v) = flags.checkpoint_interval.or(file.checkpoint_interval) {
        c.checkpoint_interval = v;
    }
    validate(&c)?;
    Ok(c)
}

fn validate(c: &Config) -> Result<(), Failure> {
    let non_negative = [("window", c.window), ("idle_flush", c.idle_flush)];
    for (key, v) in non_negative {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(bad(key, "must be a finite number of seconds >= 0", v));
        }
    }
    // Periods and timeouts: each becomes a `Duration` that a thread waits or
    // a socket times out on.
    let periods = [
        ("textfile_interval", c.textfile_interval),
        ("fsync_interval", c.fsync_interval),
        ("checkpoint_interval", c.checkpoint_interval),
        ("scrape_idle_timeout", c.scrape_idle_timeout),
        ("scrape_write_timeout", c.scrape_write_timeout),
        ("scrape_request_timeout", c.scrape_request_timeout),
    ];
    let positive = [("channel_ttl", c.channel_ttl.unwrap_or(1.0))];
    for (key, v) in positive.into_iter().chain(periods) {
        if !(v > 0.0 && v.is_finite()) {
            return Err(bad(key, "must be a finite number of seconds > 0", v));
        }
    }
    // One that rounds to (nearly) nothing would spin a thread, and a socket
    // refuses a zero timeout.
    for (key, v) in periods {
        if v < MIN_INTERVAL_SECONDS {
            let rule = format!("must be at least {MIN_INTERVAL_SECONDS} seconds");
            return Err(bad(key, &rule, v));
        }
    }
    let counts = [
        ("max_channels", c.max_channels),
        ("max_producers", c.max_producers),
        ("max_scrape_connections", c.max_scrape_connections),
        ("channel_capacity", c.channel_capacity),
        ("max_line", c.max_line),
    ];
    for (key, v) in counts {
        if v == 0 {
            return Err(bad(key, "must be at least 1", v));
        }
    }
    // These become `Duration`s at start, which cannot hold any float.
    let intervals = [("idle_flush", c.idle_flush)];
    for (key, v) in intervals.into_iter().chain(periods) {
        if v > MAX_INTERVAL_SECONDS {
            let rule = format!("must be at most {MAX_INTERVAL_SECONDS:e} seconds");
            return Err(bad(key, &rule, v));
        }
    }
    if c.channel_capacity > MAX_CHANNEL_CAPACITY {
        let rule = format!("must be at most {MAX_CHANNEL_CAPACITY}");
        return Err(bad("channel_capacity", &rule, c.channel_capacity));
    }
    motifd_exporter::Namespace::new(&c.namespace).map_err(|_| {
        bad(
            "namespace",
            "must match [a-zA-Z_][a-zA-Z0-9_]*",
            format!("{:?}", c.namespace),
        )
    })?;
    if c.inputs.iter().filter(|i| *i == "-").count() > 1 {
        return Err(bad(
            "inputs",
            "may name stdin (-) only once",
            format!("{:?}", c.inputs),
        ));
    }
    Ok(())
}

/// Seconds as a `Duration` (validated values only).
pub fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn flags_override_the_file_and_idle_flush_follows_the_window() {
        let f = file("window = 4\nnamespace = \"db\"\nchannel_ttl = 0\n");
        let c = merge(f, &RunFlags::default()).unwrap();
        assert_eq!((c.window, c.idle_flush, c.channel_ttl), (4.0, 4.0, None));
        assert_eq!(c.namespace, "db");
        let flags = RunFlags {
            window: Some(2.0),
            metrics_listen: Some("off".into()),
            ..RunFlags::default()
        };
        let c = merge(file("window = 4"), &flags).unwrap();
        assert_eq!((c.window, c.metrics_listen), (2.0, None));
    }

    #[test]
    fn scrape_realtime_priority_is_off_by_default_and_the_flag_wins() {
        let c = merge(file(""), &RunFlags::default()).unwrap();
        assert_eq!(c.scrape_realtime_priority, 0);
        let c = merge(file("scrape_realtime_priority = 5"), &RunFlags::default()).unwrap();
        assert_eq!(c.scrape_realtime_priority, 5);
        let flags = RunFlags {
            scrape_realtime_priority: Some(99),
            ..RunFlags::default()
        };
        let c = merge(file("scrape_realtime_priority = 5"), &flags).unwrap();
        assert_eq!(c.scrape_realtime_priority, 99);
    }

    #[test]
    fn scrape_limits_come_from_the_file() {
        let c = merge(FileConfig::default(), &RunFlags::default()).unwrap();
        let d = motifd_exporter::ServerConfig::default();
        assert_eq!(c.max_scrape_connections, d.max_connections);
        assert_eq!(secs(c.scrape_idle_timeout), d.idle_timeout);
        assert_eq!(secs(c.scrape_write_timeout), d.write_timeout);
        let c = merge(
            file("max_scrape_connections = 8\nscrape_idle_timeout = 2.5\nscrape_write_timeout = 0.25"),
            &RunFlags::default(),
        )
        .unwrap();
        assert_eq!(c.max_scrape_connections, 8);
        assert_eq!(secs(c.scrape_idle_timeout), Duration::from_millis(2500));
        assert_eq!(secs(c.scrape_write_timeout), Duration::from_millis(250));
    }

    #[test]
    fn scrape_request_timeout_comes_from_the_file() {
        let c = merge(FileConfig::default(), &RunFlags::default()).unwrap();
        let d = motifd_exporter::ServerConfig::default();
        assert_eq!(secs(c.scrape_request_timeout), d.request_timeout);
        let c = merge(file("scrape_request_timeout = 0.75"), &RunFlags::default()).unwrap();
        assert_eq!(secs(c.scrape_request_timeout), Duration::from_millis(750));
        assert!(merge(file("scrape_request_timeout = 0"), &RunFlags::default()).is_err());
    }

    #[test]
    fn periods_and_timeouts_below_a_millisecond_are_refused() {
        for key in [
            "textfile_interval",
            "fsync_interval",
            "checkpoint_interval",
            "scrape_idle_timeout",
            "scrape_write_timeout",
        ] {
            let err = merge(file(&format!("{key} = 1e-12")), &RunFlags::default())
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!("config: {key} must be at least 0.001 seconds, got 0.000000000001"),
            );
            assert!(merge(file(&format!("{key} = 0.001")), &RunFlags::default()).is_ok());
        }
        let err = merge(file("max_scrape_connections = 0"), &RunFlags::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "config: max_scrape_connections must be at least 1, got 0"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let err = |text: &str| {
            merge(file(text), &RunFlags::default())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("window = -1"),
            "config: window must be a finite number of seconds >= 0, got -1"
        );
        assert!(err("ingest_listen = \"nowhere\"")
            .starts_with("config: ingest_listen must be an address"));
        assert!(err("namespace = \"9x\"").starts_with("config: namespace must match"));
        assert!(
            err("channel_capacity = 0").starts_with("config: channel_capacity must be at least 1")
        );
        assert_eq!(
            err("scrape_realtime_priority = 100"),
            "config: scrape_realtime_priority must be 0 (off) to 99, got 100"
        );
        let unknown = toml::from_str::<FileConfig>("windw = 3")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown field `windw`"), "{unknown}");
    }
}
