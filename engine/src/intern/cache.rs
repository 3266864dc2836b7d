//! A producer's name → id cache, searched by the bytes of a record's field.
//!
//! Every parsed record looks its channel name up here, so the lookup is on
//! the hot path (docs/performance.md, "Where a replay's CPU goes"). A name of
//! up to 16 bytes is told apart by two machine words read straight from its
//! bytes plus its length, so its lookup hashes three integers and compares
//! them, without following a pointer or calling `memcmp`, and its entry is
//! 24 bytes. Longer names are kept by their bytes in an ordinary map.

use super::Name;
use crate::sample::ChannelId;
use hashbrown::HashTable;
use rustc_hash::FxHashMap;

/// The longest name kept by its words alone.
const SHORT: usize = 16;

/// A name of at most [`SHORT`] bytes, exactly: its length and two words
/// that determine every byte (see [`Key::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    words: [u64; 2],
    len: u32,
}

impl Key {
    /// The words of `bytes` (at most [`SHORT`] of them): for 8 or more the
    /// first and the last eight (overlapping below 16), for 4 to 7 the first
    /// and the last four, below that the first, middle and last byte.
    /// Together with the length they cover every byte.
    #[inline]
    fn of(bytes: &[u8]) -> Self {
        debug_assert!(bytes.len() <= SHORT);
        let len = bytes.len();
        let words = if len >= 8 {
            [word8(&bytes[..8]), word8(&bytes[len - 8..])]
        } else if len >= 4 {
            [word4(&bytes[..4]), word4(&bytes[len - 4..])]
        } else if len > 0 {
            let (first, middle, last) = (bytes[0], bytes[len / 2], bytes[len - 1]);
            [u64::from_le_bytes([first, middle, last, 0, 0, 0, 0, 0]), 0]
        } else {
            [0, 0]
        };
        Self {
            words,
            len: len as u32,
        }
    }

    #[inline]
    fn hash(&self) -> u64 {
        // Multiplicative mixing of the three integers (as FxHash does):
        // a collision costs a comparison, never a wrong answer.
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        let h = (self.words[0].wrapping_mul(K) ^ self.words[1]).wrapping_mul(K);
        (h ^ u64::from(self.len)).wrapping_mul(K).rotate_left(26)
    }
}

#[inline]
fn word8(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    u64::from_le_bytes(w)
}

#[inline]
fn word4(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(bytes);
    u64::from(u32::from_le_bytes(w))
}

/// A [`Key`]'s fields and the id side by side: 24 bytes.
#[derive(Debug)]
struct ShortEntry {
    words: [u64; 2],
    len: u32,
    id: ChannelId,
}

impl ShortEntry {
    #[inline]
    fn key(&self) -> Key {
        Key {
            words: self.words,
            len: self.len,
        }
    }
}

/// Name → id for the names one producer has seen.
#[derive(Debug, Default)]
pub(super) struct NameCache {
    short: HashTable<ShortEntry>,
    long: FxHashMap<Name, ChannelId>,
}

impl NameCache {
    /// The id cached for `bytes`.
    #[inline]
    pub(super) fn get(&self, bytes: &[u8]) -> Option<ChannelId> {
        if bytes.len() > SHORT {
            return self.long.get(bytes).copied();
        }
        let key = Key::of(bytes);
        self.short
            .find(key.hash(), |e| e.key() == key)
            .map(|e| e.id)
    }

    /// Caches `id` for `name` (not cached yet).
    pub(super) fn insert(&mut self, name: Name, id: ChannelId) {
        let bytes = name.0.as_bytes();
        if bytes.len() > SHORT {
            self.long.insert(name, id);
            return;
        }
        let key = Key::of(bytes);
        let entry = ShortEntry {
            words: key.words,
            len: key.len,
            id,
        };
        self.short
            .insert_unique(key.hash(), entry, |e| e.key().hash());
    }

    /// Names the cache has room for without growing.
    pub(super) fn capacity(&self) -> usize {
        self.short.capacity() + self.long.capacity()
    }

    pub(super) fn clear(&mut self) {
        self.short.clear();
        self.long.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_short_entry_is_24_bytes() {
        assert_eq!(std::mem::size_of::<ShortEntry>(), 24);
    }

    #[test]
    fn keys_of_short_names_differ_when_the_names_do() {
        // Every name of up to 3 bytes over a small alphabet, and names of 4
        // to 17 bytes differing in one position: no two share a key.
        let alphabet = [b'a', b'b', 0, 0xff];
        let mut names: Vec<Vec<u8>> = vec![vec![]];
        for len in 1..=3u32 {
            for i in 0..alphabet.len().pow(len) {
                let mut n = i;
                names.push(
                    (0..len)
                        .map(|_| {
                            let c = alphabet[n % alphabet.len()];
                            n /= alphabet.len();
                            c
                        })
                        .collect(),
                );
            }
        }
        for len in 4..=16 {
            for pos in 0..len {
                let mut name = vec![b'q'; len];
                name[pos] = b'r';
                names.push(name);
            }
            names.push(vec![b'q'; len]);
        }
        let mut keys: Vec<Key> = names.iter().map(|n| Key::of(n)).collect();
        keys.sort_by_key(|k| (k.len, k.words));
        keys.dedup();
        assert_eq!(keys.len(), names.len());
    }

    #[test]
    fn names_around_the_short_limit_are_told_apart() {
        let mut cache = NameCache::default();
        // Same first and last eight bytes, different middles, at and above
        // the limit.
        let names = [
            "prefix00-A-suffix00",
            "prefix00-B-suffix00",
            "prefix0AB-suffix",
            "prefix0BA-suffix",
        ];
        for (id, name) in names.iter().enumerate() {
            assert_eq!(cache.get(name.as_bytes()), None);
            cache.insert(Name(Arc::from(*name)), id as ChannelId);
        }
        for (id, name) in names.iter().enumerate() {
            assert_eq!(cache.get(name.as_bytes()), Some(id as ChannelId));
        }
    }

    #[test]
    fn every_name_finds_its_own_id() {
        let mut cache = NameCache::default();
        let names: Vec<String> = (0..5000)
            .map(|i| match i % 3 {
                0 => format!("q{i}"),
                1 => format!("{i:020}"),
                _ => format!("channel/with/a/long/path/{i}"),
            })
            .collect();
        for (id, name) in names.iter().enumerate() {
            cache.insert(Name(Arc::from(name.as_str())), id as ChannelId);
        }
        for (id, name) in names.iter().enumerate() {
            assert_eq!(cache.get(name.as_bytes()), Some(id as ChannelId), "{name}");
        }
        assert_eq!(cache.get(b"q1"), None);
        assert_eq!(cache.get(b""), None);
    }
}
