//! `fd_passing`: Coyote accepts, picks a worker with the [`Balancer`]
//! among the ready ones below `max_connections`, and passes the descriptor
//! with `SCM_RIGHTS`; its own copy goes into the [`Table`](crate::table)
//! until the connection is counted out. Without an eligible worker a
//! connection waits in a queue (at most `max_queue_size`, at most
//! `allocate_timeout`); beyond, the overflow action.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use coyote_listener::{Listener, Peer, Stream};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::balancer::{Balancer, Candidate};
use crate::config::Overflow;
use crate::group::Group;
use crate::message::{self, Handoff};
use crate::worker::Worker;

/// The answer of `overflow: http_503`.
pub const HTTP_503: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Bound for writing [`HTTP_503`].
const WRITE_503: Duration = Duration::from_secs(1);

struct Queued {
    stream: Stream,
    peer: Peer,
    deadline: Instant,
}

/// Accepts and dispatches until the plugin stops; queued connections
/// still find a worker if one is ready, the rest get the overflow action.
pub(crate) async fn serve(group: Arc<Group>, listener: Listener, done: CancellationToken) {
    if let Some(table) = group.table.clone() {
        let watcher = group.clone();
        group.tracker.spawn(async move {
            loop {
                tokio::select! {
                    r = table.hangups() => match r {
                        Ok(_) => watcher.capacity.notify_one(),
                        Err(error) => {
                            tracing::error!(target: "coyote::handoff", %error, "epoll failed");
                            break;
                        }
                    },
                    () = done.cancelled() => break,
                }
            }
        });
    }
    let local = listener
        .local_addr()
        .tcp()
        .map_or_else(String::new, |a| a.to_string());
    let mut dispatch = Dispatch {
        balancer: Balancer::new(group.spec.balancer),
        queue: VecDeque::new(),
        next_id: 1,
        local,
        group,
    };
    let cancel = dispatch.group.cancel.clone();
    let wait = dispatch.group.spec.pool.allocate_timeout;
    loop {
        dispatch.drain().await;
        let queued = dispatch.queue.len() as u64;
        dispatch.group.queued.store(queued, Ordering::Relaxed);
        let deadline = dispatch.queue.front().map(|q| q.deadline);
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            accepted = listener.accept(&cancel) => match accepted {
                Some((stream, peer)) => {
                    let queued = Queued { stream, peer, deadline: Instant::now() + wait };
                    dispatch.admit(queued);
                }
                None => break,
            },
            () = dispatch.group.capacity.notified(), if deadline.is_some() => {}
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
        }
    }
    dispatch.drain().await;
    while let Some(q) = dispatch.queue.pop_front() {
        dispatch.overflow(q);
    }
}

struct Dispatch {
    group: Arc<Group>,
    balancer: Balancer,
    queue: VecDeque<Queued>,
    next_id: u64,
    local: String,
}

impl Dispatch {
    /// A new connection: queued when there is room, else the overflow.
    fn admit(&mut self, queued: Queued) {
        let max = self.group.spec.max_queue_size;
        if self.queue.len() < max || (max == 0 && self.queue.is_empty() && self.eligible()) {
            self.queue.push_back(queued);
        } else {
            self.overflow(queued);
        }
    }

    fn eligible(&self) -> bool {
        !self.candidates().0.is_empty()
    }

    /// The ready workers below `max_connections`, by slot.
    fn candidates(&self) -> (Vec<Candidate>, Vec<Arc<Worker>>) {
        let cap = self.group.spec.max_connections as u64;
        let workers: Vec<Arc<Worker>> = self
            .group
            .workers()
            .into_iter()
            .filter(|w| w.is_ready())
            .filter(|w| cap == 0 || w.open.load(Ordering::Relaxed) < cap)
            .collect();
        let cands = workers
            .iter()
            .map(|w| Candidate {
                slot: w.slot,
                open: w.open.load(Ordering::Relaxed),
            })
            .collect();
        (cands, workers)
    }

    /// Hands queued connections to workers while one is eligible; expired
    /// ones get the overflow action.
    async fn drain(&mut self) {
        let now = Instant::now();
        while self.queue.front().is_some_and(|q| q.deadline <= now) {
            if let Some(q) = self.queue.pop_front() {
                self.overflow(q);
            }
        }
        while let Some(queued) = self.queue.pop_front() {
            let (cands, workers) = self.candidates();
            let slots = self.group.slots;
            let ip = queued.peer.socket_addr().map(|a| a.ip());
            let Some(at) = self.balancer.pick(&cands, slots, ip) else {
                self.queue.push_front(queued);
                return;
            };
            let Some(worker) = workers.get(at).cloned() else {
                self.queue.push_front(queued);
                return;
            };
            if let Some(back) = self.hand(&worker, queued).await {
                self.queue.push_front(back);
            }
        }
    }

    /// Passes one connection to `worker`; gives it back when the worker's
    /// control socket failed (the worker is then killed and replaced).
    async fn hand(&mut self, worker: &Arc<Worker>, queued: Queued) -> Option<Queued> {
        let peer = match queued.peer {
            Peer::Tcp(addr) => addr.to_string(),
            Peer::Unix => String::new(),
        };
        let id = self.next_id;
        let frame = message::handoff(&Handoff {
            id,
            peer: &peer,
            local: &self.local,
            listener: &self.group.spec.name,
        });
        let Queued {
            stream,
            peer: who,
            deadline,
        } = queued;
        let fd = match into_blocking_fd(stream) {
            Ok(fd) => fd,
            Err(error) => {
                tracing::debug!(target: "coyote::handoff", %error, "connection lost before its handoff");
                return None;
            }
        };
        let timeout = self.group.spec.pool.allocate_timeout;
        let sent = tokio::time::timeout(timeout, worker.control.send(&frame, Some(fd.as_raw_fd())))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
        if let Err(error) = sent {
            tracing::warn!(target: "coyote::handoff", listener = %self.group.spec.name,
                pid = worker.pid, %error, "cannot pass a connection; replacing the worker");
            worker.broken();
            return match from_fd(fd, who) {
                Ok(stream) => Some(Queued {
                    stream,
                    peer: who,
                    deadline,
                }),
                Err(_) => None,
            };
        }
        self.next_id += 1;
        self.group.accepted.fetch_add(1, Ordering::Relaxed);
        if let Some(table) = &self.group.table {
            match table.insert(id, worker.clone(), fd) {
                Ok(true) => {}
                Ok(false) => tracing::debug!(target: "coyote::handoff",
                    listener = %self.group.spec.name, pid = worker.pid,
                    "the worker died as its connection was passed; connection closed"),
                Err(error) => {
                    tracing::warn!(target: "coyote::handoff", %error, "cannot watch a passed connection");
                }
            }
        }
        None
    }

    /// Beyond the queue: close, or answer 503 and close.
    fn overflow(&self, queued: Queued) {
        self.group.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(target: "coyote::handoff", listener = %self.group.spec.name,
            peer = %queued.peer, "no worker for a connection: overflow");
        if self.group.spec.overflow == Overflow::Http503 {
            let mut stream = queued.stream;
            self.group.tracker.spawn(async move {
                let _ = tokio::time::timeout(WRITE_503, async {
                    let _ = stream.write_all(HTTP_503).await;
                    let _ = stream.shutdown().await;
                })
                .await;
            });
        }
    }
}

/// The connection's descriptor, in blocking mode (the worker's choice to
/// change), out of tokio's reactor.
fn into_blocking_fd(stream: Stream) -> std::io::Result<OwnedFd> {
    match stream {
        Stream::Tcp(s) => {
            let s = s.into_std()?;
            s.set_nonblocking(false)?;
            Ok(s.into())
        }
        Stream::Unix(s) => {
            let s = s.into_std()?;
            s.set_nonblocking(false)?;
            Ok(s.into())
        }
    }
}

/// Back into tokio (a connection whose handoff failed, to queue again).
fn from_fd(fd: OwnedFd, peer: Peer) -> std::io::Result<Stream> {
    if peer == Peer::Unix {
        let s = std::os::unix::net::UnixStream::from(fd);
        s.set_nonblocking(true)?;
        Ok(Stream::Unix(tokio::net::UnixStream::from_std(s)?))
    } else {
        let s = std::net::TcpStream::from(fd);
        s.set_nonblocking(true)?;
        Ok(Stream::Tcp(tokio::net::TcpStream::from_std(s)?))
    }
}
