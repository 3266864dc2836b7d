//! A producer's name → id cache, searched by the bytes of a record's field.
//!
//! Every parsed record looks its channel name up here, so the lookup is on
//! the hot path (docs/performance.md, "Where a replay's CPU goes"). A name of
//! up to 16 bytes is told apart by two machine words read straight from its
//! bytes plus its length, so a lookup hashes three integers and compares
//! them, without following the name's pointer or calling `memcmp`. A longer
//! name compares its words first and the rest of its bytes only when they
//! match.

use super::Name;
use crate::sample::ChannelId;
use hashbrown::HashTable;

/// A name's length and two words that, for names of at most 16 bytes,
/// determine every byte (see [`Key::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    words: [u64; 2],
    len: usize,
}

impl Key {
    /// The words of `bytes`: for 8 or more bytes the first and the last
    /// eight (overlapping when shorter than 16), for 4 to 7 the first and
    /// the last four, below that the first, middle and last byte. Together
    /// with the length these cover every byte of a name of up to 16 bytes.
    #[inline]
    fn of(bytes: &[u8]) -> Self {
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
        Self { words, len }
    }

    /// The key alone identifies the name.
    #[inline]
    fn is_whole(&self) -> bool {
        self.len <= 16
    }

    #[inline]
    fn hash(&self) -> u64 {
        // Multiplicative mixing of the three integers (as FxHash does):
        // a collision costs a comparison, never a wrong answer.
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        let h = (self.words[0].wrapping_mul(K) ^ self.words[1]).wrapping_mul(K);
        (h ^ self.len as u64).wrapping_mul(K).rotate_left(26)
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

#[derive(Debug)]
struct Entry {
    key: Key,
    id: ChannelId,
    /// Shared with the table; read only to compare names over 16 bytes.
    name: Name,
}

/// Name → id for the names one producer has seen.
#[derive(Debug, Default)]
pub(super) struct NameCache {
    table: HashTable<Entry>,
}

impl NameCache {
    /// The id cached for `bytes`.
    #[inline]
    pub(super) fn get(&self, bytes: &[u8]) -> Option<ChannelId> {
        let key = Key::of(bytes);
        self.table
            .find(key.hash(), |e| {
                e.key == key && (key.is_whole() || e.name.0.as_bytes() == bytes)
            })
            .map(|e| e.id)
    }

    /// Caches `id` for `name` (not cached yet).
    pub(super) fn insert(&mut self, name: Name, id: ChannelId) {
        let key = Key::of(name.0.as_bytes());
        self.table
            .insert_unique(key.hash(), Entry { key, id, name }, |e| e.key.hash());
    }

    pub(super) fn capacity(&self) -> usize {
        self.table.capacity()
    }

    pub(super) fn clear(&mut self) {
        self.table.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
    fn long_names_are_compared_in_full() {
        let mut cache = NameCache::default();
        // Same length, same first and last eight bytes, different middle.
        let a = "prefix00-middle-A-suffix00";
        let b = "prefix00-middle-B-suffix00";
        assert_eq!(Key::of(a.as_bytes()), Key::of(b.as_bytes()));
        cache.insert(Name(Arc::from(a)), 1);
        assert_eq!(cache.get(a.as_bytes()), Some(1));
        assert_eq!(cache.get(b.as_bytes()), None);
        cache.insert(Name(Arc::from(b)), 2);
        assert_eq!(
            (cache.get(a.as_bytes()), cache.get(b.as_bytes())),
            (Some(1), Some(2))
        );
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
