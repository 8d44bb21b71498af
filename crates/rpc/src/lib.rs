//! RoadRunner's RPC over goridge, the channel operators (`coyote workers`,
//! `coyote reset`) and PHP applications use to talk to a running server.
//!
//! A request is one frame: the codec in the flags, options
//! `[seq, len(method)]`, payload `Service.Method ‖ argument`. The answer
//! echoes seq and method; a failure sets the ERROR flag and carries the
//! message after the method name. One connection may pipeline many calls;
//! answers can come back in any order, matched by seq.
//!
//! # Layout
//! - `message`: request / response frames <-> [`Call`] and its answer.
//! - `server`: the listener, the service registry, dispatch.
//! - `conn`: one connection as one task: reads frames, runs its calls
//!   concurrently (bounded), writes the ready answers together.
//! - `client`: a small async client (the CLI, tests).
//! - `codec`: arguments / results in the request's codec (JSON, msgpack, raw).
//! - `services/`: one file per service (`informer`, `resetter`).
//! - `error`: [`RpcError`].

mod client;
pub mod codec;
mod conn;
mod error;
mod message;
mod server;
pub mod services;

pub use client::RpcClient;
pub use error::RpcError;
pub use message::Call;
pub use server::{RpcLimits, RpcServer, Service, ServiceFuture, Services};

/// Largest RPC frame accepted (arguments are small; KV values and job
/// payloads are the large ones, and RoadRunner bounds nothing here).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Decodes `bytes` as a stream of RPC request frames, exactly as a
/// connection does, and checks that every decoded call answers with the
/// same seq. Shared by the cargo-fuzz target and a stable property test.
pub fn fuzz_requests(bytes: &[u8]) {
    let mut buf = bytes::BytesMut::from(bytes);
    while let Ok(Some(frame)) = goridge::decode(&mut buf, 1 << 16) {
        match Call::from_frame(frame) {
            Ok(call) => {
                let answer = call.answer(b"ok");
                assert_eq!(answer.options.as_slice()[0], call.seq);
                let back = Call::from_frame(answer).map_err(|(_, e)| e);
                assert!(back.is_ok_and(|b| b.method == call.method));
            }
            Err((_, e)) => {
                let _ = e.to_string();
            }
        }
    }
}
