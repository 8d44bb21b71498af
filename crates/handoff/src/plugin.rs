//! The `handoff` plugin on the host: binds every listener (the bound
//! addresses are logged and reported as `listen handoff <name> <addr>`),
//! starts its workers, registers them with the informer / resetter
//! (`coyote workers`, `coyote reset`), and on stop lets every worker drain.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use coyote_host::{BoxFuture, Checker, Plan, Planned, Plugin, Running, Start, StartError};
use coyote_listener::{Address, Listener};
use coyote_rpc::services::{unix_nanos, ResetFuture, WorkerSource, WorkerState};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{self, HandoffOptions, ListenerSpec, Mode};
use crate::fdpass;
use crate::group::Group;
use crate::reuseport::{self, Sockets};
use crate::supervisor::{Command, Supervisor};
use crate::table::Table;
use crate::HandoffError;

/// The `handoff` plugin.
#[derive(Clone, Copy, Default)]
pub struct HandoffPlugin;

struct PlannedHandoff(HandoffOptions);

impl Plugin for HandoffPlugin {
    fn name(&self) -> &'static str {
        "handoff"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        config::plan(plan).map(|opts| Box::new(PlannedHandoff(opts)) as Box<dyn Planned>)
    }
}

/// Every listener's workers, as the informer and resetter see them.
struct Handoffs {
    groups: Vec<(Arc<Group>, mpsc::UnboundedSender<Command>)>,
}

struct RunningHandoff {
    handoffs: Arc<Handoffs>,
    supervisors: TaskTracker,
    /// Cancelled once every worker is gone (ends the epoll watchers).
    done: CancellationToken,
}

impl Planned for PlannedHandoff {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            raise_nofile();
            let supervisors = TaskTracker::new();
            let done = CancellationToken::new();
            // Stops what started when a later listener fails.
            let abort = start.shutdown.child_token();
            let mut groups = Vec::new();
            for spec in self.0.listeners {
                let name = spec.name.clone();
                match start_listener(spec, &start, &abort, &supervisors, &done).await {
                    Ok(started) => groups.push(started),
                    Err(e) => {
                        abort.cancel();
                        supervisors.close();
                        supervisors.wait().await;
                        done.cancel();
                        return Err(format!("handoff.{name}: {e}").into());
                    }
                }
            }
            supervisors.close();
            let handoffs = Arc::new(Handoffs { groups });
            start.registry.add_workers("handoff", handoffs.clone());
            start.registry.add_checker("handoff", handoffs.clone());
            let groups: Vec<Arc<Group>> = handoffs.groups.iter().map(|(g, _)| g.clone()).collect();
            start
                .registry
                .add_metrics(move |r| crate::metrics::register(&groups, r));
            Ok(Box::new(RunningHandoff {
                handoffs,
                supervisors,
                done,
            }) as Box<dyn Running>)
        })
    }
}

/// Binds one listener and starts its workers and tasks.
async fn start_listener(
    spec: ListenerSpec,
    start: &Start,
    abort: &CancellationToken,
    supervisors: &TaskTracker,
    done: &CancellationToken,
) -> Result<(Arc<Group>, mpsc::UnboundedSender<Command>), HandoffError> {
    let cancel = abort.child_token();
    let (tx, rx) = mpsc::unbounded_channel();
    let name = spec.name.clone();
    let (group, sockets, listener) = match spec.mode {
        Mode::Reuseport => {
            let sockets = Arc::new(Sockets::bind(&spec.address, spec.backlog).await?);
            let bound = sockets.bound();
            let group = Group::new(spec, bound, cancel, start.tracker.clone(), None);
            (Arc::new(group), Some(sockets), None)
        }
        Mode::FdPassing => {
            let listener = bind(&spec.address, spec.backlog).await?;
            let bound = listener.local_addr().to_string();
            let table = Arc::new(Table::new()?);
            let group = Group::new(spec, bound, cancel, start.tracker.clone(), Some(table));
            (Arc::new(group), None, Some(listener))
        }
    };
    let supervisor = Supervisor::start(group.clone(), sockets, rx).await?;
    supervisors.spawn(start.tracker.track_future(supervisor.run()));
    let shown = group
        .bound
        .strip_prefix("tcp://")
        .unwrap_or(&group.bound)
        .to_owned();
    start.registry.listening("handoff", &name, &shown);
    if let Some(listener) = listener {
        start
            .tracker
            .spawn(fdpass::serve(group.clone(), listener, done.clone()));
    }
    Ok((group, tx))
}

/// `fd_passing`'s own listener: TCP with the configured backlog, or a
/// unix socket (a stale socket file replaced).
async fn bind(address: &Address, backlog: i32) -> Result<Listener, HandoffError> {
    let listen_err = |source| HandoffError::Listen {
        address: address.to_string(),
        source,
    };
    match address {
        Address::Tcp(host_port) => {
            let addr = reuseport::resolve(host_port).await?;
            let socket = reuseport::tcp_socket(addr, backlog, false).map_err(listen_err)?;
            let std: std::net::TcpListener = socket.into();
            let tokio = tokio::net::TcpListener::from_std(std).map_err(listen_err)?;
            Listener::from_tcp(tokio).map_err(|e| listen_err(std::io::Error::other(e.to_string())))
        }
        Address::Unix(_) => Listener::bind(address)
            .await
            .map_err(|e| listen_err(std::io::Error::other(e.to_string()))),
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit: Coyote holds a copy
/// of every passed connection.
fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(target: "coyote::handoff", %error, soft, hard,
                    "cannot raise the open-files limit");
            }
        }
    }
}

impl WorkerSource for Handoffs {
    fn workers(&self) -> Vec<WorkerState> {
        self.groups
            .iter()
            .flat_map(|(group, _)| {
                let command = format!(
                    "[{}] {}",
                    group.spec.name,
                    group.spec.pool.command.argv.join(" ")
                );
                group.workers().into_iter().map(move |w| {
                    let status = w.status();
                    WorkerState {
                        pid: i64::from(w.pid),
                        status: status as i64,
                        num_execs: w.accepted.load(Ordering::Relaxed),
                        created: unix_nanos(w.created),
                        memory_usage: coyote_pool::stats::rss_bytes(w.pid).unwrap_or(0),
                        cpu_percent: coyote_pool::stats::cpu_percent(w.pid, w.started.elapsed()),
                        command: command.clone(),
                        status_str: status.as_str().to_owned(),
                        connections: Some(w.open.load(Ordering::Relaxed)),
                        idle_ms: Some(u64::try_from(w.idle().as_millis()).unwrap_or(u64::MAX)),
                    }
                })
            })
            .collect()
    }

    fn reset(&self) -> ResetFuture<'_> {
        Box::pin(async move {
            let mut failed = Vec::new();
            for (group, commands) in &self.groups {
                let (reply, answer) = oneshot::channel();
                if commands.send(Command::Reset(reply)).is_err() {
                    failed.push(format!("handoff.{}: stopped", group.spec.name));
                    continue;
                }
                match answer.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failed.push(e),
                    Err(_) => failed.push(format!("handoff.{}: stopped", group.spec.name)),
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(failed.join("; "))
            }
        })
    }
}

impl Checker for Handoffs {
    fn health(&self) -> u16 {
        let alive = self
            .groups
            .iter()
            .all(|(g, _)| g.workers().iter().any(|w| w.is_ready()));
        if alive {
            200
        } else {
            503
        }
    }

    fn ready(&self) -> u16 {
        self.health()
    }
}

impl Running for RunningHandoff {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The shutdown token has fired: the accept loops end, every
            // worker got the stop frame; wait for them all to exit.
            self.supervisors.wait().await;
            self.done.cancel();
        })
    }

    fn pending(&self) -> String {
        let (mut workers, mut conns) = (0, 0);
        for (group, _) in &self.handoffs.groups {
            workers += group.workers().len();
            conns += group.table.as_ref().map_or(0, |t| t.len());
        }
        format!("{workers} workers, {conns} connections")
    }
}
