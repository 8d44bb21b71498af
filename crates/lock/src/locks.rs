//! The in-memory lock table.
//!
//! Each resource has at most one exclusive holder or any number of read
//! holders, and a FIFO queue of waiters. A waiter parks on its own oneshot;
//! whoever frees the resource (release, force release, TTL expiry, a waiter
//! giving up) hands the lock to the waiters at the head of the queue that fit,
//! under the table's mutex, so no waiter polls and none is overtaken: a new
//! request is granted at once only when the queue is empty. TTLs live in
//! one ordered map served by a single timer task ([`Locks::run_timer`]).
//!
//! A waiter whose wait elapses (or whose caller goes away) removes itself
//! from the queue and the queue is served again, so a refused exclusive
//! request leaves nothing behind that could block later requests (the
//! RoadRunner 2025 bug).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The kind of a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One holder, no readers.
    Exclusive,
    /// Shared with other readers, no exclusive holder.
    Read,
}

/// A key of the expiry map: the instant, then a sequence number.
type ExpiryKey = (Instant, u64);

struct Waiter {
    seq: u64,
    id: String,
    kind: Kind,
    ttl: Option<Duration>,
    tx: oneshot::Sender<()>,
}

#[derive(Default)]
struct Resource {
    writer: Option<(String, Option<ExpiryKey>)>,
    readers: HashMap<String, Option<ExpiryKey>>,
    waiters: VecDeque<Waiter>,
}

impl Resource {
    fn holds(&self, id: &str) -> bool {
        self.writer.as_ref().is_some_and(|(w, _)| w == id) || self.readers.contains_key(id)
    }

    fn is_held(&self) -> bool {
        self.writer.is_some() || !self.readers.is_empty()
    }

    fn fits(&self, kind: Kind) -> bool {
        match kind {
            Kind::Exclusive => !self.is_held(),
            Kind::Read => self.writer.is_none(),
        }
    }

    /// Removes `id`'s lock; its expiry key (if it had one) is returned
    /// through `expiry`.
    fn remove(&mut self, id: &str) -> Option<Option<ExpiryKey>> {
        if self.writer.as_ref().is_some_and(|(w, _)| w == id) {
            return self.writer.take().map(|(_, e)| e);
        }
        self.readers.remove(id)
    }

    fn expiry_mut(&mut self, id: &str) -> Option<&mut Option<ExpiryKey>> {
        match &mut self.writer {
            Some((w, e)) if w == id => Some(e),
            _ => self.readers.get_mut(id),
        }
    }
}

#[derive(Default)]
struct Table {
    resources: HashMap<String, Resource>,
    expiries: BTreeMap<ExpiryKey, (String, String)>,
    seq: u64,
}

impl Table {
    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Gives `id` a `kind` lock on `name` (which must fit); true when an
    /// expiry was scheduled.
    fn grant(&mut self, name: &str, kind: Kind, id: &str, ttl: Option<Duration>) -> bool {
        // A TTL beyond the clock's range is no expiry (the service caps it
        // far below that).
        let at = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        let expiry = at.map(|at| (at, self.next_seq()));
        if let Some(key) = expiry {
            self.expiries.insert(key, (name.to_owned(), id.to_owned()));
        }
        let res = self.resources.entry(name.to_owned()).or_default();
        match kind {
            Kind::Exclusive => res.writer = Some((id.to_owned(), expiry)),
            Kind::Read => {
                res.readers.insert(id.to_owned(), expiry);
            }
        }
        expiry.is_some()
    }

    /// Removes `id`'s lock on `name` with its expiry; false if it holds none.
    fn release(&mut self, name: &str, id: &str) -> bool {
        let Some(removed) = self.resources.get_mut(name).and_then(|r| r.remove(id)) else {
            return false;
        };
        if let Some(key) = removed {
            self.expiries.remove(&key);
        }
        true
    }

    /// Hands `name` to the waiters at the head of its queue while they fit,
    /// then forgets the resource if nothing holds or waits for it; true
    /// when an expiry was scheduled.
    fn serve(&mut self, name: &str) -> bool {
        let mut scheduled = false;
        loop {
            let Some(res) = self.resources.get_mut(name) else {
                return scheduled;
            };
            let Some(front) = res.waiters.front() else {
                break;
            };
            if res.holds(&front.id) {
                // The same id asked twice: the second request is refused
                // (its sender dropped), as a direct request would be.
                res.waiters.pop_front();
                continue;
            }
            if !res.fits(front.kind) {
                break;
            }
            let Some(w) = res.waiters.pop_front() else {
                break;
            };
            scheduled |= self.grant(name, w.kind, &w.id, w.ttl);
            if w.tx.send(()).is_err() {
                // The waiter is gone (cannot happen while it deregisters
                // under this mutex, but never leave a lock without owner).
                self.release(name, &w.id);
            }
        }
        if self
            .resources
            .get(name)
            .is_some_and(|r| !r.is_held() && r.waiters.is_empty())
        {
            self.resources.remove(name);
        }
        scheduled
    }
}

/// The lock table, shared by the RPC service and the timer task.
#[derive(Default)]
pub struct Locks {
    table: Mutex<Table>,
    timer: Notify,
}

impl Locks {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // No code path panics while holding the mutex; a poisoned table
        // is still consistent.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Acquires a `kind` lock on `resource` for `id`, expiring after `ttl`
    /// (`None`: until released), waiting up to `wait` behind earlier
    /// requests (zero: try once). False when `id` already holds a lock on
    /// the resource or the wait elapsed.
    pub async fn acquire(
        &self,
        kind: Kind,
        resource: &str,
        id: &str,
        ttl: Option<Duration>,
        wait: Duration,
    ) -> bool {
        let rx = {
            let mut table = self.table();
            let res = table.resources.entry(resource.to_owned()).or_default();
            if res.holds(id) {
                return false;
            }
            if res.waiters.is_empty() && res.fits(kind) {
                if table.grant(resource, kind, id, ttl) {
                    self.timer.notify_one();
                }
                return true;
            }
            if wait.is_zero() {
                table.serve(resource);
                return false;
            }
            let seq = table.next_seq();
            tracing::debug!(target: "coyote::lock", resource, id, "lock waiter queued");
            let (tx, rx) = oneshot::channel();
            if let Some(res) = table.resources.get_mut(resource) {
                res.waiters.push_back(Waiter {
                    seq,
                    id: id.to_owned(),
                    kind,
                    ttl,
                    tx,
                });
            }
            Pending {
                locks: self,
                resource,
                id,
                seq,
                rx,
                done: false,
            }
        };
        rx.wait(wait).await
    }

    /// Takes `seq` out of `resource`'s queue and serves the queue again;
    /// true if it had been granted the lock meanwhile.
    fn give_up(&self, resource: &str, seq: u64, rx: &mut oneshot::Receiver<()>) -> bool {
        let mut table = self.table();
        let queued = table.resources.get_mut(resource).and_then(|r| {
            let at = r.waiters.iter().position(|w| w.seq == seq)?;
            r.waiters.remove(at)
        });
        if queued.is_some() {
            if table.serve(resource) {
                self.timer.notify_one();
            }
            return false;
        }
        rx.try_recv().is_ok()
    }

    /// Releases `id`'s lock (exclusive or read) on `resource`; false when
    /// it holds none.
    pub fn release(&self, resource: &str, id: &str) -> bool {
        let mut table = self.table();
        let released = table.release(resource, id);
        if released && table.serve(resource) {
            self.timer.notify_one();
        }
        released
    }

    /// Drops every lock on `resource`, whoever holds it; waiters are then
    /// served. False when nothing held it.
    pub fn force_release(&self, resource: &str) -> bool {
        let mut table = self.table();
        let Some(res) = table.resources.get_mut(resource) else {
            return false;
        };
        let mut keys: Vec<Option<ExpiryKey>> = res.readers.drain().map(|(_, e)| e).collect();
        keys.extend(res.writer.take().map(|(_, e)| e));
        for key in keys.iter().flatten() {
            table.expiries.remove(key);
        }
        if table.serve(resource) {
            self.timer.notify_one();
        }
        !keys.is_empty()
    }

    /// Whether `id` holds a lock on `resource`; `*`: whether anyone does.
    pub fn exists(&self, resource: &str, id: &str) -> bool {
        let table = self.table();
        table
            .resources
            .get(resource)
            .is_some_and(|r| if id == "*" { r.is_held() } else { r.holds(id) })
    }

    /// Sets `id`'s lock on `resource` to expire `ttl` from now; false when
    /// it holds none, `ttl` is zero (as in RoadRunner) or beyond the clock.
    pub fn update_ttl(&self, resource: &str, id: &str, ttl: Duration) -> bool {
        if ttl.is_zero() {
            return false;
        }
        let Some(at) = Instant::now().checked_add(ttl) else {
            return false;
        };
        let mut table = self.table();
        let key = (at, table.next_seq());
        let Table {
            resources,
            expiries,
            ..
        } = &mut *table;
        let Some(expiry) = resources.get_mut(resource).and_then(|r| r.expiry_mut(id)) else {
            return false;
        };
        if let Some(old) = expiry.replace(key) {
            expiries.remove(&old);
        }
        expiries.insert(key, (resource.to_owned(), id.to_owned()));
        self.timer.notify_one();
        true
    }

    /// Expires locks whose TTL passed until `shutdown`: one task for the
    /// whole table, sleeping until the earliest expiry.
    pub async fn run_timer(&self, shutdown: CancellationToken) {
        loop {
            let next = self.expire_due();
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.timer.notified() => {}
                () = sleep => {}
            }
        }
    }

    /// Removes the locks due now and serves their queues; the next expiry.
    fn expire_due(&self) -> Option<Instant> {
        let mut table = self.table();
        let now = Instant::now();
        loop {
            let (&key, _) = table.expiries.first_key_value()?;
            if key.0 > now {
                return Some(key.0);
            }
            let (_, (resource, id)) = table.expiries.pop_first()?;
            tracing::debug!(target: "coyote::lock", resource, id, "lock TTL expired");
            if let Some(res) = table.resources.get_mut(&resource) {
                res.remove(&id);
            }
            table.serve(&resource);
        }
    }

    /// How many waiters are queued on `resource` (for tests and status).
    pub fn waiting(&self, resource: &str) -> usize {
        self.table()
            .resources
            .get(resource)
            .map_or(0, |r| r.waiters.len())
    }
}

/// A queued request: waits for its grant; taken out of the queue when the
/// wait elapses or the caller drops the future.
struct Pending<'a> {
    locks: &'a Locks,
    resource: &'a str,
    id: &'a str,
    seq: u64,
    rx: oneshot::Receiver<()>,
    done: bool,
}

impl Pending<'_> {
    async fn wait(mut self, wait: Duration) -> bool {
        let granted = match tokio::time::timeout(wait, &mut self.rx).await {
            Ok(Ok(())) => true,
            // Refused while queued (the same id got the lock first).
            Ok(Err(_)) => false,
            Err(_) => self.locks.give_up(self.resource, self.seq, &mut self.rx),
        };
        self.done = true;
        granted
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done && self.locks.give_up(self.resource, self.seq, &mut self.rx) {
            // Granted to a caller that went away: not kept.
            self.locks.release(self.resource, self.id);
        }
    }
}

#[cfg(test)]
mod tests;
