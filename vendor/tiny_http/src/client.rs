use ascii::AsciiString;

use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};

use std::net::SocketAddr;
use std::str::FromStr;

use crate::common::{HTTPVersion, Header, Method, StatusCode};
use crate::util::RefinedTcpStream;
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::Request;

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
///
/// (motifd) Generic over the stream, public, and with [`RequestLimits`], so
/// that a caller can serve a connection it accepted itself on a thread of its
/// own: [`ClientConnection::from_halves`], then
/// [`ClientConnection::next_request`] until it says why the connection ends.
pub struct ClientConnection<S = RefinedTcpStream>
where
    S: Read + Write + Send + 'static,
{
    // address of the client
    remote_addr: Option<SocketAddr>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<S>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<S>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<S>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // true if the connection goes through SSL
    secure: bool,

    limits: RequestLimits,
}

/// (motifd) Bounds on what one request may make the server read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Bytes of request line and header lines together, line ends included
    /// (and any empty lines before the request line). Beyond: 431.
    pub max_head_bytes: usize,
    /// Largest request body accepted, by its `Content-Length`; a chunked body
    /// is refused unless this is `usize::MAX`. Beyond: 413.
    pub max_body_bytes: usize,
}

impl Default for RequestLimits {
    /// No bounds, as tiny_http 0.12 had.
    fn default() -> Self {
        RequestLimits {
            max_head_bytes: usize::MAX,
            max_body_bytes: usize::MAX,
        }
    }
}

/// (motifd) Why a connection yields no more requests.
#[derive(Debug)]
pub enum ConnectionEnd {
    /// The client closed the connection before the first byte of a request.
    Closed,
    /// The previous request was the last (`Connection: close`, or HTTP/1.0
    /// without keep-alive).
    Finished,
    /// The client closed the connection in the middle of a request head.
    Truncated,
    /// The request was refused with this status, already sent with
    /// `Connection: close`: 400 (malformed), 413 (body too large), 417
    /// (unknown `Expect`), 431 (head too large). Nothing more is read.
    Refused(StatusCode),
    /// Reading failed (a read timeout of the stream included).
    Io(IoError),
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    /// End of stream before the first byte of a request.
    Closed,
    /// End of stream inside a request head.
    Truncated,
    /// Refused with this status.
    Refuse(StatusCode),
    ReadIoError(IoError),
}

/// Bytes a request head may still use, and whether it has begun.
struct HeadBudget {
    left: usize,
    started: bool,
}

impl ClientConnection<RefinedTcpStream> {
    /// Creates a new `ClientConnection` that takes ownership of the `TcpStream`.
    pub fn new(
        write_socket: RefinedTcpStream,
        mut read_socket: RefinedTcpStream,
    ) -> ClientConnection<RefinedTcpStream> {
        // (motifd) A peer gone before this point no longer panics the
        // connection thread: the address is simply unknown.
        let remote_addr = read_socket.peer_addr().ok().flatten();
        let secure = read_socket.secure();
        let mut connection = ClientConnection::from_halves(
            read_socket,
            write_socket,
            remote_addr,
            RequestLimits::default(),
        );
        connection.secure = secure;
        connection
    }
}

impl<S> ClientConnection<S>
where
    S: Read + Write + Send + 'static,
{
    /// (motifd) A connection over `read` and `write`, two handles on the same
    /// stream, reading requests within `limits`.
    pub fn from_halves(
        read: S,
        write: S,
        remote_addr: Option<SocketAddr>,
        limits: RequestLimits,
    ) -> ClientConnection<S> {
        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(1024, write)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            secure: false,
            limits,
        }
    }

    /// true if the connection is HTTPS
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Reads one line of a request head, up to its `CRLF` (not returned).
    ///
    /// (motifd) Strict and bounded: a line ends with `CRLF` only (a bare LF
    /// or CR is refused with 400); bytes other than visible ASCII and space
    /// (and, in header lines, tab) are refused with 400 as soon as they
    /// arrive; the head's bytes are counted against its budget (431 beyond).
    fn read_next_line(
        &mut self,
        head: &mut HeadBudget,
        request_line: bool,
    ) -> Result<AsciiString, ReadError> {
        let mut buf = Vec::new();
        let mut after_cr = false;

        loop {
            let byte = match self.next_header_source.by_ref().bytes().next() {
                Some(Ok(b)) => b,
                Some(Err(e)) => return Err(ReadError::ReadIoError(e)),
                None if head.started => return Err(ReadError::Truncated),
                None => return Err(ReadError::Closed),
            };
            head.started = true;
            if head.left == 0 {
                return Err(ReadError::Refuse(StatusCode(431)));
            }
            head.left -= 1;

            match (after_cr, byte) {
                (true, b'\n') => {
                    return AsciiString::from_ascii(buf)
                        .map_err(|_| ReadError::Refuse(StatusCode(400)))
                }
                (false, b'\r') => after_cr = true,
                (false, b'\t') if !request_line => buf.push(byte),
                (false, 0x20..=0x7e) => buf.push(byte),
                _ => return Err(ReadError::Refuse(StatusCode(400))),
            }
        }
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        let mut head = HeadBudget {
            left: self.limits.max_head_bytes,
            started: false,
        };
        let bad = || ReadError::Refuse(StatusCode(400));

        // reading the request line; empty lines before it are ignored
        // (RFC 9112 §2.2), within the head's budget
        let (method, path, version) = loop {
            let line = self.read_next_line(&mut head, true)?;
            if !line.is_empty() {
                break parse_request_line(line.as_str())?;
            }
        };

        // getting all headers
        let mut headers = Vec::new();
        loop {
            let line = self.read_next_line(&mut head, false)?;
            if line.is_empty() {
                break;
            }
            // obsolete line folding (RFC 9112 §5.2)
            if line.as_str().starts_with([' ', '\t']) {
                return Err(bad());
            }
            headers.push(Header::from_str(line.as_str()).map_err(|_| bad())?);
        }
        check_framing(&version, &headers, self.limits.max_body_bytes)
            .map_err(ReadError::Refuse)?;

        // building the writer for the request
        let writer = self.sink.next().unwrap();

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        // building the next reader
        crate::request::new_request(
            self.secure,
            method,
            path,
            version,
            headers,
            self.remote_addr,
            data_source,
            writer,
        )
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::Refuse(StatusCode(417))
                }
            }
        })
    }

    /// (motifd) Blocks until the next request is read, or says why there is
    /// none. A refused request has been answered (see [`ConnectionEnd`]).
    pub fn next_request(&mut self) -> Result<Request, ConnectionEnd> {
        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return Err(ConnectionEnd::Finished);
        }

        let rq = match self.read() {
            Ok(rq) => rq,
            Err(ReadError::Closed) => return Err(ConnectionEnd::Closed),
            Err(ReadError::Truncated) => return Err(ConnectionEnd::Truncated),
            Err(ReadError::Refuse(status)) => {
                // we don't know where the next request would start, so we
                // have to close
                self.refuse(status);
                return Err(ConnectionEnd::Refused(status));
            }
            Err(ReadError::ReadIoError(err)) => return Err(ConnectionEnd::Io(err)),
        };

        // updating the status of the connection
        let connection_header = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Connection"))
            .map(|h| h.value.as_str());

        let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

        match lowercase {
            Some(ref val) if val.contains("close") => self.no_more_requests = true,
            Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
            Some(ref val)
                if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
            {
                self.no_more_requests = true
            }
            None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
            _ => (),
        };

        Ok(rq)
    }

    /// (motifd) Answers `status` with `Connection: close` after every
    /// response already owed, and reads no more requests.
    pub fn refuse(&mut self, status: StatusCode) {
        self.no_more_requests = true;
        let reason = status.default_reason_phrase();
        let message = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}\n",
            status.0,
            reason,
            reason.len() + 1,
            reason
        );
        let mut writer = self.sink.next().unwrap();
        let _ = writer
            .write_all(message.as_bytes())
            .and_then(|()| writer.flush());
    }
}

impl<S> Iterator for ClientConnection<S>
where
    S: Read + Write + Send + 'static,
{
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        self.next_request().ok()
    }
}

/// Parses a "HTTP/1.1" string.
///
/// (motifd) Only HTTP/1.0 and HTTP/1.1 requests are read; anything else,
/// the HTTP/2 connection preface included, is refused with 400.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    match version {
        "HTTP/1.0" => Ok(HTTPVersion(1, 0)),
        "HTTP/1.1" => Ok(HTTPVersion(1, 1)),
        _ => Err(ReadError::Refuse(StatusCode(400))),
    }
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
///
/// (motifd) Exactly three parts separated by single spaces; the method a
/// token (RFC 9110 §5.6.2).
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let bad = || ReadError::Refuse(StatusCode(400));
    let mut parts = line.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if method.is_empty() || !method.bytes().all(is_tchar) || path.is_empty() {
        return Err(bad());
    }
    let method = method.parse().map_err(|()| bad())?;
    Ok((method, path.to_owned(), parse_http_version(version)?))
}

/// A token character (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// (motifd) The checks on a head's framing headers that RFC 9112 requires:
/// one `Host` (exactly one in HTTP/1.1, §3.2), `Content-Length` values that
/// are all the same number (§6.3), not both `Content-Length` and
/// `Transfer-Encoding` (§6.3, refused rather than ignored); then the body's
/// size against `max_body`. With a bounded body, `Expect` is refused (417):
/// the body is then read with the head, before any `100 Continue` could be
/// sent, and a body read later would not be bounded in time.
fn check_framing(
    version: &HTTPVersion,
    headers: &[Header],
    max_body: usize,
) -> Result<(), StatusCode> {
    let bad = StatusCode(400);
    let hosts = headers.iter().filter(|h| h.field.equiv("Host")).count();
    if hosts > 1 || (hosts == 0 && *version == HTTPVersion(1, 1)) {
        return Err(bad);
    }
    let mut length: Option<usize> = None;
    for h in headers.iter().filter(|h| h.field.equiv("Content-Length")) {
        let value = h.value.as_str();
        let n = value
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| value.parse::<usize>().ok())
            .flatten()
            .ok_or(bad)?;
        if length.is_some_and(|l| l != n) {
            return Err(bad);
        }
        length = Some(n);
    }
    let chunked = headers.iter().any(|h| h.field.equiv("Transfer-Encoding"));
    if chunked && length.is_some() {
        return Err(bad);
    }
    let too_large = if chunked {
        max_body != usize::MAX
    } else {
        length.unwrap_or(0) > max_body
    };
    if too_large {
        return Err(StatusCode(413));
    }
    if max_body != usize::MAX && headers.iter().any(|h| h.field.equiv("Expect")) {
        return Err(StatusCode(417));
    }
    Ok(())
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}
