//! Starting worker processes: environment, process group, relay, handshake,
//! and the two tasks every worker has (exit watcher, stderr forwarder).

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use forward::forward_lines;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{PoolError, SpawnError};
use crate::relay::{Relay, RelayListener};
use crate::supervisor::Event;
use crate::worker::{Worker, WorkerState, WorkerStatus};
use crate::{PoolOptions, RelayAddress};

/// Starts workers for one pool.
pub(crate) struct Spawner {
    opts: Arc<PoolOptions>,
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
    pub(crate) async fn spawn(&self, generation: u64, home: usize) -> Result<Worker, PoolError> {
        self.spawn_inner(generation, home)
            .await
            .map_err(|source| PoolError::Spawn {
                command: self.command_line.to_string(),
                source,
            })
    }

    async fn spawn_inner(&self, generation: u64, home: usize) -> Result<Worker, SpawnError> {
        let opts = &self.opts;
        let cmd = &opts.command;
        let (program, args) = cmd.argv.split_first().ok_or(SpawnError::EmptyCommand)?;
        let mut command = Command::new(program);
        command
            .args(args)
            .env("RR_RELAY", &self.relay_env)
            .stdin(if self.listener.is_none() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
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
        let mut child = command.spawn()?;
        let pid = child.id().ok_or_else(|| SpawnError::ExitedEarly {
            status: "no pid".into(),
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        if let Some(stderr) = child.stderr.take() {
            self.tracker
                .spawn(forward_lines(stderr, opts.name.clone(), pid, "stderr"));
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

        let relay = match (&self.listener, stdin, stdout) {
            (None, Some(stdin), Some(stdout)) => {
                let mut relay = Relay::new(
                    Box::new(crate::pipe::PipeReader::new(stdout)?),
                    Box::new(stdin),
                    opts.max_frame_payload,
                    opts.stream_timeout,
                );
                let answered = tokio::select! {
                    r = tokio::time::timeout(opts.allocate_timeout, relay.handshake()) => r,
                    () = state.exited() => Ok(Err(SpawnError::ExitedEarly { status: String::new() })),
                };
                match answered {
                    Ok(Ok(answer)) => {
                        if answer != pid {
                            tracing::warn!(pool = %opts.name, pid, answered = answer,
                                "worker answered the handshake with another pid (a wrapper script?)");
                        }
                        relay
                    }
                    Ok(Err(e)) => return Err(self.failed(&state, e).await),
                    Err(_) => {
                        return Err(self
                            .failed(&state, SpawnError::Timeout(opts.allocate_timeout))
                            .await)
                    }
                }
            }
            (Some(listener), _, stdout) => {
                if let Some(stdout) = stdout {
                    self.tracker
                        .spawn(forward_lines(stdout, opts.name.clone(), pid, "stdout"));
                }
                let connect = opts.relay_timeout.unwrap_or(opts.allocate_timeout);
                let claimed = tokio::select! {
                    r = listener.claim(pid, connect) => r,
                    () = state.exited() => Err(SpawnError::ExitedEarly { status: String::new() }),
                };
                match claimed {
                    Ok(relay) => relay,
                    Err(e) => {
                        listener.forget(pid);
                        return Err(self.failed(&state, e).await);
                    }
                }
            }
            (None, _, _) => {
                return Err(self
                    .failed(
                        &state,
                        SpawnError::Io(std::io::Error::other("worker pipes unavailable")),
                    )
                    .await)
            }
        };
        state.set_status(WorkerStatus::Ready);
        Ok(Worker {
            state,
            relay,
            max_jobs: jittered(opts.max_jobs),
        })
    }

    /// Kills a worker that failed to start and reports how it ended.
    async fn failed(&self, state: &WorkerState, error: SpawnError) -> SpawnError {
        state.retire(WorkerStatus::Errored);
        state.kill_now();
        // The exit status is the most useful part of a boot crash.
        let _ = tokio::time::timeout(Duration::from_secs(1), state.exited()).await;
        match (error, state.exit_status()) {
            (SpawnError::ExitedEarly { .. }, Some(status))
            | (SpawnError::Io(_), Some(status))
            | (SpawnError::Protocol(_), Some(status))
                if !status.contains("signal: 9") =>
            {
                SpawnError::ExitedEarly { status }
            }
            (e, _) => e,
        }
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
async fn watch_exit(
    mut child: Child,
    state: Arc<WorkerState>,
    events: mpsc::UnboundedSender<Event>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        () = state.kill.cancelled() => {
            let _ = child.start_kill();
            if let Ok(pid) = i32::try_from(state.pid) {
                // The worker leads its own process group: take its children too.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            child.wait().await
        }
    };
    let text = match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("wait failed: {e}"),
    };
    state.mark_exited(text);
    let _ = events.send(Event::Exited(state.id));
}

/// Line-by-line forwarding of a worker's stderr (or stdout on socket relays)
/// into the log, tagged with pool and pid.
mod forward {
    use tokio::io::AsyncRead;
    use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

    /// Longest line kept; longer ones are cut so a worker cannot make the
    /// server buffer without bound.
    const MAX_LINE: usize = 64 * 1024;

    pub(crate) async fn forward_lines<R: AsyncRead + Unpin>(
        reader: R,
        pool: String,
        pid: u32,
        stream: &'static str,
    ) {
        use futures_core::Stream;
        let mut lines = FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE));
        loop {
            let next =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut lines).poll_next(cx)).await;
            match next {
                Some(Ok(line)) => {
                    tracing::info!(target: "coyote::worker", pool = %pool, pid, stream, "{line}");
                }
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                    tracing::warn!(target: "coyote::worker", pool = %pool, pid, stream,
                        "worker wrote a line longer than {MAX_LINE} bytes; cut");
                }
                Some(Err(LinesCodecError::Io(_))) | None => return,
            }
        }
    }
}
