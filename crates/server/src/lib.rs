//! The server core that every plugin shares: it turns `.rr.yaml` sections
//! into the pool library's plain options, resolves worker users, runs
//! `server.on_init`, sets up logging from `logs`, and owns the lifecycle
//! (signals, phases, one shutdown tree).
//!
//! # Layout
//! - `pools`: `server` + `<plugin>.pool` sections -> [`coyote_pool::PoolOptions`].
//! - `users`: user / group names -> uid / gid.
//! - `on_init`: the one-shot command run before any worker starts.
//! - `logging`: `logs` -> a tracing subscriber.
//! - `lifecycle`: [`Phase`], observable on a watch channel, and the signal
//!   handling that drives it (first signal: graceful; second: immediate).
//! - `error`: [`ServerError`].

mod error;
pub mod lifecycle;
pub mod logging;
mod on_init;
mod pools;
mod users;

pub use error::ServerError;
pub use lifecycle::{Lifecycle, Phase};
pub use on_init::run_on_init;
pub use pools::pool_options;
pub use users::resolve_user;
