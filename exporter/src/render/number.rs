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
/// parses back to exactly `v`, spelled as `ryu` spells it.
#[inline]
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        if !write_short_decimal(out, v) {
            out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        }
    } else if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v > 0.0 {
        out.extend_from_slice(b"+Inf");
    } else {
        out.extend_from_slice(b"-Inf");
    }
}

/// Powers of ten that are exact in `f64` (all up to 10^22 are).
const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Spells `v` when its shortest round-trip form is a short decimal (the usual
/// case for metric values: integers, and input readings with a few decimals),
/// without `ryu`. `ryu` removes one or two digits per step from a 17-digit
/// candidate, so a value like `2.5` costs it ~15 steps; here it costs a few
/// multiply–divide checks. Returns false (nothing written) for anything else,
/// which the caller then hands to `ryu`; the output is byte-identical to
/// `ryu`'s (tests compare the two on 1.5 million values).
///
/// Why it is exact: for `a = |v|` and `k` decimals, `n = round(a · 10^k)`.
/// The string `n / 10^k` parses back to the correctly rounded value of the
/// exact rational n / 10^k, and IEEE division of the exact `n` (< 2^50) by the
/// exact `10^k` rounds that same rational the same way, so
/// `n as f64 / 10^k == a` holds exactly when the string round-trips. With
/// `a · 10^k < 2^50` the reals that round to `a`, scaled by 10^k, span less
/// than 1/4, so at most one integer `n` round-trips for a given `k`, and the
/// floating-point product is within 1/16 of the exact one, so `round` finds it.
/// The smallest such `k` gives the fewest significant digits, which is what
/// `ryu` picks; 10^-4 ≤ a < 2^50 keeps its spelling in plain decimal
/// notation (`ryu` switches to exponents below 10^-5 and from 10^16).
#[inline]
fn write_short_decimal(out: &mut Vec<u8>, v: f64) -> bool {
    let a = v.abs();
    if a == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return true;
    }
    if !(1e-4..1.125_899_906_842_624e15).contains(&a) {
        return false;
    }
    // Largest k with a · 10^k < 2^50 guaranteed: a < 2^(e+1), so 10^k ≤
    // 2^(49-e) suffices; 1233 / 4096 is just under log10(2).
    let e = ((a.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    let k_top = (((49 - e) * 1233) >> 12) as usize;
    let round_trips = |k: usize| {
        // Adding 1/2 and truncating rounds to nearest here: the candidate is
        // within 5/16 of the product and the sum is off by at most 1/16
        // (`f64::round` is a library call on baseline x86-64).
        let n = (a * POW10[k] + 0.5) as i64;
        (n as f64 / POW10[k] == a).then_some(n.unsigned_abs())
    };
    // Long values (up to 17 digits) are decided by one check.
    if round_trips(k_top).is_none() {
        return false;
    }
    let Some((k, n)) = (0..=k_top).find_map(|k| round_trips(k).map(|n| (k, n))) else {
        return false;
    };
    // Spelled right to left into a stack buffer, then copied in one piece:
    // the digits of n with the point k places from the right, zeros up to
    // the point and one before it when n has no more than k digits, and
    // ".0" after an integer.
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    if k == 0 {
        i -= 2;
        buf[i..].copy_from_slice(b".0");
    }
    let (mut rest, mut placed) = (n, 0);
    loop {
        if placed == k && k > 0 {
            i -= 1;
            buf[i] = b'.';
        }
        i -= 1;
        buf[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        placed += 1;
        if rest == 0 && placed > k {
            break;
        }
    }
    if v < 0.0 {
        i -= 1;
        buf[i] = b'-';
    }
    out.extend_from_slice(&buf[i..]);
    true
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

    /// xorshift64*: a fixed-seed stream for the comparisons below.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn ryu(v: f64) -> String {
        ryu::Buffer::new().format_finite(v).to_owned()
    }

    fn short(v: f64) -> Option<String> {
        let mut out = Vec::new();
        write_short_decimal(&mut out, v).then(|| String::from_utf8(out).unwrap())
    }

    fn same_as_ryu(v: f64) {
        assert_eq!(val(v), ryu(v), "bits {:#018x}", v.to_bits());
    }

    #[test]
    fn short_decimals_spell_exactly_as_ryu() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut hits = 0;
        for _ in 0..300_000 {
            // n / 10^k for n of 1 to 17 digits and k up to 20, and each
            // value's neighbours, which usually need all 17 digits.
            let digits = 1 + rng.next() % 17;
            let n = rng.next() % 10u64.pow(digits as u32);
            let k = (rng.next() % 21) as i32;
            let v = n as f64 / 10f64.powi(k);
            for w in [v, -v, v.next_up(), v.next_down()] {
                same_as_ryu(w);
                hits += usize::from(short(w).is_some());
            }
            // Arbitrary bit patterns.
            let w = f64::from_bits(rng.next());
            if w.is_finite() {
                same_as_ryu(w);
            }
        }
        // The fast path must actually be taken for most of the decimals.
        assert!(hits > 300_000, "fast path taken only {hits} times");
    }

    #[test]
    fn short_decimal_edges_spell_exactly_as_ryu() {
        let mut edges = vec![0.0, -0.0, 1e-4, 1e-5, 0.1 + 0.2, 1.0 / 3.0, 5e-324];
        for e in -20..=60 {
            edges.push(2f64.powi(e));
        }
        for k in 0..=22 {
            edges.push(10f64.powi(k));
            edges.push(10f64.powi(-k));
            edges.push(9.5 * 10f64.powi(k - 1));
        }
        for v in edges {
            for w in [v, v.next_up(), v.next_down()] {
                same_as_ryu(w);
                same_as_ryu(-w);
            }
        }
        // Integers up to 2^50 take the fast path.
        for n in [1u64, 7, 10, 123_456, (1 << 50) - 1] {
            assert_eq!(short(n as f64), Some(format!("{n}.0")));
        }
        assert_eq!(short(0.9975).as_deref(), Some("0.9975"));
        assert_eq!(short(-0.0025).as_deref(), Some("-0.0025"));
        assert_eq!(short(0.1 + 0.2), None);
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
