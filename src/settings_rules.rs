//! The rules a setting's value must follow, shared by `motifd run` (config
//! keys and flags) and `motifd replay` (flags): each rule checks one written
//! value and converts it to what the program uses, or says what is wrong.
//!
//! A rule returns the reason alone ("must be ..., got X"); the caller names
//! the setting the way its user wrote it (`config: window ...`,
//! `--window ...`).

use std::net::SocketAddr;

/// Longest wall-clock interval accepted, seconds (about 31 years): every such
/// setting becomes a `Duration`, which cannot hold any float.
pub const MAX_INTERVAL_SECONDS: f64 = 1e9;
/// Shortest period or timeout accepted, seconds: one that rounds to (nearly)
/// nothing would spin a thread, and a socket refuses a zero timeout.
pub const MIN_INTERVAL_SECONDS: f64 = 0.001;
/// Most batches the producer → engine channel may buffer: its slots are
/// allocated when the daemon starts.
pub const MAX_CHANNEL_CAPACITY: usize = 65_536;

/// Why a value breaks its rule: `must be ..., got X`.
pub type Broken = String;

fn broken(rule: &str, got: impl std::fmt::Display) -> Broken {
    format!("{rule}, got {got}")
}

/// Any value.
pub fn any<T>(v: T) -> Result<T, Broken> {
    Ok(v)
}

/// Any value; set.
pub fn given<T>(v: T) -> Result<Option<T>, Broken> {
    Ok(Some(v))
}

/// Event-time seconds, finite and `>= 0` (the reorder window).
pub fn non_negative_seconds(v: f64) -> Result<f64, Broken> {
    if v >= 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(broken("must be a finite number of seconds >= 0", v))
    }
}

/// Event-time seconds, finite and `> 0`.
pub fn positive_seconds(v: f64) -> Result<f64, Broken> {
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(broken("must be a finite number of seconds > 0", v))
    }
}

/// Wall-clock seconds to wait, `0` included (the idle flush).
pub fn wait_seconds(v: f64) -> Result<f64, Broken> {
    let v = non_negative_seconds(v)?;
    at_most_max_interval(v)
}

/// A period or timeout in wall-clock seconds: `0.001` to `1e9`.
pub fn period_seconds(v: f64) -> Result<f64, Broken> {
    let v = positive_seconds(v)?;
    if v < MIN_INTERVAL_SECONDS {
        let rule = format!("must be at least {MIN_INTERVAL_SECONDS} seconds");
        return Err(broken(&rule, v));
    }
    at_most_max_interval(v)
}

fn at_most_max_interval(v: f64) -> Result<f64, Broken> {
    if v > MAX_INTERVAL_SECONDS {
        let rule = format!("must be at most {MAX_INTERVAL_SECONDS:e} seconds");
        return Err(broken(&rule, v));
    }
    Ok(v)
}

/// A time to live: `0` turns it off, else finite `> 0`.
pub fn ttl_or_off(v: f64) -> Result<Option<f64>, Broken> {
    if v == 0.0 {
        return Ok(None);
    }
    positive_seconds(v).map(Some)
}

/// A count, `>= 1`.
pub fn at_least_one(v: usize) -> Result<usize, Broken> {
    if v == 0 {
        return Err(broken("must be at least 1", v));
    }
    Ok(v)
}

/// The producer → engine channel's capacity in batches: 1 to
/// [`MAX_CHANNEL_CAPACITY`].
pub fn channel_capacity(v: usize) -> Result<usize, Broken> {
    let v = at_least_one(v)?;
    if v > MAX_CHANNEL_CAPACITY {
        let rule = format!("must be at most {MAX_CHANNEL_CAPACITY}");
        return Err(broken(&rule, v));
    }
    Ok(v)
}

/// Episodes the live page lists: 0 (no page) to the exporter's maximum.
pub fn live_episodes(v: usize) -> Result<usize, Broken> {
    let max = motifd_exporter::live::MAX_CAPACITY;
    if v > max {
        return Err(broken(&format!("must be at most {max}"), v));
    }
    Ok(v)
}

/// A listening address; `""` or `"off"` for none.
pub fn listen_address(text: String) -> Result<Option<SocketAddr>, Broken> {
    if text.is_empty() || text == "off" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        broken(
            "must be an address like 127.0.0.1:9184 (or off)",
            format!("{text:?}"),
        )
    })
}

/// A metric namespace.
pub fn namespace(v: String) -> Result<String, Broken> {
    match motifd_exporter::Namespace::new(&v) {
        Ok(_) => Ok(v),
        Err(_) => Err(broken(
            "must match [a-zA-Z_][a-zA-Z0-9_]*",
            format!("{v:?}"),
        )),
    }
}

/// A `SCHED_FIFO` priority, `0` meaning off.
pub fn realtime_priority(v: u32) -> Result<u8, Broken> {
    u8::try_from(v)
        .ok()
        .filter(|&p| p <= motifd_exporter::server::priority::MAX_REALTIME_PRIORITY)
        .ok_or_else(|| broken("must be 0 (off) to 99", v))
}

/// Input files: stdin (`-`) at most once.
pub fn inputs(v: Vec<String>) -> Result<Vec<String>, Broken> {
    if v.iter().filter(|i| *i == "-").count() > 1 {
        return Err(broken("may name stdin (-) only once", format!("{v:?}")));
    }
    Ok(v)
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset.min(text.len()) - line_start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_check_sign_then_floor_then_ceiling() {
        assert!(period_seconds(-1.0).unwrap_err().contains("> 0"));
        assert!(period_seconds(1e-12)
            .unwrap_err()
            .contains("at least 0.001"));
        assert!(period_seconds(1e300).unwrap_err().contains("at most 1e9"));
        assert_eq!(period_seconds(0.001), Ok(0.001));
        assert_eq!(wait_seconds(0.0), Ok(0.0));
        assert_eq!(ttl_or_off(0.0), Ok(None));
    }

    #[test]
    fn line_and_column_count_from_one() {
        assert_eq!(line_and_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_and_column("ab", 99), (1, 3));
    }
}
