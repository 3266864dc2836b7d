//! One verified read-only session: connect, set up, verify, prepare the
//! pinned statements, and run a poll into a [`Snapshot`].
//!
//! The client is private to this type and the only SQL it can run is the
//! pinned text of [`super::queries`]. After the setup the session is checked
//! to be read-only by default and to carry the statement timeout; if either
//! did not take, the session is refused before any poll.

use super::queries::{Query, SETUP, STAT_IO_SINCE, VERIFY};
use super::snapshot::{ActivityRow, PgssRow, Snapshot, StatDatabaseRow, StatIoRow};
use super::target::Target;
use postgres::{Client, Row, Statement};
use std::time::Duration;

/// Why a connection or a poll failed: the `reason` label of
/// `<ns>_postgres_poll_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Could not connect or authenticate.
    Connect,
    /// The session would not become read-only or take the statement timeout.
    Setup,
    /// A statement hit `statement_timeout`.
    Timeout,
    /// A statement failed on the server (permission, missing extension, …).
    Query,
    /// The connection broke.
    Connection,
    /// A row did not have the expected types.
    Decode,
}

impl Failure {
    /// Every reason, in label order.
    pub const ALL: [Failure; 6] = [
        Failure::Connect,
        Failure::Setup,
        Failure::Timeout,
        Failure::Query,
        Failure::Connection,
        Failure::Decode,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Setup => "setup",
            Failure::Timeout => "timeout",
            Failure::Query => "query",
            Failure::Connection => "connection",
            Failure::Decode => "decode",
        }
    }
}

/// A failure and what to log about it (password scrubbed).
#[derive(Debug)]
pub struct SessionError {
    /// The metric reason.
    pub reason: Failure,
    /// For the log.
    pub message: String,
}

/// A connected, verified session.
pub struct Session {
    client: Client,
    statements: Vec<(Query, Statement)>,
    /// `server_version_num`.
    pub server_version: i32,
}

impl Session {
    /// Connects to `target` and sets the session up.
    ///
    /// # Errors
    /// [`Failure::Connect`] or [`Failure::Setup`] with the reason.
    pub fn connect(target: &Target, statement_timeout: Duration) -> Result<Self, SessionError> {
        let fail = |reason: Failure, what: &str, e: &dyn std::fmt::Display| SessionError {
            reason,
            message: target.scrub(&format!("{what}: {e}")),
        };
        let tls = super::tls::connector(target).map_err(|e| fail(Failure::Setup, "tls", &e))?;
        let mut client = target
            .config
            .connect(tls)
            .map_err(|e| fail(Failure::Connect, "connect", &error_text(&e)))?;
        let timeout_ms = statement_timeout.as_millis().max(1).to_string();
        client
            .query(SETUP[0], &[])
            .and_then(|_| client.query(SETUP[1], &[&timeout_ms]))
            .map_err(|e| fail(Failure::Setup, "session setup", &error_text(&e)))?;
        let row = client
            .query_one(VERIFY, &[])
            .map_err(|e| fail(Failure::Setup, "session check", &error_text(&e)))?;
        let (read_only, timeout, version) =
            decode_verify(&row).map_err(|e| fail(Failure::Setup, "session check", &e))?;
        if read_only != "on" {
            return Err(fail(
                Failure::Setup,
                "refusing the session",
                &format!("default_transaction_read_only is {read_only:?}, not on"),
            ));
        }
        if !timeout_matches(&timeout, &timeout_ms) {
            return Err(fail(
                Failure::Setup,
                "refusing the session",
                &format!("statement_timeout is {timeout:?}, not {timeout_ms} ms"),
            ));
        }
        let mut statements = Vec::new();
        for q in Query::ALL {
            if q == Query::StatIo && version < STAT_IO_SINCE {
                continue;
            }
            // pg_stat_statements may be missing: the poll reports it.
            match client.prepare(q.sql()) {
                Ok(s) => statements.push((q, s)),
                Err(e) if q == Query::Statements => log::warn!(
                    "{target}: pg_stat_statements unavailable ({}); no plan_regression or workload_phase residuals from this session (add it to shared_preload_libraries, CREATE EXTENSION pg_stat_statements, then restart motifd)",
                    error_text(&e)
                ),
                Err(e) => return Err(fail(Failure::Setup, q.name(), &error_text(&e))),
            }
        }
        Ok(Self {
            client,
            statements,
            server_version: version,
        })
    }

    /// Runs one poll; the snapshot is stamped `t`.
    ///
    /// # Errors
    /// The first statement that failed, and why.
    pub fn poll(&mut self, t: f64) -> Result<Snapshot, SessionError> {
        let mut snap = Snapshot {
            t,
            ..Snapshot::default()
        };
        for (q, statement) in &self.statements {
            let rows = self
                .client
                .query(statement, &[])
                .map_err(|e| SessionError {
                    reason: classify(&e),
                    message: format!("{}: {}", q.name(), error_text(&e)),
                })?;
            decode(*q, &rows, &mut snap).map_err(|message| SessionError {
                reason: Failure::Decode,
                message: format!("{}: {message}", q.name()),
            })?;
        }
        Ok(snap)
    }

    /// True once the connection is gone (reconnect).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// PostgreSQL reports `statement_timeout` in its own units (`500ms`, `2s`).
fn timeout_matches(shown: &str, ms: &str) -> bool {
    let Ok(want) = ms.parse::<u64>() else {
        return false;
    };
    let (number, unit): (String, String) = shown.chars().partition(|c| c.is_ascii_digit());
    let Ok(n) = number.parse::<u64>() else {
        return false;
    };
    let factor = match unit.as_str() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return false,
    };
    n * factor == want
}

fn decode_verify(row: &Row) -> Result<(String, String, i32), String> {
    let text = |i| row.try_get::<_, String>(i).map_err(|e| e.to_string());
    let version = row.try_get::<_, i32>(2).map_err(|e| e.to_string())?;
    Ok((text(0)?, text(1)?, version))
}

fn classify(e: &postgres::Error) -> Failure {
    match e.code() {
        Some(c) if *c == postgres::error::SqlState::QUERY_CANCELED => Failure::Timeout,
        Some(_) => Failure::Query,
        None if e.is_closed() => Failure::Connection,
        None => Failure::Connection,
    }
}

/// The server's message with its detail (the client's `Display` alone says
/// only "db error").
fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

/// Reads a non-negative counter; a negative one (never, for these views)
/// reads as 0, as the reference does.
fn count(row: &Row, i: usize) -> Result<u64, String> {
    let v: i64 = row.try_get(i).map_err(|e| e.to_string())?;
    Ok(u64::try_from(v).unwrap_or(0))
}

fn text(row: &Row, i: usize) -> Result<String, String> {
    let v: Option<String> = row.try_get(i).map_err(|e| e.to_string())?;
    Ok(v.unwrap_or_default())
}

fn decode(q: Query, rows: &[Row], snap: &mut Snapshot) -> Result<(), String> {
    match q {
        Query::Statements => {
            for r in rows {
                snap.pgss.push(PgssRow {
                    query_id: text(r, 0)?,
                    calls: count(r, 1)?,
                    total_exec_time_ms: r.try_get(2).map_err(|e| e.to_string())?,
                    own: r
                        .try_get::<_, Option<bool>>(3)
                        .map_err(|e| e.to_string())?
                        .unwrap_or(false),
                });
            }
        }
        Query::Activity => {
            for r in rows {
                snap.activity.push(ActivityRow {
                    wait_event_type: text(r, 0)?,
                    wait_event: text(r, 1)?,
                    state: text(r, 2)?,
                    backend_type: text(r, 3)?,
                });
            }
        }
        Query::StatIo => {
            for r in rows {
                snap.stat_io.push(StatIoRow {
                    backend_type: text(r, 0)?,
                    object: text(r, 1)?,
                    context: text(r, 2)?,
                    reads: count(r, 3)?,
                    hits: count(r, 4)?,
                    read_time_ms: r.try_get(5).map_err(|e| e.to_string())?,
                });
            }
        }
        Query::StatDatabase => {
            for r in rows {
                snap.stat_database.push(StatDatabaseRow {
                    datname: text(r, 0)?,
                    blks_hit: count(r, 1)?,
                    blks_read: count(r, 2)?,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::timeout_matches;

    #[test]
    fn statement_timeout_units() {
        assert!(timeout_matches("500ms", "500"));
        assert!(timeout_matches("2s", "2000"));
        assert!(timeout_matches("1min", "60000"));
        assert!(!timeout_matches("0", "500"));
        assert!(!timeout_matches("500ms", "250"));
    }
}
