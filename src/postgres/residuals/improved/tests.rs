use super::*;
use crate::postgres::snapshot::{ActivityRow, PgssRow, StatDatabaseRow};

type Out = Vec<(f64, Class, String, f64)>;

fn run(snaps: &[Snapshot]) -> Out {
    let mut d = Improved::new(TimeOrigin::Unix);
    let mut out = Out::new();
    for s in snaps {
        d.ingest(s, &mut out);
    }
    out
}

fn of(out: &Out, class: Class) -> Vec<(f64, String, f64)> {
    out.iter()
        .filter(|r| r.1 == class)
        .map(|r| (r.0, r.2.clone(), r.3))
        .collect()
}

/// One statement at 10 calls a second, `ms` per call from second `at` on.
fn statement(seconds: u32, slow_from: u32, ms: f64) -> Vec<Snapshot> {
    let (mut calls, mut total) = (0u64, 0.0);
    (0..seconds)
        .map(|i| {
            calls += 10;
            total += 10.0 * if i >= slow_from { ms } else { 1.0 };
            Snapshot {
                t: f64::from(i),
                pgss: vec![PgssRow {
                    query_id: "q".into(),
                    calls,
                    total_exec_time_ms: total,
                    own: false,
                }],
                ..Snapshot::default()
            }
        })
        .collect()
}

#[test]
fn a_regression_shows_at_once_as_a_log_ratio_and_one_slow_interval_does_not() {
    let out = run(&statement(40, 20, 10.0));
    let pr = of(&out, Class::PlanRegression);
    let before: Vec<f64> = pr.iter().filter(|r| r.0 < 20.0).map(|r| r.2).collect();
    assert!(
        !before.is_empty() && before.iter().all(|v| v.abs() < 1e-9),
        "{before:?}"
    );
    // The median of three needs two slow intervals: second 21.
    let at21 = pr.iter().find(|r| r.0 == 21.0).unwrap().2;
    assert!((at21 - 10f64.ln()).abs() < 0.05, "{at21}");
    // A single interval ten times slower in a steady run stays invisible
    // (the baseline learns from it a little: e^1 at weight 1/430).
    let mut blip = statement(30, 1000, 1.0);
    for s in &mut blip[15..] {
        s.pgss[0].total_exec_time_ms += 90.0;
    }
    let pr = of(&run(&blip), Class::PlanRegression);
    assert!(pr.iter().any(|r| r.0 == 15.0));
    assert!(pr.iter().all(|r| r.2.abs() < 0.003), "{pr:?}");
}

#[test]
fn a_lasting_change_is_learnt_and_a_reset_restarts_the_statement() {
    let mut snaps = statement(1500, 20, 3.0);
    let last = of(&run(&snaps), Class::PlanRegression).last().unwrap().2;
    assert!(
        last.abs() < 0.05,
        "still {last} after 1480 s at the new level"
    );
    // pg_stat_statements_reset: counters fall, no residual, warm-up again.
    for s in &mut snaps[30..] {
        s.pgss[0].calls -= 200;
        s.pgss[0].total_exec_time_ms -= 500.0;
    }
    let pr = of(&run(&snaps[..40]), Class::PlanRegression);
    assert!(
        pr.iter()
            .all(|r| r.0 < 30.0 || r.0 > 30.0 + f64::from(WARMUP_INTERVALS)),
        "{pr:?}"
    );
}

#[test]
fn contention_counts_blocked_client_sessions_per_wait_type() {
    let row = |wt: &str, we: &str, state: &str, bt: &str| ActivityRow {
        wait_event_type: wt.into(),
        wait_event: we.into(),
        state: state.into(),
        backend_type: bt.into(),
    };
    let snaps: Vec<Snapshot> = (0..8)
        .map(|i| {
            let mut activity = vec![
                row("Client", "ClientRead", "idle", "client backend"),
                row("Activity", "CheckpointerMain", "", "checkpointer"),
                row("Timeout", "PgSleep", "active", "client backend"),
            ];
            if (2..5).contains(&i) {
                activity.push(row("Lock", "transactionid", "active", "client backend"));
                activity.push(row("Lock", "tuple", "active", "client backend"));
                activity.push(row("Lock", "tuple", "active", "client backend"));
            }
            Snapshot {
                t: f64::from(i),
                activity,
                ..Snapshot::default()
            }
        })
        .collect();
    let c = of(&run(&snaps), Class::Contention);
    let values: Vec<(f64, f64)> = c.iter().map(|r| (r.0, r.2)).collect();
    assert!(c.iter().all(|r| r.1 == "Lock"), "{c:?}");
    // Median of three polls: 3 blocked from the second poll of the
    // pile-up, 0 from the second poll after it.
    assert_eq!(values, [(4.0, 3.0), (5.0, 3.0), (6.0, 0.0), (7.0, 0.0)]);
}

#[test]
fn cache_waits_for_enough_blocks_and_restarts_after_a_reset() {
    let db = |t: f64, hit: u64, read: u64| Snapshot {
        t,
        stat_database: vec![StatDatabaseRow {
            datname: "bench".into(),
            blks_hit: hit,
            blks_read: read,
        }],
        ..Snapshot::default()
    };
    let snaps = [
        db(0.0, 1000, 100),
        db(1.0, 1002, 101), // 3 blocks: wait
        db(2.0, 1050, 101), // 51 pending: wait
        db(3.0, 1050, 200), // 150 pending, 100 misses
        db(4.0, 5, 1),      // reset
        db(5.0, 105, 1),
    ];
    let c = of(&run(&snaps), Class::CacheIo);
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!((c[0].0, c[0].1.as_str()), (3.0, "db::bench"));
    assert!((c[0].2 - 100.0 / 150.0).abs() < 1e-12);
    assert_eq!((c[1].0, c[1].2), (5.0, 0.0));
}

#[test]
fn the_observers_own_statements_and_new_ids_leave_the_mix_alone() {
    let mut snaps = statement(60, 1000, 1.0);
    for (i, s) in snaps.iter_mut().enumerate() {
        s.pgss.push(PgssRow {
            query_id: "own".into(),
            calls: 4 * i as u64,
            total_exec_time_ms: i as f64,
            own: true,
        });
        if i >= 30 {
            // A statement appears with a large history of calls.
            s.pgss.push(PgssRow {
                query_id: "new".into(),
                calls: 1_000_000 + i as u64,
                total_exec_time_ms: 1.0,
                own: false,
            });
        }
    }
    let out = run(&snaps);
    let wp = of(&out, Class::WorkloadPhase);
    assert!(!wp.is_empty());
    // One call a second of "new" against ten of "q": a small shift, never
    // the million past calls.
    assert!(wp.iter().all(|r| r.2 < 0.1), "{wp:?}");
    assert!(of(&out, Class::PlanRegression).iter().all(|r| r.1 != "own"));
}
