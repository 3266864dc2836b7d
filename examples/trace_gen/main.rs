//! Writes a seeded trace in a `--from` format to stdout, for timing the trace
//! adapters against the reference's (docs/performance.md, "Trace adapters").
//! `cargo run --release --example trace_gen -- FORMAT ROWS [SEED] > FILE`

mod formats;

use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: trace_gen FORMAT ROWS [SEED]; FORMAT one of the --from formats";
    let (Some(format), Some(rows)) = (args.first(), args.get(1).and_then(|r| r.parse().ok()))
    else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    if !formats::FORMATS.contains(&format.as_str()) {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let trace = formats::generate(format, seed, rows, false);
    let (bytes, _) = trace.render(|_| true);
    std::io::stdout().lock().write_all(&bytes)
}
