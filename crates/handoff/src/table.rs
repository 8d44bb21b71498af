//! [`Table`]: the descriptors Coyote passed (`fd_passing`) and still
//! holds, by connection id, each registered in a dedicated epoll instance
//! for `EPOLLRDHUP` only. Not `EPOLLIN`: client data never wakes Coyote;
//! a hang-up (`EPOLLRDHUP`, and `EPOLLHUP` / `EPOLLERR`, which come
//! anyway) counts the connection out even when the worker never reports.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{shutdown, Shutdown};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::worker::{lock, Worker};

/// An epoll instance as tokio watches it.
struct EpollFd(Epoll);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0 .0.as_raw_fd()
    }
}

struct Entry {
    worker: Arc<Worker>,
    fd: OwnedFd,
}

/// The passed connections of one listener.
pub(crate) struct Table {
    epoll: AsyncFd<EpollFd>,
    entries: Mutex<HashMap<u64, Entry>>,
}

impl Table {
    pub(crate) fn new() -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        Ok(Self {
            // SAFETY: `EpollFd` owns the epoll instance's descriptor (in
            // `Epoll`'s `OwnedFd`), so it stays open and the same for as
            // long as the `AsyncFd` owns it; `as_raw_fd` always returns it.
            #[allow(unsafe_code)]
            epoll: unsafe { AsyncFd::register_with_interest(EpollFd(epoll), Interest::READABLE) }
                .map_err(io::Error::from)?,
            entries: Mutex::default(),
        })
    }

    /// Open connections held.
    pub(crate) fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Holds `fd` as connection `id` of `worker` and counts it in. `false`
    /// when the worker's exit was handled meanwhile (it died after the
    /// descriptor was sent): its connections were ended already, so this
    /// one is shut down and closed too instead of being held for a worker
    /// that is gone (the client would wait for an answer until its own
    /// timeout).
    pub(crate) fn insert(&self, id: u64, worker: Arc<Worker>, fd: OwnedFd) -> io::Result<bool> {
        let mut entries = lock(&self.entries);
        // Under the lock: `Group::exited` marks the worker before it takes
        // the lock to remove the worker's connections, so either that
        // removal finds this entry or this sees the mark. The registration
        // is under the lock too, so a hang-up always finds its entry.
        if worker.has_exited() {
            drop(entries);
            let _ = shutdown(fd.as_raw_fd(), Shutdown::Both);
            return Ok(false);
        }
        let event = EpollEvent::new(EpollFlags::EPOLLRDHUP, id);
        self.epoll.get_ref().0.add(fd.as_fd(), event)?;
        worker.count_in();
        entries.insert(id, Entry { worker, fd });
        Ok(true)
    }

    /// Forgets connection `id` and closes Coyote's copy; `true` when it was
    /// held.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let entry = lock(&self.entries).remove(&id);
        entry.map(|e| self.release(e, false)).is_some()
    }

    /// `worker` reported `ids` closed; ids of other workers are ignored.
    pub(crate) fn remove_reported(&self, worker: u64, ids: &[u64]) -> usize {
        let taken: Vec<Entry> = {
            let mut entries = lock(&self.entries);
            let mine: Vec<u64> = ids
                .iter()
                .copied()
                .filter(|id| entries.get(id).is_some_and(|e| e.worker.id == worker))
                .collect();
            mine.iter().filter_map(|id| entries.remove(id)).collect()
        };
        let n = taken.len();
        for entry in taken {
            self.release(entry, false);
        }
        n
    }

    /// The worker is gone: every connection it held is shut down (so the
    /// client sees the end even if the worker's children hold a copy)
    /// and closed.
    pub(crate) fn remove_worker(&self, worker: u64) -> usize {
        let taken: Vec<Entry> = {
            let mut entries = lock(&self.entries);
            let ids: Vec<u64> = entries
                .iter()
                .filter(|(_, e)| e.worker.id == worker)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| entries.remove(id)).collect()
        };
        let n = taken.len();
        for entry in taken {
            self.release(entry, true);
        }
        n
    }

    fn release(&self, entry: Entry, shut: bool) {
        // Deregister explicitly: the worker holds the same open file, so
        // closing Coyote's descriptor alone would keep the registration.
        let _ = self.epoll.get_ref().0.delete(entry.fd.as_fd());
        if shut {
            let _ = shutdown(entry.fd.as_raw_fd(), Shutdown::Both);
        }
        entry.worker.count_out();
    }

    /// Waits until some held connection hung up, then removes every one
    /// that did; returns how many.
    ///
    /// # Errors
    /// The epoll instance failed (not expected).
    pub(crate) async fn hangups(&self) -> io::Result<usize> {
        loop {
            let mut ready = self.epoll.readable().await?;
            let mut events = [EpollEvent::empty(); 64];
            let n = match self.epoll.get_ref().0.wait(&mut events, EpollTimeout::ZERO) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                ready.clear_ready();
                continue;
            }
            let removed = events[..n].iter().filter(|e| self.remove(e.data())).count();
            if n < events.len() {
                ready.clear_ready();
            }
            if removed > 0 {
                return Ok(removed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::*;

    fn eof(client: &mut UnixStream) -> bool {
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.read(&mut [0u8; 8]).unwrap() == 0
    }

    #[tokio::test]
    async fn a_connection_passed_as_its_worker_died_is_not_held() {
        let table = Table::new().unwrap();
        let alive = Worker::detached(1);
        let (ours, mut client) = UnixStream::pair().unwrap();
        // The worker's copy: the client sees the end only by a shutdown.
        let _workers_copy = ours.try_clone().unwrap();
        assert!(table.insert(1, alive.clone(), ours.into()).unwrap());
        assert_eq!(table.len(), 1);
        assert_eq!(alive.open.load(Ordering::Relaxed), 1);

        // Its exit was handled between the send and the count: not held,
        // not counted, closed.
        let gone = Worker::detached(2);
        gone.mark_exited();
        let (ours, mut late) = UnixStream::pair().unwrap();
        let _workers_copy_too = ours.try_clone().unwrap();
        assert!(!table.insert(2, gone.clone(), ours.into()).unwrap());
        assert_eq!(table.len(), 1);
        assert_eq!(gone.open.load(Ordering::Relaxed), 0);
        assert!(eof(&mut late), "shut down");

        // The live worker dies: its connection is shut down and released.
        alive.mark_exited();
        assert_eq!(table.remove_worker(alive.id), 1);
        assert_eq!(table.len(), 0);
        assert_eq!(alive.open.load(Ordering::Relaxed), 0);
        assert!(eof(&mut client), "shut down");
    }
}
