//! Decimal numbers of a record's fields → `f64`, correctly rounded.
//!
//! Most fields are plain decimals (`-0.0547`, `1700000000.001`): an optional
//! minus sign, digits, and at most one dot between digits. When such a number
//! has at most 15 significant digits and at most 22 after the dot, its digits
//! form an integer `m` below 2^53 and the value is `m / 10^k` with both
//! operands exact in `f64`, so one IEEE division gives the correctly rounded
//! result (Clinger's fast path). That case is decided here in one pass over
//! the bytes; everything else (exponents, more digits, `inf`, `nan`, a
//! leading `+`, a bare `.5`) goes to `fast_float2`, which parses every
//! decimal form correctly rounded. Both give the same bits for every input
//! the fast path takes (tested below against `fast_float2` itself), so which
//! one ran never shows in a result.
//!
//! The fast path exists because it is measured faster on the record path:
//! `fast_float2` spends most of its time on the general machinery (see
//! docs/performance.md, "Where a replay's CPU goes").

/// `10^k` for `k` in `0..=22`: the powers of ten an `f64` holds exactly.
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Significant digits that always fit below 2^53.
const MAX_EXACT_DIGITS: u32 = 15;

/// Parses a decimal float straight from bytes, correctly rounded, as
/// `str::parse::<f64>` would (without a UTF-8 pass first). `inf` and `nan`
/// parse; callers decide what to make of them.
#[inline]
pub fn parse_f64(field: &[u8]) -> Option<f64> {
    match plain_decimal(field) {
        Some(v) => Some(v),
        None => fast_float2::parse::<f64, _>(field).ok(),
    }
}

/// The value of `field` if it is `-?d+(.d+)?` with at most
/// [`MAX_EXACT_DIGITS`] digits in all; `None` for anything else.
#[inline]
fn plain_decimal(field: &[u8]) -> Option<f64> {
    // Longer than a sign, the digits and a dot: not for this path, and
    // cheap to tell before looking at any digit.
    if field.len() > MAX_EXACT_DIGITS as usize + 2 {
        return None;
    }
    let (negative, body) = match field {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, field),
    };
    let (mantissa, whole_digits) = digits(body, 0);
    let (mantissa, scale) = match &body[whole_digits..] {
        [] if whole_digits > 0 => (mantissa, 0),
        [b'.', fraction @ ..] if whole_digits > 0 && !fraction.is_empty() => {
            match digits(fraction, mantissa) {
                (m, n) if n == fraction.len() => (m, n),
                _ => return None,
            }
        }
        _ => return None,
    };
    if whole_digits + scale > MAX_EXACT_DIGITS as usize {
        return None;
    }
    // At most 15 digits: `mantissa < 10^15 < 2^53` and `scale <= 15`.
    let magnitude = mantissa as f64 / EXACT_POW10[scale];
    Some(if negative { -magnitude } else { magnitude })
}

/// Appends the leading decimal digits of `bytes` to `mantissa`; returns it
/// and how many digits there were. Only called on at most 16 bytes, so the
/// mantissa cannot overflow.
#[inline]
fn digits(bytes: &[u8], mut mantissa: u64) -> (u64, usize) {
    let mut n = 0;
    for &byte in bytes {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        mantissa = mantissa * 10 + u64::from(digit);
        n += 1;
    }
    (mantissa, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(field: &[u8]) -> Option<f64> {
        fast_float2::parse::<f64, _>(field).ok()
    }

    fn same(field: &[u8]) {
        let ours = parse_f64(field).map(f64::to_bits);
        let theirs = reference(field).map(f64::to_bits);
        assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(field));
    }

    #[test]
    fn plain_decimals_take_the_fast_path() {
        for (text, value) in [
            ("0", 0.0),
            ("-0.0547", -0.0547),
            ("1700000000.001", 1_700_000_000.001),
            ("007", 7.0),
            ("123456789012345", 123_456_789_012_345.0),
            ("0.00000000000001", 1e-14),
        ] {
            assert_eq!(plain_decimal(text.as_bytes()), Some(value), "{text}");
        }
        let negative_zero = plain_decimal(b"-0").unwrap();
        assert!(negative_zero == 0.0 && negative_zero.is_sign_negative());
    }

    #[test]
    fn everything_else_is_left_to_the_general_parser() {
        for text in [
            "",
            "-",
            ".",
            "1.",
            ".5",
            "-.5",
            "+1",
            "1e5",
            "1.2.3",
            "1,5",
            " 1",
            "1 ",
            "inf",
            "nan",
            "0x10",
            "1234567890123456",
            "0.1234567890123456",
            "--1",
            "1-",
        ] {
            assert_eq!(plain_decimal(text.as_bytes()), None, "{text:?}");
            same(text.as_bytes());
        }
    }

    #[test]
    fn agrees_bit_for_bit_with_the_general_parser() {
        // A deterministic spread of digit counts, dot positions and signs,
        // including the edges of the fast path (15 and 16 digits).
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let r = next();
            let len = 1 + (r % 18) as usize;
            let mut text: Vec<u8> = (0..len)
                .map(|i| b'0' + ((next() >> (i % 8)) % 10) as u8)
                .collect();
            let dot = (r >> 8) as usize % (len + 2);
            if dot < len {
                text.insert(dot, b'.');
            }
            if r >> 20 & 1 == 1 {
                text.insert(0, b'-');
            }
            same(&text);
        }
    }

    #[test]
    fn agrees_on_formatted_floats() {
        let mut buffer = ryu::Buffer::new();
        let mut x = 1.0e-9_f64;
        while x < 1.0e18 {
            for v in [x, -x, x * 1.000_000_1, 1.7e9 + x.fract()] {
                same(buffer.format(v).as_bytes());
                same(format!("{v:.3}").as_bytes());
            }
            x *= 1.37;
        }
    }
}
