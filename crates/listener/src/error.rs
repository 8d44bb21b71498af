//! Why a listener could not be set up.

use std::path::PathBuf;

/// Why a [`crate::Listener`] could not be bound. All of these are about
/// the configuration or the machine, none about a client; retrying the
/// same address does not help until something changes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// The OS refused the bind (address in use, no permission, a name that
    /// does not resolve, a directory that does not exist).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address as given.
        address: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Something other than a socket is at the unix socket path: it is
    /// left alone rather than deleted.
    #[error("cannot listen on unix://{}: the path exists and is not a socket; refusing to replace it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A socket left at the path by an earlier run could not be removed.
    #[error("cannot remove the stale socket {}: {source}", path.display())]
    Stale {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket could not report its address.
    #[error("cannot read the bound address of a listener: {0}")]
    LocalAddr(#[source] std::io::Error),
}

/// For callers whose errors carry an `io::Error` and the address already:
/// the OS error of a failed bind as it is, anything else wrapped with its
/// kind.
impl From<ListenError> for std::io::Error {
    fn from(error: ListenError) -> Self {
        match error {
            ListenError::Bind { source, .. } | ListenError::LocalAddr(source) => source,
            other @ ListenError::NotASocket { .. } => {
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, other)
            }
            ListenError::Stale { path, source } => {
                std::io::Error::new(source.kind(), ListenError::Stale { path, source })
            }
        }
    }
}
