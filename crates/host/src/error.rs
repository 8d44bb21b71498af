/// Why the server could not start or run a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A plugin needs workers but `server.command` (and the plugin's own
    /// `pool.command`) is empty or missing.
    #[error("{plugin}: no worker command: set server.command (or {plugin}.pool.command)")]
    NoCommand {
        /// The plugin.
        plugin: String,
    },
    /// `server.user` / `server.group` names no such account.
    #[error("unknown {kind} {name:?} (server.{kind})")]
    UnknownAccount {
        /// "user" or "group".
        kind: &'static str,
        /// The configured name.
        name: String,
    },
    /// Running workers as another user needs root.
    #[error("server.user is set to {name:?} but coyote is not running as root")]
    NotRoot {
        /// The configured user.
        name: String,
    },
    /// `server.on_init` failed and `exit_on_error` is set.
    #[error("server.on_init failed: {reason}")]
    OnInit {
        /// What happened.
        reason: String,
    },
    /// Logging could not be set up (bad output path, ...).
    #[error("logs: {0}")]
    Logging(String),
    /// A pool could not start.
    #[error(transparent)]
    Pool(#[from] coyote_pool::PoolError),
}
