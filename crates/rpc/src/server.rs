use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use coyote_listener::{Address, Listener, LocalAddr};
use goridge::Frame;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conn::Conn;
use crate::{Call, RpcError};

/// What a service method returns: the encoded result.
pub type ServiceFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, RpcError>> + Send + 'a>>;

/// One RPC service (`informer`, `resetter`, ...): methods by name.
pub trait Service: Send + Sync {
    /// The service name, the part before the dot.
    fn name(&self) -> &'static str;
    /// Runs `method` (the part after the dot) on an argument encoded with
    /// `codec`.
    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a>;
}

/// The services a server dispatches to, by name: a shared, live set
/// (plugins that start after the listener add theirs; every clone sees
/// them).
#[derive(Clone, Default)]
pub struct Services {
    map: Arc<RwLock<BTreeMap<&'static str, Arc<dyn Service>>>>,
}

impl Services {
    /// No services.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service (builder style).
    pub fn with(self, service: Arc<dyn Service>) -> Self {
        self.add(service);
        self
    }

    /// Adds (or replaces) a service.
    pub fn add(&self, service: Arc<dyn Service>) {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(service.name(), service);
    }

    /// The service names.
    pub fn names(&self) -> Vec<&'static str> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect()
    }

    fn get(&self, name: &str) -> Option<Arc<dyn Service>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Runs one call and builds its answer frame.
    pub async fn dispatch(&self, call: &Call) -> Frame {
        let result = match call.method.split_once('.') {
            Some((service, method)) => match self.get(service) {
                Some(svc) => svc.call(method, call.codec, call.body.clone()).await,
                None => Err(RpcError::UnknownService(service.to_owned())),
            },
            None => Err(RpcError::Malformed(format!(
                "method {:?} is not Service.Method",
                call.method
            ))),
        };
        match result {
            Ok(body) => call.answer(&body),
            Err(e) => call.fail(&e),
        }
    }
}

/// What one RPC listener allows, so that no client can make it buffer
/// without bound (RoadRunner bounds none of these).
#[derive(Clone, Copy, Debug)]
pub struct RpcLimits {
    /// Connections served at once; further clients wait in the listen
    /// backlog until one closes (backpressure, as nginx's
    /// `worker_connections`).
    pub max_connections: usize,
    /// Calls of one connection running at once; the connection is not read
    /// further until one finishes (pipelining gets backpressure, not a
    /// buffer).
    pub max_in_flight: usize,
    /// While more than half of `max_connections` are open, a connection
    /// idle this long (no call running, nothing received) is closed.
    /// Below that, idle connections stay: PHP workers keep theirs open for
    /// their whole life and do not reconnect.
    pub idle_timeout: std::time::Duration,
}

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_in_flight: 64,
            idle_timeout: std::time::Duration::from_secs(60),
        }
    }
}

/// The bound RPC listener.
pub struct RpcServer {
    listener: Listener,
    address: String,
    limits: RpcLimits,
}

impl RpcServer {
    /// Binds `tcp://host:port`, `host:port` or `unix:///path`. A TCP
    /// address that is not loopback is accepted with a warning: the RPC
    /// can reset workers and read metrics, so it should stay local.
    pub async fn bind(address: &str) -> Result<Self, RpcError> {
        let listener = Listener::bind(&Address::parse(address))
            .await
            .map_err(std::io::Error::from)?;
        let address = match listener.local_addr() {
            LocalAddr::Tcp(local) => {
                if !local.ip().is_loopback() {
                    tracing::warn!(target: "coyote::rpc", %local,
                        "rpc listens on a non-loopback address: anyone who can reach it can reset workers");
                }
                format!("tcp://{local}")
            }
            LocalAddr::Unix(_) => address.to_owned(),
        };
        Ok(Self {
            listener,
            address,
            limits: RpcLimits::default(),
        })
    }

    /// Replaces the default [`RpcLimits`].
    pub fn with_limits(mut self, limits: RpcLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The address clients should use (port 0 resolved).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Accepts connections until `shutdown`; every connection runs as one
    /// task on `tracker` (its calls run inside it, see `conn`). A unix socket file is removed when this returns.
    pub async fn serve(
        self,
        services: Services,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) {
        let limits = self.limits;
        let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        loop {
            let slot = tokio::select! {
                () = shutdown.cancelled() => break,
                slot = slots.clone().acquire_owned() => slot,
            };
            let Ok(slot) = slot else { break };
            // Backoff on accept errors and the stop come from the listener.
            let Some((stream, _)) = self.listener.accept(&shutdown).await else {
                break;
            };
            let (reader, writer) = stream.into_split();
            let conn = Conn {
                services: services.clone(),
                shutdown: shutdown.clone(),
                limits,
                slots: slots.clone(),
            };
            tracker.spawn(async move {
                conn.serve(reader, writer).await;
                drop(slot);
            });
        }
    }
}
