//! Addresses: what a listener is asked to bind, what it bound, and who
//! connected to it.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What to listen on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `host:port`; the host may be a name, an IPv4 address or a bracketed
    /// IPv6 address (`[::1]:0`); port 0 asks the OS for a free port.
    Tcp(String),
    /// A unix socket path.
    Unix(PathBuf),
}

impl Address {
    /// Reads RoadRunner's listener strings: `unix:///path` is a unix
    /// socket; `tcp://host:port` and a bare `host:port` are TCP.
    pub fn parse(value: &str) -> Self {
        let value = value.trim();
        if let Some(path) = value.strip_prefix("unix://") {
            Self::Unix(PathBuf::from(path))
        } else {
            Self::Tcp(value.strip_prefix("tcp://").unwrap_or(value).to_owned())
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(host_port) => write!(f, "tcp://{host_port}"),
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// The address a [`crate::Listener`] is bound to (port 0 resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalAddr {
    /// A TCP listener's address.
    Tcp(SocketAddr),
    /// A unix listener's socket path.
    Unix(PathBuf),
}

impl LocalAddr {
    /// The TCP address, if this is a TCP listener.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(addr) => Some(*addr),
            Self::Unix(_) => None,
        }
    }

    /// The TCP port, if this is a TCP listener.
    pub fn port(&self) -> Option<u16> {
        self.tcp().map(|a| a.port())
    }
}

impl fmt::Display for LocalAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "tcp://{addr}"),
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// Who connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A TCP client's address.
    Tcp(SocketAddr),
    /// A unix socket client (unix clients are almost always unnamed).
    Unix,
}

impl Peer {
    /// The TCP client's address, if the client came over TCP.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(addr) => Some(*addr),
            Self::Unix => None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => addr.fmt(f),
            Self::Unix => f.write_str("unix socket peer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roadrunner_listener_strings() {
        assert_eq!(
            Address::parse("tcp://127.0.0.1:6001"),
            Address::Tcp("127.0.0.1:6001".into())
        );
        assert_eq!(Address::parse("[::1]:0"), Address::Tcp("[::1]:0".into()));
        assert_eq!(
            Address::parse(" unix:///tmp/rr.sock "),
            Address::Unix("/tmp/rr.sock".into())
        );
        assert_eq!(
            Address::parse("unix:///tmp/rr.sock").to_string(),
            "unix:///tmp/rr.sock"
        );
        assert_eq!(
            Address::parse("localhost:80").to_string(),
            "tcp://localhost:80"
        );
    }
}
