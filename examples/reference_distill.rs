//! The reference side of the trace-adapter timing: dsfb-database 0.1.1's
//! adapter `load` for a `--from` format, on one file, so `hyperfine` can time
//! it next to `motifd distill` (docs/performance.md, "Trace adapters").
//! `cargo run --release --example reference_distill -- FORMAT FILE`

use dsfb_database::adapters::{self, DatasetAdapter};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, file] = args.as_slice() else {
        eprintln!("usage: reference_distill FORMAT FILE");
        std::process::exit(2);
    };
    let path = Path::new(file);
    let started = std::time::Instant::now();
    let stream = match format.as_str() {
        "pg-stat-statements" => adapters::postgres::load_pg_stat_statements(path),
        "ceb" => adapters::ceb::Ceb.load(path),
        "job" => adapters::job::Job.load(path),
        "tpcds" => adapters::tpcds::TpcDs.load(path),
        "snowset" => adapters::snowset::Snowset.load(path),
        "sqlshare" => adapters::sqlshare::SqlShare.load(path),
        "sqlshare-text" => adapters::sqlshare_text::SqlShareText.load(path),
        "otel" => adapters::otel::load_otel_db_spans(path),
        "generic" => adapters::generic_csv::load_generic_csv(path, &Default::default()),
        other => {
            eprintln!("unknown format {other}");
            std::process::exit(2);
        }
    };
    match stream {
        Ok(s) => eprintln!(
            "reference {format}: {} residuals in {:.3} s",
            s.len(),
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("reference {format}: {e:#}");
            std::process::exit(1);
        }
    }
}
