//! The `kv` RPC service (protobuf codec, as roadrunner-php/kv calls it):
//! Has, Set, MGet, MExpire, TTL, Delete, Clear. Requests are checked here
//! (storage, keys, value sizes, timeouts) before a driver sees them; error
//! texts carry RoadRunner's operation names (`rpc_has: no such storage: x`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use coyote_rpc::{RpcError, Service, ServiceFuture};
use goridge::flags;
use prost::Message;

use crate::proto::{Item, Request, Response};
use crate::storage::Put;
use crate::{timeout, KvError, Storage, MAX_VALUE_SIZE};

/// One started storage.
pub struct Named {
    /// The driver's error prefix (`in_memory_plugin`, `redis_driver`, ...).
    pub prefix: &'static str,
    /// The storage.
    pub storage: Arc<dyn Storage>,
}

/// The service over the plugin's storages.
pub struct KvService {
    storages: BTreeMap<String, Named>,
}

impl KvService {
    /// A service over `storages`, by name.
    pub fn new(storages: BTreeMap<String, Named>) -> Self {
        Self { storages }
    }
}

fn keys(items: &[Item]) -> Result<Vec<String>, KvError> {
    if items.is_empty() {
        return Err(KvError::NoKeys);
    }
    items
        .iter()
        .map(|i| {
            if i.key.trim().is_empty() {
                Err(KvError::EmptyKey)
            } else {
                Ok(i.key.clone())
            }
        })
        .collect()
}

fn puts(items: Vec<Item>, now: SystemTime) -> Result<Vec<Put>, KvError> {
    if items.is_empty() {
        return Err(KvError::NoKeys);
    }
    items
        .into_iter()
        .map(|i| {
            if i.key.trim().is_empty() {
                return Err(KvError::EmptyKey);
            }
            if i.value.len() > MAX_VALUE_SIZE {
                return Err(KvError::TooLarge {
                    key: i.key,
                    size: i.value.len(),
                    limit: MAX_VALUE_SIZE,
                });
            }
            let expires =
                timeout::expiry(&i.timeout, now).map_err(|reason| KvError::BadTimeout {
                    key: i.key.clone(),
                    reason,
                })?;
            Ok(Put {
                key: i.key,
                value: i.value,
                expires,
            })
        })
        .collect()
}

/// MExpire items -> (keys whose time has passed, keys with a future time).
type Expiries = (Vec<String>, Vec<(String, SystemTime)>);

fn expiries(items: Vec<Item>, now: SystemTime) -> Result<Expiries, KvError> {
    let mut gone = Vec::new();
    let mut later = Vec::new();
    for i in items {
        if i.timeout.trim().is_empty() || i.key.trim().is_empty() {
            return Err(KvError::NoTimeout);
        }
        let bad = |reason| KvError::BadTimeout {
            key: i.key.clone(),
            reason,
        };
        let at = timeout::parse(&i.timeout).map_err(bad)?;
        if at <= now {
            gone.push(i.key);
        } else {
            timeout::check_ahead(&i.timeout, at, now).map_err(bad)?;
            later.push((i.key, at));
        }
    }
    Ok((gone, later))
}

fn decode(method: &str, codec: u8, body: &Bytes) -> Result<Request, RpcError> {
    if codec & flags::CODEC_PROTO == 0 {
        return Err(RpcError::Codec {
            method: format!("kv.{method}"),
            codec,
        });
    }
    Request::decode(body.clone()).map_err(|e| RpcError::BadArgument {
        method: format!("kv.{method}"),
        reason: e.to_string(),
    })
}

fn item(key: String) -> Item {
    Item {
        key,
        ..Item::default()
    }
}

impl Service for KvService {
    fn name(&self) -> &'static str {
        "kv"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            let op = match method {
                "Has" => "has",
                "Set" => "set",
                "MGet" => "mget",
                "MExpire" => "mexpire",
                "TTL" => "ttl",
                "Delete" => "delete",
                "Clear" => "clear",
                other => return Err(RpcError::UnknownMethod(format!("kv.{other}"))),
            };
            let req = decode(method, codec, &body)?;
            if op == "has" && req.storage.is_empty() {
                return Err(RpcError::Failed("rpc_has: no storage provided".to_owned()));
            }
            let Some(named) = self.storages.get(&req.storage) else {
                return Err(RpcError::Failed(format!(
                    "rpc_{op}: no such storage: {}",
                    req.storage
                )));
            };
            let fail =
                |e: KvError| RpcError::Failed(format!("rpc_{op}: {}_{op}: {e}", named.prefix));
            let st = &named.storage;
            let now = SystemTime::now();
            let items = match op {
                "has" => {
                    let keys = keys(&req.items).map_err(fail)?;
                    let found = st.has(&keys).await.map_err(fail)?;
                    found.into_iter().map(item).collect()
                }
                "set" => {
                    // Items whose time has come (a 1 s TTL arriving late)
                    // are deleted rather than stored.
                    let (due, puts): (Vec<Put>, Vec<Put>) = puts(req.items, now)
                        .map_err(fail)?
                        .into_iter()
                        .partition(|p| p.expires.is_some_and(|at| at <= now));
                    if !due.is_empty() {
                        let keys: Vec<String> = due.into_iter().map(|p| p.key).collect();
                        st.delete(&keys).await.map_err(fail)?;
                    }
                    if !puts.is_empty() {
                        st.set(puts).await.map_err(fail)?;
                    }
                    Vec::new()
                }
                "mget" => {
                    let keys = keys(&req.items).map_err(fail)?;
                    let found = st.mget(&keys).await.map_err(fail)?;
                    found
                        .into_iter()
                        .map(|(key, value)| Item {
                            key,
                            value,
                            timeout: String::new(),
                        })
                        .collect()
                }
                "mexpire" => {
                    let (gone, later) = expiries(req.items, now).map_err(fail)?;
                    if !gone.is_empty() {
                        st.delete(&gone).await.map_err(fail)?;
                    }
                    if !later.is_empty() {
                        st.expire(later).await.map_err(fail)?;
                    }
                    Vec::new()
                }
                "ttl" => {
                    let keys = keys(&req.items).map_err(fail)?;
                    let found = st.ttl(&keys).await.map_err(fail)?;
                    found
                        .into_iter()
                        .map(|(key, at)| Item {
                            key,
                            value: Bytes::new(),
                            timeout: at.map(timeout::format).unwrap_or_default(),
                        })
                        .collect()
                }
                "delete" => {
                    let keys = keys(&req.items).map_err(fail)?;
                    st.delete(&keys).await.map_err(fail)?;
                    Vec::new()
                }
                _ => {
                    st.clear().await.map_err(fail)?;
                    Vec::new()
                }
            };
            Ok(Response { items }.encode_to_vec())
        })
    }
}
