//! The one order every trace format sorts its rows and residuals into.
//!
//! The reference sorts with a stable sort comparing times by `partial_cmp`,
//! a NaN comparing equal to everything; the residual streams are compared
//! with its output bit for bit, so ties (and NaN rows) must keep exactly that
//! order, which is why no format sorts any other way.

use std::cmp::Ordering;

/// `a` against `b` as the reference compares times.
pub(crate) fn cmp_time(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Stable sort of `rows` by `time`, ties (and NaN) in their present order.
pub(crate) fn sort_by_time<T>(rows: &mut [T], time: impl Fn(&T) -> f64) {
    rows.sort_by(|a, b| cmp_time(time(a), time(b)));
}

/// [`sort_by_time`], then the first row's time (0 for no rows): the origin of
/// the formats whose residual times count from the trace's start.
pub(crate) fn sort_from_first<T>(rows: &mut [T], time: impl Fn(&T) -> f64) -> f64 {
    sort_by_time(rows, &time);
    rows.first().map_or(0.0, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_and_nan_keep_the_reference_order() {
        let rows = [
            (2.0, 'a'),
            (1.0, 'b'),
            (f64::NAN, 'c'),
            (1.0, 'd'),
            (0.5, 'e'),
        ];
        let mut ours = rows;
        sort_by_time(&mut ours, |x| x.0);
        // The reference's comparator on a stable sort.
        let mut theirs = rows;
        theirs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
        let letters = |r: &[(f64, char)]| r.iter().map(|x| x.1).collect::<String>();
        let (ours, reference) = (letters(&ours), letters(&theirs));
        assert_eq!(ours, reference);
        // The two equal times keep their input order.
        assert!(ours.find('b') < ours.find('d'), "{ours}");
    }
}
