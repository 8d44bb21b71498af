//! [`Group`]: one listener's live state, shared by its supervisor, its
//! workers' tasks, the dispatcher (`fd_passing`) and the informer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ListenerSpec;
use crate::table::Table;
use crate::worker::{lock, Worker};

/// One listener.
pub(crate) struct Group {
    pub(crate) spec: ListenerSpec,
    /// The bound address (`tcp://127.0.0.1:9000`), `COYOTE_LISTEN_ADDRESS`.
    pub(crate) bound: String,
    /// Cancelled when the plugin stops (workers then get `stop`).
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    /// Live workers (starting ones are not here yet; exited ones leave).
    workers: Mutex<Vec<Arc<Worker>>>,
    /// `fd_passing`: the descriptors Coyote passed and still holds.
    pub(crate) table: Option<Arc<Table>>,
    /// Notified when a worker may take a connection again.
    pub(crate) capacity: Notify,
    next_worker: AtomicU64,
    /// Worker slots (`num_workers`, 0 resolved).
    pub(crate) slots: usize,
    /// Connections accepted over the listener's life (metrics).
    pub(crate) accepted: AtomicU64,
    /// Connections given the overflow action (metrics).
    pub(crate) refused: AtomicU64,
    /// Connections waiting for a worker now (`fd_passing`).
    pub(crate) queued: AtomicU64,
}

impl Group {
    pub(crate) fn new(
        spec: ListenerSpec,
        bound: String,
        cancel: CancellationToken,
        tracker: TaskTracker,
        table: Option<Arc<Table>>,
    ) -> Self {
        let slots = crate::cpus::worker_count(spec.pool.num_workers);
        Self {
            slots,
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            spec,
            bound,
            cancel,
            tracker,
            workers: Mutex::default(),
            table,
            capacity: Notify::new(),
            next_worker: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_worker_id(&self) -> u64 {
        self.next_worker.fetch_add(1, Ordering::Relaxed)
    }

    /// A ready worker joins.
    pub(crate) fn add(&self, worker: Arc<Worker>) {
        lock(&self.workers).push(worker);
        self.capacity.notify_one();
    }

    /// Every live worker, in slot order.
    pub(crate) fn workers(&self) -> Vec<Arc<Worker>> {
        let mut all = lock(&self.workers).clone();
        all.sort_by_key(|w| (w.slot, w.id));
        all
    }

    /// Open connections over every worker.
    pub(crate) fn open(&self) -> u64 {
        lock(&self.workers)
            .iter()
            .map(|w| w.open.load(Ordering::Relaxed))
            .sum()
    }

    /// The live worker of `slot` that is ready, if any.
    pub(crate) fn ready_in(&self, slot: usize) -> Option<Arc<Worker>> {
        lock(&self.workers)
            .iter()
            .find(|w| w.slot == slot && w.is_ready())
            .cloned()
    }

    /// The worker reported `ids` closed (`fd_passing`).
    pub(crate) fn closed(&self, worker: &Worker, ids: &[u64]) {
        if let Some(table) = &self.table {
            if table.remove_reported(worker.id, ids) > 0 {
                self.capacity.notify_one();
            }
        }
    }

    /// The worker's process is gone: its connections are shut down, and
    /// one still being passed to it is shut down as it is counted in.
    pub(crate) fn exited(&self, worker: &Worker) {
        worker.mark_exited();
        lock(&self.workers).retain(|w| w.id != worker.id);
        if let Some(table) = &self.table {
            table.remove_worker(worker.id);
        }
        self.capacity.notify_one();
    }
}
