//! Merging episode intervals, so that dozens of simultaneous episodes shade a
//! stretch once instead of stacking to an opaque block.

/// Merges closed intervals `[start, end]` that overlap or touch; returns them
/// sorted by start.
pub fn merge(mut intervals: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(intervals.len());
    for (start, end) in intervals {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Clips intervals to `[from, to]`, leaving out those entirely outside.
pub fn clip(intervals: &[(f64, f64)], from: f64, to: f64) -> Vec<(f64, f64)> {
    intervals
        .iter()
        .filter(|(a, b)| *b >= from && *a <= to)
        .map(|&(a, b)| (a.max(from), b.min(to)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_and_touching_intervals_merge() {
        let merged = merge(vec![
            (5.0, 6.0),
            (1.0, 3.0),
            (2.0, 4.0),
            (4.0, 4.5),
            (7.0, 7.0),
        ]);
        assert_eq!(merged, vec![(1.0, 4.5), (5.0, 6.0), (7.0, 7.0)]);
        assert_eq!(merge(vec![(1.0, 10.0), (2.0, 3.0)]), vec![(1.0, 10.0)]);
        assert!(merge(Vec::new()).is_empty());
    }

    #[test]
    fn clipping_keeps_what_overlaps_the_range() {
        let clipped = clip(
            &[(0.0, 2.0), (3.0, 4.0), (9.0, 12.0), (20.0, 21.0)],
            1.0,
            10.0,
        );
        assert_eq!(clipped, vec![(1.0, 2.0), (3.0, 4.0), (9.0, 10.0)]);
    }
}
