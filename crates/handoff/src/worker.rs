//! One worker process: spawned with its control socket as fd 3 (and, in
//! `reuseport`, its listening socket as fd 4), the handshake within
//! `allocate_timeout`, then its task: reports in, stop out, the exit.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use command_fds::{CommandFdExt, FdMapping};
use coyote_pool::WorkerStatus;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::control::{Control, Received};
use crate::group::Group;
use crate::message::{self, Incoming, Report, MAX_MESSAGE};
use crate::HandoffError;

/// After SIGTERM, how long a worker's group has before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// The control socket's fd in the worker.
pub const CONTROL_FD: i32 = 3;
/// The listening socket's fd in the worker (`reuseport`).
pub const LISTEN_FD: i32 = 4;

/// What the supervisor hears from a worker's task.
#[derive(Debug)]
pub(crate) enum Event {
    /// The worker exited; `retired` when Coyote had asked it to stop;
    /// `signalled` when a signal ended it (an operator's or the OOM
    /// killer's SIGKILL, a crash) other than Coyote's for breaking the
    /// control protocol.
    Exited {
        slot: usize,
        retired: bool,
        lived: Duration,
        signalled: bool,
    },
}

/// A worker, shared by its task, the supervisor, the dispatcher and the
/// informer.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) id: u64,
    pub(crate) slot: usize,
    pub(crate) pid: u32,
    pub(crate) created: SystemTime,
    pub(crate) started: Instant,
    pub(crate) control: Control,
    status: Mutex<WorkerStatus>,
    /// Open connections (`fd_passing`: Coyote's count; `reuseport`: the
    /// worker's report).
    pub(crate) open: AtomicU64,
    pub(crate) accepted: AtomicU64,
    /// When it last went idle (`None` while it holds connections).
    idle_since: Mutex<Option<Instant>>,
    /// Coyote asked it to stop (a retirement, a reset or the shutdown).
    retired: AtomicBool,
    /// Coyote killed it for breaking the control protocol.
    faulted: AtomicBool,
    /// Its exit was handled: it left the group, its connections ended.
    exited: AtomicBool,
    stop: CancellationToken,
    kill: CancellationToken,
}

impl Worker {
    pub(crate) fn status(&self) -> WorkerStatus {
        *lock(&self.status)
    }

    fn set_status(&self, status: WorkerStatus) {
        *lock(&self.status) = status;
    }

    /// Ready and not asked to stop: may be given connections.
    pub(crate) fn is_ready(&self) -> bool {
        self.status() == WorkerStatus::Ready
    }

    /// How long it has held no connection (zero while it holds one).
    pub(crate) fn idle(&self) -> Duration {
        lock(&self.idle_since).map_or(Duration::ZERO, |at| at.elapsed())
    }

    /// Counts a connection in (`fd_passing`).
    pub(crate) fn count_in(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(1, Ordering::Relaxed);
        *lock(&self.idle_since) = None;
    }

    /// Counts a connection out (`fd_passing`).
    pub(crate) fn count_out(&self) {
        let before = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            })
            .unwrap_or(0);
        if before <= 1 {
            *lock(&self.idle_since) = Some(Instant::now());
        }
    }

    /// The worker's own figures (`reuseport`); returns how many more it
    /// accepted since its last report.
    fn reported(&self, report: &Report) -> u64 {
        if let Some(open) = report.open {
            self.open.store(open, Ordering::Relaxed);
            let mut idle = lock(&self.idle_since);
            match (open, *idle) {
                (0, None) => *idle = Some(Instant::now()),
                (1.., _) => *idle = None,
                _ => {}
            }
        }
        let more = match report.accepted {
            Some(accepted) => {
                let before = self.accepted.swap(accepted, Ordering::Relaxed);
                accepted.saturating_sub(before)
            }
            None => 0,
        };
        // Connections served within one loop turn show as more accepted,
        // never as open: that is activity too.
        if more > 0 && self.open.load(Ordering::Relaxed) == 0 {
            *lock(&self.idle_since) = Some(Instant::now());
        }
        more
    }

    /// Graceful stop: no more connections, the stop frame, then
    /// `destroy_timeout`, SIGTERM, SIGKILL.
    pub(crate) fn retire(&self, status: WorkerStatus) {
        self.retired.store(true, Ordering::Relaxed);
        if self.status() == WorkerStatus::Ready {
            self.set_status(status);
        }
        self.stop.cancel();
    }

    /// Kills it at once.
    fn kill(&self) {
        self.kill.cancel();
    }

    /// It broke the control protocol: no more connections, killed, and
    /// replaced after the slot's backoff.
    fn fault(&self) {
        self.faulted.store(true, Ordering::Relaxed);
        self.set_status(WorkerStatus::Errored);
        self.kill();
    }

    /// Marks its exit as handled (before its connections are ended; see
    /// `Table::insert`).
    pub(crate) fn mark_exited(&self) {
        self.exited.store(true, Ordering::Release);
    }

    /// A worker that just answered its handshake: ready, idle, nothing open.
    fn new(id: u64, slot: usize, pid: u32, control: Control) -> Arc<Self> {
        Arc::new(Self {
            id,
            slot,
            pid,
            created: SystemTime::now(),
            started: Instant::now(),
            control,
            status: Mutex::new(WorkerStatus::Ready),
            open: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            idle_since: Mutex::new(Some(Instant::now())),
            retired: AtomicBool::new(false),
            faulted: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            stop: CancellationToken::new(),
            kill: CancellationToken::new(),
        })
    }

    /// Whether its exit was handled.
    pub(crate) fn has_exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    /// Its control socket failed: no more connections, killed.
    pub(crate) fn broken(&self) {
        self.set_status(WorkerStatus::Errored);
        self.kill();
    }
}

#[cfg(test)]
impl Worker {
    /// A worker with no process behind it (the table's unit tests; needs
    /// a tokio runtime for its control socket).
    pub(crate) fn detached(id: u64) -> Arc<Self> {
        let (control, _theirs) = Control::pair().unwrap();
        Self::new(id, 0, 0, control)
    }
}

/// Starts one worker for `slot` and completes its handshake; `listen` is
/// its listening socket (`reuseport`), closed here once the child has it.
pub(crate) async fn spawn(
    group: &Arc<Group>,
    slot: usize,
    listen: Option<OwnedFd>,
    events: mpsc::UnboundedSender<Event>,
) -> Result<Arc<Worker>, HandoffError> {
    let opts = &group.spec.pool;
    let command_line = opts.command.argv.join(" ");
    let spawn_err = |source| HandoffError::Spawn {
        command: command_line.clone(),
        source,
    };
    let mut command = coyote_pool::worker_process(&opts.command, None)
        .map_err(|e| spawn_err(std::io::Error::other(e.to_string())))?;
    let (control, theirs) = Control::pair().map_err(spawn_err)?;
    let mut mappings = vec![FdMapping {
        parent_fd: theirs,
        child_fd: CONTROL_FD,
    }];
    command
        .env("COYOTE_HANDOFF_FD", CONTROL_FD.to_string())
        .env("COYOTE_LISTEN_ADDRESS", &group.bound)
        .env("COYOTE_HANDOFF_LISTENER", &group.spec.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(listen) = listen {
        command.env("COYOTE_LISTEN_FD", LISTEN_FD.to_string());
        mappings.push(FdMapping {
            parent_fd: listen,
            child_fd: LISTEN_FD,
        });
    }
    command
        .fd_mappings(mappings)
        .map_err(|e| spawn_err(std::io::Error::other(e.to_string())))?;
    let mut child = command.spawn().map_err(spawn_err)?;
    // The command holds the parent's copies of the mapped descriptors.
    drop(command);
    let Some(pid) = child.id() else {
        return Err(HandoffError::ExitedEarly { pid: 0 });
    };
    forward(group, &mut child, pid);
    let timeout = opts.allocate_timeout;
    let answered = tokio::select! {
        r = tokio::time::timeout(timeout, handshake(&control, pid)) => {
            r.unwrap_or(Err(HandoffError::HandshakeTimeout { pid, timeout }))
        }
        _ = child.wait() => Err(HandoffError::ExitedEarly { pid }),
    };
    if let Err(e) = answered {
        kill_group(pid, Signal::SIGKILL);
        let _ = child.start_kill();
        let _ = tokio::time::timeout(TERM_GRACE, child.wait()).await;
        return Err(e);
    }
    let worker = Worker::new(group.next_worker_id(), slot, pid, control);
    group
        .tracker
        .spawn(run(group.clone(), worker.clone(), child, events));
    Ok(worker)
}

/// Sends Coyote's pid, waits for the worker's.
async fn handshake(control: &Control, pid: u32) -> Result<(), HandoffError> {
    control
        .send(&message::hello(std::process::id()), None)
        .await?;
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    let protocol = |reason: String| HandoffError::Protocol { pid, reason };
    match control.recv(&mut buf).await? {
        Received::Message(n) => match message::decode(&buf[..n]) {
            Ok(Incoming::Hello { pid: answer }) => {
                if answer != pid {
                    tracing::warn!(target: "coyote::handoff", pid, answered = answer,
                        "worker answered the handshake with another pid (a wrapper script?)");
                }
                Ok(())
            }
            Ok(Incoming::Report(_)) => Err(protocol("a report before the handshake".into())),
            Err(e) => Err(protocol(e.to_string())),
        },
        Received::Closed => Err(HandoffError::ExitedEarly { pid }),
        Received::TooLarge => Err(protocol("an oversized handshake".into())),
    }
}

/// Forwards the worker's stdout and stderr to the log.
fn forward(group: &Group, child: &mut Child, pid: u32) {
    let name = format!("handoff.{}", group.spec.name);
    if let Some(out) = child.stdout.take() {
        let f = coyote_pool::forward_output(out, name.clone(), pid, "stdout", group.cancel.clone());
        group.tracker.spawn(f);
    }
    if let Some(err) = child.stderr.take() {
        let f = coyote_pool::forward_output(err, name, pid, "stderr", group.cancel.clone());
        group.tracker.spawn(f);
    }
}

/// The worker's task: reads its reports, sends the stop frame when asked,
/// enforces `destroy_timeout`, and reports its exit.
async fn run(
    group: Arc<Group>,
    worker: Arc<Worker>,
    mut child: Child,
    events: mpsc::UnboundedSender<Event>,
) {
    let pid = worker.pid;
    let destroy = group.spec.pool.destroy_timeout;
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    let mut reading = true;
    let mut stop_sent = false;
    let mut term_at: Option<tokio::time::Instant> = None;
    let mut kill_at: Option<tokio::time::Instant> = None;
    let far = || tokio::time::Instant::now() + Duration::from_secs(86_400);
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            received = worker.control.recv(&mut buf), if reading => {
                match received {
                    Ok(Received::Message(n)) => match message::decode(&buf[..n]) {
                        Ok(Incoming::Report(report)) => {
                            let more = worker.reported(&report);
                            group.accepted.fetch_add(more, Ordering::Relaxed);
                            group.closed(&worker, &report.closed);
                        }
                        Ok(Incoming::Hello { .. }) => {}
                        Err(e) => {
                            tracing::warn!(target: "coyote::handoff", listener = %group.spec.name,
                                pid, error = %e, "worker broke the control protocol; killing it");
                            worker.fault();
                        }
                    },
                    Ok(Received::TooLarge) => {
                        tracing::warn!(target: "coyote::handoff", listener = %group.spec.name,
                            pid, limit = MAX_MESSAGE, "worker sent an oversized message; killing it");
                        worker.fault();
                    }
                    Ok(Received::Closed) | Err(_) => reading = false,
                }
            }
            () = worker.stop.cancelled(), if !stop_sent => {
                stop_sent = true;
                if worker.status() == WorkerStatus::Ready {
                    worker.set_status(WorkerStatus::Stopping);
                }
                term_at = Some(tokio::time::Instant::now() + destroy);
                // A worker that does not read its control socket cannot
                // hold this task past destroy_timeout.
                let _ = tokio::time::timeout(destroy, worker.control.send(&message::stop(), None)).await;
            }
            () = tokio::time::sleep_until(term_at.unwrap_or_else(far)), if term_at.is_some() => {
                tracing::warn!(target: "coyote::handoff", listener = %group.spec.name, pid,
                    ?destroy, "worker did not stop within destroy_timeout; SIGTERM");
                kill_group(pid, Signal::SIGTERM);
                term_at = None;
                kill_at = Some(tokio::time::Instant::now() + TERM_GRACE);
            }
            () = tokio::time::sleep_until(kill_at.unwrap_or_else(far)), if kill_at.is_some() => {
                kill_group(pid, Signal::SIGKILL);
                let _ = child.start_kill();
                kill_at = None;
            }
            () = worker.kill.cancelled() => {
                kill_group(pid, Signal::SIGKILL);
                let _ = child.start_kill();
                break child.wait().await;
            }
        }
    };
    // Children it forked go with it (as in every pool).
    kill_group(pid, Signal::SIGKILL);
    let retired = worker.retired.load(Ordering::Relaxed);
    let signalled = status.as_ref().ok().and_then(|s| s.signal()).is_some()
        && !worker.faulted.load(Ordering::Relaxed);
    if !retired {
        tracing::warn!(target: "coyote::handoff", listener = %group.spec.name, pid,
            status = ?status.ok(), "worker exited unexpectedly");
    }
    worker.set_status(if retired {
        WorkerStatus::Stopped
    } else {
        WorkerStatus::Errored
    });
    group.exited(&worker);
    let _ = events.send(Event::Exited {
        slot: worker.slot,
        retired,
        lived: worker.started.elapsed(),
        signalled,
    });
}

/// `signal` to the process group the worker leads.
fn kill_group(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
