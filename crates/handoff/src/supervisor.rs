//! [`Supervisor`]: keeps one listener's worker slots filled. A worker that
//! was killed (a signal: an operator, the OOM killer, a crash) or lived
//! [`HEALTHY`] is replaced at once, as the goridge pools replace a dead
//! worker; one that exited by itself sooner, broke the control protocol,
//! or could not start is replaced after its slot's backoff (crash loops
//! cost one process per step). One past `ttl`, `idle_ttl` or
//! `max_worker_memory` is retired gracefully, its replacement ready first;
//! a reset does the same slot by slot; the stop sends every worker the
//! stop frame and waits for them all.

use std::sync::Arc;
use std::time::Duration;

use coyote_pool::WorkerStatus;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::group::Group;
use crate::reuseport::Sockets;
use crate::worker::{self, Event, Worker};
use crate::HandoffError;

/// First replacement delay; doubles per quick failure up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A worker that lived this long is replaced at once and resets its slot's
/// backoff.
const HEALTHY: Duration = Duration::from_secs(10);

/// How long after a worker's unasked exit its replacement starts, and the
/// slot's next `backoff`: at once (and the backoff reset) when a signal
/// ended it or it lived [`HEALTHY`]: killed workers are not a crash loop,
/// and a SIGKILL storm must not leave slots empty for seconds. Otherwise
/// (it exited by itself soon, or broke the protocol) after the backoff,
/// which doubles.
fn replacement_delay(backoff: &mut Duration, lived: Duration, signalled: bool) -> Duration {
    if signalled || lived >= HEALTHY {
        *backoff = BASE_BACKOFF;
        return Duration::ZERO;
    }
    let delay = *backoff;
    *backoff = (delay * 2).min(MAX_BACKOFF);
    delay
}

/// What the plugin asks of a supervisor.
pub(crate) enum Command {
    /// Replace every worker, new ones ready before old ones stop.
    Reset(oneshot::Sender<Result<(), String>>),
}

/// One listener's supervisor.
pub(crate) struct Supervisor {
    group: Arc<Group>,
    sockets: Option<Arc<Sockets>>,
    slots: usize,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
    backoff: Vec<Duration>,
    pending: Vec<Option<Instant>>,
}

impl Supervisor {
    /// Starts every worker of the listener; fails (with nothing left
    /// running) when one cannot start.
    pub(crate) async fn start(
        group: Arc<Group>,
        sockets: Option<Arc<Sockets>>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Result<Self, HandoffError> {
        let slots = group.slots;
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut sup = Self {
            group,
            sockets,
            slots,
            events_tx,
            events,
            commands,
            backoff: vec![BASE_BACKOFF; slots],
            pending: vec![None; slots],
        };
        for slot in 0..slots {
            if let Err(e) = sup.spawn(slot).await {
                sup.stop_all().await;
                return Err(e);
            }
        }
        Ok(sup)
    }

    async fn spawn(&self, slot: usize) -> Result<Arc<Worker>, HandoffError> {
        let listen = match &self.sockets {
            Some(sockets) => Some(sockets.next().map_err(|source| HandoffError::Listen {
                address: self.group.bound.clone(),
                source,
            })?),
            None => None,
        };
        let worker = worker::spawn(&self.group, slot, listen, self.events_tx.clone()).await?;
        self.group.add(worker.clone());
        Ok(worker)
    }

    /// Runs until the plugin stops, then stops every worker.
    pub(crate) async fn run(mut self) {
        let limits = &self.group.spec.pool.supervisor;
        let watched =
            !limits.ttl.is_zero() || !limits.idle_ttl.is_zero() || limits.max_worker_memory > 0;
        let mut tick = tokio::time::interval(limits.watch_tick.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let cancel = self.group.cancel.clone();
        loop {
            let next = self.pending.iter().flatten().min().copied();
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(event) = self.events.recv() => self.on_event(event),
                Some(command) = self.commands.recv() => match command {
                    Command::Reset(reply) => {
                        let _ = reply.send(self.reset().await);
                    }
                },
                () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    self.replace_due().await;
                }
                _ = tick.tick(), if watched => self.check_limits().await,
            }
        }
        self.stop_all().await;
    }

    fn on_event(&mut self, event: Event) {
        let Event::Exited {
            slot,
            retired,
            lived,
            signalled,
        } = event;
        if retired || slot >= self.slots {
            return;
        }
        let delay = replacement_delay(&mut self.backoff[slot], lived, signalled);
        self.pending[slot] = Some(Instant::now() + delay);
    }

    /// Starts the replacements whose backoff has passed.
    async fn replace_due(&mut self) {
        let now = Instant::now();
        for slot in 0..self.slots {
            if self.pending[slot].is_some_and(|at| at <= now) {
                self.pending[slot] = None;
                if let Err(error) = self.spawn(slot).await {
                    let delay = self.backoff[slot];
                    self.backoff[slot] = (delay * 2).min(MAX_BACKOFF);
                    tracing::warn!(target: "coyote::handoff", listener = %self.group.spec.name,
                        slot, %error, retry_in = ?delay, "cannot start a replacement worker");
                    self.pending[slot] = Some(Instant::now() + delay);
                }
            }
        }
    }

    /// Retires workers past their limits (replacement first).
    async fn check_limits(&mut self) {
        let limits = self.group.spec.pool.supervisor.clone();
        for worker in self.group.workers() {
            if !worker.is_ready() {
                continue;
            }
            let status = if !limits.ttl.is_zero() && worker.started.elapsed() >= limits.ttl {
                WorkerStatus::TtlReached
            } else if !limits.idle_ttl.is_zero()
                && worker.open.load(std::sync::atomic::Ordering::Relaxed) == 0
                && worker.idle() >= limits.idle_ttl
            {
                WorkerStatus::IdleTtlReached
            } else if limits.max_worker_memory > 0
                && coyote_pool::stats::rss_bytes(worker.pid)
                    .is_some_and(|rss| rss > limits.max_worker_memory)
            {
                WorkerStatus::MaxMemoryReached
            } else {
                continue;
            };
            tracing::info!(target: "coyote::handoff", listener = %self.group.spec.name,
                pid = worker.pid, reason = status.as_str(), "retiring worker");
            if let Err(error) = self.replace(&worker, status).await {
                tracing::warn!(target: "coyote::handoff", listener = %self.group.spec.name,
                    pid = worker.pid, %error, "cannot start a replacement; keeping the worker");
            }
        }
    }

    /// A new worker for `old`'s slot, then `old` stops.
    async fn replace(&self, old: &Worker, status: WorkerStatus) -> Result<(), HandoffError> {
        self.spawn(old.slot).await?;
        old.retire(status);
        Ok(())
    }

    /// Every slot in turn: its new worker ready, then the old one stops.
    async fn reset(&mut self) -> Result<(), String> {
        let mut failed = Vec::new();
        for slot in 0..self.slots {
            let result = match self.group.ready_in(slot) {
                Some(old) => self.replace(&old, WorkerStatus::Stopping).await,
                None => self.spawn(slot).await.map(|_| ()),
            };
            match result {
                Ok(()) => self.pending[slot] = None,
                Err(e) => failed.push(e.to_string()),
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "handoff.{}: {}",
                self.group.spec.name,
                failed.join("; ")
            ))
        }
    }

    /// The stop frame to every worker; waits until all have exited (each
    /// worker's task enforces `destroy_timeout`, SIGTERM, SIGKILL).
    async fn stop_all(&mut self) {
        for worker in self.group.workers() {
            worker.retire(WorkerStatus::Stopping);
        }
        while !self.group.workers().is_empty() {
            if self.events.recv().await.is_none() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn killed_or_long_lived_workers_are_replaced_at_once() {
        let mut backoff = Duration::from_secs(2);
        let quick = Duration::from_millis(50);
        // A SIGKILL storm: every victim replaced at once, however young.
        for _ in 0..50 {
            assert_eq!(replacement_delay(&mut backoff, quick, true), Duration::ZERO);
            assert_eq!(backoff, BASE_BACKOFF);
        }
        // A crash loop (exits by itself right after the handshake) backs off.
        let delays: Vec<u128> = (0..8)
            .map(|_| replacement_delay(&mut backoff, quick, false).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        // A worker that lived HEALTHY resets the slot.
        assert_eq!(
            replacement_delay(&mut backoff, HEALTHY, false),
            Duration::ZERO
        );
        assert_eq!(replacement_delay(&mut backoff, quick, false), BASE_BACKOFF);
    }
}
