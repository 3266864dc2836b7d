//! What accepted sockets inherit from their listening socket on Linux.
//!
//! The scrape server's front layer (`server/front.rs`) sets `TCP_NODELAY` and
//! both timeouts on every connection it accepts. This checks the alternative it
//! was measured against: set once on the listener (`socket2` does that without
//! `unsafe`), they are inherited, so tiny_http could own the TCP connections
//! with them in force; what it could not do is enforce the connection cap, close
//! open connections at stop, or keep a client that does not read from holding a
//! rendering thread (see `docs/performance.md`).
#![cfg(target_os = "linux")]

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

const READ_TIMEOUT: Duration = Duration::from_millis(200);
const WRITE_TIMEOUT: Duration = Duration::from_millis(2500);

fn listener(configure: bool) -> TcpListener {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    if configure {
        socket.set_tcp_nodelay(true).unwrap();
        socket.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        socket.set_write_timeout(Some(WRITE_TIMEOUT)).unwrap();
    }
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(16).unwrap();
    socket.into()
}

/// Accepts one connection; the client end is returned too so it stays open.
fn accept_one(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    (accepted, client)
}

#[test]
fn nodelay_and_timeouts_set_on_the_listener_are_inherited() {
    let (mut accepted, _client) = accept_one(&listener(true));
    assert!(accepted.nodelay().unwrap());
    assert_eq!(accepted.read_timeout().unwrap(), Some(READ_TIMEOUT));
    assert_eq!(accepted.write_timeout().unwrap(), Some(WRITE_TIMEOUT));
    // And the inherited receive timeout is in force: a silent client's read
    // gives up after it instead of blocking.
    let started = Instant::now();
    let err = accepted.read(&mut [0u8; 8]).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= READ_TIMEOUT - Duration::from_millis(20) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn a_plain_listener_hands_out_sockets_without_them() {
    // The control: what the test above sees is inheritance, not a default.
    let (accepted, _client) = accept_one(&listener(false));
    assert!(!accepted.nodelay().unwrap());
    assert_eq!(accepted.read_timeout().unwrap(), None);
    assert_eq!(accepted.write_timeout().unwrap(), None);
}
