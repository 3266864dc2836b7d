//! One scrape connection, served on its own `motifd-scrape-conn` thread from
//! its first request to its close: tiny_http reads each request (within
//! [`REQUEST_LIMITS`]), the thread renders and answers it, and when the
//! connection ends the thread counts why, frees the slot and closes.

use std::io::Write;
use std::net::Shutdown;
use std::sync::Arc;

use tiny_http::{ClientConnection, ConnectionEnd, RequestLimits, StatusCode};

use super::handler::{self, Shared};
use super::reaper::Closer;
use super::registry::{Cut, Registry, Slot};
use super::stream::{ConnStream, Failure, UNREAD_LIMIT};
use crate::self_stats::CloseReason;

/// Largest request head (request line and headers), in bytes: 431 beyond.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What tiny_http may read per request: the head above, and a body of at
/// most 1 KiB (tiny_http reads one that small with the head, so the request
/// deadline covers it; the scrape server's routes take no body anyway).
const REQUEST_LIMITS: RequestLimits = RequestLimits {
    max_head_bytes: MAX_HEAD_BYTES,
    max_body_bytes: 1024,
};

/// What every connection thread shares.
#[derive(Debug)]
pub(crate) struct Context {
    pub registry: Arc<Registry>,
    pub shared: Shared,
    pub closer: Closer,
}

/// How a connection ended.
#[derive(Debug)]
enum End {
    /// The client closed it, or asked to (`Connection: close`, HTTP/1.0).
    Client,
    /// Refused by tiny_http with this status (answered).
    Refused(StatusCode),
    /// Its head was cut (answered 408).
    Cut(Cut),
    /// Its stream stopped.
    Failed(Failure),
}

/// Serves connection `id` until it ends, then closes it.
pub(crate) fn serve(id: u64, slot: Arc<Slot>, ctx: &Context) {
    // Should this thread panic, its slot is still given back.
    let _forget = Forget {
        registry: &ctx.registry,
        id,
    };
    let stream = ConnStream::new(Arc::clone(&slot));
    let mut http =
        ClientConnection::from_halves(stream.clone(), stream.clone(), slot.peer(), REQUEST_LIMITS);
    let end = serve_requests(&mut http, &slot, &stream, &ctx.shared);
    let answered = matches!(end, End::Client | End::Refused(_) | End::Cut(_));
    // The last answer leaves before the slot is freed: a client that reads
    // it and then sees the close finds the count already lowered.
    let end = match (answered, stream.finish()) {
        (true, Err(failure)) => End::Failed(failure),
        _ => end,
    };
    if let Some(reason) = close_reason(&end) {
        ctx.shared.counters.connection_closed(reason);
        log_close(&slot, reason);
    }
    drop(http);
    drop(stream);
    ctx.registry.remove(id);
    // A client that may still be sending (a refused or cut request, pipelined
    // requests behind unread answers) is read to its end on the reaper before
    // the close: closing over unread bytes would send it a reset.
    let client_may_send = matches!(
        end,
        End::Refused(_)
            | End::Cut(_)
            | End::Failed(Failure::UnreadResponses | Failure::WriteTimeout)
    );
    if client_may_send {
        let _ = slot.stream().shutdown(Shutdown::Write);
        ctx.closer.closing(slot);
    } else {
        let _ = slot.stream().shutdown(Shutdown::Both);
    }
}

struct Forget<'a> {
    registry: &'a Registry,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

fn serve_requests(
    http: &mut ClientConnection<ConnStream>,
    slot: &Slot,
    stream: &ConnStream,
    shared: &Shared,
) -> End {
    loop {
        let request = match http.next_request() {
            Ok(request) => request,
            Err(end) => return ended(end, http, slot, stream),
        };
        if let Err(cut) = slot.head_complete() {
            // Arrived whole just as it was cut: answered 408 all the same.
            let _ = request.into_writer().write_all(REQUEST_TIMEOUT_RESPONSE);
            return End::Cut(cut);
        }
        handler::handle(shared, request);
        if let Some(failure) = stream.failure() {
            return End::Failed(failure);
        }
    }
}

/// Why tiny_http gave no request: a cut of ours shows up there as the end
/// of the stream (the reading side was shut) and is answered 408 here.
fn ended(
    end: ConnectionEnd,
    http: &mut ClientConnection<ConnStream>,
    slot: &Slot,
    stream: &ConnStream,
) -> End {
    if let Some(cut) = slot.cut() {
        if !matches!(end, ConnectionEnd::Refused(_)) {
            http.refuse(StatusCode(408));
        }
        return End::Cut(cut);
    }
    match end {
        ConnectionEnd::Refused(status) => End::Refused(status),
        ConnectionEnd::Io(_) => stream.failure().map_or(End::Client, End::Failed),
        ConnectionEnd::Closed | ConnectionEnd::Finished | ConnectionEnd::Truncated => End::Client,
    }
}

const REQUEST_TIMEOUT_RESPONSE: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\nConnection: close\r\n\r\nRequest Timeout\n";

fn close_reason(end: &End) -> Option<CloseReason> {
    Some(match end {
        End::Client | End::Failed(Failure::Gone) => return None,
        End::Refused(StatusCode(431)) => CloseReason::HeaderTooLarge,
        End::Refused(_) => CloseReason::BadRequest,
        End::Cut(Cut::RequestTimeout) => CloseReason::RequestTimeout,
        End::Cut(Cut::Displaced) => CloseReason::Displaced,
        End::Failed(Failure::IdleTimeout) => CloseReason::IdleTimeout,
        End::Failed(Failure::WriteTimeout) => CloseReason::WriteTimeout,
        End::Failed(Failure::UnreadResponses) => CloseReason::UnreadResponses,
    })
}

/// The closes an operator may want to look into; the others are counted
/// only (a flood of them would flood the log).
fn log_close(slot: &Slot, reason: CloseReason) {
    let peer = slot.peer().map_or_else(|| "?".into(), |a| a.to_string());
    match reason {
        CloseReason::WriteTimeout => log::warn!(
            "closing a scrape connection from {peer}: no write progress for the write timeout"
        ),
        CloseReason::UnreadResponses => log::warn!(
            "closing a scrape connection from {peer}: more than {} KiB of responses left unread",
            UNREAD_LIMIT >> 10
        ),
        _ => log::debug!(
            "closing a scrape connection from {peer}: {}",
            reason.as_str()
        ),
    }
}
