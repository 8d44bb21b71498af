//! The `boltdb` driver: a storage in an embedded redb database file (the
//! jobs plugin's embedded database), durable across restarts. RoadRunner's
//! keys (`file`, `permissions`, `interval`); the file is redb's format,
//! not bbolt's.
//!
//! # Layout on disk
//! Each storage has its table `kv/<storage>` (key: the item's key; value:
//! 8 bytes big-endian expiry in nanoseconds since the epoch, 0 for none,
//! then the item's bytes). Several storages may share one file: they share
//! one `Database` through a process-wide registry (redb locks a file for
//! one handle per process). Expired items are never returned, and are
//! removed every `interval` by one sweeper task per storage.
//!
//! Every change is its own write transaction, committed with
//! `Durability::Immediate` (fsync) before the call answers; every redb
//! call runs on the blocking pool.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use coyote_host::BoxFuture;
use redb::{Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::storage::{Expiries, Put, Storage};
use crate::KvError;

/// The page cache of one database file at most.
const CACHE_BYTES: usize = 16 << 20;

static FILES: Mutex<BTreeMap<PathBuf, Weak<Shared>>> = Mutex::new(BTreeMap::new());

struct Shared {
    path: PathBuf,
    db: Database,
}

/// One storage in a database file.
pub struct BoltStorage {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    table: String,
}

fn nanos(at: Option<SystemTime>) -> u64 {
    at.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
        })
}

fn encode(value: &[u8], expires: Option<SystemTime>) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&nanos(expires).to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// (expiry, value) of a stored record; a record shorter than its header
/// reads as an empty value without expiry.
fn decode(record: &[u8]) -> (Option<SystemTime>, &[u8]) {
    match record.split_first_chunk::<8>() {
        Some((head, value)) => {
            let n = u64::from_be_bytes(*head);
            let at = (n != 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_nanos(n));
            (at, value)
        }
        None => (None, &[]),
    }
}

fn live(at: Option<SystemTime>, now: SystemTime) -> bool {
    at.is_none_or(|t| t > now)
}

/// Creates the file with `permissions` when it does not exist.
fn create_file(path: &Path, permissions: u32) -> Result<(), String> {
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(permissions)
        .open(path);
    match created {
        // The mode given at creation is filtered by the umask.
        Ok(_) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(permissions))
            .map_err(|e| format!("{}: setting permissions: {e}", path.display())),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(format!(
            "{}: cannot create the file, its directory does not exist",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn shared_db(path: &Path, permissions: u32) -> Result<Arc<Shared>, String> {
    create_file(path, permissions)?;
    let canonical = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut files = FILES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(shared) = files.get(&canonical).and_then(Weak::upgrade) {
        return Ok(shared);
    }
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(&canonical)
        .map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => format!(
                "{}: the file is already open (by the jobs boltdb driver or another process); \
                 give each its own file",
                canonical.display()
            ),
            other => format!(
                "{}: cannot open the database (it must be a redb file, not bbolt's): {other}",
                canonical.display()
            ),
        })?;
    let shared = Arc::new(Shared {
        path: canonical.clone(),
        db,
    });
    files.retain(|_, w| w.strong_count() > 0);
    files.insert(canonical, Arc::downgrade(&shared));
    Ok(shared)
}

impl BoltStorage {
    /// Opens (creating with `permissions`) the storage `name` in `file`
    /// and starts its sweeper on `tracker`, every `interval` until `stop`.
    ///
    /// # Errors
    /// The file cannot be created or opened (already open elsewhere, not a
    /// redb file, no directory).
    pub async fn open(
        name: &str,
        file: &Path,
        permissions: u32,
        interval: Duration,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> Result<Arc<Self>, KvError> {
        let file = file.to_path_buf();
        let table = format!("kv/{name}");
        let t = table.clone();
        let shared = tokio::task::spawn_blocking(move || {
            let shared = shared_db(&file, permissions)?;
            // The table exists from now on, so readers never miss it.
            let txn = shared.db.begin_write().map_err(|e| e.to_string())?;
            txn.open_table(def(&t)).map_err(|e| e.to_string())?;
            txn.commit().map_err(|e| e.to_string())?;
            Ok::<_, String>(shared)
        })
        .await
        .map_err(|e| KvError::Backend(e.to_string()))?
        .map_err(KvError::Backend)?;
        let inner = Arc::new(Inner { shared, table });
        tracker.spawn(sweeper(inner.clone(), interval, stop));
        Ok(Arc::new(Self { inner }))
    }

    /// Runs `f` on the blocking pool with this storage.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, KvError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| KvError::Backend(format!("blocking task: {e}")))?
    }
}

impl Inner {
    fn fail(&self, what: &str, e: impl std::fmt::Display) -> KvError {
        KvError::Backend(format!("{}: {what}: {e}", self.shared.path.display()))
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        let txn = self
            .shared
            .db
            .begin_read()
            .map_err(|e| self.fail("read", e))?;
        let table = txn
            .open_table(def(&self.table))
            .map_err(|e| self.fail("open table", e))?;
        f(&table)
    }

    fn write(
        &self,
        f: impl FnOnce(&mut redb::Table<'_, &'static str, &'static [u8]>) -> Result<(), KvError>,
    ) -> Result<(), KvError> {
        let mut txn = self
            .shared
            .db
            .begin_write()
            .map_err(|e| self.fail("write", e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.fail("write", e))?;
        {
            let mut table = txn
                .open_table(def(&self.table))
                .map_err(|e| self.fail("open table", e))?;
            f(&mut table)?;
        }
        txn.commit().map_err(|e| self.fail("commit", e))
    }

    fn sweep(&self, now: SystemTime) -> Result<(), KvError> {
        self.write(|t| {
            t.retain(|_, v| live(decode(v).0, now))
                .map_err(|e| KvError::Backend(e.to_string()))
        })
    }
}

fn def(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

async fn sweeper(me: Arc<Inner>, interval: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let now = SystemTime::now();
        let inner = me.clone();
        let swept = tokio::task::spawn_blocking(move || inner.sweep(now))
            .await
            .map_err(|e| KvError::Backend(e.to_string()))
            .and_then(|r| r);
        if let Err(e) = swept {
            tracing::warn!(target: "coyote::kv", table = %me.table, "sweeping expired keys: {e}");
        }
    }
}

impl Storage for BoltStorage {
    fn has<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<String>, KvError>> {
        let keys = keys.to_vec();
        Box::pin(async move {
            self.blocking(move |s| {
                let now = SystemTime::now();
                s.read(|t| {
                    let mut out = Vec::new();
                    for k in keys {
                        let got = t.get(k.as_str()).map_err(|e| s.fail("get", e))?;
                        if got.is_some_and(|v| live(decode(v.value()).0, now)) {
                            out.push(k);
                        }
                    }
                    Ok(out)
                })
            })
            .await
        })
    }

    fn mget<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<(String, Bytes)>, KvError>> {
        let keys = keys.to_vec();
        Box::pin(async move {
            self.blocking(move |s| {
                let now = SystemTime::now();
                s.read(|t| {
                    let mut out = Vec::new();
                    for k in keys {
                        let got = t.get(k.as_str()).map_err(|e| s.fail("get", e))?;
                        if let Some(v) = got {
                            let (at, value) = decode(v.value());
                            if live(at, now) {
                                let value = Bytes::copy_from_slice(value);
                                out.push((k, value));
                            }
                        }
                    }
                    Ok(out)
                })
            })
            .await
        })
    }

    fn set(&self, items: Vec<Put>) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            self.blocking(move |s| {
                s.write(|t| {
                    for p in &items {
                        let record = encode(&p.value, p.expires);
                        t.insert(p.key.as_str(), record.as_slice())
                            .map_err(|e| s.fail("insert", e))?;
                    }
                    Ok(())
                })
            })
            .await
        })
    }

    fn expire(&self, items: Vec<(String, SystemTime)>) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            self.blocking(move |s| {
                let now = SystemTime::now();
                s.write(|t| {
                    for (k, at) in &items {
                        let record = match t.get(k.as_str()).map_err(|e| s.fail("get", e))? {
                            Some(v) => {
                                let (old, value) = decode(v.value());
                                live(old, now).then(|| encode(value, Some(*at)))
                            }
                            None => None,
                        };
                        if let Some(record) = record {
                            t.insert(k.as_str(), record.as_slice())
                                .map_err(|e| s.fail("insert", e))?;
                        }
                    }
                    Ok(())
                })
            })
            .await
        })
    }

    fn ttl<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Expiries, KvError>> {
        let keys = keys.to_vec();
        Box::pin(async move {
            self.blocking(move |s| {
                let now = SystemTime::now();
                s.read(|t| {
                    let mut out = Vec::new();
                    for k in keys {
                        let got = t.get(k.as_str()).map_err(|e| s.fail("get", e))?;
                        if let Some(v) = got {
                            let (at, _) = decode(v.value());
                            if live(at, now) {
                                out.push((k, at));
                            }
                        }
                    }
                    Ok(out)
                })
            })
            .await
        })
    }

    fn delete<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<(), KvError>> {
        let keys = keys.to_vec();
        Box::pin(async move {
            self.blocking(move |s| {
                s.write(|t| {
                    for k in &keys {
                        t.remove(k.as_str()).map_err(|e| s.fail("remove", e))?;
                    }
                    Ok(())
                })
            })
            .await
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            self.blocking(move |s| {
                s.write(|t| {
                    t.retain(|_, _| false)
                        .map_err(|e| KvError::Backend(e.to_string()))
                })
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    fn put(key: &str, value: &[u8], expires: Option<SystemTime>) -> Put {
        Put {
            key: key.to_owned(),
            value: Bytes::copy_from_slice(value),
            expires,
        }
    }

    #[test]
    fn records_round_trip() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        assert_eq!(decode(&encode(b"\0v", Some(at))), (Some(at), &b"\0v"[..]));
        assert_eq!(decode(&encode(b"", None)), (None, &b""[..]));
        assert_eq!(decode(b"short"), (None, &b""[..]));
    }

    #[tokio::test]
    async fn survives_reopen_and_shares_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kv.db");
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let hour = Duration::from_secs(3600);
        {
            let a = BoltStorage::open("a", &file, 0o600, hour, &tracker, stop.clone())
                .await
                .unwrap();
            let b = BoltStorage::open("b", &file, 0o600, hour, &tracker, stop.clone())
                .await
                .unwrap();
            let later = SystemTime::now() + hour;
            a.set(vec![
                put("k", b"\xffbin\0", Some(later)),
                put("n", b"1", None),
            ])
            .await
            .unwrap();
            b.set(vec![put("k", b"other", None)]).await.unwrap();
            let past = SystemTime::now() - Duration::from_secs(1);
            // An already-expired record (as left by a stop) is never read.
            a.set(vec![put("old", b"x", Some(past))]).await.unwrap();
            assert!(a.has(&["old".to_owned()]).await.unwrap().is_empty());
            stop.cancel();
        }
        tracker.close();
        tracker.wait().await;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let tracker = TaskTracker::new();
        let a = BoltStorage::open("a", &file, 0o600, hour, &tracker, CancellationToken::new())
            .await
            .unwrap();
        let got = a.mget(&["k".to_owned(), "n".to_owned()]).await.unwrap();
        assert_eq!(got[0].1.as_ref(), b"\xffbin\0");
        assert_eq!(got.len(), 2);
        let ttl = a.ttl(&["k".to_owned(), "n".to_owned()]).await.unwrap();
        assert!(ttl[0].1.is_some() && ttl[1].1.is_none());
        a.inner.sweep(SystemTime::now()).unwrap();
        let all = a.inner.read(|t| Ok(t.len().unwrap())).unwrap();
        assert_eq!(all, 2, "the sweep removed the expired record only");
        a.clear().await.unwrap();
        assert!(a.has(&["k".to_owned()]).await.unwrap().is_empty());
    }
}
