//! Number spelling for sample values and `le` labels.
//!
//! Values: integers via `itoa`; floats in shortest round-trip form via `ryu`,
//! with the special values spelled `NaN`, `+Inf`, `-Inf` (Rust's own `inf`
//! and `NaN` spellings are not what the formats specify).
//!
//! `le` labels: OpenMetrics' canonical spelling (Go's `%g` with at least one
//! decimal place: `0.001`, `1.0`, `10.0`, `1e+06`). Prometheus stores `le`
//! verbatim, so a changed spelling would start a new series.

/// Appends an unsigned integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a float value: `NaN`, `+Inf`, `-Inf`, or the shortest string that
/// parses back to exactly `v`.
#[inline]
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v > 0.0 {
        out.extend_from_slice(b"+Inf");
    } else {
        out.extend_from_slice(b"-Inf");
    }
}

/// Appends the canonical `le` spelling of a bucket bound.
pub fn write_le(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        write_f64(out, v);
        return;
    }
    // Decompose ryu's shortest form into sign, digits and decimal exponent,
    // then re-spell it the way Go's %g does (exponent form when the exponent
    // is < -4 or >= 6, e.g. 1e-05, 1e+06).
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mantissa, exp_part) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // Significant digits without leading/trailing zeros, on the stack: this
    // runs once per bucket line, so it must not allocate.
    let mut all = [0u8; 40];
    let n = int_part.len() + frac_part.len();
    all[..int_part.len()].copy_from_slice(int_part.as_bytes());
    all[int_part.len()..n].copy_from_slice(frac_part.as_bytes());
    let leading_zeros = all[..n].iter().take_while(|b| **b == b'0').count();
    let trailing_zeros = all[leading_zeros..n]
        .iter()
        .rev()
        .take_while(|b| **b == b'0')
        .count();
    let digits = std::str::from_utf8(&all[leading_zeros..n - trailing_zeros]).unwrap_or("");
    if neg {
        out.push(b'-');
    }
    if digits.is_empty() {
        out.extend_from_slice(b"0.0");
        return;
    }
    // Decimal exponent of the first significant digit.
    let exp10 = int_part.len() as i32 - 1 - leading_zeros as i32 + exp_part;
    if !(-4..6).contains(&exp10) {
        let (first, rest) = digits.split_at(1);
        out.extend_from_slice(first.as_bytes());
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest.as_bytes());
        }
        out.push(b'e');
        out.push(if exp10 < 0 { b'-' } else { b'+' });
        let mag = exp10.unsigned_abs();
        if mag < 10 {
            out.push(b'0');
        }
        write_u64(out, u64::from(mag));
    } else if exp10 < 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-exp10 - 1) as usize));
        out.extend_from_slice(digits.as_bytes());
    } else {
        let int_len = exp10 as usize + 1;
        if digits.len() <= int_len {
            out.extend_from_slice(digits.as_bytes());
            out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits.as_bytes()[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits.as_bytes()[int_len..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(v: f64) -> String {
        let mut out = Vec::new();
        write_le(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn val(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn le_matches_the_openmetrics_canonical_examples() {
        // The spellings the OpenMetrics specification and client_python use.
        let cases = [
            (0.001, "0.001"),
            (0.1, "0.1"),
            (1.0, "1.0"),
            (10.0, "10.0"),
            (2.5, "2.5"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1.5e6, "1.5e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000005, "5e-06"),
            (0.0, "0.0"),
            (f64::INFINITY, "+Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(le(v), want, "le({v:e})");
        }
    }

    #[test]
    fn le_round_trips_for_every_documented_bound() {
        use crate::histogram::*;
        for bounds in [
            EPISODE_DURATION_BOUNDS_SECONDS,
            EPISODE_PEAK_BOUNDS,
            LATENESS_BOUNDS_SECONDS,
            INGEST_TO_FLUSH_BOUNDS_SECONDS,
            RENDER_DURATION_BOUNDS_SECONDS,
        ] {
            for b in bounds {
                assert_eq!(le(*b).parse::<f64>().unwrap(), *b);
            }
        }
    }

    #[test]
    fn values_spell_special_floats_and_round_trip() {
        assert_eq!(val(f64::NAN), "NaN");
        assert_eq!(val(f64::INFINITY), "+Inf");
        assert_eq!(val(f64::NEG_INFINITY), "-Inf");
        for v in [
            0.1,
            -2.5e-300,
            1e21,
            f64::MAX,
            f64::MIN_POSITIVE,
            123456.789,
        ] {
            assert_eq!(val(v).parse::<f64>().unwrap(), v);
        }
    }
}
