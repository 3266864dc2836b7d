//! Channel name interning.
//!
//! Producers resolve names to ids through a [`LocalInterner`], a private cache in
//! front of the shared [`ChannelNames`] table. The shared table is locked only on
//! a cache miss (a channel the producer has never seen), so a producer's steady
//! state takes no lock; the engine thread locks it only to print an episode.

use crate::sample::{ChannelId, ANONYMOUS, ANONYMOUS_NAME};
use rustc_hash::FxHashMap;
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

/// The process-wide id ↔ name table. Ids are dense and assigned in first-seen order.
#[derive(Debug)]
pub struct Interner {
    ids: FxHashMap<Name, ChannelId>,
    names: Vec<Name>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut interner = Self {
            ids: FxHashMap::default(),
            names: Vec::new(),
        };
        let anonymous = interner.intern(ANONYMOUS_NAME);
        debug_assert_eq!(anonymous, ANONYMOUS);
        interner
    }
}

impl Interner {
    /// Returns the id of `name`, assigning the next free one on first sight.
    pub fn intern(&mut self, name: &str) -> ChannelId {
        self.intern_shared(name).0
    }

    /// Like [`Interner::intern`], also handing out the shared name.
    fn intern_shared(&mut self, name: &str) -> (ChannelId, Name) {
        if let Some((key, &id)) = self.ids.get_key_value(name.as_bytes()) {
            return (id, key.clone());
        }
        let id = ChannelId::try_from(self.names.len()).unwrap_or(ChannelId::MAX);
        let shared = Name(Arc::from(name));
        self.names.push(shared.clone());
        self.ids.insert(shared.clone(), id);
        (id, shared)
    }

    /// A table holding `names` with ids in list order, as [`Interner::name`]
    /// listed them (checkpoint restore). The first must be `_anonymous_`; a
    /// duplicate would make two ids share a name, so it is refused.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut table = Self {
            ids: FxHashMap::default(),
            names: Vec::new(),
        };
        for (i, name) in names.into_iter().enumerate() {
            if i == 0 && name != ANONYMOUS_NAME {
                return Err(format!(
                    "channel name 0 is {name:?}, not {ANONYMOUS_NAME:?}"
                ));
            }
            if table.ids.contains_key(name.as_bytes()) {
                return Err(format!("channel name {name:?} appears twice"));
            }
            if ChannelId::try_from(i).is_err() {
                return Err("more channel names than ids".into());
            }
            table.intern(name);
        }
        if table.names.is_empty() {
            return Err(format!("the channel names lack {ANONYMOUS_NAME:?}"));
        }
        Ok(table)
    }

    /// Name of `id`; `"?"` for an id this table never issued.
    pub fn name(&self, id: ChannelId) -> &str {
        self.names.get(id as usize).map_or("?", |n| &n.0)
    }

    /// Number of distinct names interned (including `_anonymous_`).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Never true: `_anonymous_` is always present.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Shared handle on the [`Interner`]. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ChannelNames(Arc<Mutex<Interner>>);

impl ChannelNames {
    /// Locks the table. A panic elsewhere cannot poison it for good: the table is
    /// append-only, so the data behind a poisoned lock is still consistent.
    pub fn lock(&self) -> MutexGuard<'_, Interner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle on `table` (a restored one).
    pub fn new(table: Interner) -> Self {
        Self(Arc::new(Mutex::new(table)))
    }

    /// A producer-private cache in front of this table.
    pub fn local(&self) -> LocalInterner {
        LocalInterner {
            shared: self.clone(),
            cache: FxHashMap::default(),
        }
    }
}

/// Per-producer cache of name → id. Looks up the shared table only on a miss.
#[derive(Debug)]
pub struct LocalInterner {
    shared: ChannelNames,
    /// Searched by bytes, so a known name is found without a UTF-8 check.
    cache: FxHashMap<Name, ChannelId>,
}

impl LocalInterner {
    /// Id of the name in `bytes` (empty = [`ANONYMOUS`]); `None` if a name not
    /// seen before is not UTF-8. Known names cost one hash lookup.
    #[inline]
    pub fn intern_bytes(&mut self, bytes: &[u8]) -> Option<ChannelId> {
        if bytes.is_empty() {
            return Some(ANONYMOUS);
        }
        if let Some(&id) = self.cache.get(bytes) {
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
        if let Some(&id) = self.cache.get(name.as_bytes()) {
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
    }
}
