//! What every accept loop does when `accept` fails: now part of
//! [`coyote_listener`], which every listener in the workspace uses (the
//! pool's relays and the RPC listener sit below the host). Re-exported so
//! that code written against `coyote_host::accept` keeps working.

pub use coyote_listener::{is_per_connection, is_resource_exhaustion, Backoff};
