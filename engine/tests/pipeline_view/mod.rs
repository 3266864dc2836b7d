//! What the pipeline tests compare, and the event times they feed: shared
//! by the tests that check one way of feeding a pipeline against another.

use motifd_engine::Pipeline;
use proptest::prelude::*;

/// Everything observable after a call: the samples released so far (as the
/// engine's processed count), the counters and the frontier.
pub fn observe(p: &Pipeline) -> String {
    format!(
        "{:?} {:?} {:?} {}",
        p.counters(),
        p.reorder().counters(),
        p.engine().counters(),
        p.reorder().frontier()
    )
}

/// Up to `len` event times: mostly quarter seconds in `[0, quarters / 4)`
/// (ties, late samples, jumps), some arbitrary in `[-50, quarters / 4 + 50)`,
/// and now and then one far in the future.
pub fn times(quarters: u32, len: usize) -> impl Strategy<Value = Vec<f64>> {
    let end = f64::from(quarters) / 4.0 + 50.0;
    let t = prop_oneof![
        8 => (0u32..quarters).prop_map(|k| f64::from(k) * 0.25),
        2 => -50.0..end,
        1 => prop::sample::select(vec![1e300, 5e4, 1.7e12]),
    ];
    prop::collection::vec(t, 0..len)
}
