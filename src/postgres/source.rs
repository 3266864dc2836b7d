//! The PostgreSQL source as the daemon starts and stops its sources
//! (`daemon::sources::Source` / `Running`).

use super::config::Settings;
use super::metrics::SourceMetrics;
use super::output::EngineOutput;
use crate::daemon::sources::{Running, Source, SourceContext};
use crate::error::Failure;
use std::sync::Arc;
use std::thread::JoinHandle;

/// One configured database, not started.
pub struct PostgresSource {
    settings: Settings,
    metrics: Arc<SourceMetrics>,
}

/// The configured databases, each with its counters (`for_sources` order).
pub fn sources(settings: Vec<Settings>, metrics: &[Arc<SourceMetrics>]) -> Vec<Box<dyn Source>> {
    settings
        .into_iter()
        .zip(metrics)
        .map(|(settings, metrics)| {
            Box::new(PostgresSource {
                settings,
                metrics: Arc::clone(metrics),
            }) as Box<dyn Source>
        })
        .collect()
}

impl Source for PostgresSource {
    fn start(self: Box<Self>, ctx: SourceContext) -> Result<Box<dyn Running>, Failure> {
        let grammar = Arc::clone(&ctx.grammar);
        let output =
            EngineOutput::new(ctx.tx.clone(), &ctx.names, Box::new(move || grammar.load()));
        let name = format!("postgres {}", self.settings.name);
        let thread = super::spawn(self.settings, output, self.metrics, Arc::clone(&ctx.stop))
            .map_err(Failure::new)?;
        Ok(Box::new(Polling { name, thread }))
    }
}

/// A database being polled.
struct Polling {
    name: String,
    thread: JoinHandle<()>,
}

impl Running for Polling {
    fn name(&self) -> &str {
        &self.name
    }

    /// The thread ends within its poll (bounded by the statement and TCP
    /// timeouts) and then closes its tape: waited for, so the manifest is
    /// written before the process exits.
    fn stop(self: Box<Self>) {
        let _ = self.thread.join();
    }
}
