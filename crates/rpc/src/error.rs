/// Why an RPC call or the RPC listener failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// No service with that name. The text matches Go's net/rpc, which PHP
    /// libraries look for.
    #[error("rpc: can't find service {0}")]
    UnknownService(String),
    /// The service has no such method (net/rpc's wording).
    #[error("rpc: can't find method {0}")]
    UnknownMethod(String),
    /// The argument could not be decoded with the request's codec.
    #[error("rpc: cannot decode the argument of {method}: {reason}")]
    BadArgument {
        /// `Service.Method`.
        method: String,
        /// The decoder's message.
        reason: String,
    },
    /// The request's codec is not one this method speaks.
    #[error("rpc: {method} does not support codec flags {codec:#04x}")]
    Codec {
        /// `Service.Method`.
        method: String,
        /// The request's flags.
        codec: u8,
    },
    /// The request frame is malformed (option count, method length).
    #[error("rpc: malformed request: {0}")]
    Malformed(String),
    /// The service ran and failed.
    #[error("{0}")]
    Failed(String),
    /// The server answered with an error (client side).
    #[error("error '{message}' on {method}")]
    Remote {
        /// `Service.Method`.
        method: String,
        /// The server's message.
        message: String,
    },
    /// Framing failed on the connection.
    #[error(transparent)]
    Frame(#[from] goridge::FrameError),
    /// Network I/O failed (client side, or binding the listener).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
