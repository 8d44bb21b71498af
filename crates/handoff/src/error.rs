//! [`HandoffError`]: what failed while starting or talking to a worker.

/// A failure of the handoff plugin, for one worker or listener.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoffError {
    /// The listening socket could not be made (internal / configuration).
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address as configured.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The worker process could not be started.
    #[error("cannot start {command:?}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The worker did not answer the handshake in time (worker fault).
    #[error("worker {pid} did not answer the handshake within {timeout:?}")]
    HandshakeTimeout {
        /// The worker's pid.
        pid: u32,
        /// `allocate_timeout`.
        timeout: std::time::Duration,
    },
    /// The worker exited before its handshake (worker fault).
    #[error("worker {pid} exited before its handshake")]
    ExitedEarly {
        /// The worker's pid.
        pid: u32,
    },
    /// The worker broke the control protocol (worker fault: it is killed
    /// and replaced).
    #[error("worker {pid} broke the control protocol: {reason}")]
    Protocol {
        /// The worker's pid.
        pid: u32,
        /// What it sent.
        reason: String,
    },
    /// The control socket failed (internal).
    #[error("control socket: {0}")]
    Control(#[from] std::io::Error),
}
