//! A bound TCP or unix listener and its accept loop step.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;

use crate::{Address, Backoff, ListenError, LocalAddr, Peer, Stream};

/// A bound listener. Accept from it with [`Listener::accept`] until the
/// stop token fires; dropping it closes the socket and, for a unix socket
/// it bound itself, removes the socket file.
#[derive(Debug)]
pub struct Listener {
    socket: Socket,
    local: LocalAddr,
    /// Failed `accept` calls, for tests and diagnostics.
    accept_errors: AtomicU64,
    /// The socket file this listener created (declared after `socket`, so
    /// the socket is closed first).
    file: Option<SocketFile>,
}

#[derive(Debug)]
enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl std::os::fd::AsFd for Listener {
    /// The listening socket (to hand to a child process, as the handoff
    /// plugin's unix listeners do).
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match &self.socket {
            Socket::Tcp(l) => l.as_fd(),
            Socket::Unix(l) => l.as_fd(),
        }
    }
}

impl Listener {
    /// Binds `address`. A TCP name may resolve to several addresses: the
    /// first that binds wins. At a unix socket path, a socket left by an
    /// earlier run is removed first; any other kind of file (a regular
    /// file, a directory, a symlink) is refused with
    /// [`ListenError::NotASocket`] and left as it is.
    pub async fn bind(address: &Address) -> Result<Self, ListenError> {
        match address {
            Address::Tcp(host_port) => {
                let listener = TcpListener::bind(host_port.as_str())
                    .await
                    .map_err(|source| ListenError::Bind {
                        address: address.to_string(),
                        source,
                    })?;
                Self::from_tcp(listener)
            }
            Address::Unix(path) => {
                remove_stale_socket(path)?;
                let listener = UnixListener::bind(path).map_err(|source| ListenError::Bind {
                    address: address.to_string(),
                    source,
                })?;
                let file = SocketFile::created_at(path);
                let mut listener = Self::from_unix(listener)?;
                listener.local = LocalAddr::Unix(path.clone());
                listener.file = file;
                Ok(listener)
            }
        }
    }

    /// Takes over a TCP listener bound elsewhere.
    pub fn from_tcp(listener: TcpListener) -> Result<Self, ListenError> {
        let local = listener.local_addr().map_err(ListenError::LocalAddr)?;
        Ok(Self {
            socket: Socket::Tcp(listener),
            local: LocalAddr::Tcp(local),
            accept_errors: AtomicU64::new(0),
            file: None,
        })
    }

    /// Takes over a unix listener bound elsewhere; its socket file stays
    /// when this listener is dropped (whoever bound it owns it).
    pub fn from_unix(listener: UnixListener) -> Result<Self, ListenError> {
        let local = listener.local_addr().map_err(ListenError::LocalAddr)?;
        let path = local
            .as_pathname()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok(Self {
            socket: Socket::Unix(listener),
            local: LocalAddr::Unix(path),
            accept_errors: AtomicU64::new(0),
            file: None,
        })
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> &LocalAddr {
        &self.local
    }

    /// Failed `accept` calls so far (each retry counts).
    pub fn accept_errors(&self) -> u64 {
        self.accept_errors.load(Ordering::Relaxed)
    }

    /// The next connection, or `None` once `stop` has fired (a fired
    /// token wins over a pending connection). A connection that failed
    /// before it was taken is skipped at once; when descriptors or memory
    /// run out, retries back off 5 ms doubling to 1 s (see [`Backoff`]).
    /// Cancel safe: dropping the future loses no connection.
    pub async fn accept(&self, stop: &CancellationToken) -> Option<(Stream, Peer)> {
        let mut backoff = Backoff::default();
        loop {
            let accepted = tokio::select! {
                biased;
                () = stop.cancelled() => return None,
                accepted = self.accept_once() => accepted,
            };
            match accepted {
                Ok(accepted) => return Some(accepted),
                Err(error) => {
                    self.accept_errors.fetch_add(1, Ordering::Relaxed);
                    if !backoff.pause(&error, stop, &self.local).await {
                        return None;
                    }
                }
            }
        }
    }

    async fn accept_once(&self) -> std::io::Result<(Stream, Peer)> {
        match &self.socket {
            Socket::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(target: "coyote::listener", %peer, %error,
                        "cannot set TCP_NODELAY");
                }
                Ok((Stream::Tcp(stream), Peer::Tcp(peer)))
            }
            Socket::Unix(listener) => {
                let (stream, _) = listener.accept().await?;
                Ok((Stream::Unix(stream), Peer::Unix))
            }
        }
    }
}

/// Removes a socket left at `path` by an earlier run (RoadRunner does the
/// same); refuses to touch anything else that is there.
fn remove_stale_socket(path: &Path) -> Result<(), ListenError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        // Nothing there (or nothing we may look at: bind will say why).
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(ListenError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ListenError::Stale {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The socket file a listener created, identified by device and inode so
/// that dropping the listener removes that file only: if another process
/// has bound a new socket at the path meanwhile, it stays.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// The socket just bound at `path`; `None` if it cannot be looked at
    /// (then it is left behind rather than risking another file).
    fn created_at(path: &Path) -> Option<Self> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(Self {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|meta| {
            meta.file_type().is_socket() && meta.dev() == self.dev && meta.ino() == self.ino
        });
        if ours {
            if let Err(error) = std::fs::remove_file(&self.path) {
                tracing::debug!(target: "coyote::listener", path = %self.path.display(), %error,
                    "cannot remove the socket file");
            }
        }
    }
}
