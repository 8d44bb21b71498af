//! [`ServiceError`]: what a `service.*` call can fail with. The texts are
//! RoadRunner's where it has one (PHP code may look for them).

/// One failed service operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// No service has that name.
    #[error("no such service: {0}")]
    NoSuchService(String),
    /// Create with a name already taken.
    #[error("service already exists: {0}")]
    Exists(String),
    /// The plugin is stopping; nothing new starts.
    #[error("service plugin is stopped")]
    Stopped,
    /// A Create argument out of range (the client's fault).
    #[error("{0}")]
    Invalid(String),
    /// The command could not be started (not found, not executable, ...).
    #[error("cannot start {command:?}: {error}")]
    Spawn {
        /// The command line.
        command: String,
        /// What `exec` said.
        error: std::io::Error,
    },
}
