//! The `memcached` driver, on Shopify's `async-memcached` client (tokio,
//! text and meta protocols). Items are memcached items under their own
//! keys; expiry is memcached's exptime (relative seconds, or the absolute
//! time beyond 30 days), TTL reads it back with the meta protocol's `t`
//! flag (memcached 1.6+), MExpire touches with `T`, Clear is `flush_all`.
//! Keys are memcached's: at most 250 bytes, no spaces or control bytes.
//!
//! One connection, one call at a time on it. A call that finds it broken
//! answers the error and drops it; the next call, or the health task (a
//! `version` every second), dials again. `/ready` reports the last failure
//! until a dial succeeds.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use async_memcached::{AsciiProtocol, Client, Error as McError, MetaProtocol, Status};
use bytes::Bytes;
use coyote_host::BoxFuture;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::storage::{Expiries, Put, Storage};
use crate::{timeout, KvError};

/// Connect deadline.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the health task looks.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// memcached reads an exptime above this many seconds as a Unix time.
const RELATIVE_MAX: u64 = 30 * 24 * 3600;

/// One memcached storage.
pub struct MemcachedStorage {
    addr: String,
    client: tokio::sync::Mutex<Option<Client>>,
    error: Mutex<Option<String>>,
}

/// memcached's exptime for `at`.
fn exptime(at: SystemTime, now: SystemTime) -> u64 {
    let secs = timeout::secs_until(at, now);
    if secs > RELATIVE_MAX {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(secs, |d| d.as_secs())
    } else {
        secs
    }
}

/// Whether the connection is unusable after `e`.
fn broken(e: &McError) -> bool {
    !matches!(e, McError::Protocol(_))
}

/// memcached's key rule: 1-250 bytes, no spaces or control bytes.
fn check_keys<'k>(keys: impl IntoIterator<Item = &'k String>) -> Result<(), KvError> {
    for k in keys {
        if k.len() > 250 || k.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(KvError::Backend(format!(
                "memcached keys are at most 250 bytes, without spaces or control characters: {:?}",
                k.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(())
}

fn not_found(e: &McError) -> bool {
    matches!(e, McError::Protocol(Status::NotFound))
}

impl MemcachedStorage {
    /// A storage on the server at `addr`, with its health task on
    /// `tracker` until `stop`. A server out of reach is not an error here.
    pub async fn start(addr: String, tracker: &TaskTracker, stop: CancellationToken) -> Arc<Self> {
        let me = Arc::new(Self {
            addr,
            client: tokio::sync::Mutex::new(None),
            error: Mutex::new(None),
        });
        if let Err(e) = me.call(|_| Box::pin(async { Ok(()) })).await {
            tracing::warn!(target: "coyote::kv", "{e}; retrying in the background");
        }
        tracker.spawn(health(me.clone(), stop));
        me
    }

    fn error(&self) -> MutexGuard<'_, Option<String>> {
        self.error.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` on the connection (dialing one first when there is none).
    async fn call<T>(
        &self,
        op: impl for<'c> FnOnce(&'c mut Client) -> BoxFuture<'c, Result<T, McError>>,
    ) -> Result<T, KvError> {
        let mut slot = self.client.lock().await;
        if slot.is_none() {
            let dialed =
                tokio::time::timeout(DIAL_TIMEOUT, Client::new(format!("tcp://{}", self.addr)))
                    .await
                    .unwrap_or_else(|_| {
                        Err(McError::Connect(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("no answer within {DIAL_TIMEOUT:?}"),
                        )))
                    });
            match dialed {
                Ok(c) => {
                    if self.error().take().is_some() {
                        tracing::info!(target: "coyote::kv", "memcached {}: connected again", self.addr);
                    }
                    *slot = Some(c);
                }
                Err(e) => {
                    let why = format!("memcached {} is out of reach: {e}", self.addr);
                    *self.error() = Some(why.clone());
                    return Err(KvError::Backend(why));
                }
            }
        }
        let Some(client) = slot.as_mut() else {
            return Err(KvError::Backend(format!(
                "memcached {}: no connection",
                self.addr
            )));
        };
        let result = tokio::time::timeout(CALL_TIMEOUT, op(client))
            .await
            .unwrap_or_else(|_| {
                Err(McError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {CALL_TIMEOUT:?}"),
                )))
            });
        match result {
            Ok(v) => Ok(v),
            Err(e) if broken(&e) => {
                *slot = None;
                let why = format!("memcached {}: link lost: {e}", self.addr);
                *self.error() = Some(why.clone());
                Err(KvError::Backend(why))
            }
            Err(e) => Err(KvError::Backend(format!("memcached {}: {e}", self.addr))),
        }
    }
}

async fn health(me: Arc<MemcachedStorage>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(HEALTH_EVERY) => {}
        }
        let checked = tokio::select! {
            () = stop.cancelled() => return,
            r = me.call(|c| Box::pin(async move { c.version().await.map(drop) })) => r,
        };
        if let Err(e) = checked {
            tracing::debug!(target: "coyote::kv", "{e}");
        }
    }
}

impl Storage for MemcachedStorage {
    fn has<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<String>, KvError>> {
        Box::pin(async move {
            check_keys(keys)?;
            let found = self.mget(keys).await?;
            Ok(found.into_iter().map(|(k, _)| k).collect())
        })
    }

    fn mget<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<(String, Bytes)>, KvError>> {
        Box::pin(async move {
            check_keys(keys)?;
            let owned = keys.to_vec();
            let values = self
                .call(move |c| {
                    Box::pin(async move {
                        match c.get_multi(&owned).await {
                            Err(e) if not_found(&e) => Ok(Vec::new()),
                            other => other,
                        }
                    })
                })
                .await?;
            let mut by_key: std::collections::HashMap<Vec<u8>, Vec<u8>> = values
                .into_iter()
                .filter_map(|v| v.data.map(|d| (v.key, d)))
                .collect();
            Ok(keys
                .iter()
                .filter_map(|k| {
                    by_key
                        .remove(k.as_bytes())
                        .map(|d| (k.clone(), Bytes::from(d)))
                })
                .collect())
        })
    }

    fn set(&self, items: Vec<Put>) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            check_keys(items.iter().map(|p| &p.key))?;
            let now = SystemTime::now();
            for p in items {
                let ttl = p.expires.map(|at| format!("T{}", exptime(at, now)));
                self.call(move |c| {
                    Box::pin(async move {
                        let flags: Vec<&str> = ttl.iter().map(String::as_str).collect();
                        c.meta_set(&p.key, p.value.as_ref(), false, None, Some(&flags))
                            .await
                            .map(drop)
                    })
                })
                .await?;
            }
            Ok(())
        })
    }

    fn expire(&self, items: Vec<(String, SystemTime)>) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            check_keys(items.iter().map(|(k, _)| k))?;
            let now = SystemTime::now();
            for (k, at) in items {
                let flag = format!("T{}", exptime(at, now));
                self.call(move |c| {
                    Box::pin(async move {
                        match c.meta_get(&k, false, None, Some(&[flag.as_str()])).await {
                            Err(e) if not_found(&e) => Ok(()),
                            other => other.map(drop),
                        }
                    })
                })
                .await?;
            }
            Ok(())
        })
    }

    fn ttl<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Expiries, KvError>> {
        Box::pin(async move {
            check_keys(keys)?;
            let mut out = Vec::new();
            for k in keys {
                let key = k.clone();
                let got = self
                    .call(move |c| {
                        Box::pin(async move {
                            match c.meta_get(&key, false, None, Some(&["t"])).await {
                                Err(e) if not_found(&e) => Ok(None),
                                other => other,
                            }
                        })
                    })
                    .await?;
                let Some(v) = got else { continue };
                let at = match v.ttl_remaining {
                    Some(secs) if secs >= 0 => {
                        let secs = u64::try_from(secs).unwrap_or(0);
                        Some(SystemTime::now() + Duration::from_secs(secs))
                    }
                    _ => None,
                };
                out.push((k.clone(), at));
            }
            Ok(out)
        })
    }

    fn delete<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<(), KvError>> {
        Box::pin(async move {
            check_keys(keys)?;
            for k in keys {
                let key = k.clone();
                self.call(move |c| {
                    Box::pin(async move {
                        match c.meta_delete(&key, false, None, None).await {
                            Err(e) if not_found(&e) => Ok(()),
                            other => other.map(drop),
                        }
                    })
                })
                .await?;
            }
            Ok(())
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            self.call(|c| Box::pin(async move { c.flush_all().await }))
                .await
        })
    }

    fn problem(&self) -> Option<String> {
        self.error().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_memcached_rules() {
        assert!(check_keys(&["ok:key-1".to_owned()]).is_ok());
        for bad in ["has space", "tab\t", "\u{7f}", &"k".repeat(251)] {
            let err = check_keys(&[bad.to_owned()]).unwrap_err().to_string();
            assert!(err.contains("at most 250 bytes"), "{err}");
        }
    }

    #[test]
    fn exptime_is_relative_up_to_30_days() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(exptime(now + Duration::from_secs(10), now), 10);
        let far = now + Duration::from_secs(RELATIVE_MAX + 1);
        assert_eq!(exptime(far, now), 1_800_000_000 + RELATIVE_MAX + 1);
    }
}
