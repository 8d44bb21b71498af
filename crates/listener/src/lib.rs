//! The one way Coyote listens: every TCP and unix listener (HTTP, FastCGI,
//! status, metrics, RPC, the pool's worker relays) binds and accepts
//! through a [`Listener`], so they all follow the same rules:
//!
//! - **Bind**: `host:port` (port 0 resolved, IPv6 `[::1]:0` too) or a unix
//!   socket path. A socket left at that path by an earlier run is
//!   replaced; any other kind of file is refused and left alone. The
//!   listener removes its own socket file when it is dropped.
//! - **Accept**: [`Listener::accept`] returns the next connection
//!   (`TCP_NODELAY` set), or `None` once the stop token fires. Errors about
//!   one connection (the client gave up before we took it) are retried at
//!   once; running out of descriptors or memory (`EMFILE`, `ENFILE`,
//!   `ENOBUFS`, `ENOMEM`) backs off 5 ms doubling to 1 s, as Go's net/http
//!   does, so an exhausted process never spins a core. One warning per
//!   episode, not one per attempt.
//!
//! # Layout
//! - `address`: [`Address`] (what to bind), [`LocalAddr`] (what got
//!   bound), [`Peer`] (who connected).
//! - `backoff`: [`Backoff`], the retry policy for accept errors.
//! - `listener`: [`Listener`] and the unix socket file it owns.
//! - `stream`: [`Stream`], an accepted TCP or unix connection, and its
//!   owned halves.
//! - `error`: [`ListenError`].

mod address;
mod backoff;
mod error;
mod listener;
mod stream;

pub use address::{Address, LocalAddr, Peer};
pub use backoff::{is_per_connection, is_resource_exhaustion, Backoff};
pub use error::ListenError;
pub use listener::Listener;
pub use stream::{ReadHalf, Stream, WriteHalf};
