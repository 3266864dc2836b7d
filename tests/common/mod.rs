//! Helpers shared by the end-to-end daemon tests (`tests/daemon_*.rs`): spawn the
//! real `motifd` binary, learn its bound ports from the startup log line, scrape
//! `/metrics` over a plain `TcpStream`, poll conditions with deadlines, and make
//! sure no child outlives a failing test.
#![allow(dead_code)] // every test file uses a different subset

pub mod daemon;
pub mod files;
pub mod http;
pub mod metrics;
pub mod poll;

// Each test file uses a different subset.
#[allow(unused_imports)]
pub use daemon::*;
#[allow(unused_imports)]
pub use files::*;
#[allow(unused_imports)]
pub use http::{connect, http_get, scrape};
#[allow(unused_imports)]
pub use metrics::*;
#[allow(unused_imports)]
pub use poll::*;
