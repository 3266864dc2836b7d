//! The raw rows of one poll, as the database returned them.
//!
//! A snapshot holds every column the residual modes read, nothing derived:
//! residuals are a pure function of a sequence of snapshots, so a tape of
//! snapshots can be re-derived under any mode, including one written after
//! the tape (docs/sources.md#tapes). Row order is the database's; the
//! `reference` mode depends on it where the reference does (a query id
//! listed twice).

use serde::{Deserialize, Serialize};

/// One poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Wall-clock time the poll started, Unix seconds (the observer's clock).
    #[serde(with = "exact")]
    pub t: f64,
    /// `pg_stat_statements`, one row per (user, database, query id, top level).
    #[serde(default)]
    pub pgss: Vec<PgssRow>,
    /// `pg_stat_activity`, one row per backend (the observer's own excluded).
    #[serde(default)]
    pub activity: Vec<ActivityRow>,
    /// `pg_stat_io` (PostgreSQL 16 and later; empty before).
    #[serde(default)]
    pub stat_io: Vec<StatIoRow>,
    /// `pg_stat_database`, one row per database.
    #[serde(default)]
    pub stat_database: Vec<StatDatabaseRow>,
}

/// One `pg_stat_statements` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PgssRow {
    /// `md5(queryid::text)`: the channel id (empty when the query id is
    /// hidden from the observer, as the reference reads a NULL).
    #[serde(rename = "id")]
    pub query_id: String,
    /// Cumulative calls.
    pub calls: u64,
    /// Cumulative execution time, milliseconds.
    #[serde(rename = "ms", with = "exact")]
    pub total_exec_time_ms: f64,
    /// The statement ran as the observer's own role (its polls).
    #[serde(default)]
    pub own: bool,
}

/// One `pg_stat_activity` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivityRow {
    /// `wait_event_type`, `None` when not waiting.
    #[serde(rename = "wt")]
    pub wait_event_type: String,
    /// `wait_event`, `None` when not waiting.
    #[serde(rename = "we")]
    pub wait_event: String,
    /// `state` (`active`, `idle`, `idle in transaction`, …; empty for
    /// background processes).
    pub state: String,
    /// `backend_type` (`client backend`, `autovacuum worker`, …).
    #[serde(rename = "bt", default)]
    pub backend_type: String,
}

/// One `pg_stat_io` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatIoRow {
    /// `backend_type`.
    #[serde(rename = "bt")]
    pub backend_type: String,
    /// `object` (`relation`, `temp relation`).
    pub object: String,
    /// `context` (`normal`, `vacuum`, `bulkread`, `bulkwrite`).
    pub context: String,
    /// Cumulative reads.
    pub reads: u64,
    /// Cumulative shared-buffer hits.
    pub hits: u64,
    /// Cumulative read time, milliseconds.
    #[serde(rename = "read_ms", with = "exact")]
    pub read_time_ms: f64,
}

/// One `pg_stat_database` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatDatabaseRow {
    /// Database name.
    pub datname: String,
    /// Cumulative blocks found in shared buffers.
    pub blks_hit: u64,
    /// Cumulative blocks read (from the OS).
    pub blks_read: u64,
}

/// Floats written in shortest round-trip form and read back with the
/// standard library's correctly rounded parser, so a tape re-derives the very
/// bits it recorded (serde_json's default float parsing is best-effort).
mod exact {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::value::RawValue;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get();
        let v: f64 = text
            .parse()
            .map_err(|_| D::Error::custom(format!("not a number: {text}")))?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_survive_a_json_round_trip_bit_for_bit() {
        // Values whose nearest-double parse serde_json's fast path can miss.
        let hard = [
            0.1 + 0.2,
            2.225_073_858_507_201e-308,
            9_007_199_254_740_993.0,
            1.797_693_134_862_315_7e308,
            123_456.789_012_345_67,
            f64::MIN_POSITIVE,
            5e-324,
        ];
        for (i, v) in hard.into_iter().enumerate() {
            let snap = Snapshot {
                t: 1.7e9 + v,
                pgss: vec![PgssRow {
                    query_id: format!("q{i}"),
                    calls: u64::MAX,
                    total_exec_time_ms: v,
                    own: false,
                }],
                ..Snapshot::default()
            };
            let text = serde_json::to_string(&snap).unwrap();
            let back: Snapshot = serde_json::from_str(&text).unwrap();
            assert_eq!(back.t.to_bits(), snap.t.to_bits(), "{text}");
            assert_eq!(
                back.pgss[0].total_exec_time_ms.to_bits(),
                v.to_bits(),
                "{text}"
            );
            assert_eq!(back, snap);
        }
    }
}
