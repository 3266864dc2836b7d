//! Which Kafka partition a residual line belongs to: the rule `motifd
//! produce` sends by and `motifd replay --partitions` splits a file by, so a
//! replay of a file gives what a consumer group gives for the topic.
//!
//! The key of a record is `class|channel` (the class name as the grammar
//! spells it, the channel name as parsed; an anonymous record has an empty
//! channel: `class|`). Its partition is `(murmur2(key) & 0x7fffffff) % N`:
//! the Java client's default partitioner and librdkafka's `murmur2` /
//! `murmur2_random` partitioners, so any producer keyed the same way agrees.
//! All the lines of one (class, channel) land in one partition, in the order
//! they were sent, which is what makes per-partition state independent of
//! which instance holds the partition.

use motifd_engine::sample::ANONYMOUS;
use motifd_engine::{
    ChannelId, ChannelNames, ClassId, Grammar, RecordFormat, RecordParser, RejectReason,
};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Kafka's murmur2 (32-bit MurmurHash2, seed `0x9747b28c`), as
/// `org.apache.kafka.common.utils.Utils.murmur2` and librdkafka's
/// `rd_murmur2` compute it. Hand-written because the partition must match the
/// Kafka clients bit for bit; the general-purpose murmur crates differ in
/// seed and tail handling.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// The partition of `key` among `partitions` (> 0).
pub fn partition_of(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Appends the key of a record of `class` on `channel` to `out`.
pub fn write_key(class: &str, channel: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(class.as_bytes());
    out.push(b'|');
    out.extend_from_slice(channel.as_bytes());
}

/// What to do with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A record: its partition.
    To(u32),
    /// A blank line or the CSV header: carries no record.
    Skip,
    /// Not a record this grammar accepts.
    Reject(RejectReason),
}

/// Parses lines just far enough to route them: class and channel, cached per
/// (class, channel), so a known pair costs one parse and one hash lookup.
pub struct Router {
    partitions: u32,
    grammar: Arc<Grammar>,
    names: ChannelNames,
    parser: RecordParser,
    known: FxHashMap<(ClassId, ChannelId), u32>,
    key: Vec<u8>,
}

impl Router {
    /// Routes records of `grammar`'s classes among `partitions` (> 0).
    pub fn new(grammar: Arc<Grammar>, partitions: u32) -> Self {
        let names = ChannelNames::default();
        Self {
            partitions: partitions.max(1),
            parser: RecordParser::new(Arc::clone(&grammar), &names),
            grammar,
            names,
            known: FxHashMap::default(),
            key: Vec::with_capacity(64),
        }
    }

    /// The number of partitions.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// Where `line` (without its newline) goes; `format` None = per line.
    pub fn route(&mut self, line: &[u8], format: Option<RecordFormat>) -> Route {
        if line.iter().all(u8::is_ascii_whitespace) || motifd_engine::parse::is_csv_header(line) {
            return Route::Skip;
        }
        let parsed = match format {
            Some(f) => self.parser.parse(f, line),
            None => self.parser.auto(line),
        };
        match parsed {
            Ok(s) => Route::To(self.partition(s.class, s.channel)),
            Err(reason) => Route::Reject(reason),
        }
    }

    /// The key of the last line routed to a partition.
    pub fn last_key(&self) -> &[u8] {
        &self.key
    }

    fn partition(&mut self, class: ClassId, channel: ChannelId) -> u32 {
        self.key.clear();
        let names = self.names.lock();
        let channel_name = if channel == ANONYMOUS {
            ""
        } else {
            names.name(channel)
        };
        write_key(
            &self.grammar.classes()[class as usize],
            channel_name,
            &mut self.key,
        );
        drop(names);
        let (key, partitions) = (&self.key, self.partitions);
        *self
            .known
            .entry((class, channel))
            .or_insert_with(|| partition_of(key, partitions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_librdkafka_and_the_java_client() {
        // librdkafka's unit test (rdmurmur2.c, "java_murmur2_results").
        let unaligned = "PreAmbleWillBeRemoved,ThePrePartThatIs";
        let cases: [(&str, u32); 11] = [
            ("kafka", 0xd067_cf64),
            ("giberish123456789", 0x8f55_2b0c),
            ("1234", 0x9fc9_7b14),
            ("234", 0xe7c0_09ca),
            ("34", 0x8739_30da),
            ("4", 0x5a4b_5ca1),
            (unaligned, 0x7842_4f1c),
            (&unaligned[1..], 0x4a62_b377),
            (&unaligned[2..], 0xe0e4_e09e),
            (&unaligned[3..], 0x62b8_b43f),
            ("", 0x106e_08d9),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key.as_bytes()), want, "{key:?}");
        }
        // Kafka's Utils.murmur2 as signed ints (quoted by clients that
        // reimplement it).
        for (key, want) in [
            ("1", -1_993_445_489i32),
            ("12", 126_087_238),
            ("12345", -1_188_365_604),
        ] {
            assert_eq!(murmur2(key.as_bytes()) as i32, want, "{key:?}");
        }
    }

    #[test]
    fn the_partition_is_the_positive_hash_modulo_the_count() {
        let h = murmur2(b"kafka");
        assert!(h & 0x8000_0000 != 0, "a hash with the sign bit set");
        assert_eq!(partition_of(b"kafka", 7), (h & 0x7fff_ffff) % 7);
        assert_eq!(partition_of(b"kafka", 1), 0);
    }

    #[test]
    fn lines_route_by_class_and_channel_whatever_their_format() {
        let mut router = Router::new(Arc::new(Grammar::default()), 6);
        let csv = router.route(b"1.5,cache_io,cont-7,0.25", None);
        let json = router.route(
            br#"{"t":9,"class":"cache_io","channel":"cont-7","value":1}"#,
            None,
        );
        let mut key = Vec::new();
        write_key("cache_io", "cont-7", &mut key);
        assert_eq!(csv, Route::To(partition_of(&key, 6)));
        assert_eq!(json, csv);
        assert_eq!(router.last_key(), b"cache_io|cont-7");
        let anonymous = router.route(b"1,cache_io,,0.5", None);
        assert_eq!(anonymous, Route::To(partition_of(b"cache_io|", 6)));
        assert_eq!(router.route(b"t,class,channel,value", None), Route::Skip);
        assert_eq!(router.route(b"  ", None), Route::Skip);
        assert_eq!(
            router.route(b"1,no_such_class,q,1", None),
            Route::Reject(RejectReason::UnknownClass)
        );
    }
}
