//! Episode records of partitioned runs (the Kafka source, `motifd replay
//! --partitions`): the usual record plus the partition and a deterministic
//! id, so the duplicates an at-least-once handover can produce after a crash
//! are recognisable — the same episode gets the same id, whichever instance
//! closed it and however often.
//!
//! The id is FNV-1a 64 of `motif \xff channel \xff t_start` (t_start as its
//! IEEE-754 bits, little-endian), written as 16 hex digits. A motif closes at
//! most one episode per channel starting at a given sample time, so the id
//! names one episode. FNV-1a is written out here rather than taken from a
//! hashing crate because the id is stored and compared across versions: it
//! must never change with a dependency update.
//!
//! Only partitioned runs carry the two extra fields: the record of a plain
//! replay or daemon run stays as docs/semantics.md defines it.

use motifd_engine::intern::Interner;
use motifd_engine::{Episode, Grammar};

/// The id of the episode of `motif` on `channel` that opened at `t_start`.
pub fn episode_id(motif: &str, channel: &str, t_start: f64) -> u64 {
    let mut h = Fnv1a64::default();
    h.eat(motif.as_bytes());
    h.eat(&[0xff]);
    h.eat(channel.as_bytes());
    h.eat(&[0xff]);
    h.eat(&t_start.to_bits().to_le_bytes());
    h.0
}

/// FNV-1a, 64 bits.
struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a64 {
    fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The id as it is written: 16 lowercase hex digits.
pub fn id_hex(id: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = HEX[((id >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// Appends the JSON record of `e` closed in `partition`: the usual fields,
/// then `"partition"` and `"id"`, and a newline. Returns the id.
pub fn write_json(
    e: &Episode,
    grammar: &Grammar,
    names: &Interner,
    partition: u32,
    out: &mut Vec<u8>,
) -> u64 {
    let start = out.len();
    e.write_json(grammar, names, out);
    // `write_json` ends the object with `}\n`: reopen it.
    debug_assert!(out[start..].ends_with(b"}\n"));
    out.truncate(out.len() - 2);
    let id = episode_id(
        &grammar.motif(e.motif).name,
        names.name(e.channel),
        e.t_start,
    );
    out.extend_from_slice(b",\"partition\":");
    out.extend_from_slice(partition.to_string().as_bytes());
    out.extend_from_slice(b",\"id\":\"");
    out.extend_from_slice(&id_hex(id));
    out.extend_from_slice(b"\"}\n");
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use motifd_engine::{ChannelNames, ClosedBy};

    const PINNED_ID: &[u8; 16] = b"601268ae42c0da02";

    #[test]
    fn the_id_follows_motif_channel_and_start_only() {
        let a = episode_id("cache_collapse", "q1", 1_700_000_000.25);
        assert_eq!(a, episode_id("cache_collapse", "q1", 1_700_000_000.25));
        assert_ne!(a, episode_id("cache_collapse", "q2", 1_700_000_000.25));
        assert_ne!(a, episode_id("contention_ramp", "q1", 1_700_000_000.25));
        assert_ne!(a, episode_id("cache_collapse", "q1", 1_700_000_000.5));
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(episode_id("ab", "c", 0.0), episode_id("a", "bc", 0.0));
        assert_eq!(&id_hex(0x0123_4567_89ab_cdef), b"0123456789abcdef");
    }

    #[test]
    fn the_hash_is_the_published_fnv1a_64_and_ids_never_change() {
        // Published FNV-1a 64 test vectors.
        for (input, want) in [
            (&b""[..], 0xcbf2_9ce4_8422_2325u64),
            (b"a", 0xaf63_dc4c_8601_ec8c),
            (b"foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut h = Fnv1a64::default();
            h.eat(input);
            assert_eq!(h.0, want, "{input:?}");
        }
        // Ids are stored in episode logs and topics: this one is pinned so a
        // change to the id rule cannot go unnoticed.
        assert_eq!(
            &id_hex(episode_id("cache_collapse", "cach-1", 1_700_000_001.75)),
            PINNED_ID
        );
    }

    #[test]
    fn the_record_is_the_usual_one_plus_partition_and_id() {
        let names = ChannelNames::default();
        let channel = names.local().intern("q1");
        let grammar = Grammar::default();
        let e = Episode {
            motif: 0,
            channel,
            t_start: 10.0,
            t_end: 12.5,
            peak: 1.0,
            ema_at_boundary: 0.5,
            trust_sum: 1.0,
            trust_weight: 0.5,
            samples: 3,
            closed_by: ClosedBy::Dwell,
        };
        let (mut plain, mut partitioned) = (Vec::new(), Vec::new());
        e.write_json(&grammar, &names.lock(), &mut plain);
        let id = write_json(&e, &grammar, &names.lock(), 4, &mut partitioned);
        let v: serde_json::Value = serde_json::from_slice(&partitioned).unwrap();
        assert_eq!(v["partition"], 4);
        assert_eq!(
            v["id"].as_str().unwrap().as_bytes(),
            &id_hex(episode_id(&grammar.motif(0).name, "q1", 10.0))
        );
        assert_eq!(id, episode_id(&grammar.motif(0).name, "q1", 10.0));
        let head = &plain[..plain.len() - 2];
        assert!(partitioned.starts_with(head));
        assert!(partitioned.ends_with(b"\"}\n"));
    }
}
