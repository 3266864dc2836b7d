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

/// One source as a layer of the configuration gives it: a `[[postgres]]`
/// table of the config file (every key but `url` optional), a string in a
/// `postgres = […]` list, or a `--postgres URL` flag. Its `Debug` form hides
/// the URL.
#[derive(Clone, Default, PartialEq)]
pub struct Entry(Table);

/// The keys of a `[[postgres]]` table.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
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

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.0.name)
            .field("url", &"(redacted)")
            .finish_non_exhaustive()
    }
}

/// `--postgres URL`.
impl std::str::FromStr for Entry {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        Ok(Self(Table {
            url: url.to_owned(),
            ..Table::default()
        }))
    }
}

/// A table, or just the URL (with the table's own error messages).
impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Form;
        impl<'de> serde::de::Visitor<'de> for Form {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a connection URL or a table with at least `url`")
            }
            fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<Entry, E> {
                url.parse().map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                let table = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Entry(table))
            }
        }
        d.deserialize_any(Form)
    }
}

/// What applies to every source that does not set its own (the
/// `postgres_interval`, `postgres_residuals` and `postgres_tape` keys).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shared<'a> {
    /// Poll interval, seconds.
    pub interval: Option<f64>,
    /// Residual mode.
    pub residuals: Option<Mode>,
    /// Tape path; `{name}` is replaced by the source's name.
    pub tape: Option<&'a std::path::Path>,
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

/// The sources `entries` describe, validated, with `shared` filling what an
/// entry leaves out.
///
/// # Errors
/// The first invalid setting, naming the source and the key (never the URL).
pub fn sources(entries: &[Entry], shared: Shared<'_>) -> Result<Vec<Settings>, Failure> {
    if let Some(pattern) = shared.tape {
        let without_own = entries.iter().filter(|e| e.0.tape.is_none()).count();
        if without_own > 1 && !pattern.to_string_lossy().contains("{name}") {
            return Err(Failure::new(
                "config: postgres_tape must contain {name} when several PostgreSQL sources use it",
            ));
        }
    }
    let mut out: Vec<Settings> = Vec::with_capacity(entries.len());
    for entry in entries {
        let s = entry_settings(entry.0.clone(), shared)?;
        if out.iter().any(|o| o.name == s.name) {
            return Err(Failure::new(format!(
                "config: two PostgreSQL sources are named {:?}; give each a name (name = \"…\" in a [[postgres]] table)",
                s.name
            )));
        }
        if let Some(tape) = &s.tape {
            if out.iter().any(|o| o.tape.as_ref() == Some(tape)) {
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
        out.push(s);
    }
    Ok(out)
}

impl crate::daemon::config::Config {
    /// The PostgreSQL sources this configuration names.
    ///
    /// # Errors
    /// As [`sources`].
    pub fn postgres_sources(&self) -> Result<Vec<Settings>, Failure> {
        let shared = Shared {
            interval: self.postgres_interval,
            residuals: self.postgres_residuals,
            tape: self.postgres_tape.as_deref(),
        };
        sources(&self.postgres, shared)
    }
}

fn entry_settings(e: Table, shared: Shared<'_>) -> Result<Settings, Failure> {
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
        let rule = "must be letters, digits, '_', '-' or '.'";
        return Err(bad(&name, "name", rule, format!("{name:?}")));
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
    let interval = secs("interval", e.interval.or(shared.interval), DEFAULT_INTERVAL)?;
    let max_default = DEFAULT_MAX_INTERVAL.max(interval.as_secs_f64());
    let max_interval = secs("max_interval", e.max_interval, max_default)?;
    if max_interval < interval {
        let got = max_interval.as_secs_f64();
        return Err(bad(
            &name,
            "max_interval",
            "must be at least the interval",
            got,
        ));
    }
    let cpu_share = e.cpu_share.unwrap_or(DEFAULT_CPU_SHARE);
    if !(cpu_share > 0.0 && cpu_share <= 1.0) {
        return Err(bad(&name, "cpu_share", "must be in (0, 1]", cpu_share));
    }
    let tape = e.tape.or_else(|| {
        let pattern = shared.tape?.to_string_lossy().replace("{name}", &name);
        Some(PathBuf::from(pattern))
    });
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
        residuals: e.residuals.or(shared.residuals).unwrap_or_default(),
        tape,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<Entry> {
        #[derive(Deserialize)]
        struct F {
            postgres: Vec<Entry>,
        }
        toml::from_str::<F>(text).unwrap().postgres
    }

    fn urls(list: &[&str]) -> Vec<Entry> {
        list.iter().map(|u| u.parse().unwrap()).collect()
    }

    #[test]
    fn names_default_to_the_database_and_must_be_unique() {
        let list = urls(&["postgres://w:pw@h/orders", "host=h2 user=w dbname=billing"]);
        let shared = Shared {
            tape: Some(std::path::Path::new("/tmp/{name}.jsonl")),
            ..Shared::default()
        };
        let s = sources(&list, shared).unwrap();
        assert_eq!(s[0].name, "orders");
        assert_eq!(
            s[1].tape.as_deref(),
            Some(std::path::Path::new("/tmp/billing.jsonl"))
        );
        assert_eq!(s[0].interval, Duration::from_secs(1));
        assert_eq!(s[0].residuals, Mode::Improved);
        assert!(!format!("{:?}", s[0]).contains("pw"));
        assert!(!format!("{list:?}").contains("pw"), "{list:?}");
        let twice = urls(&["postgres://w@a/db", "postgres://w@b/db"]);
        let err = sources(&twice, Shared::default()).unwrap_err().to_string();
        assert!(
            err.contains("two PostgreSQL sources are named \"db\""),
            "{err}"
        );
        let shared = Shared {
            tape: Some(std::path::Path::new("/tmp/t.jsonl")),
            ..Shared::default()
        };
        let err = sources(&list, shared).unwrap_err().to_string();
        assert!(err.contains("must contain {name}"), "{err}");
    }

    #[test]
    fn tables_and_strings_are_validated_by_key() {
        let list = entries(
            "postgres = [\"postgres://w@h/other\", { name = \"main\", url = \"postgres://w@h/db\", interval = 0.1, residuals = \"reference\", tape = \"/tmp/t\" }]\n",
        );
        let shared = Shared {
            interval: Some(5.0),
            ..Shared::default()
        };
        let s = sources(&list, shared).unwrap();
        assert_eq!(
            (s[0].name.as_str(), s[0].interval),
            ("other", Duration::from_secs(5))
        );
        assert_eq!(s[1].name, "main");
        assert_eq!(s[1].interval, Duration::from_millis(100));
        assert_eq!(s[1].residuals, Mode::Reference);
        let err = |text: &str| {
            sources(&entries(text), Shared::default())
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
        let secret = "[[postgres]]\nurl = \"postgres://w:topsecret@h/db?sslmode=maybe\"\n";
        assert!(err(secret).contains("sslmode must be") && !err(secret).contains("topsecret"));
    }
}
