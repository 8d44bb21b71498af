//! The `lock` RPC service (protobuf codec, as roadrunner-php/lock calls
//! it): Lock, LockRead, Release, ForceRelease, Exists, UpdateTTL.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coyote_rpc::{RpcError, Service, ServiceFuture};
use goridge::flags;
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::proto::{Request, Response};
use crate::redis_driver::RedisLocks;
use crate::{Kind, LockError, Locks};

/// The largest `ttl` accepted: about ten years, in microseconds.
pub const MAX_TTL_MICROS: i64 = 10 * 365 * 24 * 3600 * 1_000_000;
/// The largest `wait` accepted: one hour, in microseconds (a waiting call
/// holds its RPC connection).
pub const MAX_WAIT_MICROS: i64 = 3600 * 1_000_000;

/// Where the locks live.
pub enum Backend {
    /// This server's memory.
    Memory(Arc<Locks>),
    /// A Redis server shared with other servers.
    Redis(RedisLocks),
}

/// The service over one lock table.
pub struct LockService {
    backend: Backend,
    shutdown: CancellationToken,
}

impl LockService {
    /// A service for `locks`; calls still waiting when `shutdown` is
    /// cancelled answer `ok: false` at once (so a long `wait` does not hold
    /// the server's stop).
    pub fn new(locks: Arc<Locks>, shutdown: CancellationToken) -> Self {
        Self::with_backend(Backend::Memory(locks), shutdown)
    }

    /// A service over `backend`.
    pub fn with_backend(backend: Backend, shutdown: CancellationToken) -> Self {
        Self { backend, shutdown }
    }

    async fn run(
        &self,
        kind: Option<Kind>,
        method: &str,
        args: &Args,
    ) -> Result<bool, redis::RedisError> {
        let (res, id) = (args.resource.as_str(), args.id.as_str());
        let ttl = (!args.ttl.is_zero()).then_some(args.ttl);
        match &self.backend {
            Backend::Memory(l) => Ok(match (kind, method) {
                (Some(kind), _) => l.acquire(kind, res, id, ttl, args.wait).await,
                (None, "Release") => l.release(res, id),
                (None, "ForceRelease") => l.force_release(res),
                (None, "Exists") => l.exists(res, id),
                _ => l.update_ttl(res, id, args.ttl),
            }),
            Backend::Redis(r) => match (kind, method) {
                (Some(kind), _) => r.acquire(kind, res, id, ttl, args.wait).await,
                (None, "Release") => r.release(res, id).await,
                (None, "ForceRelease") => r.force_release(res).await,
                (None, "Exists") => r.exists(res, id).await,
                _ => r.update_ttl(res, id, args.ttl).await,
            },
        }
    }
}

fn decode(method: &str, codec: u8, body: Bytes) -> Result<Request, RpcError> {
    if codec & flags::CODEC_PROTO == 0 {
        return Err(RpcError::Codec {
            method: format!("lock.{method}"),
            codec,
        });
    }
    Request::decode(body).map_err(|e| RpcError::BadArgument {
        method: format!("lock.{method}"),
        reason: e.to_string(),
    })
}

/// Microseconds -> a duration, refusing negative and absurd values.
fn micros(field: &'static str, value: Option<i64>, limit: i64) -> Result<Duration, LockError> {
    let value = value.unwrap_or(0);
    let micros = u64::try_from(value).map_err(|_| LockError::Negative { field, value })?;
    if value > limit {
        return Err(LockError::TooLong {
            field,
            value,
            limit,
        });
    }
    Ok(Duration::from_micros(micros))
}

/// The checked arguments of one call.
struct Args {
    resource: String,
    id: String,
    ttl: Duration,
    wait: Duration,
}

fn check(req: Request, needs_id: bool) -> Result<Args, LockError> {
    if req.resource.is_empty() {
        return Err(LockError::EmptyResource);
    }
    if needs_id && req.id.is_empty() {
        return Err(LockError::EmptyId);
    }
    Ok(Args {
        ttl: micros("ttl", req.ttl, MAX_TTL_MICROS)?,
        wait: micros("wait", req.wait, MAX_WAIT_MICROS)?,
        resource: req.resource,
        id: req.id,
    })
}

impl Service for LockService {
    fn name(&self) -> &'static str {
        "lock"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            let kind = match method {
                "Lock" => Some(Kind::Exclusive),
                "LockRead" => Some(Kind::Read),
                "Release" | "ForceRelease" | "Exists" | "UpdateTTL" => None,
                _ => return Err(RpcError::UnknownMethod(format!("lock.{method}"))),
            };
            let req = decode(method, codec, body)?;
            let args = check(req, method != "ForceRelease")
                .map_err(|e| RpcError::Failed(format!("lock.{method}: {e}")))?;
            let ok = tokio::select! {
                ok = self.run(kind, method, &args) => ok
                    .map_err(|e| RpcError::Failed(format!("lock.{method}: redis: {e}")))?,
                // A waiting call gives up at shutdown; the others are instant.
                () = self.shutdown.cancelled(), if kind.is_some() => false,
            };
            tracing::debug!(target: "coyote::lock", method, resource = args.resource,
                id = args.id, ok, "lock call");
            Ok(Response { ok }.encode_to_vec())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(s: &LockService, method: &str, body: Vec<u8>) -> Result<bool, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(s.call(method, flags::CODEC_PROTO, body.into()))
            .map(|out| Response::decode(out.as_slice()).is_ok_and(|r| r.ok))
            .map_err(|e| e.to_string())
    }

    fn req(resource: &str, id: &str, ttl: Option<i64>, wait: Option<i64>) -> Vec<u8> {
        Request {
            resource: resource.to_owned(),
            id: id.to_owned(),
            ttl,
            wait,
        }
        .encode_to_vec()
    }

    #[test]
    fn bad_input_is_an_error() {
        let s = LockService::new(Arc::new(Locks::new()), CancellationToken::new());
        let err = |m, b| call(&s, m, b).unwrap_err();
        assert!(err("Lock", vec![0xff, 0xff]).contains("cannot decode"));
        assert!(err("Lock", req("", "a", None, None)).contains("empty resource"));
        assert!(err("LockRead", req("r", "", None, None)).contains("empty ID"));
        assert!(err("Exists", req("r", "", None, None)).contains("empty ID"));
        assert!(err("Lock", req("r", "a", Some(-1), None)).contains("ttl must not be negative"));
        assert!(err("Lock", req("r", "a", None, Some(-5))).contains("wait must not be negative"));
        assert!(err("Lock", req("r", "a", Some(i64::MAX), None)).contains("above the limit"));
        assert!(err("Lock", req("r", "a", None, Some(i64::MAX))).contains("above the limit"));
        assert!(err("Nope", req("r", "a", None, None)).contains("can't find method"));
        let json = s.call("Lock", flags::CODEC_JSON, Bytes::from_static(b"{}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(json).is_err());
        // ForceRelease needs no id; nothing was locked by the bad calls.
        assert_eq!(
            call(&s, "ForceRelease", req("r", "", None, None)),
            Ok(false)
        );
    }

    #[test]
    fn methods_answer_ok() {
        let s = LockService::new(Arc::new(Locks::new()), CancellationToken::new());
        let ok = |m, b| call(&s, m, b).unwrap();
        assert!(ok("Lock", req("r", "a", Some(10_000_000), None)));
        assert!(!ok("Lock", req("r", "b", None, None)));
        assert!(ok("Exists", req("r", "*", None, None)));
        assert!(ok("UpdateTTL", req("r", "a", Some(20_000_000), None)));
        assert!(!ok("Release", req("r", "b", None, None)));
        assert!(ok("Release", req("r", "a", None, None)));
        assert!(ok("LockRead", req("r", "b", None, None)));
        assert!(ok("ForceRelease", req("r", "", None, None)));
        assert!(!ok("Exists", req("r", "*", None, None)));
    }

    #[test]
    fn a_waiting_call_answers_false_at_shutdown() {
        let shutdown = CancellationToken::new();
        let locks = Arc::new(Locks::new());
        let s = LockService::new(locks.clone(), shutdown.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(
                locks
                    .acquire(Kind::Exclusive, "r", "a", None, Duration::ZERO)
                    .await
            );
            let call = s.call(
                "Lock",
                flags::CODEC_PROTO,
                req("r", "b", None, Some(MAX_WAIT_MICROS)).into(),
            );
            let cancel = async {
                while locks.waiting("r") == 0 {
                    tokio::task::yield_now().await;
                }
                shutdown.cancel();
            };
            let (out, ()) = tokio::join!(call, cancel);
            assert!(!Response::decode(out.unwrap().as_slice()).unwrap().ok);
            // The waiter left the queue with the call.
            assert_eq!(locks.waiting("r"), 0);
        });
    }
}
