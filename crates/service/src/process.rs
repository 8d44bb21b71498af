//! One process slot of a service: spawn (in its own process group), forward
//! its output, wait for it (killing it past `exec_timeout`), restart it
//! after `restart_sec` when `remain_after_exit`, and stop it: SIGTERM to the
//! group (RoadRunner's stop signal), SIGKILL after `timeout_stop_sec` or at
//! the host's grace deadline, whichever comes first.
//!
//! A command that cannot be started is logged and retried, `restart_sec`
//! first and then doubling (up to five minutes), never in a tight loop.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use coyote_host::Lifecycle;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServiceSpec;
use crate::output::{forward, Source};

/// The longest delay between two attempts to start a command that fails
/// to start (unless `restart_sec` is longer).
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Stands for "never" where a deadline must be an instant (a year).
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// What every slot shares: the plugin's tracker, the host's force token
/// and report, and the grace deadline.
pub(crate) struct Ctx {
    /// Every task of the plugin.
    pub(crate) tracker: TaskTracker,
    /// Cancelled when the stop must be immediate (second signal, grace over).
    pub(crate) force: CancellationToken,
    /// For `--report` events (`service started NAME PID`).
    pub(crate) lifecycle: Lifecycle,
    /// `endure.grace_period`.
    pub(crate) grace: Duration,
    /// When the server's stop began (set by a watcher task).
    pub(crate) stopping_since: OnceLock<Instant>,
}

impl Ctx {
    /// When a process asked to stop now gets SIGKILL: after `timeout`, but
    /// before the grace deadline (so nothing is left when the host exits).
    fn kill_at(&self, timeout: Duration) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let mut at = now.checked_add(timeout).unwrap_or(now + FAR);
        // The watcher task may not have run yet when the server's stop and
        // ours come together: then the stop began now.
        let began = if self.lifecycle.shutdown().is_cancelled() {
            Some(self.stopping_since.get_or_init(Instant::now))
        } else {
            self.stopping_since.get()
        };
        if let Some(began) = began {
            let margin = (self.grace / 5).min(Duration::from_secs(1));
            if let Some(deadline) = began.checked_add(self.grace.saturating_sub(margin)) {
                at = at.min(deadline.into());
            }
        }
        at
    }

    fn report(&self, line: &str) {
        self.lifecycle.report(line);
    }
}

/// What a slot is doing, for `service.Status(es)`.
#[derive(Clone, Debug, Default)]
pub(crate) struct SlotState {
    /// The running pid, or the last one (0: never started).
    pub(crate) pid: u32,
    /// Since when it runs (`None`: not running).
    pub(crate) running_since: Option<Instant>,
    /// Why it is not running.
    pub(crate) note: String,
}

/// One process of a service.
#[derive(Default)]
pub(crate) struct Slot {
    state: Mutex<SlotState>,
}

impl Slot {
    pub(crate) fn state(&self) -> SlotState {
        self.lock().clone()
    }

    fn set(&self, f: impl FnOnce(&mut SlotState)) {
        f(&mut self.lock());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// SIGKILL to a process group when dropped while armed: the runtime drops
/// unfinished tasks at exit, so even an abandoned service dies with the
/// server.
struct GroupGuard {
    pgid: u32,
    armed: bool,
}

impl GroupGuard {
    fn kill(&mut self) {
        if self.armed {
            signal_group(self.pgid, Signal::SIGKILL);
        }
    }

    /// Kills what is left of the group and forgets it (the pid may be
    /// reused once the group is empty).
    fn finish(&mut self) {
        self.kill();
        self.armed = false;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal_group(pgid: u32, signal: Signal) {
    if let Ok(pgid) = i32::try_from(pgid) {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// A started process.
pub(crate) struct Spawned {
    child: Child,
    pid: u32,
    guard: GroupGuard,
    forwarders: Vec<JoinHandle<()>>,
    drain: CancellationToken,
}

/// Starts one process of `spec`: its own process group, stdin from
/// /dev/null, stdout and stderr into the log.
pub(crate) fn spawn(spec: &ServiceSpec, tracker: &TaskTracker) -> std::io::Result<Spawned> {
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    // A relative path with a '/' means the working directory's.
    let program = if program.contains('/') {
        spec.dir.join(program)
    } else {
        program.into()
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&spec.dir)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some((uid, gid)) = spec.user {
        command.uid(uid).gid(gid);
    }
    let mut child = command.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other("the process ended before its pid was read"))?;
    let guard = GroupGuard {
        pgid: pid,
        armed: true,
    };
    let drain = CancellationToken::new();
    let source = Source {
        name: spec.name.clone(),
        pid,
        name_in_log: spec.name_in_log,
    };
    let mut forwarders = Vec::with_capacity(2);
    if let Some(out) = child.stdout.take() {
        forwarders.push(tracker.spawn(forward(out, source.clone(), drain.clone())));
    }
    if let Some(err) = child.stderr.take() {
        forwarders.push(tracker.spawn(forward(err, source, drain.clone())));
    }
    Ok(Spawned {
        child,
        pid,
        guard,
        forwarders,
        drain,
    })
}

/// How a slot begins.
pub(crate) enum First {
    /// Spawn at once (configured services).
    Spawn,
    /// Already spawned (Create, Restart).
    Running(Box<Spawned>),
    /// A spawn just failed: wait, then retry.
    Failed(std::io::Error),
}

/// How one run ended.
enum End {
    Exited(ExitStatus),
    TimedOut(ExitStatus),
    Stopped(ExitStatus),
    WaitFailed(std::io::Error),
}

/// The delay before spawn attempt `failures + 1`.
pub(crate) fn backoff(restart: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    restart.saturating_mul(factor).min(MAX_BACKOFF.max(restart))
}

/// Runs one slot until `stop` (or, without `remain_after_exit`, until its
/// process exits).
pub(crate) async fn supervise(
    ctx: Arc<Ctx>,
    spec: Arc<ServiceSpec>,
    slot: Arc<Slot>,
    first: First,
    stop: CancellationToken,
) {
    let mut next = first;
    let mut failures = 0u32;
    loop {
        let spawned = match std::mem::replace(&mut next, First::Spawn) {
            First::Running(s) => Ok(*s),
            First::Failed(e) => Err(e),
            First::Spawn if stop.is_cancelled() => return,
            First::Spawn => spawn(&spec, &ctx.tracker),
        };
        let spawned = match spawned {
            Ok(s) => s,
            Err(error) => {
                failures = failures.saturating_add(1);
                let delay = backoff(spec.restart, failures);
                tracing::error!(target: "coyote::service", name = %spec.name,
                    command = %spec.command, %error, retry_in = ?delay, attempt = failures,
                    "cannot start the service");
                ctx.report(&format!("service spawn-failed {}", spec.name));
                slot.set(|s| {
                    s.running_since = None;
                    s.note = format!(
                        "cannot start {:?}: {error}; retrying in {delay:?}",
                        spec.command
                    );
                });
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    () = stop.cancelled() => return,
                }
            }
        };
        failures = 0;
        let pid = spawned.pid;
        slot.set(|s| {
            s.pid = pid;
            s.running_since = Some(Instant::now());
            s.note.clear();
        });
        tracing::info!(target: "coyote::service", name = %spec.name, command = %spec.command,
            pid, "service was started");
        ctx.report(&format!("service started {} {pid}", spec.name));
        let end = run(&ctx, &spec, spawned, &stop).await;
        let stopped = matches!(end, End::Stopped(_));
        let how = describe(&end);
        ctx.report(&format!("service exited {} {pid}", spec.name));
        if stopped {
            tracing::info!(target: "coyote::service", name = %spec.name, pid, status = %how,
                "service was stopped");
            slot.set(|s| {
                s.running_since = None;
                s.note = format!("stopped ({how})");
            });
            return;
        }
        if !spec.remain_after_exit {
            tracing::info!(target: "coyote::service", name = %spec.name, pid, status = %how,
                "service exited; not restarted (remain_after_exit is false)");
            slot.set(|s| {
                s.running_since = None;
                s.note = format!("{how}; not restarted (remain_after_exit is false)");
            });
            return;
        }
        tracing::info!(target: "coyote::service", name = %spec.name, pid, status = %how,
            restart_in = ?spec.restart, "service exited; restarting");
        slot.set(|s| {
            s.running_since = None;
            s.note = format!("{how}; restarting in {:?}", spec.restart);
        });
        tokio::select! {
            () = tokio::time::sleep(spec.restart) => {}
            () = stop.cancelled() => return,
        }
    }
}

fn describe(end: &End) -> String {
    match end {
        End::Exited(status) => format!("exited with {status}"),
        End::TimedOut(status) => format!("killed at exec_timeout ({status})"),
        End::Stopped(status) => format!("{status}"),
        End::WaitFailed(e) => format!("lost: {e}"),
    }
}

/// Waits for one run to end; stops it on `stop`, kills it at
/// `exec_timeout`; the group and the forwarders are gone on return.
async fn run(ctx: &Ctx, spec: &ServiceSpec, mut p: Spawned, stop: &CancellationToken) -> End {
    let limit = async {
        match spec.exec_timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let end = tokio::select! {
        status = p.child.wait() => match status {
            Ok(status) => End::Exited(status),
            Err(e) => End::WaitFailed(e),
        },
        () = limit => {
            tracing::warn!(target: "coyote::service", name = %spec.name, pid = p.pid,
                limit = ?spec.exec_timeout, "exec_timeout reached: killing the service");
            p.guard.kill();
            match p.child.wait().await {
                Ok(status) => End::TimedOut(status),
                Err(e) => End::WaitFailed(e),
            }
        }
        () = stop.cancelled() => match graceful(ctx, spec, &mut p).await {
            Ok(status) => End::Stopped(status),
            Err(e) => End::WaitFailed(e),
        },
    };
    // Descendants left in the group go with their leader.
    p.guard.finish();
    p.drain.cancel();
    for forwarder in p.forwarders {
        let _ = forwarder.await;
    }
    end
}

/// SIGTERM to the group, SIGKILL at the deadline (or at once when forced).
async fn graceful(ctx: &Ctx, spec: &ServiceSpec, p: &mut Spawned) -> std::io::Result<ExitStatus> {
    signal_group(p.pid, Signal::SIGTERM);
    let kill_at = ctx.kill_at(spec.stop_timeout);
    tokio::select! {
        status = p.child.wait() => return status,
        () = tokio::time::sleep_until(kill_at) => {
            tracing::warn!(target: "coyote::service", name = %spec.name, pid = p.pid,
                timeout = ?spec.stop_timeout, "the service did not stop after SIGTERM: SIGKILL");
        }
        () = ctx.force.cancelled() => {}
    }
    p.guard.kill();
    p.child.wait().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), 1), s(1));
        assert_eq!(backoff(s(1), 2), s(2));
        assert_eq!(backoff(s(1), 4), s(8));
        assert_eq!(backoff(s(1), 40), MAX_BACKOFF);
        assert_eq!(backoff(s(600), 3), s(600));
    }
}
