//! The `tcp` plugin, as RoadRunner's: raw TCP servers
//! (`tcp.servers.<name>{addr, delimiter}`) whose connection events go to a
//! worker pool of their own (`RR_MODE=tcp`), as roadrunner-php/tcp's
//! `TcpWorker` reads them. Each connection gets a uuid; the worker gets
//! `CONNECTED` on accept, `DATA` with each delimiter-terminated chunk
//! (delimiter included) and `CLOSE` once the socket is closed, and answers
//! `CONTINUE`, `WRITE`, `WRITECLOSE` or `CLOSE` (the body is what to
//! write). `tcp.Close` over RPC closes a connection: the uuid as a string
//! (JSON / raw), or `tcp.v1.CloseRequest` in the protobuf codec.
//!
//! Bounds: a chunk is at most `tcp.read_buf_size` megabytes (default 1);
//! a client that sends more without the delimiter is disconnected with a
//! warning. A failing worker closes its connection only.
//!
//! # Layout
//! - `config`: the section -> [`TcpOptions`], every problem at its key.
//! - `framing`: [`Framer`], bytes -> delimited chunks, capped.
//! - `protocol`: [`Event`], [`Action`], the JSON [`Context`].
//! - `connection`: one connection's task.
//! - `connections`: [`Connections`], the open connections by uuid.
//! - `proto`: the `tcp.v1` protobuf messages of `tcp.Close`.
//! - `rpc`: [`TcpService`], `tcp.Close`.
//! - `plugin`: [`TcpPlugin`] on the host.
//! - `error`: [`TcpError`].

mod config;
mod connection;
mod connections;
mod error;
mod framing;
mod plugin;
pub mod proto;
mod protocol;
mod rpc;

pub use config::{ServerSpec, TcpOptions, DEFAULT_DELIMITER, DEFAULT_READ_BUF_MB, MAX_READ_BUF_MB};
pub use connections::Connections;
pub use error::TcpError;
pub use framing::{Framer, Oversize};
pub use plugin::TcpPlugin;
pub use protocol::{Action, Context, Event};
pub use rpc::TcpService;
