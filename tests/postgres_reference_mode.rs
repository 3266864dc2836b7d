//! The `reference` residual mode against the reference itself:
//! `dsfb_database::live::distiller::DistillerState::ingest` (dev-dependency,
//! feature `live-postgres`) on the same generated snapshot sequences must
//! give the same residual stream, bit for bit — times, classes, channels,
//! values and order.

use dsfb_database::live::distiller as theirs;
use motifd::postgres::residuals::{Class, Distiller, Mode, TimeOrigin};
use motifd::postgres::snapshot::{ActivityRow, PgssRow, Snapshot, StatDatabaseRow, StatIoRow};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// One residual as compared: bits of t and value, class name, channel.
type Bits = (u64, &'static str, String, u64);

fn ours(snaps: &[Snapshot]) -> Vec<Bits> {
    let mut d = Distiller::new(Mode::Reference, TimeOrigin::FirstSnapshot);
    let mut out: Vec<(f64, Class, String, f64)> = Vec::new();
    for s in snaps {
        d.ingest(s, &mut out);
    }
    out.into_iter()
        .map(|(t, c, ch, v)| (t.to_bits(), c.as_str(), ch, v.to_bits()))
        .collect()
}

fn reference(snaps: &[Snapshot]) -> Vec<Bits> {
    let mut d = theirs::DistillerState::new();
    let mut out = Vec::new();
    for s in snaps {
        for r in d.ingest(&convert(s)) {
            out.push((
                r.t.to_bits(),
                r.class.name(),
                r.channel.unwrap_or_default(),
                r.value.to_bits(),
            ));
        }
    }
    out
}

fn convert(s: &Snapshot) -> theirs::Snapshot {
    theirs::Snapshot {
        t: s.t,
        pgss: s
            .pgss
            .iter()
            .map(|r| theirs::PgssRow {
                query_id: r.query_id.clone(),
                calls: r.calls,
                total_exec_time_ms: r.total_exec_time_ms,
            })
            .collect(),
        activity: s
            .activity
            .iter()
            .map(|r| theirs::ActivityRow {
                wait_event_type: r.wait_event_type.clone(),
                wait_event: r.wait_event.clone(),
                state: r.state.clone(),
            })
            .collect(),
        stat_io: s
            .stat_io
            .iter()
            .map(|r| theirs::StatIoRow {
                backend_type: r.backend_type.clone(),
                object: r.object.clone(),
                context: r.context.clone(),
                reads: r.reads,
                hits: r.hits,
                read_time_ms: r.read_time_ms,
            })
            .collect(),
        stat_database: s
            .stat_database
            .iter()
            .map(|r| theirs::StatDatabaseRow {
                datname: r.datname.clone(),
                blks_hit: r.blks_hit,
                blks_read: r.blks_read,
            })
            .collect(),
    }
}

const WAITS: [(&str, &str, &str, &str); 8] = [
    ("None", "None", "active", "client backend"),
    ("Client", "ClientRead", "idle", "client backend"),
    ("Lock", "tuple", "active", "client backend"),
    ("Lock", "transactionid", "active", "client backend"),
    ("LWLock", "WALWrite", "active", "client backend"),
    ("Activity", "CheckpointerMain", "", "checkpointer"),
    ("Activity", "AutoVacuumMain", "", "autovacuum launcher"),
    ("IO", "DataFileRead", "active", "client backend"),
];

/// A query id as the server spells it (md5 hex), or a hidden one ("").
fn qid(i: usize) -> String {
    if i == 0 {
        String::new()
    } else {
        format!(
            "{:032x}",
            (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        )
    }
}

/// Counters per query id / database, walked forward with resets, stalls
/// and (for execution time) the odd step back.
struct Walk {
    calls: Vec<u64>,
    ms: Vec<f64>,
    hits: Vec<u64>,
    reads: Vec<u64>,
    io: Vec<(u64, u64)>,
}

fn sequence(seed: u64) -> Vec<Snapshot> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let n_q = rng.gen_range(1..12);
    let n_db = rng.gen_range(1..4);
    let pg16 = seed % 3 == 0;
    let mut w = Walk {
        calls: (0..n_q).map(|_| rng.gen_range(0..1000)).collect(),
        ms: (0..n_q).map(|_| rng.gen_range(0.0..5000.0)).collect(),
        hits: (0..n_db).map(|_| rng.gen_range(0..100_000)).collect(),
        reads: (0..n_db).map(|_| rng.gen_range(0..1000)).collect(),
        io: vec![(0, 0); 4],
    };
    let mut t = 1.7e9 + rng.gen_range(0.0..1e6);
    let len = rng.gen_range(20..90);
    (0..len)
        .map(|_| {
            t += rng.gen_range(0.2..3.0);
            snapshot(&mut rng, &mut w, t, pg16)
        })
        .collect()
}

fn snapshot(rng: &mut Pcg64, w: &mut Walk, t: f64, pg16: bool) -> Snapshot {
    let mut s = Snapshot {
        t,
        ..Snapshot::default()
    };
    for i in 0..w.calls.len() {
        match rng.gen_range(0..100) {
            0..=2 => {
                // Reset (pg_stat_statements_reset, or evicted and back).
                w.calls[i] = rng.gen_range(0..5);
                w.ms[i] = rng.gen_range(0.0..10.0);
            }
            3..=14 => {} // calls not moving
            15..=17 => {
                w.calls[i] += rng.gen_range(1..50);
                w.ms[i] -= rng.gen_range(0.0..1.0); // time going back
            }
            _ => {
                let dc = rng.gen_range(1..200);
                w.calls[i] += dc;
                let slow = if rng.gen_bool(0.1) { 20.0 } else { 1.0 };
                w.ms[i] += dc as f64 * rng.gen_range(0.05..2.0) * slow;
            }
        }
        // Query ids appear and disappear; a few are listed twice (another
        // user runs the same statement).
        if rng.gen_bool(0.8) {
            s.pgss.push(pgss(i, w.calls[i], w.ms[i]));
            if rng.gen_bool(0.05) {
                s.pgss.push(pgss(
                    i,
                    rng.gen_range(0..w.calls[i] + 1),
                    rng.gen_range(0.0..100.0),
                ));
            }
        }
    }
    s.pgss.sort_by_key(|_| rng.gen::<u32>());
    for _ in 0..rng.gen_range(0..12) {
        let (wt, we, state, bt) = WAITS[rng.gen_range(0..WAITS.len())];
        s.activity.push(ActivityRow {
            wait_event_type: wt.into(),
            wait_event: we.into(),
            state: state.into(),
            backend_type: bt.into(),
        });
    }
    if pg16 && rng.gen_bool(0.9) {
        for (i, (obj, ctx)) in [
            ("relation", "normal"),
            ("relation", "bulkread"),
            ("temp relation", "normal"),
            ("relation", "vacuum"),
        ]
        .into_iter()
        .enumerate()
        {
            w.io[i].0 += rng.gen_range(0..500);
            w.io[i].1 += rng.gen_range(0..20);
            for bt in ["client backend", "autovacuum worker"] {
                s.stat_io.push(StatIoRow {
                    backend_type: bt.into(),
                    object: obj.into(),
                    context: ctx.into(),
                    reads: w.io[i].1 / 2,
                    hits: w.io[i].0 / 2,
                    read_time_ms: rng.gen_range(0.0..10.0),
                });
            }
        }
    }
    for d in 0..w.hits.len() {
        if rng.gen_bool(0.02) {
            w.hits[d] = rng.gen_range(0..10);
            w.reads[d] = rng.gen_range(0..10);
        } else {
            w.hits[d] += rng.gen_range(0..2000);
            w.reads[d] += if rng.gen_bool(0.3) {
                rng.gen_range(0..300)
            } else {
                0
            };
        }
        if rng.gen_bool(0.9) {
            s.stat_database.push(StatDatabaseRow {
                datname: ["bench", "postgres", "template1"][d].into(),
                blks_hit: w.hits[d],
                blks_read: w.reads[d],
            });
        }
    }
    s
}

fn pgss(i: usize, calls: u64, ms: f64) -> PgssRow {
    PgssRow {
        query_id: qid(i),
        calls,
        total_exec_time_ms: ms,
        own: i == 1,
    }
}

#[test]
fn reference_mode_equals_the_reference_distiller_bit_for_bit() {
    let mut classes = std::collections::BTreeMap::new();
    for seed in 0..40 {
        let snaps = sequence(seed);
        let (a, b) = (ours(&snaps), reference(&snaps));
        assert_eq!(a.len(), b.len(), "seed {seed}: stream lengths differ");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "seed {seed}: residual {i} differs");
        }
        for (_, class, _, _) in &a {
            *classes.entry(*class).or_insert(0u64) += 1;
        }
    }
    // Every class the reference emits was exercised, plentifully.
    for class in [
        "plan_regression",
        "contention",
        "cache_io",
        "workload_phase",
    ] {
        assert!(
            classes.get(class).copied().unwrap_or(0) > 100,
            "{class}: {classes:?}"
        );
    }
}

#[test]
fn the_tape_form_of_a_sequence_gives_the_same_residuals() {
    // Snapshots through JSON (the tape's line format) and back.
    for seed in 100..110 {
        let snaps = sequence(seed);
        let back: Vec<Snapshot> = snaps
            .iter()
            .map(|s| serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap())
            .collect();
        assert_eq!(ours(&snaps), ours(&back), "seed {seed}");
        assert_eq!(reference(&snaps), ours(&back), "seed {seed}");
    }
}
