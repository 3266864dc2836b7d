//! Request routing and responses (runs on the connection threads).

use std::io::{Cursor, Write};
use std::sync::Arc;
use std::time::Instant;

use flate2::write::GzEncoder;
use flate2::Compression;
use parking_lot::{Condvar, Mutex};
use tiny_http::{Header, Request, Response, StatusCode};

use super::negotiate::{accepts_gzip, format_for};
use super::route::{route, Route};
use crate::live::{self, LiveHandle};
use crate::liveness::Liveness;
use crate::publish::SnapshotHandle;
use crate::render::{render, RenderOptions};
use crate::self_stats::{ExporterCounters, ExporterStats};

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";

const INDEX_HTML: &str = "<!DOCTYPE html>\n<html><head><title>motifd</title></head><body>\n<h1>motifd</h1>\n<ul>\n<li><a href=\"/metrics\">/metrics</a> (OpenMetrics or Prometheus text)</li>\n<li><a href=\"/healthz\">/healthz</a> (engine liveness)</li>\n</ul>\n</body></html>\n";

/// State shared by the connection threads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub snapshots: SnapshotHandle,
    pub liveness: Liveness,
    pub counters: Arc<ExporterCounters>,
    pub render: RenderOptions,
    pub scratch: ScratchPool,
    pub live: LiveHandle,
}

/// Reusable render buffers, so a scrape allocates only its response.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    body: Vec<u8>,
    stats: ExporterStats,
}

/// A fixed number of [`Scratch`]es: renders at once are bounded by it (and
/// so is the memory they keep between scrapes); a scrape beyond waits for
/// one to come back.
#[derive(Debug)]
pub(crate) struct ScratchPool {
    free: Mutex<Vec<Scratch>>,
    returned: Condvar,
}

impl ScratchPool {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            free: Mutex::new((0..n.max(1)).map(|_| Scratch::default()).collect()),
            returned: Condvar::new(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        let scratch = {
            let mut free = self.free.lock();
            loop {
                if let Some(s) = free.pop() {
                    break s;
                }
                self.returned.wait(&mut free);
            }
        };
        // Given back on drop, so not even a panicking render shrinks the pool.
        let mut taken = Taken {
            pool: self,
            scratch: Some(scratch),
        };
        f(taken.scratch.as_mut().unwrap_or_else(|| unreachable!()))
    }
}

struct Taken<'a> {
    pool: &'a ScratchPool,
    scratch: Option<Scratch>,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.scratch.take() {
            self.pool.free.lock().push(s);
            self.pool.returned.notify_one();
        }
    }
}

type Body = Response<Cursor<Vec<u8>>>;

/// Answers one request. I/O errors (the client went away) are ignored here:
/// the connection's stream remembers them and its thread ends it.
pub(crate) fn handle(shared: &Shared, request: Request) {
    let response = match route(request.method().as_str(), request.url()) {
        Route::MethodNotAllowed => method_not_allowed(),
        Route::Metrics => shared
            .scratch
            .with(|scratch| metrics(shared, scratch, &request)),
        Route::Healthz => healthz(&shared.liveness),
        Route::Index => match shared.live.load() {
            Some(view) => bytes_response(live::page::render(&view).into_bytes(), HTML)
                .with_header(hdr("Cache-Control", "no-store")),
            None => text(200, HTML, INDEX_HTML),
        },
        Route::Episodes => match shared.live.load() {
            Some(view) => bytes_response(live::json::render(&view).into_bytes(), JSON)
                .with_header(hdr("Cache-Control", "no-store")),
            None => text(
                404,
                "text/plain; charset=utf-8",
                "no live episode view
",
            ),
        },
        Route::NotFound => text(404, "text/plain; charset=utf-8", "not found\n"),
    };
    let _ = request.respond(response);
}

fn metrics(shared: &Shared, scratch: &mut Scratch, request: &Request) -> Body {
    let format = format_for(header(request, "Accept"));
    let gzip = accepts_gzip(header(request, "Accept-Encoding"));
    let started = Instant::now();
    let snapshot = shared.snapshots.load();
    shared.counters.snapshot_into(&mut scratch.stats);
    scratch.body.clear();
    render(
        &snapshot,
        &scratch.stats,
        &shared.render,
        format,
        &mut scratch.body,
    );
    shared.counters.record_scrape(started.elapsed());
    let mut response = if gzip {
        bytes_response(gzip_bytes(&scratch.body), format.content_type())
            .with_header(hdr("Content-Encoding", "gzip"))
    } else {
        bytes_response(scratch.body.clone(), format.content_type())
    };
    // Caches must key on both negotiated headers.
    response.add_header(hdr("Vary", "Accept, Accept-Encoding"));
    response
}

fn healthz(liveness: &Liveness) -> Body {
    if liveness.is_healthy() {
        text(200, "text/plain; charset=utf-8", "ok\n")
    } else {
        text(
            503,
            "text/plain; charset=utf-8",
            "engine not making progress\n",
        )
    }
}

fn method_not_allowed() -> Body {
    text(405, "text/plain; charset=utf-8", "method not allowed\n")
        .with_header(hdr("Allow", "GET, HEAD"))
}

fn text(status: u16, content_type: &str, body: &str) -> Body {
    bytes_response(body.as_bytes().to_vec(), content_type).with_status_code(StatusCode(status))
}

/// Content-Type is always set explicitly: tiny_http's default
/// (`text/plain; charset=UTF-8`) on an OpenMetrics body would make Prometheus
/// parse it as classic text and drop every TYPE. Bodies are sent with a
/// Content-Length (never chunked), which every scraper handles.
fn bytes_response(body: Vec<u8>, content_type: &str) -> Body {
    Response::from_data(body)
        .with_header(hdr("Content-Type", content_type))
        .with_chunked_threshold(usize::MAX)
}

fn gzip_bytes(body: &[u8]) -> Vec<u8> {
    // Fast level: exposition text compresses ~10x even at level 1, and the
    // scrape path should stay cheap.
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn hdr(name: &str, value: &str) -> Header {
    // Both strings are ASCII constants or our own content types.
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|()| unreachable!("ASCII header"))
}
