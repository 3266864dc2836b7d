use super::*;

fn s(t: f64, value: f64) -> Sample {
    Sample::new(t, 0, 0, value)
}

fn buffer(window: f64) -> ReorderBuffer {
    ReorderBuffer::new(window).unwrap()
}

fn run(window: f64, ts: &[f64]) -> (Vec<f64>, ReorderBuffer) {
    let mut rb = buffer(window);
    let mut out = Vec::new();
    for (i, &t) in ts.iter().enumerate() {
        rb.push(s(t, i as f64), |x| out.push(x.t));
    }
    rb.flush_all(|x| out.push(x.t));
    (out, rb)
}

#[test]
fn a_bad_window_or_cap_is_an_error_not_a_panic() {
    for w in [-1.0, f64::NAN, f64::INFINITY] {
        let err = ReorderBuffer::new(w).unwrap_err();
        assert!(err.to_string().starts_with("window must be"), "{err}");
    }
    assert_eq!(
        ReorderBuffer::with_cap(1.0, 0).unwrap_err(),
        InvalidSetting::MaxStaged
    );
}

#[test]
fn jitter_inside_the_window_is_sorted() {
    let (out, rb) = run(5.0, &[0.0, 2.0, 1.0, 4.0, 3.0, 5.0, 7.0, 6.0]);
    assert_eq!(out, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert_eq!(rb.counters().dropped_out_of_window, 0);
}

#[test]
fn releases_exactly_what_is_a_window_behind_newest() {
    let mut rb = buffer(2.0);
    let mut out = Vec::new();
    for t in [1.0, 2.0, 3.0] {
        rb.push(s(t, 0.0), |x| out.push(x.t));
    }
    assert_eq!(out, [1.0], "3 − 2 = 1 releases t ≤ 1 only");
    assert_eq!(rb.staged(), 2);
    rb.push(s(10.0, 0.0), |x| out.push(x.t));
    assert_eq!(out, [1.0, 2.0, 3.0]);
    assert_eq!(rb.frontier(), 3.0);
}

#[test]
fn samples_below_the_frontier_are_dropped_not_reordered() {
    // The reference keeps 2.5 (within a window of the frontier 3) and releases
    // it after 3; here it is dropped so the output stays sorted.
    let mut rb = buffer(1.0);
    let mut out = Vec::new();
    for t in [1.0, 2.0, 3.0, 4.0] {
        rb.push(s(t, 0.0), |x| out.push(x.t));
    }
    assert_eq!(rb.frontier(), 3.0);
    assert!(!rb.push(s(2.5, 0.0), |x| out.push(x.t)));
    assert!(
        rb.push(s(3.0, 0.0), |x| out.push(x.t)),
        "a tie with the frontier is fine"
    );
    rb.flush_all(|x| out.push(x.t));
    assert_eq!(out, [1.0, 2.0, 3.0, 3.0, 4.0]);
    let c = rb.counters();
    assert_eq!((c.flushed, c.dropped_out_of_window), (5, 1));
    assert_eq!(c.dropped_within_double_window, 1);
}

#[test]
fn equal_times_release_in_arrival_order() {
    let mut rb = buffer(10.0);
    let mut out = Vec::new();
    let arrivals = [
        (5.0, 0.0),
        (3.0, 1.0),
        (5.0, 2.0),
        (3.0, 3.0),
        (4.0, 4.0),
        (5.0, 5.0),
    ];
    for (t, v) in arrivals {
        rb.push(s(t, v), |x| out.push(x.value));
    }
    rb.flush_all(|x| out.push(x.value));
    assert_eq!(out, [1.0, 3.0, 4.0, 0.0, 2.0, 5.0]);
}

#[test]
fn at_the_cap_the_oldest_staged_sample_is_released_and_counted() {
    let mut rb = ReorderBuffer::with_cap(100.0, 3).unwrap();
    let mut out = Vec::new();
    for t in [5.0, 1.0, 3.0, 2.0, 4.0] {
        rb.push(s(t, 0.0), |x| out.push(x.t));
    }
    assert_eq!(out, [1.0, 2.0], "the fourth and fifth push each free one");
    assert_eq!(rb.staged(), 3);
    assert_eq!(rb.counters().released_at_cap, 2);
    assert!(
        !rb.push(s(1.5, 0.0), |x| out.push(x.t)),
        "below the frontier"
    );
    rb.flush_all(|x| out.push(x.t));
    assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(rb.counters().flushed, 5);
}

#[test]
fn a_caller_cutoff_releases_like_newest_minus_window() {
    let ts = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 12.0];
    let (mut a, mut b) = (buffer(2.0), buffer(2.0));
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    let mut newest = f64::NEG_INFINITY;
    for (i, &t) in ts.iter().enumerate() {
        newest = f64::max(newest, t);
        let pa = a.push(s(t, i as f64), |x| out_a.push(x.value));
        let pb = b.push_below(s(t, i as f64), newest - 2.0, |x| out_b.push(x.value));
        assert_eq!(pa, pb, "sample {i}");
        assert_eq!(out_a, out_b, "sample {i}");
    }
    assert_eq!(a.counters(), b.counters());
    let mut later = Vec::new();
    b.release_to(f64::INFINITY, &mut |x: &Sample| later.push(x.t));
    assert_eq!(b.staged(), 0);
    assert!(later.windows(2).all(|w| w[0] <= w[1]));
}

/// The staged set as a plain list, released by a stable sort: the rules of
/// the module doc, spelled out the slow way.
fn model(window: f64, arrivals: &[(f64, f64)]) -> (Vec<(f64, f64)>, u64) {
    let (mut staged, mut out) = (Vec::<(f64, f64)>::new(), Vec::new());
    let (mut newest, mut frontier, mut dropped) = (f64::NEG_INFINITY, f64::NEG_INFINITY, 0);
    for &(t, v) in arrivals {
        if t < frontier {
            dropped += 1;
            continue;
        }
        newest = newest.max(t);
        staged.push((t, v));
        staged.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = staged.partition_point(|x| x.0 <= newest - window);
        for x in staged.drain(..n) {
            frontier = x.0;
            out.push(x);
        }
    }
    out.append(&mut staged);
    (out, dropped)
}

#[test]
fn matches_a_stable_sort_on_jittered_arrivals() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    for round in 0..200 {
        let window = [0.0, 0.5, 3.0, 10.0][round % 4];
        let base = [0.0, -40.0, 1.7e9, 1e-3][round / 4 % 4];
        let mut arrivals = Vec::new();
        for i in 0..rng.gen_range(1..400) {
            // Coarse times make ties frequent; some arrivals are very late.
            let jitter = rng.gen_range(-6.0..6.0_f64);
            let t =
                base + (i as f64 * 0.25 + jitter * f64::from(rng.gen_range(0..2))).round() / 4.0;
            arrivals.push((t + 0.0, i as f64));
        }
        let (expected, dropped) = model(window, &arrivals);
        let mut rb = buffer(window);
        let mut out = Vec::new();
        for &(t, v) in &arrivals {
            rb.push(s(t, v), |x| out.push((x.t, x.value)));
        }
        rb.flush_all(|x| out.push((x.t, x.value)));
        assert_eq!(out, expected, "round {round}");
        assert_eq!(rb.counters().dropped_out_of_window, dropped);
        assert_eq!(rb.staged(), 0);
    }
}

#[test]
fn zero_window_is_strictly_in_order() {
    let (out, rb) = run(0.0, &[1.0, 2.0, 1.5, 2.0, 3.0]);
    assert_eq!(out, [1.0, 2.0, 2.0, 3.0]);
    assert_eq!(rb.counters().dropped_out_of_window, 1);
    assert_eq!(rb.staged(), 0);
}
