//! Every statement the PostgreSQL source sends, pinned.
//!
//! The source holds no other SQL: a session is set up by [`SETUP`] and
//! verified by [`VERIFY`], each poll runs the [`Query`] texts, and nothing
//! else reaches the wire. The texts are pinned by a SHA-256 in the tests
//! below, so changing one is a deliberate act that also updates
//! docs/sources.md (which lists them).
//!
//! The poll queries read the columns the reference reads (`dsfb-database`
//! 0.1.1, `live::queries`) plus the few the `improved` mode needs
//! (`backend_type`, whether a statement is the observer's own); they never
//! read query text, client addresses or user data.

/// Session setup, in order: read-only by default (the session-level guard),
/// then the statement timeout (milliseconds, bound as `$1`).
pub const SETUP: [&str; 2] = [
    "SELECT pg_catalog.set_config('default_transaction_read_only', 'on', false)",
    "SELECT pg_catalog.set_config('statement_timeout', $1, false)",
];

/// Verifies the setup took and reads the server version:
/// `(default_transaction_read_only, statement_timeout in ms, server_version_num)`.
pub const VERIFY: &str = "SELECT pg_catalog.current_setting('default_transaction_read_only'), \
     pg_catalog.current_setting('statement_timeout'), \
     pg_catalog.current_setting('server_version_num')::int4";

/// The statements of one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// Per-statement cumulative calls and execution time.
    Statements,
    /// Per-backend wait events and states.
    Activity,
    /// Cumulative I/O counters (PostgreSQL 16 and later).
    StatIo,
    /// Per-database cumulative buffer hits and reads.
    StatDatabase,
}

/// First server version with `pg_stat_io`.
pub const STAT_IO_SINCE: i32 = 160_000;

impl Query {
    /// In the order a poll runs them.
    pub const ALL: [Query; 4] = [
        Query::Statements,
        Query::Activity,
        Query::StatIo,
        Query::StatDatabase,
    ];

    /// The pinned text.
    pub fn sql(self) -> &'static str {
        match self {
            // md5 of the query id: the reference's channel id, and no query
            // text leaves the server. `own` marks the observer's own polls.
            Query::Statements => {
                "SELECT md5(queryid::text), calls, total_exec_time, \
                 userid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) \
                 FROM pg_stat_statements"
            }
            Query::Activity => {
                "SELECT coalesce(wait_event_type, 'None'), coalesce(wait_event, 'None'), \
                 coalesce(state, ''), coalesce(backend_type, '') \
                 FROM pg_catalog.pg_stat_activity WHERE pid <> pg_catalog.pg_backend_pid()"
            }
            Query::StatIo => {
                "SELECT coalesce(backend_type, 'unknown'), coalesce(object, 'unknown'), \
                 coalesce(context, 'unknown'), coalesce(reads, 0), coalesce(hits, 0), \
                 coalesce(read_time, 0)::float8 \
                 FROM pg_catalog.pg_stat_io"
            }
            Query::StatDatabase => {
                "SELECT datname, coalesce(blks_hit, 0), coalesce(blks_read, 0) \
                 FROM pg_catalog.pg_stat_database WHERE datname IS NOT NULL"
            }
        }
    }

    /// Short name, used in logs and as a metric reason.
    pub fn name(self) -> &'static str {
        match self {
            Query::Statements => "pg_stat_statements",
            Query::Activity => "pg_stat_activity",
            Query::StatIo => "pg_stat_io",
            Query::StatDatabase => "pg_stat_database",
        }
    }
}

/// Every statement text, setup first, separated by a line `---`.
pub fn all_texts() -> String {
    let texts = SETUP
        .iter()
        .copied()
        .chain([VERIFY])
        .chain(Query::ALL.iter().map(|q| q.sql()));
    texts.collect::<Vec<_>>().join("\n---\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// Changing a statement changes this: update it together with the list
    /// in docs/sources.md.
    const PINNED_SHA256: &str = "4972d0b21fb9edcfcfd191e75e32736a53c620247a266964f969640667acf629";

    #[test]
    fn the_statements_are_pinned() {
        let digest = Sha256::digest(all_texts().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            PINNED_SHA256,
            "a statement of the PostgreSQL source changed:\n{}",
            all_texts()
        );
    }

    #[test]
    fn every_statement_only_reads() {
        for sql in all_texts().split("\n---\n") {
            assert!(sql.starts_with("SELECT "), "{sql}");
            assert!(!sql.contains(';'), "{sql}");
            let upper = sql.to_uppercase();
            let words: Vec<&str> = upper
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .collect();
            for word in [
                "INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "CREATE", "TRUNCATE", "GRANT",
                "REVOKE", "COPY", "LOCK", "CALL", "DO", "INTO", "FOR",
            ] {
                assert!(!words.contains(&word), "{word} in {sql}");
            }
        }
    }
}
