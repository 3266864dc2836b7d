//! Channel name interning, and freeing the names nothing refers to any more
//! (docs/semantics.md#channel-names).
//!
//! Producers resolve names to ids through a [`LocalInterner`], a private cache in
//! front of the shared [`ChannelNames`] table. The shared table is locked only on
//! a cache miss (a channel the producer has never seen), so a producer's steady
//! state takes no lock; the engine thread locks it only to print an episode.
//!
//! **Collection.** With collection on ([`ChannelNames::set_collection`]), the
//! engine thread calls [`ChannelNames::collect`] after every batch. When the
//! table has grown to twice what the pipeline referred to at the last
//! collection (plus some slack), the names the pipeline does not refer to now
//! — no tracked (motif, channel), no staged or held sample — become
//! *candidates* and the table moves to a new *epoch*. An id can still be in
//! flight: cached by a producer, or in a batch not yet applied. So every
//! producer cache and every batch *pins* the epoch it was made under
//! ([`NamesPin`]); a producer re-syncs its cache when the epoch changes
//! ([`crate::ingest::BatchWriter::follow_names`]), and a name looked up again
//! meanwhile stops being a candidate. Once nothing pins the old epoch, the
//! candidates the pipeline still does not refer to are freed and their ids
//! reused. Turning collection on is only safe when every producer follows the
//! names, which is why it is off by default.

use crate::checkpoint::codec::{malformed, Decoded, Reader, Writer};
use crate::sample::{ChannelId, ANONYMOUS, ANONYMOUS_NAME};
use rustc_hash::FxHashMap;
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

mod cache;
mod collect;

use cache::NameCache;
pub use collect::NamesPin;
use collect::{bit, set_bit, Collector, SLACK_NAMES};

/// Ids a checkpoint may name: a table's ids stay below the most names it held
/// at once, and a run holding 2^26 names would need gigabytes for them. The
/// bound keeps a damaged file from making the restored table (16 bytes per id)
/// or a channel table (4 bytes per id and motif) allocate without limit.
const MAX_RESTORED_ID: ChannelId = 1 << 26;

/// One interned name. A single allocation is shared by the shared table (map
/// key and id → name list) and every producer's cache, which keeps the
/// per-channel cost of a name to one small allocation. It hashes and compares
/// as its bytes, so maps of `Name` can be searched with a `&[u8]`.
#[derive(Debug, Clone)]
struct Name(Arc<str>);

impl Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes() == other.0.as_bytes()
    }
}

impl Eq for Name {}

/// The process-wide id ↔ name table.
///
/// Invariants: `ids` and `names` hold the same names (`names[id] ==
/// Some(name)` ⇔ `ids[name] == id`); `free` lists exactly the ids below
/// `names.len()` without a name; `bytes` is the sum of the held names'
/// lengths; id 0 is always `_anonymous_`.
#[derive(Debug)]
pub struct Interner {
    /// Name → id of every name held.
    ids: FxHashMap<Name, ChannelId>,
    /// `names[id]`: the name of `id`, `None` for a freed id.
    names: Vec<Option<Name>>,
    /// Freed ids, reused before new ones are issued.
    free: Vec<ChannelId>,
    /// Bytes of the names held.
    bytes: usize,
    /// Which epoch the table is in (mirrored in [`ChannelNames`]'s atomic).
    epoch: u64,
    collector: Collector,
}

impl Default for Interner {
    fn default() -> Self {
        let mut interner = Self::empty();
        let anonymous = interner.intern(ANONYMOUS_NAME);
        debug_assert_eq!(anonymous, ANONYMOUS);
        interner
    }
}

impl Interner {
    fn empty() -> Self {
        Self {
            ids: FxHashMap::default(),
            names: Vec::new(),
            free: Vec::new(),
            bytes: 0,
            epoch: 0,
            collector: Collector::default(),
        }
    }

    /// Returns the id of `name`, assigning a free one on first sight.
    pub fn intern(&mut self, name: &str) -> ChannelId {
        self.intern_shared(name).0
    }

    /// Like [`Interner::intern`], also handing out the shared name.
    fn intern_shared(&mut self, name: &str) -> (ChannelId, Name) {
        if let Some((key, &id)) = self.ids.get_key_value(name.as_bytes()) {
            self.collector.looked_up(id);
            return (id, key.clone());
        }
        let shared = Name(Arc::from(name));
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = Some(shared.clone());
                id
            }
            None => {
                let id = ChannelId::try_from(self.names.len()).unwrap_or(ChannelId::MAX);
                self.names.push(Some(shared.clone()));
                id
            }
        };
        self.ids.insert(shared.clone(), id);
        self.bytes += name.len();
        (id, shared)
    }

    /// Name of `id`; `"?"` for an id this table does not hold.
    pub fn name(&self, id: ChannelId) -> &str {
        match self.names.get(id as usize) {
            Some(Some(n)) => &n.0,
            _ => "?",
        }
    }

    /// Whether `id` has a name.
    pub fn contains(&self, id: ChannelId) -> bool {
        matches!(self.names.get(id as usize), Some(Some(_)))
    }

    /// Number of names held (including `_anonymous_`).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Never true: `_anonymous_` is always present.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Bytes of the names held: what the names themselves take, besides
    /// about 60 bytes of bookkeeping per name.
    pub fn name_bytes(&self) -> usize {
        self.bytes
    }

    /// Names freed by collection so far.
    pub fn freed(&self) -> u64 {
        self.collector.freed()
    }

    /// The ids with a name that `visit` reports, and `_anonymous_`, in id
    /// order.
    pub(crate) fn referenced(
        &self,
        visit: impl FnOnce(&mut dyn FnMut(ChannelId)),
    ) -> Vec<ChannelId> {
        let mut marks = vec![0u64; self.names.len().div_ceil(64)];
        visit(&mut |id| {
            if let Some(w) = marks.get_mut(id as usize / 64) {
                *w |= 1 << (id % 64);
            }
        });
        set_bit(&mut marks, ANONYMOUS, true);
        (0..self.names.len() as ChannelId)
            .filter(|&id| bit(&marks, id) && self.contains(id))
            .collect()
    }
}

/// Checkpoint part: the names the pipeline refers to, with their ids; every
/// other id is free in the restored table.
impl Interner {
    /// Writes the names of `ids` ([`Self::referenced`]).
    pub(crate) fn encode_ids(&self, w: &mut Writer, ids: &[ChannelId]) {
        w.len(ids.len());
        for &id in ids {
            w.u32(id);
            w.str(self.name(id));
        }
    }

    /// Reads a table written by [`Self::encode_ids`]: `_anonymous_`
    /// must be id 0, and no id or name may appear twice.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Decoded<Self> {
        let n = r.len("channel names", 12)?;
        let mut table = Self::empty();
        for _ in 0..n {
            let id = r.u32("channel id")?;
            let name = r.str("channel name")?;
            if table.contains(id) || table.ids.contains_key(name.as_bytes()) {
                return Err(malformed(format!(
                    "channel {id} {name:?}: the id or the name appears twice"
                )));
            }
            if (id == ANONYMOUS) != (name == ANONYMOUS_NAME) {
                return Err(malformed(format!(
                    "channel {id} is {name:?}: {ANONYMOUS_NAME:?} must be channel {ANONYMOUS}"
                )));
            }
            if id >= MAX_RESTORED_ID {
                return Err(malformed(format!(
                    "channel id {id} is beyond any table a run builds ({MAX_RESTORED_ID})"
                )));
            }
            if table.names.len() <= id as usize {
                table.names.resize(id as usize + 1, None);
            }
            let shared = Name(Arc::from(name));
            table.names[id as usize] = Some(shared.clone());
            table.ids.insert(shared, id);
            table.bytes += name.len();
        }
        if !table.contains(ANONYMOUS) {
            return Err(malformed(format!(
                "the channel names lack {ANONYMOUS_NAME:?}"
            )));
        }
        table.free = (0..table.names.len() as ChannelId)
            .rev()
            .filter(|&id| !table.contains(id))
            .collect();
        table.set_thresholds();
        Ok(table)
    }
}

/// The table and its epoch, readable without the lock.
#[derive(Debug, Default)]
struct Shared {
    table: Mutex<Interner>,
    epoch: AtomicU64,
}

/// Shared handle on the [`Interner`]. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ChannelNames(Arc<Shared>);

impl ChannelNames {
    /// Locks the table. A panic elsewhere cannot poison it for good: every
    /// change leaves the table consistent before the next one starts.
    pub fn lock(&self) -> MutexGuard<'_, Interner> {
        self.0.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle on `table` (a restored one).
    pub fn new(table: Interner) -> Self {
        let epoch = table.epoch;
        Self(Arc::new(Shared {
            table: Mutex::new(table),
            epoch: AtomicU64::new(epoch),
        }))
    }

    /// A producer-private cache in front of this table.
    pub fn local(&self) -> LocalInterner {
        let (epoch, pin) = self.current();
        LocalInterner {
            shared: self.clone(),
            cache: NameCache::default(),
            epoch,
            pin,
        }
    }

    fn current(&self) -> (u64, NamesPin) {
        let t = self.lock();
        (t.epoch, t.collector.pin())
    }

    /// Turns collection on or off. On only when every producer calls
    /// [`crate::ingest::BatchWriter::follow_names`] before the lines it
    /// parses (see the module documentation).
    pub fn set_collection(&self, on: bool) {
        self.lock().collector.set_enabled(on);
    }

    /// One step of collection, for the engine thread after each batch it
    /// applied: cheap unless the table has grown or a round can end.
    pub fn collect(&self, pipeline: &crate::Pipeline) {
        let mut t = self.lock();
        if t.collect(|f| pipeline.for_each_channel(f)) {
            self.0.epoch.store(t.epoch, Ordering::Release);
        }
    }

    /// Bytes of the names held (see [`Interner::name_bytes`]).
    pub fn name_bytes(&self) -> usize {
        self.lock().name_bytes()
    }
}

/// Per-producer cache of name → id. Looks up the shared table only on a miss.
#[derive(Debug)]
pub struct LocalInterner {
    shared: ChannelNames,
    /// Searched by bytes, so a known name is found without a UTF-8 check.
    cache: NameCache,
    /// The table's epoch this cache was filled in.
    epoch: u64,
    /// Pins that epoch while the cache holds its ids.
    pin: NamesPin,
}

impl LocalInterner {
    /// Id of the name in `bytes` (empty = [`ANONYMOUS`]); `None` if a name not
    /// seen before is not UTF-8. Known names cost one hash lookup.
    #[inline]
    pub fn intern_bytes(&mut self, bytes: &[u8]) -> Option<ChannelId> {
        if bytes.is_empty() {
            return Some(ANONYMOUS);
        }
        if let Some(id) = self.cache.get(bytes) {
            return Some(id);
        }
        let name = std::str::from_utf8(bytes).ok()?;
        let (id, shared) = self.shared.lock().intern_shared(name);
        self.cache.insert(shared, id);
        Some(id)
    }

    /// Id of `name` (empty = [`ANONYMOUS`]).
    #[inline]
    pub fn intern(&mut self, name: &str) -> ChannelId {
        if name.is_empty() {
            return ANONYMOUS;
        }
        if let Some(id) = self.cache.get(name.as_bytes()) {
            return id;
        }
        let (id, shared) = self.shared.lock().intern_shared(name);
        self.cache.insert(shared, id);
        id
    }

    /// The shared table behind this cache.
    pub fn names(&self) -> &ChannelNames {
        &self.shared
    }

    /// The table was collected since this cache was filled: call
    /// [`Self::refresh`] before parsing more (one atomic load).
    #[inline]
    pub fn is_stale(&self) -> bool {
        self.shared.0.epoch.load(Ordering::Acquire) != self.epoch
    }

    /// Empties the cache and moves it to the table's current epoch. Ids
    /// handed out before must not be used in a batch pinned with the new
    /// epoch.
    pub fn refresh(&mut self) {
        let (epoch, pin) = self.shared.current();
        if self.cache.capacity() > 4 * SLACK_NAMES {
            self.cache = NameCache::default();
        } else {
            self.cache.clear();
        }
        self.epoch = epoch;
        self.pin = pin;
    }

    /// The epoch the cached ids were issued under.
    pub fn pin(&self) -> &NamesPin {
        &self.pin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_and_shared_between_producers() {
        let names = ChannelNames::default();
        let mut a = names.local();
        let mut b = names.local();
        let q1 = a.intern("q1");
        let q2 = b.intern("q2");
        assert_eq!(b.intern("q1"), q1);
        assert_eq!(a.intern("q2"), q2);
        assert_eq!(a.intern(""), ANONYMOUS);
        assert_eq!(names.lock().name(q2), "q2");
        assert_eq!(names.lock().name(ANONYMOUS), ANONYMOUS_NAME);
        assert_eq!(names.lock().len(), 3);
        assert_eq!(names.name_bytes(), ANONYMOUS_NAME.len() + 4);
    }
}
