//! The reference side of the trace-adapter timing: dsfb-database 0.1.1's
//! adapter `load` for a `--from` format, on one file, so `hyperfine` can time
//! it next to `motifd distill` (docs/performance.md, "Trace adapters"). With
//! `--write`, the stream is also written to stdout as `t,class,channel,value`
//! CSV the way `motifd distill` writes it (ryu floats), for a like-for-like
//! comparison.
//! `cargo run --release --example reference_distill -- FORMAT FILE [--write]`

use dsfb_database::adapters::{self, DatasetAdapter};
use dsfb_database::residual::ResidualStream;
use std::io::Write;
use std::path::Path;

fn write_csv(stream: &ResidualStream) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 17, std::io::stdout().lock());
    let mut f = ryu::Buffer::new();
    out.write_all(b"t,class,channel,value\n")?;
    for s in &stream.samples {
        let channel = s.channel.as_deref().unwrap_or("");
        out.write_all(f.format_finite(s.t).as_bytes())?;
        write!(out, ",{},", s.class.name())?;
        if channel.contains([',', '"', '\n', '\r']) {
            write!(out, "\"{}\"", channel.replace('"', "\"\""))?;
        } else {
            out.write_all(channel.as_bytes())?;
        }
        out.write_all(b",")?;
        out.write_all(f.format_finite(s.value).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (format, file, write) = match args.as_slice() {
        [format, file] => (format, file, false),
        [format, file, flag] if flag == "--write" => (format, file, true),
        _ => {
            eprintln!("usage: reference_distill FORMAT FILE [--write]");
            std::process::exit(2);
        }
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
        Ok(s) => {
            if write {
                if let Err(e) = write_csv(&s) {
                    eprintln!("reference {format}: writing: {e}");
                    std::process::exit(1);
                }
            }
            eprintln!(
                "reference {format}: {} residuals in {:.3} s",
                s.len(),
                started.elapsed().as_secs_f64()
            )
        }
        Err(e) => {
            eprintln!("reference {format}: {e:#}");
            std::process::exit(1);
        }
    }
}
