//! Starting worker processes: environment, process group, relay, handshake,
//! and the tasks every worker has (exit watcher, stderr forwarder; stdout
//! forwarder on socket relays). A start that fails reports how the process
//! ended and what it wrote.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::boot::{boot_status, BootLog};
use crate::error::{BootStatus, PoolError, SpawnError};
use crate::forward::{forward_lines, Source};
use crate::pipe::{PipeReader, PipeWatch};
use crate::relay::{Relay, RelayListener};
use crate::supervisor::Event;
use crate::worker::{Worker, WorkerState, WorkerStatus};
use crate::{PoolOptions, RelayAddress, WorkerCommand};

/// Starts workers for one pool.
pub(crate) struct Spawner {
    opts: Arc<PoolOptions>,
    pool_name: Arc<str>,
    command_line: Arc<str>,
    listener: Option<RelayListener>,
    relay_env: String,
    next_id: AtomicU64,
    tracker: TaskTracker,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<Event>,
}

impl Spawner {
    pub(crate) async fn new(
        opts: Arc<PoolOptions>,
        tracker: TaskTracker,
        cancel: CancellationToken,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Self, PoolError> {
        let command_line: Arc<str> = opts.command.argv.join(" ").into();
        let spawn_err = |source| PoolError::Spawn {
            command: command_line.to_string(),
            source,
        };
        if opts.command.argv.is_empty() {
            return Err(spawn_err(SpawnError::EmptyCommand));
        }
        let listener = match &opts.relay {
            RelayAddress::Pipes => None,
            other => Some(
                RelayListener::bind(
                    other,
                    opts.max_frame_payload,
                    opts.stream_timeout,
                    &tracker,
                    cancel.clone(),
                )
                .await
                .map_err(spawn_err)?,
            ),
        };
        let relay_env = listener
            .as_ref()
            .map_or_else(|| "pipes".to_owned(), |l| l.env_address().to_owned());
        Ok(Self {
            pool_name: opts.name.as_str().into(),
            opts,
            command_line,
            listener,
            relay_env,
            next_id: AtomicU64::new(1),
            tracker,
            cancel,
            events,
        })
    }

    /// Starts one worker and completes its handshake within
    /// `allocate_timeout`. The returned worker is registered nowhere yet.
    /// Run it on the runtime of shard `home`: the worker's pipes and its
    /// two tasks live on the runtime that spawns it.
    ///
    /// A failure is a [`PoolError::Boot`] carrying how the process ended
    /// and what it wrote; the process (and its group) is gone by then.
    pub(crate) async fn spawn(&self, generation: u64, home: usize) -> Result<Worker, PoolError> {
        self.spawn_inner(generation, home)
            .await
            .map_err(|failed| PoolError::Boot {
                command: self.command_line.to_string(),
                cause: failed.cause,
                status: failed.status,
                output: failed.output,
            })
    }

    async fn spawn_inner(&self, generation: u64, home: usize) -> Result<Worker, Failed> {
        let opts = &self.opts;
        let mut command =
            worker_process(&opts.command, Some(&self.relay_env)).map_err(Failed::not_started)?;
        command
            .stdin(if self.listener.is_none() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| Failed::not_started(SpawnError::Io(e)))?;
        let Some(pid) = child.id() else {
            // Only possible once the child was reaped, which nothing did.
            return Err(Failed {
                cause: SpawnError::ExitedEarly,
                status: BootStatus::Unknown,
                output: String::new(),
            });
        };
        let boot = Arc::new(BootLog::default());
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let mut forwarders = Vec::with_capacity(2);
        if let Some(stderr) = child.stderr.take() {
            forwarders.push(self.forward(stderr, pid, "stderr", &boot));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(WorkerState::new(
            id,
            pid,
            generation,
            home,
            self.cancel.child_token(),
            self.command_line.clone(),
        ));
        self.tracker
            .spawn(watch_exit(child, state.clone(), self.events.clone()));
        let starting = Starting {
            state: &state,
            boot: &boot,
        };

        let mut watch = None;
        let relay = match (&self.listener, stdin, stdout) {
            (None, Some(stdin), Some(stdout)) => {
                let (reader, stdout) = match PipeReader::new(stdout) {
                    Ok(pair) => pair,
                    Err(e) => {
                        return Err(starting.failed(SpawnError::Io(e), None, forwarders).await)
                    }
                };
                let mut relay = Relay::new(
                    Box::new(reader),
                    Box::new(stdin),
                    opts.max_frame_payload,
                    opts.stream_timeout,
                );
                let answered = tokio::select! {
                    r = tokio::time::timeout(opts.allocate_timeout, relay.handshake()) => {
                        r.unwrap_or(Err(SpawnError::Timeout(opts.allocate_timeout)))
                    }
                    () = state.exited() => Err(SpawnError::ExitedEarly),
                };
                match answered {
                    Ok(answer) => {
                        if answer != pid {
                            tracing::warn!(pool = %opts.name, pid, answered = answer,
                                "worker answered the handshake with another pid (a wrapper script?)");
                        }
                        stdout.booted();
                        watch = Some(stdout);
                        relay
                    }
                    Err(e) => return Err(starting.failed(e, Some(&stdout), forwarders).await),
                }
            }
            (Some(listener), _, stdout) => {
                if let Some(stdout) = stdout {
                    forwarders.push(self.forward(stdout, pid, "stdout", &boot));
                }
                let connect = opts.relay_timeout.unwrap_or(opts.allocate_timeout);
                let claimed = tokio::select! {
                    r = listener.claim(pid, connect) => r,
                    () = state.exited() => Err(SpawnError::ExitedEarly),
                };
                match claimed {
                    Ok(relay) => relay,
                    Err(e) => {
                        listener.forget(pid);
                        return Err(starting.failed(e, None, forwarders).await);
                    }
                }
            }
            (None, _, _) => {
                let e = SpawnError::Io(std::io::Error::other("worker pipes unavailable"));
                return Err(starting.failed(e, None, forwarders).await);
            }
        };
        boot.stop();
        state.set_status(WorkerStatus::Ready);
        Ok(Worker {
            state,
            relay,
            stdout: watch,
            pool: self.pool_name.clone(),
            max_jobs: jittered(opts.max_jobs),
        })
    }

    /// Starts forwarding one of the worker's output streams to the log.
    fn forward<R>(
        &self,
        reader: R,
        pid: u32,
        stream: &'static str,
        boot: &Arc<BootLog>,
    ) -> JoinHandle<()>
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
    {
        let source = Source {
            pool: self.opts.name.clone(),
            pid,
            stream,
            boot: boot.clone(),
        };
        self.tracker
            .spawn(forward_lines(reader, source, self.cancel.clone()))
    }
}

/// The command of a worker process as every pool starts it: argv, the
/// environment (`RR_RELAY` when given, `RR_RPC`, the user's `env`, then
/// `RR_VERSION` and `RR_MODE`), working directory, user, its own process
/// group, killed when dropped. Stdio is the caller's to set. Public: the
/// handoff plugin starts its workers the same way.
///
/// # Errors
/// [`SpawnError::EmptyCommand`] when `argv` is empty.
pub fn worker_process(cmd: &WorkerCommand, relay: Option<&str>) -> Result<Command, SpawnError> {
    let (program, args) = cmd.argv.split_first().ok_or(SpawnError::EmptyCommand)?;
    let mut command = Command::new(program);
    command.args(args).process_group(0).kill_on_drop(true);
    if let Some(relay) = relay {
        command.env("RR_RELAY", relay);
    }
    if let Some(rpc) = &cmd.rpc {
        command.env("RR_RPC", rpc);
    }
    command.envs(&cmd.env);
    command.env("RR_VERSION", &cmd.version);
    command.env("RR_MODE", &cmd.mode);
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    if let Some((uid, gid)) = cmd.user {
        command.uid(uid).gid(gid);
    }
    Ok(command)
}

/// A worker that could not be brought into service.
struct Failed {
    cause: SpawnError,
    status: BootStatus,
    output: String,
}

impl Failed {
    fn not_started(cause: SpawnError) -> Self {
        Self {
            cause,
            status: BootStatus::NotStarted,
            output: String::new(),
        }
    }
}

/// A process between spawn and handshake.
struct Starting<'a> {
    state: &'a WorkerState,
    boot: &'a BootLog,
}

/// After a failed handshake on pipes, what the worker writes next on
/// stdout is still read (it is often the rest of an error message) until
/// EOF, this long without a new byte, or [`DRAIN_TOTAL`].
const DRAIN_IDLE: Duration = Duration::from_millis(250);
const DRAIN_TOTAL: Duration = Duration::from_secs(2);
/// Bound for the process to be reaped after SIGKILL, and for its output
/// streams to end after that.
const REAP_WAIT: Duration = Duration::from_secs(1);

impl Starting<'_> {
    /// Collects what the worker wrote, makes sure it and its process group
    /// are gone, and reports how it ended.
    async fn failed(
        &self,
        cause: SpawnError,
        stdout: Option<&PipeWatch>,
        forwarders: Vec<JoinHandle<()>>,
    ) -> Failed {
        let state = self.state;
        state.retire(WorkerStatus::Errored);
        // Read stdout before killing: a worker printing its error and
        // exiting gets to finish the message.
        let stdout = match stdout {
            Some(watch) => {
                let room = crate::boot::MAX_BOOT_OUTPUT;
                watch.boot_output(room, DRAIN_IDLE, DRAIN_TOTAL).await
            }
            None => Vec::new(),
        };
        let killed = !state.has_exited();
        if killed {
            state.kill_now();
        }
        let _ = tokio::time::timeout(REAP_WAIT, state.exited()).await;
        // The group is SIGKILLed once the worker is reaped, so stderr ends.
        let streams_end = join_each(forwarders);
        let _ = tokio::time::timeout(REAP_WAIT, streams_end).await;
        let status = boot_status(state, killed);
        let on_its_own = matches!(status, BootStatus::Exited(_) | BootStatus::Signaled(_));
        let cause = match cause {
            // The pipe closed because the process ended on its own.
            SpawnError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && on_its_own => {
                SpawnError::ExitedEarly
            }
            other => other,
        };
        Failed {
            cause,
            status,
            output: self.boot.report(&stdout),
        }
    }
}

/// Waits for every handle (a panicked forwarder counts as finished).
async fn join_each(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}

/// `max_jobs` plus 0-14 % so a pool's workers do not all restart at once
/// (RoadRunner does the same since 2024.1).
fn jittered(max_jobs: u64) -> u64 {
    if max_jobs == 0 {
        return 0;
    }
    max_jobs + fastrand::u64(0..=max_jobs * 14 / 100)
}

/// Owns the `Child`: reports its exit, and kills it (and its process group)
/// when asked or when the pool goes away.
///
/// However the worker ends (stop frame and exit, crash, kill, replacement),
/// its process group is SIGKILLed once the worker itself is gone: children
/// it forked (a background job, `proc_open`) often hold its stderr or
/// stdout, and would otherwise keep the forwarders, and so
/// `Pool::shutdown`, waiting for them.
async fn watch_exit(
    mut child: Child,
    state: Arc<WorkerState>,
    events: mpsc::UnboundedSender<Event>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        () = state.kill.cancelled() => {
            let _ = child.start_kill();
            kill_group(state.pid);
            child.wait().await
        }
    };
    // The group outlives its leader while a member lives, so its id is
    // still the group's (a pid is not reused while a group has it).
    kill_group(state.pid);
    match status {
        Ok(status) => state.mark_exited(status),
        Err(e) => state.mark_wait_failed(&e),
    }
    let _ = events.send(Event::Exited(state.id));
}

/// SIGKILL to the process group the worker leads (`process_group(0)`).
fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
