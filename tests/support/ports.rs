//! Free loopback ports for the processes a test starts.

use std::net::TcpListener;

/// A port nothing listens on right now (the kernel's pick; another process may take it before
/// the test binds it, which is why hub starts retry on "address in use").
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
