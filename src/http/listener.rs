//! The main listener's sockets. They are bound here rather than by actix so that the options
//! every connection needs are set once, on the listening socket: Linux gives each accepted
//! socket the listener's `TCP_NODELAY` and `TCP_USER_TIMEOUT`, which saves two system calls per
//! connection before its request is read.

use std::io;
use std::net::{TcpListener, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Connections the kernel queues before they are accepted (actix's default).
const BACKLOG: i32 = 1024;

/// A listener on every address `listen` resolves to, as actix's `bind` makes them (an address
/// that fails is skipped when another succeeds), with the options of [`configure`].
pub(super) fn bind(
    listen: &str,
    dispatch_timeout: Option<Duration>,
) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let mut failure = None;
    for address in listen.to_socket_addrs()? {
        let socket = Socket::new(
            Domain::for_address(address),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .and_then(|socket| {
            socket.set_reuse_address(true)?;
            configure(&socket, dispatch_timeout)?;
            socket.bind(&address.into())?;
            socket.listen(BACKLOG)?;
            Ok(socket)
        });
        match socket {
            Ok(socket) => listeners.push(TcpListener::from(socket)),
            Err(error) => failure = Some(error),
        }
    }
    match (listeners.is_empty(), failure) {
        (false, _) => Ok(listeners),
        (true, Some(error)) => Err(error),
        (true, None) => Err(io::Error::other("the address resolves to nothing")),
    }
}

/// What accepted sockets inherit:
/// - `TCP_NODELAY`: an event written right after another must not wait for the first one's
///   ACK (Nagle).
/// - `TCP_USER_TIMEOUT` (C-TMO-2): the kernel aborts a connection whose sent data stays
///   unacknowledged (a peer that stopped reading, a dead network path) for longer than
///   `dispatch_timeout`. The portable actix body cannot time its own writes, and a stalled
///   stream is never polled again, so the socket itself enforces it.
fn configure(socket: &Socket, dispatch_timeout: Option<Duration>) -> io::Result<()> {
    socket.set_tcp_nodelay(true)?;
    if dispatch_timeout.is_some() {
        socket.set_tcp_user_timeout(dispatch_timeout)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    fn accepted(dispatch_timeout: Option<Duration>) -> Socket {
        let listeners = bind("127.0.0.1:0", dispatch_timeout).expect("bind a loopback port");
        let [listener] = listeners.as_slice() else {
            panic!("one address, one listener");
        };
        let _client =
            TcpStream::connect(listener.local_addr().expect("its address")).expect("connect");
        Socket::from(listener.accept().expect("accept").0)
    }

    #[test]
    fn accepted_sockets_inherit_nodelay_and_the_user_timeout() {
        let socket = accepted(Some(Duration::from_millis(1500)));
        assert!(socket.tcp_nodelay().expect("TCP_NODELAY"));
        assert_eq!(
            socket.tcp_user_timeout().expect("TCP_USER_TIMEOUT"),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn without_dispatch_timeout_the_kernel_default_stays() {
        let socket = accepted(None);
        assert!(socket.tcp_nodelay().expect("TCP_NODELAY"));
        assert_eq!(socket.tcp_user_timeout().expect("TCP_USER_TIMEOUT"), None);
    }

    #[test]
    fn a_port_in_use_is_an_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = taken.local_addr().expect("its address").to_string();
        let error = bind(&address, None).expect_err("the port is taken");
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }
}
