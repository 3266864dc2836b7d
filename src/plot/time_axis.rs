//! The time axis: event times are Unix seconds, shown in UTC at round steps.

use chrono::{DateTime, Utc};

/// Steps a tick may take, seconds: round values of a clock.
const STEPS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0,
    120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0,
    172800.0, 604800.0,
];

/// Tick positions over `[from, to]`: multiples of the smallest round step that
/// gives at most `max_ticks` ticks. Returns the step and the ticks.
pub fn ticks(from: f64, to: f64, max_ticks: usize) -> (f64, Vec<f64>) {
    let span = (to - from).max(f64::MIN_POSITIVE);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= max_ticks as f64)
        .unwrap_or_else(|| {
            // Beyond two weeks per tick: whole weeks.
            (span / max_ticks as f64 / 604800.0).ceil() * 604800.0
        });
    let first = (from / step).ceil() as i64;
    let last = (to / step).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    (step, ticks)
}

fn utc(t: f64) -> Option<DateTime<Utc>> {
    let secs = t.floor();
    let nanos = ((t - secs) * 1e9).round().min(999_999_999.0) as u32;
    DateTime::from_timestamp(secs as i64, nanos)
}

/// A tick label for time `t` on an axis of ticks `step` seconds apart: as much
/// of the UTC clock as tells neighbouring ticks apart.
pub fn label(t: f64, step: f64) -> String {
    let Some(d) = utc(t) else {
        return format!("{t}");
    };
    let format = if step < 1.0 {
        "%H:%M:%S%.3f"
    } else if step < 60.0 {
        "%H:%M:%S"
    } else if step < 86400.0 {
        "%H:%M"
    } else {
        "%Y-%m-%d"
    };
    d.format(format).to_string()
}

/// The UTC date and time of `t`, for captions (`2023-11-14 22:13:20`).
pub fn datetime(t: f64) -> String {
    utc(t).map_or_else(
        || format!("{t}"),
        |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// The UTC date and time of `t` to the millisecond, for tables
/// (`2023-11-14 22:13:20.250`).
pub fn datetime_ms(t: f64) -> String {
    utc(t).map_or_else(
        || format!("{t}"),
        |d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    )
}

/// Reads a time given on the command line: Unix seconds, or RFC 3339
/// (`2023-11-14T22:13:20Z`).
pub fn parse(text: &str) -> Result<f64, String> {
    if let Ok(t) = text.parse::<f64>() {
        if t.is_finite() {
            return Ok(t);
        }
    }
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.timestamp() as f64 + f64::from(d.timestamp_subsec_nanos()) / 1e9)
        .map_err(|_| {
            format!("{text:?} is neither Unix seconds nor an RFC 3339 time (2023-11-14T22:13:20Z)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        let (step, t) = ticks(1_700_000_000.0, 1_700_000_900.0, 10);
        assert_eq!(step, 120.0);
        assert!(t
            .iter()
            .all(|&x| (1_700_000_000.0..=1_700_000_900.0).contains(&x)));
        assert!(t.iter().all(|&x| x % 120.0 == 0.0));
        assert_eq!(label(t[0], step), "22:14");
        let (step, _) = ticks(0.0, 3.0, 8);
        assert_eq!(step, 0.5);
        assert_eq!(label(1.5, step), "00:00:01.500");
    }

    #[test]
    fn times_parse_as_seconds_or_rfc3339() {
        assert_eq!(parse("1700000000.5"), Ok(1_700_000_000.5));
        assert_eq!(parse("2023-11-14T22:13:20Z"), Ok(1_700_000_000.0));
        assert_eq!(datetime(1_700_000_000.0), "2023-11-14 22:13:20");
        assert!(parse("yesterday").is_err());
        assert!(parse("NaN").is_err());
    }
}
