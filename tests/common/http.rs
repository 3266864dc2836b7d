//! A keep-alive HTTP/1.1 client for tests that need to know exactly which
//! connections the scrape server holds: one connection, many requests.
//!
//! A connection the client closed is released by the server only once the
//! server has read the close, at a moment the client cannot see. Tests that
//! reason about the connection cap therefore keep one connection open and
//! reuse it, instead of opening (and closing) one per request.

use super::metrics::Metrics;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One open connection to an HTTP server.
pub struct HttpConnection {
    reader: BufReader<TcpStream>,
    host: SocketAddr,
}

/// One response.
pub struct Response {
    pub status: u16,
    pub body: String,
    /// The server said it closes the connection after this response.
    pub closes: bool,
}

impl HttpConnection {
    /// Connects (5 s timeout; reads and writes time out after 10 s).
    pub fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(Self {
            reader: BufReader::new(stream),
            host: addr,
        })
    }

    /// Opens a connection the server keeps: retries while it answers 503 (the
    /// connection cap is full). Returns the connection and the 503s seen.
    pub fn admitted(addr: SocketAddr, path: &str, limit: Duration) -> (Self, Response, u32) {
        let mut refused = 0;
        let found = super::poll_opt(limit, || {
            let mut conn = Self::open(addr).ok()?;
            let response = conn.get(path).ok()?;
            if response.status == 503 {
                refused += 1;
                return None;
            }
            Some((conn, response))
        });
        let (conn, response) =
            found.unwrap_or_else(|| panic!("no connection admitted within {limit:?}"));
        (conn, response, refused)
    }

    /// `GET path` on this connection, asking to keep it open.
    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        write!(
            self.reader.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.host
        )?;
        self.read_response()
    }

    /// The raw socket (to read the server's close, for instance).
    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }

    fn read_response(&mut self) -> io::Result<Response> {
        let status_line = self.line()?;
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line: {status_line:?}")))?;
        let (mut length, mut chunked, mut closes) = (None, false, false);
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => closes = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let body = if chunked {
            self.chunked_body()?
        } else if let Some(n) = length {
            let mut body = vec![0; n];
            self.reader.read_exact(&mut body)?;
            body
        } else {
            let mut body = Vec::new();
            self.reader.read_to_end(&mut body)?;
            closes = true;
            body
        };
        let body = String::from_utf8(body).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Response {
            status,
            body,
            closes,
        })
    }

    fn chunked_body(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let size_line = self.line()?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::other(format!("bad chunk size: {size_line:?}")))?;
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            self.line()?;
            if size == 0 {
                return Ok(body);
            }
        }
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// `GET path` over HTTP/1.0 (no chunking, no compression); returns status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).map_err(|e| std::io::Error::other(e.to_string()))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    Ok((status, body.to_owned()))
}

/// Scrapes `/metrics` (must answer 200).
pub fn scrape(addr: SocketAddr) -> Metrics {
    let (status, body) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "GET /metrics: {body}");
    Metrics::parse(&body)
}

/// A TCP producer connection to the daemon's ingest listener.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}
