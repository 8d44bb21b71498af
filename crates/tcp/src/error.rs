//! Why a connection ended other than by the client or the worker asking.

use coyote_pool::PoolError;

use crate::framing::Oversize;

/// What went wrong on one connection. The connection is closed; the
/// server and every other connection go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// The client's fault: a chunk longer than `tcp.read_buf_size`.
    #[error("no delimiter within read_buf_size: {0}")]
    Oversize(#[from] Oversize),
    /// The client's socket failed while reading.
    #[error("read error: {0}")]
    Read(#[source] std::io::Error),
    /// The client's socket failed while writing the worker's answer.
    #[error("write error: {0}")]
    Write(#[source] std::io::Error),
    /// The worker failed (crashed, answered an error, timed out); the
    /// pool replaces it. Not retried: the event may have had effects.
    #[error("worker failed: {0}")]
    Worker(#[source] PoolError),
    /// The worker answered an action that is none of CONTINUE, WRITE,
    /// WRITECLOSE, CLOSE.
    #[error("unknown action {0:?} in the worker's answer")]
    UnknownAction(String),
}
