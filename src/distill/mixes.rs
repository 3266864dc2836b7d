//! The workload-phase residual of the formats that bucket their trace by
//! time (Snowset, SQLShare): per bucket and key, the counts of the items
//! seen; at each bucket boundary, per key present in both the bucket that
//! ended and the one before it, the Jensen–Shannon divergence of the two
//! mixes, stamped with the start of the bucket that ended. The last bucket
//! is never compared (nothing follows it), as in the reference.

use super::buffered::Held;
use super::names::Names;
use super::tpcds::jsd;
use super::ResidualClass;
use rustc_hash::FxHashMap;

/// Counts of item ids per key id.
type Mix = FxHashMap<u32, FxHashMap<u32, u64>>;

/// The mixes of the current bucket and the one before.
pub(crate) struct Mixes {
    bucket_seconds: f64,
    current: Mix,
    prev: Mix,
    bucket: i64,
}

impl Mixes {
    pub(crate) fn new(bucket_seconds: f64) -> Self {
        Self {
            bucket_seconds,
            current: Mix::default(),
            prev: Mix::default(),
            bucket: 0,
        }
    }

    /// Counts `item` under `key` at `t` seconds from the trace's start,
    /// after emitting the residuals of a bucket that `t` leaves behind.
    /// Keys are emitted in the order of `rank` (names in byte order).
    pub(crate) fn count(
        &mut self,
        t: f64,
        key: u32,
        item: u32,
        names: &Names,
        rank: &[u32],
        held: &mut Held,
    ) {
        let b = (t / self.bucket_seconds) as i64;
        if b != self.bucket {
            self.flush(names, rank, held);
            self.prev = std::mem::take(&mut self.current);
            self.bucket = b;
        }
        *self
            .current
            .entry(key)
            .or_default()
            .entry(item)
            .or_insert(0) += 1;
    }

    /// One phase residual per key of the current bucket also in the one
    /// before, keys in `rank` order, stamped with the current bucket's start.
    fn flush(&self, names: &Names, rank: &[u32], held: &mut Held) {
        let mut keys: Vec<u32> = self.current.keys().copied().collect();
        keys.sort_unstable_by_key(|&k| rank[k as usize]);
        for k in keys {
            if let Some(p) = self.prev.get(&k) {
                let d = jsd(names, p, &self.current[&k]);
                let t = self.bucket as f64 * self.bucket_seconds;
                held.push(t, ResidualClass::WorkloadPhase, names.name(k), d);
            }
        }
    }
}
