//! CEB (`query_id,subplan_id,true_rows,est_rows`): one cardinality residual per
//! row on channel `query_id#subplan_id`, at a synthetic time.
//!
//! Needs the whole trace: rows are sorted by query id (stable) and the time of
//! a row is the rank of its query id plus a hundredth per subplan key counted
//! over the whole sorted trace.

use super::buffered::Held;
use super::formulas::q_error;
use super::names::Names;
use super::tabular::{Reject, Row, Tabular};
use super::{DistillError, Out, ResidualClass};

#[derive(Debug, Clone, Copy)]
struct Sub {
    qid: u32,
    subplan: u32,
    true_rows: f64,
    est_rows: f64,
}

#[derive(Default)]
pub(crate) struct Ceb {
    rows: Vec<Sub>,
    names: Names,
}

impl Tabular for Ceb {
    const COLUMNS: &'static [&'static str] = &["query_id", "subplan_id", "true_rows", "est_rows"];
    const REQUIRED: usize = 4;

    fn row(&mut self, row: &Row<'_>) -> Result<(), Reject> {
        let true_rows = row_count(row, 2)?;
        let est_rows = row_count(row, 3)?;
        let qid = self.names.id(row.str(0));
        let subplan = self.names.id(row.str(1));
        self.rows.push(Sub {
            qid,
            subplan,
            true_rows,
            est_rows,
        });
        Ok(())
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        let rank = self.names.ranks();
        // Stable by query id: file order within a query.
        self.rows.sort_by_key(|r| rank[r.qid as usize]);
        let mut held = Held::default();
        let mut key = String::new();
        let (mut q_index, mut last_qid) = (0usize, None);
        for r in &self.rows {
            if last_qid.is_some_and(|q| q != r.qid) {
                q_index += 1;
            }
            last_qid = Some(r.qid);
            key.clear();
            key.push_str(self.names.name(r.qid));
            key.push('#');
            key.push_str(self.names.name(r.subplan));
            // The subplan index is the channel's order of first sight over the
            // whole sorted trace — channel ids are exactly that. (Distinct
            // (query, subplan) pairs that spell the same key share it.)
            let sp = held.channels.id(&key) as usize;
            let t = q_index as f64 + (sp % 100) as f64 * 0.01;
            held.push_id(
                t,
                ResidualClass::Cardinality,
                sp as u32,
                q_error(r.est_rows, r.true_rows),
            );
        }
        held.flush(out)?;
        Ok(())
    }
}

/// A row count for the cardinality formula: NaN and −∞ count as 1 row there
/// (as in the reference); +∞ would make the residual infinite, so it is refused.
pub(crate) fn row_count(row: &Row<'_>, i: usize) -> Result<f64, Reject> {
    let v = row.f64(i)?;
    if v == f64::INFINITY {
        return Err(Reject::non_finite(row.name(i), v));
    }
    Ok(v)
}
