//! `motifd run` configuration: built-in defaults, a TOML file (`--config`) and
//! command-line flags, each layer overriding the one before, key by key.
//!
//! Every key is declared once, in the [`settings!`] table below: its doc, its
//! flag (or `skip` for a file-only key), its type as written, its type and
//! default once resolved, and the rule that checks and converts a given value.
//! That one row makes the file key, the flag, the layering and the resolved
//! field. docs/configuration.md lists every key; a test keeps the two equal.

use crate::error::Failure;
pub use crate::line_ingest::LineFormat;
use crate::settings_rules as rule;
use motifd_engine::reorder::DEFAULT_WINDOW;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use rule::{MAX_CHANNEL_CAPACITY, MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS};

/// Declares every setting: `Settings` (one layer: every key optional, read
/// from TOML or from flags), `Config` (resolved: defaults filled in, values
/// checked and converted) and the layering between them.
///
/// A row: docs, `[clap attributes]` (`[skip]` for a file-only key), then
/// `name: WrittenType => ResolvedType = default, via rule;` where
/// `rule(written) -> Result<ResolvedType, reason>` (`crate::settings_rules`)
/// checks a value a layer gives.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        [$($arg:tt)*]
        $name:ident : $raw:ty => $ty:ty = $default:expr, via $rule:path;
    )*) => {
        /// One layer of settings (the config file, or the flags): each key
        /// is `None` where the layer does not set it.
        #[derive(Debug, Default, Clone, Deserialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            /// Configuration file (TOML); flags override its keys.
            #[arg(long, value_name = "FILE")]
            #[serde(skip)]
            pub config: Option<PathBuf>,
            $(
                $(#[doc = $doc])*
                #[arg($($arg)*)]
                pub $name: Option<$raw>,
            )*
        }

        /// The daemon's settings after defaults, file and flags are merged.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Config {
            $(
                $(#[doc = $doc])*
                pub $name: $ty,
            )*
        }

        impl Default for Config {
            fn default() -> Self {
                Self { $($name: $default,)* }
            }
        }

        impl Settings {
            /// `self` over `lower`: each key from `self` where it is set.
            #[must_use]
            pub fn over(self, lower: Settings) -> Settings {
                Settings {
                    config: self.config.or(lower.config),
                    $($name: self.$name.or(lower.$name),)*
                }
            }

            /// Checks every key this layer sets and fills the rest with the
            /// defaults.
            fn resolve_keys(self) -> Result<Config, Failure> {
                let defaults = Config::default();
                Ok(Config {
                    $($name: match self.$name {
                        Some(v) => $rule(v).map_err(|why| bad(stringify!($name), &why))?,
                        None => defaults.$name,
                    },)*
                })
            }
        }

        /// Every TOML key, in declaration order.
        pub const KEYS: &[&str] = &[$(stringify!($name)),*];
    };
}

settings! {
    /// Reorder window in seconds [default: 10].
    [long, value_name = "SECONDS", allow_negative_numbers = true]
    window: f64 => f64 = DEFAULT_WINDOW, via rule::non_negative_seconds;

    /// Flush the reorder buffer after this many wall-clock seconds without a
    /// sample [default: the window].
    [long, value_name = "SECONDS", allow_negative_numbers = true]
    idle_flush: f64 => f64 = DEFAULT_WINDOW, via rule::wait_seconds;

    /// A sample more than this many event-time seconds ahead of the newest
    /// one is held until the stream confirms the jump, else rejected as
    /// `future_time` [default: 3600].
    [long, value_name = "SECONDS", allow_negative_numbers = true]
    max_future_jump: f64 => f64 = motifd_engine::future::DEFAULT_MAX_FUTURE_JUMP,
        via rule::positive_seconds;

    /// A sample more than this many seconds ahead of the wall clock is
    /// rejected as `future_time` (0 = no check) [default: 86400].
    [long, value_name = "SECONDS", allow_negative_numbers = true]
    max_ahead_of_clock: f64 => Option<f64> = Some(86_400.0), via rule::ttl_or_off;

    /// Most samples staged in the reorder buffer; beyond, the oldest is
    /// released early and counted.
    [skip]
    max_staged: usize => usize = motifd_engine::reorder::DEFAULT_MAX_STAGED, via rule::at_least_one;

    /// Evict channels idle this many event-time seconds (0 = never) [default: 3600].
    [long, value_name = "SECONDS", allow_negative_numbers = true]
    channel_ttl: f64 => Option<f64> = Some(3600.0), via rule::ttl_or_off;

    /// Most (motif, channel) states tracked [default: 1000000].
    [long, value_name = "N"]
    max_channels: usize => usize = 1_000_000, via rule::at_least_one;

    /// Motif grammar (TOML) [default: the five dsfb-database motifs].
    [long, value_name = "FILE"]
    grammar: PathBuf => Option<PathBuf> = None, via rule::given;

    /// Input file to read (repeatable; `-` = stdin). Given on the command
    /// line, the flags replace the file's whole list.
    [long = "input", value_name = "FILE"]
    inputs: Vec<String> => Vec<String> = Vec::new(), via rule::inputs;

    /// Keep reading input files as lines are appended (`--follow=false`
    /// turns off `follow = true` from the file).
    [long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true"]
    follow: bool => bool = false, via rule::any;

    /// Line format of every source [default: auto].
    [long, value_name = "FORMAT"]
    input_format: LineFormat => LineFormat = LineFormat::Auto, via rule::any;

    /// Accept producers on this TCP address (one record per line; `off` = no
    /// listener) [default: off].
    [long, value_name = "ADDR"]
    ingest_listen: String => Option<SocketAddr> = None, via rule::listen_address;

    /// Poll this PostgreSQL database, read-only (libpq URL or key=value
    /// string; repeatable; docs/sources.md). The file takes `[[postgres]]`
    /// tables; given on the command line, the flags replace the file's list.
    [long = "postgres", value_name = "URL"]
    postgres: Vec<crate::postgres::config::Entry> => Vec<crate::postgres::config::Entry> = Vec::new(),
        via rule::any;

    /// Seconds between polls of each PostgreSQL source that sets none [default: 1].
    [long, value_name = "SECONDS"]
    postgres_interval: f64 => Option<f64> = None, via rule::given;

    /// Residual formulas of each PostgreSQL source that sets none
    /// [default: improved].
    [long, value_name = "MODE"]
    postgres_residuals: crate::postgres::residuals::Mode => Option<crate::postgres::residuals::Mode> = None,
        via rule::given;

    /// Record the raw snapshots of each PostgreSQL source that sets no tape of
    /// its own here (`{name}` is replaced by the source's name; required with
    /// several sources).
    [long, value_name = "FILE"]
    postgres_tape: PathBuf => Option<PathBuf> = None, via rule::given;

    /// Most TCP producers connected at once.
    [skip]
    max_producers: usize => usize = 256, via rule::at_least_one;

    /// Seconds a TCP producer may send nothing before it is disconnected.
    [skip]
    ingest_idle_timeout: f64 => f64 = 300.0, via rule::period_seconds;

    /// Append closed episodes to this file (JSON lines; `-` = stdout).
    [long, value_name = "FILE"]
    episodes_out: PathBuf => Option<PathBuf> = None, via rule::given;

    /// Serve /metrics on this address (`off` = no HTTP server) [default: 127.0.0.1:9184].
    [long, value_name = "ADDR"]
    metrics_listen: String => Option<SocketAddr> = Some(SocketAddr::from(([127, 0, 0, 1], 9184))),
        via rule::listen_address;

    /// Write the metrics to this node_exporter textfile (.prom).
    [long, value_name = "FILE"]
    textfile: PathBuf => Option<PathBuf> = None, via rule::given;

    /// Seconds between textfile writes [default: 15].
    [long, value_name = "SECONDS"]
    textfile_interval: f64 => f64 = 15.0, via rule::period_seconds;

    /// Metric namespace [default: dsfb].
    [long, value_name = "NAME"]
    namespace: String => String = "dsfb".into(), via rule::namespace;

    /// Run the HTTP server's threads at this SCHED_FIFO priority, 1-99
    /// (0 = normal priority) [default: 0].
    [long, value_name = "N"]
    scrape_realtime_priority: u32 => u8 = 0, via rule::realtime_priority;

    /// Most scrape connections open at once (more get 503).
    [skip]
    max_scrape_connections: usize => usize = 128, via rule::at_least_one;

    /// Seconds a scrape connection may stay silent before it is closed.
    [skip]
    scrape_idle_timeout: f64 => f64 = 30.0, via rule::period_seconds;

    /// Seconds a response write may make no progress before the connection
    /// is closed.
    [skip]
    scrape_write_timeout: f64 => f64 = 10.0, via rule::period_seconds;

    /// Seconds a scrape request head may take to arrive whole (408 beyond).
    [skip]
    scrape_request_timeout: f64 => f64 = 5.0, via rule::period_seconds;

    /// Batches buffered between producers and the engine [default: 64].
    [long, value_name = "N"]
    channel_capacity: usize => usize = 64, via rule::channel_capacity;

    /// Longest accepted line, bytes.
    [skip]
    max_line: usize => usize = 1 << 20, via rule::at_least_one;

    /// Seconds between episode-log fsyncs.
    [skip]
    fsync_interval: f64 => f64 = 1.0, via rule::period_seconds;

    /// Closed (and, separately, open) episodes the live page at `/` lists;
    /// 0: no live page.
    [skip]
    live_episodes: usize => usize = 100, via rule::live_episodes;

    /// Log level or RUST_LOG-style filter [default: info]; RUST_LOG, when set, wins.
    [long, value_name = "FILTER"]
    log_level: String => String = "info".into(), via rule::any;

    /// Checkpoint file: restored at start when it matches the configuration,
    /// written periodically and at SIGTERM/SIGINT (open episodes then continue
    /// after a restart instead of being closed).
    [long, value_name = "FILE"]
    checkpoint: PathBuf => Option<PathBuf> = None, via rule::given;

    /// Seconds between checkpoints [default: 60].
    [long, value_name = "SECONDS", allow_negative_numbers = true]
    checkpoint_interval: f64 => f64 = 60.0, via rule::period_seconds;

    /// Kafka bootstrap brokers: with a topic and a group, join the group as
    /// a source (built with the `kafka` feature) [default: off].
    [long, value_name = "HOST:PORT,..."]
    kafka_brokers: String => Option<String> = None, via rule::given;

    /// Kafka topic of residual lines to consume.
    [long, value_name = "TOPIC"]
    kafka_topic: String => Option<String> = None, via rule::given;

    /// Kafka consumer group the instances share.
    [long, value_name = "GROUP"]
    kafka_group: String => Option<String> = None, via rule::given;

    /// Compacted topic holding each partition's state [default: TOPIC.motifd-state].
    [long, value_name = "TOPIC"]
    kafka_state_topic: String => Option<String> = None, via rule::given;

    /// Topic to publish closed episodes to [default: off].
    [long, value_name = "TOPIC"]
    kafka_episodes_topic: String => Option<String> = None, via rule::given;

    /// Seconds between state checkpoints of the assigned partitions [default: 10].
    [long, value_name = "SECONDS", allow_negative_numbers = true]
    kafka_state_interval: f64 => f64 = 10.0, via rule::period_seconds;

    /// A librdkafka property for every Kafka client, KEY=VALUE (repeatable).
    [long = "kafka-property", value_name = "KEY=VALUE"]
    kafka_properties: Vec<String> => Vec<(String, String)> = Vec::new(), via rule::key_values;
}

impl Config {
    /// The engine's settings.
    pub fn pipeline(&self) -> motifd_engine::PipelineConfig {
        motifd_engine::PipelineConfig {
            window: self.window,
            max_future_jump: self.max_future_jump,
            max_staged: self.max_staged,
            limits: motifd_engine::EngineLimits {
                channel_ttl: self.channel_ttl,
                max_channels: self.max_channels,
            },
        }
    }
}

/// The flags of `motifd run`: one layer of [`Settings`].
pub type RunFlags = Settings;

impl Settings {
    /// Resolves this layer over the defaults: checks every key it sets.
    ///
    /// # Errors
    /// The first key whose value breaks its rule, named in the message.
    pub fn resolve(self) -> Result<Config, Failure> {
        let idle_flush_given = self.idle_flush.is_some();
        let mut c = self.resolve_keys()?;
        // The one key whose default is another key's value, checked as if
        // given, since it becomes a `Duration` too.
        if !idle_flush_given {
            c.idle_flush = rule::wait_seconds(c.window).map_err(|why| bad("idle_flush", &why))?;
        }
        // Checked now, so a bad source stops the daemon before it starts.
        c.postgres_sources()?;
        Ok(c)
    }
}

/// `config: KEY REASON`.
fn bad(key: &str, why: &str) -> Failure {
    Failure::new(format!("config: {key} {why}"))
}

/// Reads a config file's keys (no merge).
pub fn read_file(path: &Path) -> Result<Settings, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
    parse(&text).map_err(|e| Failure::new(format!("{}: {e}", path.display())))
}

/// Parses a config file's text into its keys (no merge, no file system). The
/// message gives the line and column of an error but never the line itself:
/// `--config` may name any file, and its contents are not for the log.
pub fn parse(text: &str) -> Result<Settings, Failure> {
    toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end();
        let Some(span) = e.span() else {
            return Failure::new(format!("config: {message}"));
        };
        let (line, column) = rule::line_and_column(text, span.start);
        match key_on_line(text, line) {
            Some(key) => Failure::new(format!(
                "config: line {line}, column {column}: {key}: {message}"
            )),
            None => Failure::new(format!("config: line {line}, column {column}: {message}")),
        }
    })
}

/// The key set on line `line` of `text`, if it is one of ours (so naming it
/// shows nothing of a file that is not a config file).
fn key_on_line(text: &str, line: usize) -> Option<&'static str> {
    let (key, _) = text.lines().nth(line - 1)?.split_once('=')?;
    KEYS.iter().copied().find(|k| *k == key.trim())
}

/// A config file's text over the defaults, validated: what `--config` with no
/// other flag gives.
pub fn from_toml(text: &str) -> Result<Config, Failure> {
    parse(text)?.resolve()
}

/// Defaults, then the file named by `--config`, then the flags; validated.
pub fn resolve(flags: &RunFlags) -> Result<Config, Failure> {
    let file = match &flags.config {
        Some(path) => read_file(path)?,
        None => Settings::default(),
    };
    flags.clone().over(file).resolve()
}

/// Merges `file` and `flags` over the defaults and validates the result.
pub fn merge(file: Settings, flags: &RunFlags) -> Result<Config, Failure> {
    flags.clone().over(file).resolve()
}

/// Seconds as a `Duration` (validated values only).
pub fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Settings {
        parse(text).unwrap()
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
        assert_eq!((c.window, c.idle_flush, c.metrics_listen), (2.0, 2.0, None));
    }

    #[test]
    fn nothing_given_is_the_defaults() {
        assert_eq!(Settings::default().resolve().unwrap(), Config::default());
    }

    #[test]
    fn every_key_is_documented() {
        let doc = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
        )
        .unwrap();
        for key in KEYS {
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "docs/configuration.md has no row for `{key}`"
            );
        }
    }

    #[test]
    fn flags_parse_into_the_same_settings_as_the_file() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            settings: Settings,
        }
        let flags = Cli::try_parse_from([
            "motifd",
            "--window",
            "4",
            "--input",
            "a",
            "--input",
            "-",
            "--follow",
            "--metrics-listen",
            "off",
        ])
        .unwrap()
        .settings;
        let from_file =
            file("window = 4\ninputs = [\"a\", \"-\"]\nfollow = true\nmetrics_listen = \"off\"");
        assert_eq!(flags.resolve().unwrap(), from_file.resolve().unwrap());
        let off = Cli::try_parse_from(["motifd", "--follow=false"])
            .unwrap()
            .settings;
        let c = off.over(file("follow = true")).resolve().unwrap();
        assert!(!c.follow, "--follow=false wins over the file");
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
        let c = merge(Settings::default(), &RunFlags::default()).unwrap();
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
        let c = merge(Settings::default(), &RunFlags::default()).unwrap();
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
            "scrape_request_timeout",
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
        let unknown = parse("windw = 3").unwrap_err().to_string();
        assert!(unknown.contains("unknown field `windw`"), "{unknown}");
    }

    #[test]
    fn a_parse_error_names_the_place_but_never_shows_the_line() {
        let secret = "root:x:0:0:root:/root:/bin/bash\n";
        let err = parse(secret).unwrap_err().to_string();
        assert!(err.starts_with("config: line 1, column "), "{err}");
        assert!(!err.contains("root"), "the file's line leaked: {err}");
        let err = parse("window = 1\nwindw = 3\n").unwrap_err().to_string();
        assert!(err.starts_with("config: line 2, column 1: "), "{err}");
        let err = parse("idle_flush = \"soon\"").unwrap_err().to_string();
        assert!(
            err.starts_with("config: line 1, column 14: idle_flush: invalid type"),
            "{err}"
        );
    }
}
