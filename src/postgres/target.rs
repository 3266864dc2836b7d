//! What to connect to: a libpq-style URL or `key=value` string, with the
//! parameters the Rust client does not know (`sslmode=verify-ca|verify-full`,
//! `sslrootcert`, `passfile`) taken out and handled here, the password found
//! (URL, `password_file`, `PGPASSFILE` / `~/.pgpass`), and a redacted form for
//! everything that is shown.

use super::pgpass;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// TLS, as libpq's `sslmode` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, certificate not checked (libpq's default).
    Prefer,
    /// TLS required, certificate not checked.
    Require,
    /// TLS required, certificate chain checked against the roots.
    VerifyCa,
    /// TLS required, chain and host name checked.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A parsed connection target. Its `Display` never shows the password.
#[derive(Clone)]
pub struct Target {
    /// Everything the client understands itself (password included).
    pub config: postgres::Config,
    /// TLS mode.
    pub ssl_mode: SslMode,
    /// CA certificates (PEM) to verify the server with; `None`: the
    /// system's store.
    pub root_cert: Option<PathBuf>,
    /// Where the password came from, for the log.
    pub password_source: &'static str,
    /// The password, kept to scrub it from any message shown.
    secret: Option<String>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// Connection settings the caller adds to what the URL says.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// A file holding the password (its first line).
    pub password_file: Option<PathBuf>,
}

impl Target {
    /// Parses `url` and finds the password.
    ///
    /// # Errors
    /// A message naming what is wrong; it never repeats the URL.
    pub fn parse(url: &str, credentials: &Credentials) -> Result<Self, String> {
        let mut extra = Extracted::default();
        let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            strip_url_params(url, &mut extra)?
        } else {
            strip_keyword_params(url, &mut extra)?
        };
        let mut config =
            postgres::Config::from_str(&rest).map_err(|e| format!("connection string: {e}"))?;
        let ssl_mode = match extra.sslmode.as_deref() {
            None => SslMode::Prefer,
            Some(text) => SslMode::parse(text).ok_or_else(|| {
                format!("connection string: sslmode must be disable, allow, prefer, require, verify-ca or verify-full, got {text:?}")
            })?,
        };
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
        if config.get_user().is_none() {
            return Err("connection string: no user (add user=NAME or NAME@ to the URL)".into());
        }
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // A network that swallows packets must not hold a poll for ever.
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(15));
        }
        config.keepalives_idle(Duration::from_secs(15));
        if config.get_application_name().is_none() {
            config.application_name("motifd");
        }
        let root_cert = match extra.sslrootcert.as_deref() {
            Some("system") => None,
            Some(path) => Some(PathBuf::from(path)),
            None => home_file(".postgresql/root.crt").filter(|p| p.is_file()),
        };
        let mut target = Self {
            config,
            ssl_mode,
            root_cert,
            password_source: "none",
            secret: None,
        };
        target.find_password(credentials, extra.passfile.as_deref())?;
        Ok(target)
    }

    fn find_password(
        &mut self,
        credentials: &Credentials,
        passfile: Option<&str>,
    ) -> Result<(), String> {
        if let Some(p) = self.config.get_password() {
            self.secret = Some(String::from_utf8_lossy(p).into_owned());
            self.password_source = "the connection string";
            return Ok(());
        }
        if let Some(path) = &credentials.password_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("password_file {}: {e}", path.display()))?;
            let password = text.lines().next().unwrap_or("").to_owned();
            self.set_password(password, "password_file");
            return Ok(());
        }
        let file = passfile
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("PGPASSFILE").map(PathBuf::from))
            .or_else(|| home_file(".pgpass"));
        if let Some(path) = file.filter(|p| p.is_file()) {
            if let Some(password) = pgpass_lookup(&path, self)? {
                self.set_password(password, "the password file (PGPASSFILE / ~/.pgpass)");
            }
        }
        Ok(())
    }

    fn set_password(&mut self, password: String, source: &'static str) {
        self.config.password(password.as_bytes());
        self.secret = Some(password);
        self.password_source = source;
    }

    /// `message` with any occurrence of the password replaced by `***`.
    pub fn scrub(&self, message: &str) -> String {
        match &self.secret {
            Some(s) if !s.is_empty() => message.replace(s.as_str(), "***"),
            _ => message.to_owned(),
        }
    }

    /// The database name (the user's name when none is given, as libpq).
    pub fn dbname(&self) -> &str {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.config.get_user().unwrap_or("");
        let host = match self.config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let password = if self.secret.is_some() { ":***" } else { "" };
        write!(
            f,
            "postgres://{user}{password}@{host}:{port}/{}?sslmode={}",
            self.dbname(),
            self.ssl_mode.as_str()
        )
    }
}

fn home_file(name: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(name))
}

/// The libpq-only parameters taken out of a connection string.
#[derive(Debug, Default)]
struct Extracted {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    passfile: Option<String>,
}

impl Extracted {
    /// Takes `key` if it is one of ours; false leaves it to the client.
    fn take(&mut self, key: &str, value: &str) -> bool {
        let slot = match key {
            "sslmode" => &mut self.sslmode,
            "sslrootcert" => &mut self.sslrootcert,
            "passfile" => &mut self.passfile,
            _ => return false,
        };
        *slot = Some(value.to_owned());
        true
    }
}

fn strip_url_params(url: &str, extra: &mut Extracted) -> Result<String, String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(url.to_owned());
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(v).ok_or_else(|| {
            format!("connection string: parameter {k:?} is not valid percent-encoded UTF-8")
        })?;
        if !extra.take(k, &value) {
            kept.push(pair);
        }
    }
    Ok(if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `key = value` pairs; a value may be single-quoted with `\'` and `\\`.
fn strip_keyword_params(text: &str, extra: &mut Extracted) -> Result<String, String> {
    let mut kept = String::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("connection string: expected = after {key:?}"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(format!("connection string: unterminated quote in {key:?}"))
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        if !extra.take(&key, &value) {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push_str(&format!("{key}='{quoted}' "));
        }
    }
    Ok(kept)
}

/// The password the libpq password file at `path` gives this target, if any.
fn pgpass_lookup(path: &Path, target: &Target) -> Result<Option<String>, String> {
    let c = &target.config;
    let host = match c.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        // libpq matches a socket directory as "localhost".
        _ => "localhost".to_owned(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = c.get_user().unwrap_or("");
    pgpass::lookup(path, [host.as_str(), port.as_str(), target.dbname(), user])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Target {
        Target::parse(url, &Credentials::default()).unwrap()
    }

    #[test]
    fn the_password_is_never_shown() {
        let t = parse("postgres://watcher:s3cr%3At@db.example:6432/orders?sslmode=verify-full&sslrootcert=/etc/ca.pem");
        assert_eq!(
            t.to_string(),
            "postgres://watcher:***@db.example:6432/orders?sslmode=verify-full"
        );
        assert!(!format!("{t:?}").contains("s3cr"));
        assert_eq!(t.config.get_password(), Some(&b"s3cr:t"[..]));
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(t.scrub("auth failed for s3cr:t"), "auth failed for ***");
        let k =
            parse("host=127.0.0.1 port=5433 user=w password='it\\'s' dbname=bench sslmode=require");
        assert_eq!(
            k.to_string(),
            "postgres://w:***@127.0.0.1:5433/bench?sslmode=require"
        );
    }

    #[test]
    fn bad_strings_are_refused_without_echoing_them() {
        let err = |url: &str| Target::parse(url, &Credentials::default()).unwrap_err();
        let e = err("postgres://u:topsecret@h/db?sslmode=sometimes");
        assert!(e.contains("sslmode must be"), "{e}");
        assert!(!e.contains("topsecret"), "{e}");
        let e = err("host=h password=topsecret");
        assert!(e.contains("no user"), "{e}");
        let e = err("user=u password='topsecret");
        assert!(
            e.contains("unterminated quote") && !e.contains("topsecret"),
            "{e}"
        );
        let e = err("postgres://u:topsecret@h/db?bogus=1");
        assert!(!e.contains("topsecret"), "{e}");
    }

    #[test]
    fn password_files_follow_libpq() {
        let dir = std::env::temp_dir().join(format!("motifd-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pass = dir.join("pgpass");
        std::fs::write(
            &pass,
            "# comment\nother:5432:*:w:wrong\n127.0.0.1:5433:bench:w:pa\\:ss\n*:*:*:*:fallback\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
        let url = format!(
            "host=127.0.0.1 port=5433 user=w dbname=bench passfile={}",
            pass.display()
        );
        let t = parse(&url);
        assert_eq!(t.config.get_password(), Some(&b"pa:ss"[..]));
        let other = parse(&format!("host=h user=x passfile={}", pass.display()));
        assert_eq!(other.config.get_password(), Some(&b"fallback"[..]));
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(parse(&url).config.get_password(), None);
        let file = dir.join("password");
        std::fs::write(&file, "from-file\n").unwrap();
        let creds = Credentials {
            password_file: Some(file),
        };
        let t = Target::parse("postgres://w@h/db", &creds).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"from-file"[..]));
        assert_eq!(t.password_source, "password_file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
