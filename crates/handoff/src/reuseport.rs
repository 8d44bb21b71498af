//! Listening sockets. `reuseport`: one `SO_REUSEPORT` socket per worker
//! (port 0 resolved by the first, kept for the rest), or one shared unix
//! socket; `fd_passing`: Coyote's own listener with the configured backlog.
//! And `net.ipv4.tcp_migrate_req`, so a retiring worker's queued
//! connections move to the others instead of being reset.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use coyote_listener::{Address, Listener};
use socket2::{Domain, Protocol, Socket, Type};

use crate::worker::lock;
use crate::HandoffError;

const MIGRATE_REQ: &str = "/proc/sys/net/ipv4/tcp_migrate_req";

/// A bound, listening, non-blocking TCP socket (`SO_REUSEADDR`, and
/// `SO_REUSEPORT` when `reuseport`).
pub fn tcp_socket(addr: SocketAddr, backlog: i32, reuseport: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuseport {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// The first address `host_port` resolves to.
pub async fn resolve(host_port: &str) -> Result<SocketAddr, HandoffError> {
    let listen_err = |source| HandoffError::Listen {
        address: host_port.to_owned(),
        source,
    };
    tokio::net::lookup_host(host_port)
        .await
        .map_err(listen_err)?
        .next()
        .ok_or_else(|| listen_err(io::Error::other("resolves to no address")))
}

/// Where `reuseport` workers get their listening socket.
pub(crate) enum Sockets {
    /// A fresh socket per worker at `addr`.
    Tcp {
        addr: SocketAddr,
        backlog: i32,
        /// The first socket (made to learn the port), for the first worker.
        spare: Mutex<Option<OwnedFd>>,
    },
    /// One socket for every worker (no kernel balancing for unix sockets).
    Unix(Listener),
}

impl Sockets {
    /// Binds the first socket; the bound address is then known.
    pub(crate) async fn bind(address: &Address, backlog: i32) -> Result<Self, HandoffError> {
        match address {
            Address::Tcp(host_port) => {
                let wanted = resolve(host_port).await?;
                let first =
                    tcp_socket(wanted, backlog, true).map_err(|source| HandoffError::Listen {
                        address: address.to_string(),
                        source,
                    })?;
                let addr = first
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_socket())
                    .unwrap_or(wanted);
                enable_migrate_req();
                Ok(Self::Tcp {
                    addr,
                    backlog,
                    spare: Mutex::new(Some(first.into())),
                })
            }
            Address::Unix(_) => {
                let listener = Listener::bind(address)
                    .await
                    .map_err(|e| HandoffError::Listen {
                        address: address.to_string(),
                        source: io::Error::other(e.to_string()),
                    })?;
                Ok(Self::Unix(listener))
            }
        }
    }

    /// The bound address (`tcp://127.0.0.1:9000`, `unix:///run/app.sock`).
    pub(crate) fn bound(&self) -> String {
        match self {
            Self::Tcp { addr, .. } => format!("tcp://{addr}"),
            Self::Unix(listener) => listener.local_addr().to_string(),
        }
    }

    /// A listening socket for the next worker.
    pub(crate) fn next(&self) -> io::Result<OwnedFd> {
        match self {
            Self::Tcp {
                addr,
                backlog,
                spare,
            } => match lock(spare).take() {
                Some(fd) => Ok(fd),
                None => tcp_socket(*addr, *backlog, true).map(OwnedFd::from),
            },
            Self::Unix(listener) => listener.as_fd().try_clone_to_owned(),
        }
    }
}

/// Sets `net.ipv4.tcp_migrate_req` to 1 when it is 0 (warns when that is
/// not permitted, e.g. in a container without a writable `/proc/sys`).
fn enable_migrate_req() {
    match std::fs::read_to_string(MIGRATE_REQ) {
        Ok(v) if v.trim() == "0" => {
            if let Err(error) = std::fs::write(MIGRATE_REQ, "1") {
                tracing::warn!(target: "coyote::handoff", %error,
                    "cannot set net.ipv4.tcp_migrate_req=1: connections queued on a retiring worker's socket may be reset");
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(target: "coyote::handoff", %error,
            "cannot read net.ipv4.tcp_migrate_req: connections queued on a retiring worker's socket may be reset"),
    }
}
