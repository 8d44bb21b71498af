//! A worker lent to one execution: the request written, the answer read
//! under `exec_ttl` and the caller's deadline, and the worker given back,
//! drained or killed however the execution ends (a dropped caller too).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::PoolError;
use crate::pool::{Inner, Payload};
use crate::supervisor::Event;
use crate::worker::{Answer, Response, Worker, WorkerStatus};

/// A worker lent to one execution. If the caller's future is dropped
/// mid-execution (a client went away), `Drop` hands the worker to the
/// supervisor to be drained instead of leaking it or killing it.
pub(crate) struct Lease {
    worker: Option<Worker>,
    pub(crate) inner: Arc<Inner>,
    /// A request was written and its answer is not fully read.
    in_flight: bool,
    /// The answer is a stream (its first frame had STREAM set).
    streaming: bool,
    /// The request frame was written whole. Dropped while it was only
    /// partly written (a client gone mid-upload), the worker holds half a
    /// frame and waits for the rest: no answer can come, so it is killed
    /// at once instead of being drained until `stream_timeout`.
    written: bool,
}

impl Lease {
    pub(crate) fn new(worker: Worker, inner: Arc<Inner>) -> Self {
        Self {
            worker: Some(worker),
            inner,
            in_flight: false,
            streaming: false,
            written: false,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.worker.as_ref().map_or(0, Worker::pid)
    }

    /// Writes the request and reads the first answer frame. `Ok(None)`:
    /// the worker asked to be replaced and the caller should retry.
    pub(crate) async fn start(
        &mut self,
        payload: &Payload,
        deadline: Option<Instant>,
    ) -> Result<Option<Response>, PoolError> {
        let Some(worker) = self.worker.as_mut() else {
            return Err(self.inner.stopped());
        };
        worker.state.set_status(WorkerStatus::Working);
        self.in_flight = true;
        self.written = false;
        let written = &mut self.written;
        let exec_ttl = self.inner.opts.supervisor.exec_ttl;
        let io = async {
            worker
                .send_request(payload.codec, &payload.context, &payload.body)
                .await?;
            *written = true;
            worker.read_answer().await
        };
        let result = bounded(io, exec_ttl, deadline).await;
        match result {
            Bounded::Done(Ok(Answer::Frame(first))) => {
                if first.more {
                    self.streaming = true;
                } else {
                    self.in_flight = false;
                }
                Ok(Some(first))
            }
            Bounded::Done(Ok(Answer::StopRequested)) => {
                self.in_flight = false;
                if let Some(worker) = self.worker.take() {
                    self.inner.retire(worker, Some(WorkerStatus::Invalid));
                }
                Ok(None)
            }
            Bounded::Done(Err(e)) => Err(self.fail(e)),
            Bounded::ExecTtl => {
                let pid = self.pid();
                self.kill(WorkerStatus::ExecTtlReached);
                Err(PoolError::ExecTtl { pid, ttl: exec_ttl })
            }
            Bounded::Deadline => {
                let pid = self.pid();
                self.kill(WorkerStatus::Destroyed);
                Err(PoolError::Deadline { pid })
            }
        }
    }

    /// Reads the next frame of a streamed answer.
    pub(crate) async fn next_frame(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Response, PoolError> {
        let Some(worker) = self.worker.as_mut() else {
            return Err(self.inner.stopped());
        };
        let opts = &self.inner.opts;
        // exec_ttl, when set, bounds each stream frame (RoadRunner's rule);
        // otherwise stream_timeout does.
        let per_frame = if opts.supervisor.exec_ttl.is_zero() {
            opts.stream_timeout
        } else {
            opts.supervisor.exec_ttl
        };
        match bounded(worker.next_stream_frame(), per_frame, deadline).await {
            Bounded::Done(Ok(frame)) => {
                if !frame.more {
                    self.in_flight = false;
                }
                Ok(frame)
            }
            Bounded::Done(Err(e)) => Err(self.fail(e)),
            Bounded::ExecTtl => {
                let pid = self.pid();
                self.kill(WorkerStatus::ExecTtlReached);
                Err(PoolError::StreamTimeout {
                    pid,
                    timeout: per_frame,
                })
            }
            Bounded::Deadline => {
                let pid = self.pid();
                self.kill(WorkerStatus::Destroyed);
                Err(PoolError::Deadline { pid })
            }
        }
    }

    /// Classifies a failed exchange: a job error keeps the worker, anything
    /// else kills it.
    pub(crate) fn fail(&mut self, error: PoolError) -> PoolError {
        match &error {
            PoolError::Job { .. } => {
                self.in_flight = false;
                if let Some(worker) = self.worker.take() {
                    worker.finished();
                    self.inner.release(worker);
                }
            }
            PoolError::WorkerGone { .. } => self.kill(WorkerStatus::Errored),
            _ => {
                if let Some(worker) = &self.worker {
                    tracing::warn!(pool = %self.inner.opts.name, pid = worker.pid(), error = %error,
                        "killing worker");
                }
                self.kill(WorkerStatus::Errored);
            }
        }
        error
    }

    pub(crate) fn kill(&mut self, why: WorkerStatus) {
        self.in_flight = false;
        if let Some(worker) = self.worker.take() {
            self.inner.kill(worker, why);
        }
    }

    /// The answer is complete: count the job and give the worker back.
    pub(crate) fn complete(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.finished();
            self.inner.release(worker);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        if self.in_flight && !self.written {
            tracing::warn!(pool = %self.inner.opts.name, pid = worker.pid(),
                "request abandoned while being written; killing the worker");
            self.inner.kill(worker, WorkerStatus::Errored);
        } else if self.in_flight {
            let _ = self
                .inner
                .events
                .send(Event::Abandoned(worker, self.streaming));
        } else {
            worker.finished();
            self.inner.release(worker);
        }
    }
}

pub(crate) enum Bounded<T> {
    Done(T),
    ExecTtl,
    Deadline,
}

/// Runs `io` under the exec_ttl (0 = none) and the caller's deadline.
pub(crate) async fn bounded<T>(
    io: impl std::future::Future<Output = T>,
    ttl: Duration,
    deadline: Option<Instant>,
) -> Bounded<T> {
    let ttl_deadline = (!ttl.is_zero()).then(|| Instant::now() + ttl);
    match (ttl_deadline, deadline) {
        (None, None) => Bounded::Done(io.await),
        (Some(t), Some(d)) if d < t => match tokio::time::timeout_at(d, io).await {
            Ok(v) => Bounded::Done(v),
            Err(_) => Bounded::Deadline,
        },
        (Some(t), _) => match tokio::time::timeout_at(t, io).await {
            Ok(v) => Bounded::Done(v),
            Err(_) => Bounded::ExecTtl,
        },
        (None, Some(d)) => match tokio::time::timeout_at(d, io).await {
            Ok(v) => Bounded::Done(v),
            Err(_) => Bounded::Deadline,
        },
    }
}
