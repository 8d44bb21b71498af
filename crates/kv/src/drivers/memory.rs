//! The `memory` driver: a map in this process, lost on stop. Expiry is
//! lazy (a read never returns an expired item) plus one sweeper task per
//! storage that sleeps until the earliest expiry in an ordered index and
//! removes what is due: no timer per key.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use coyote_host::BoxFuture;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::storage::{Expiries, Put, Storage};
use crate::KvError;

/// The longest the sweeper sleeps without looking (bounds the effect of
/// the wall clock jumping).
const MAX_NAP: Duration = Duration::from_secs(1);

struct Entry {
    value: Bytes,
    expires: Option<SystemTime>,
}

#[derive(Default)]
struct State {
    map: HashMap<String, Entry>,
    /// `(expiry, key)` of every entry that expires.
    index: BTreeSet<(SystemTime, String)>,
}

impl State {
    fn live(&self, key: &str, now: SystemTime) -> Option<&Entry> {
        self.map
            .get(key)
            .filter(|e| e.expires.is_none_or(|at| at > now))
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            if let Some(at) = old.expires {
                self.index.remove(&(at, key.to_owned()));
            }
        }
    }

    fn insert(&mut self, key: String, entry: Entry) {
        self.remove(&key);
        if let Some(at) = entry.expires {
            self.index.insert((at, key.clone()));
        }
        self.map.insert(key, entry);
    }

    /// Removes every entry due at `now`; the next expiry after.
    fn sweep(&mut self, now: SystemTime) -> Option<SystemTime> {
        while let Some((at, key)) = self.index.first().cloned() {
            if at > now {
                return Some(at);
            }
            self.index.pop_first();
            self.map.remove(&key);
        }
        None
    }
}

/// One in-memory storage.
pub struct MemoryStorage {
    state: Mutex<State>,
    /// Wakes the sweeper (an earlier expiry was added).
    wake: Notify,
}

impl MemoryStorage {
    /// An empty storage whose sweeper runs on `tracker` until `stop`.
    pub fn start(tracker: &TaskTracker, stop: CancellationToken) -> Arc<Self> {
        let me = Arc::new(Self {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        });
        tracker.spawn(sweeper(me.clone(), stop));
        me
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Entries held, expired ones not yet swept included (for tests).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

async fn sweeper(me: Arc<MemoryStorage>, stop: CancellationToken) {
    loop {
        let now = SystemTime::now();
        let next = me.lock().sweep(now);
        let nap = next.map_or(MAX_NAP, |at| {
            at.duration_since(now).unwrap_or_default().min(MAX_NAP)
        });
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(nap) => {}
            () = me.wake.notified() => {}
        }
    }
}

impl Storage for MemoryStorage {
    fn has<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<String>, KvError>> {
        Box::pin(async move {
            let now = SystemTime::now();
            let st = self.lock();
            Ok(keys
                .iter()
                .filter(|k| st.live(k, now).is_some())
                .cloned()
                .collect())
        })
    }

    fn mget<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<(String, Bytes)>, KvError>> {
        Box::pin(async move {
            let now = SystemTime::now();
            let st = self.lock();
            Ok(keys
                .iter()
                .filter_map(|k| st.live(k, now).map(|e| (k.clone(), e.value.clone())))
                .collect())
        })
    }

    fn set(&self, items: Vec<Put>) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            let expiring = items.iter().any(|p| p.expires.is_some());
            {
                let mut st = self.lock();
                for p in items {
                    st.insert(
                        p.key,
                        Entry {
                            value: p.value,
                            expires: p.expires,
                        },
                    );
                }
            }
            if expiring {
                self.wake.notify_one();
            }
            Ok(())
        })
    }

    fn expire(&self, items: Vec<(String, SystemTime)>) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            let now = SystemTime::now();
            {
                let mut st = self.lock();
                for (key, at) in items {
                    let Some(value) = st.live(&key, now).map(|e| e.value.clone()) else {
                        continue;
                    };
                    st.insert(
                        key,
                        Entry {
                            value,
                            expires: Some(at),
                        },
                    );
                }
            }
            self.wake.notify_one();
            Ok(())
        })
    }

    fn ttl<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Expiries, KvError>> {
        Box::pin(async move {
            let now = SystemTime::now();
            let st = self.lock();
            Ok(keys
                .iter()
                .filter_map(|k| st.live(k, now).map(|e| (k.clone(), e.expires)))
                .collect())
        })
    }

    fn delete<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<(), KvError>> {
        Box::pin(async move {
            let mut st = self.lock();
            for k in keys {
                st.remove(k);
            }
            Ok(())
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            *self.lock() = State::default();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &[u8], expires: Option<SystemTime>) -> Put {
        Put {
            key: key.to_owned(),
            value: Bytes::copy_from_slice(value),
            expires,
        }
    }

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn set_get_delete_clear() {
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let s = MemoryStorage::start(&tracker, stop.clone());
        s.set(vec![put("a", b"\0\xff", None), put("b", b"2", None)])
            .await
            .unwrap();
        assert_eq!(
            s.has(&keys(&["a", "x", "b"])).await.unwrap(),
            keys(&["a", "b"])
        );
        let got = s.mget(&keys(&["b", "a"])).await.unwrap();
        assert_eq!(got[1].1.as_ref(), b"\0\xff");
        s.delete(&keys(&["a"])).await.unwrap();
        assert_eq!(s.has(&keys(&["a", "b"])).await.unwrap(), keys(&["b"]));
        s.clear().await.unwrap();
        assert!(s.is_empty());
        stop.cancel();
        tracker.close();
        tracker.wait().await;
    }

    #[test]
    fn sweep_removes_due_entries_only() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut st = State::default();
        for (k, s) in [("a", 1), ("b", 2), ("c", 3)] {
            st.insert(
                k.to_owned(),
                Entry {
                    value: Bytes::new(),
                    expires: Some(t0 + Duration::from_secs(s)),
                },
            );
        }
        st.insert(
            "forever".to_owned(),
            Entry {
                value: Bytes::new(),
                expires: None,
            },
        );
        // Overwriting moves the expiry in the index.
        st.insert(
            "a".to_owned(),
            Entry {
                value: Bytes::new(),
                expires: Some(t0 + Duration::from_secs(10)),
            },
        );
        assert_eq!(
            st.sweep(t0 + Duration::from_secs(2)),
            Some(t0 + Duration::from_secs(3))
        );
        assert_eq!(st.map.len(), 3);
        assert!(st.live("a", t0).is_some() && st.live("b", t0).is_none());
        assert!(
            st.live("c", t0 + Duration::from_secs(3)).is_none(),
            "lazy expiry"
        );
        assert_eq!(st.sweep(t0 + Duration::from_secs(100)), None);
        assert_eq!(st.map.len(), 1);
        assert!(st.index.is_empty());
    }
}
