//! Settings of the live PostgreSQL sources: the `[[postgres]]` tables of the
//! config file and the `--postgres*` flags (docs/configuration.md).

use super::residuals::Mode;
use super::target::{Credentials, Target};
use crate::error::Failure;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One source, validated.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// Prefixes its channels (`<name>/…`) and labels its metrics.
    pub name: String,
    /// libpq URL or `key=value` string. Never shown: see [`Target`]'s
    /// redacted form.
    pub url: String,
    /// A file holding the password.
    pub password_file: Option<PathBuf>,
    /// Interval between polls when the database answers quickly.
    pub interval: Duration,
    /// Longest interval the back-off reaches.
    pub max_interval: Duration,
    /// Back off while the median poll takes longer than this.
    pub slow_poll: Duration,
    /// Back off while the source's thread uses more than this share of a CPU.
    pub cpu_share: f64,
    /// `statement_timeout` of the session.
    pub statement_timeout: Duration,
    /// Residual formulas.
    pub residuals: Mode,
    /// Where to record the raw snapshots (None: no tape).
    pub tape: Option<PathBuf>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("name", &self.name)
            .field("url", &"(redacted)")
            .field("interval", &self.interval)
            .field("residuals", &self.residuals)
            .field("tape", &self.tape)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The parsed target (reads the password file).
    ///
    /// # Errors
    /// What is wrong with the URL or the password file.
    pub fn target(&self) -> Result<Target, String> {
        Target::parse(
            &self.url,
            &Credentials {
                password_file: self.password_file.clone(),
            },
        )
    }
}

/// A `[[postgres]]` table: every key but `url` optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    name: Option<String>,
    url: String,
    password_file: Option<PathBuf>,
    interval: Option<f64>,
    max_interval: Option<f64>,
    slow_poll: Option<f64>,
    cpu_share: Option<f64>,
    statement_timeout: Option<f64>,
    residuals: Option<Mode>,
    tape: Option<PathBuf>,
}

/// The `--postgres*` flags. Their `Debug` form hides the URLs (they may
/// hold passwords).
#[derive(Default, Clone, clap::Args)]
pub struct Flags {
    /// Poll this PostgreSQL database (libpq URL or key=value string;
    /// repeatable). Its channels are prefixed with its database name.
    #[arg(long = "postgres", value_name = "URL")]
    pub postgres: Vec<String>,
    /// Seconds between polls of every --postgres source [default: 1].
    #[arg(long, value_name = "SECONDS")]
    pub postgres_interval: Option<f64>,
    /// Residual formulas of every --postgres source [default: improved].
    #[arg(long, value_name = "MODE")]
    pub postgres_residuals: Option<Mode>,
    /// Record each --postgres source's raw snapshots here (`{name}` is
    /// replaced by the source's name; required with several sources).
    #[arg(long, value_name = "FILE")]
    pub postgres_tape: Option<PathBuf>,
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flags")
            .field(
                "postgres",
                &format!("({} URLs, redacted)", self.postgres.len()),
            )
            .field("postgres_interval", &self.postgres_interval)
            .field("postgres_residuals", &self.postgres_residuals)
            .field("postgres_tape", &self.postgres_tape)
            .finish()
    }
}

const DEFAULT_INTERVAL: f64 = 1.0;
const DEFAULT_MAX_INTERVAL: f64 = 60.0;
const DEFAULT_SLOW_POLL: f64 = 0.5;
const DEFAULT_CPU_SHARE: f64 = 0.10;
const DEFAULT_STATEMENT_TIMEOUT: f64 = 0.5;

fn bad(name: &str, key: &str, rule: &str, got: impl fmt::Display) -> Failure {
    Failure::new(format!(
        "config: postgres {name:?}: {key} {rule}, got {got}"
    ))
}

/// The sources of the file and the flags (the flags' sources come after the
/// file's), validated.
///
/// # Errors
/// The first invalid setting, naming the source and the key.
pub fn merge(file: Option<Vec<FileEntry>>, flags: &Flags) -> Result<Vec<Settings>, Failure> {
    let mut out = Vec::new();
    for entry in file.unwrap_or_default() {
        out.push(entry_settings(entry, flags)?);
    }
    let several = flags.postgres.len() > 1;
    for url in &flags.postgres {
        let entry = FileEntry {
            url: url.clone(),
            ..FileEntry::default()
        };
        let mut s = entry_settings(entry, flags)?;
        if let Some(pattern) = &flags.postgres_tape {
            let text = pattern.to_string_lossy();
            if several && !text.contains("{name}") {
                return Err(Failure::new(
                    "config: --postgres-tape must contain {name} when --postgres is given more than once",
                ));
            }
            s.tape = Some(PathBuf::from(text.replace("{name}", &s.name)));
        }
        out.push(s);
    }
    for (i, s) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.name == s.name) {
            return Err(Failure::new(format!(
                "config: two PostgreSQL sources are named {:?}; give each a name (name = \"…\" in a [[postgres]] table)",
                s.name
            )));
        }
        if let Some(tape) = &s.tape {
            if out[..i].iter().any(|o| o.tape.as_ref() == Some(tape)) {
                return Err(bad(
                    &s.name,
                    "tape",
                    "must differ between sources",
                    tape.display(),
                ));
            }
            let dir = tape.parent().filter(|d| !d.as_os_str().is_empty());
            if dir.is_some_and(|d| !d.is_dir()) {
                let rule = "must be in an existing directory";
                return Err(bad(&s.name, "tape", rule, tape.display()));
            }
        }
    }
    Ok(out)
}

fn entry_settings(e: FileEntry, flags: &Flags) -> Result<Settings, Failure> {
    let probe = Target::parse(
        &e.url,
        &Credentials {
            password_file: e.password_file.clone(),
        },
    );
    let target = probe.map_err(|why| {
        let name = e.name.as_deref().unwrap_or("(unnamed)");
        Failure::new(format!("config: postgres {name:?}: {why}"))
    })?;
    let name = e.name.unwrap_or_else(|| target.dbname().to_owned());
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(bad(
            &name,
            "name",
            "must be letters, digits, '_', '-' or '.'",
            format!("{name:?}"),
        ));
    }
    let secs = |key: &str, v: Option<f64>, default: f64| -> Result<Duration, Failure> {
        let v = v.unwrap_or(default);
        if !(v.is_finite() && (0.001..=86_400.0).contains(&v)) {
            return Err(bad(
                &name,
                key,
                "must be between 0.001 and 86400 seconds",
                v,
            ));
        }
        Ok(Duration::from_secs_f64(v))
    };
    let interval = secs(
        "interval",
        flags.postgres_interval.or(e.interval),
        DEFAULT_INTERVAL,
    )?;
    let max_interval = secs(
        "max_interval",
        e.max_interval,
        DEFAULT_MAX_INTERVAL.max(interval.as_secs_f64()),
    )?;
    if max_interval < interval {
        return Err(bad(
            &name,
            "max_interval",
            "must be at least the interval",
            max_interval.as_secs_f64(),
        ));
    }
    let cpu_share = e.cpu_share.unwrap_or(DEFAULT_CPU_SHARE);
    if !(cpu_share > 0.0 && cpu_share <= 1.0) {
        return Err(bad(&name, "cpu_share", "must be in (0, 1]", cpu_share));
    }
    Ok(Settings {
        url: e.url,
        password_file: e.password_file,
        interval,
        max_interval,
        slow_poll: secs("slow_poll", e.slow_poll, DEFAULT_SLOW_POLL)?,
        cpu_share,
        statement_timeout: secs(
            "statement_timeout",
            e.statement_timeout,
            DEFAULT_STATEMENT_TIMEOUT,
        )?,
        residuals: flags.postgres_residuals.or(e.residuals).unwrap_or_default(),
        tape: e.tape,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Option<Vec<FileEntry>> {
        #[derive(Deserialize)]
        struct F {
            postgres: Option<Vec<FileEntry>>,
        }
        toml::from_str::<F>(text).unwrap().postgres
    }

    #[test]
    fn names_default_to_the_database_and_must_be_unique() {
        let flags = Flags {
            postgres: vec![
                "postgres://w:pw@h/orders".into(),
                "host=h2 user=w dbname=billing".into(),
            ],
            postgres_tape: Some("/tmp/{name}.jsonl".into()),
            ..Flags::default()
        };
        let s = merge(None, &flags).unwrap();
        assert_eq!(s[0].name, "orders");
        assert_eq!(
            s[1].tape.as_deref(),
            Some(std::path::Path::new("/tmp/billing.jsonl"))
        );
        assert_eq!(s[0].interval, Duration::from_secs(1));
        assert_eq!(s[0].residuals, Mode::Improved);
        assert!(!format!("{:?}", s[0]).contains("pw"));
        assert!(!format!("{flags:?}").contains("pw"), "{flags:?}");
        let twice = Flags {
            postgres: vec!["postgres://w@a/db".into(), "postgres://w@b/db".into()],
            ..Flags::default()
        };
        let err = merge(None, &twice).unwrap_err().to_string();
        assert!(
            err.contains("two PostgreSQL sources are named \"db\""),
            "{err}"
        );
    }

    #[test]
    fn file_tables_are_validated_by_key() {
        let s = merge(
            file("[[postgres]]\nname = \"main\"\nurl = \"postgres://w@h/db\"\ninterval = 0.1\nresiduals = \"reference\"\ntape = \"/tmp/t\"\n"),
            &Flags::default(),
        )
        .unwrap();
        assert_eq!(s[0].name, "main");
        assert_eq!(s[0].interval, Duration::from_millis(100));
        assert_eq!(s[0].residuals, Mode::Reference);
        let err = |text: &str| {
            merge(file(text), &Flags::default())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("[[postgres]]\nname = \"m\"\nurl = \"postgres://w@h/db\"\ninterval = 0\n"),
            "config: postgres \"m\": interval must be between 0.001 and 86400 seconds, got 0"
        );
        assert!(
            err("[[postgres]]\nname = \"a b\"\nurl = \"postgres://w@h/db\"\n")
                .contains("name must be")
        );
        assert!(
            err("[[postgres]]\nurl = \"postgres://w@h/db\"\ntape = \"/no/such/dir/t\"\n")
                .contains("tape must be in an existing directory")
        );
        assert!(
            err("[[postgres]]\nurl = \"postgres://w:topsecret@h/db?sslmode=maybe\"\n")
                .contains("sslmode must be")
        );
        assert!(
            !err("[[postgres]]\nurl = \"postgres://w:topsecret@h/db?sslmode=maybe\"\n")
                .contains("topsecret")
        );
    }
}
