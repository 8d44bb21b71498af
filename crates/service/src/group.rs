//! The services of one server: each a [`Group`] of `process_num` slots run
//! by one task each, started from the config or by `service.Create`,
//! stopped by `Terminate`, `Restart` or the server's stop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ServiceSpec;
use crate::process::{spawn, supervise, Ctx, First, Slot, SlotState, Spawned};
use crate::proto;
use crate::ServiceError;

/// One service: its spec, its slots and the tasks of the current run.
pub(crate) struct Group {
    spec: Arc<ServiceSpec>,
    slots: Vec<Arc<Slot>>,
    /// The current run; held across a stop or restart, so operations on
    /// one service happen one at a time.
    run: tokio::sync::Mutex<Run>,
}

#[derive(Default)]
struct Run {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Group {
    fn new(spec: ServiceSpec) -> Self {
        let slots = (0..spec.process_num).map(|_| Arc::default()).collect();
        Self {
            spec: Arc::new(spec),
            slots,
            run: tokio::sync::Mutex::new(Run::default()),
        }
    }

    /// Starts one task per slot, each with its first step.
    fn launch(
        &self,
        ctx: &Arc<Ctx>,
        run: &mut Run,
        parent: &CancellationToken,
        firsts: Vec<First>,
    ) {
        run.stop = parent.child_token();
        run.tasks = self
            .slots
            .iter()
            .zip(firsts)
            .map(|(slot, first)| {
                ctx.tracker.spawn(supervise(
                    ctx.clone(),
                    self.spec.clone(),
                    slot.clone(),
                    first,
                    run.stop.clone(),
                ))
            })
            .collect();
    }

    /// Stops every process and waits for the tasks.
    async fn halt(run: &mut Run) {
        run.stop.cancel();
        for task in run.tasks.drain(..) {
            let _ = task.await;
        }
    }

    /// Spawns every slot's process now; the first failure kills the ones
    /// already spawned and is returned.
    fn spawn_all(&self, ctx: &Ctx) -> Result<Vec<Spawned>, ServiceError> {
        let mut spawned = Vec::with_capacity(self.slots.len());
        for _ in &self.slots {
            // A failure drops `spawned`: their groups are killed on drop.
            spawned.push(
                spawn(&self.spec, &ctx.tracker).map_err(|error| ServiceError::Spawn {
                    command: self.spec.command.clone(),
                    error,
                })?,
            );
        }
        Ok(spawned)
    }

    fn statuses(&self) -> Vec<proto::Status> {
        self.slots
            .iter()
            .map(|slot| status(&self.spec.command, &slot.state()))
            .collect()
    }

    fn running(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state().running_since.is_some())
            .count()
    }
}

/// The status of one slot: figures while it runs, the reason otherwise.
fn status(command: &str, state: &SlotState) -> proto::Status {
    let pid = i32::try_from(state.pid).unwrap_or(0);
    match state.running_since {
        Some(since) => proto::Status {
            cpu_percent: coyote_pool::stats::cpu_percent(state.pid, since.elapsed()) as f32,
            pid,
            memory_usage: coyote_pool::stats::rss_bytes(state.pid).unwrap_or(0),
            command: command.to_owned(),
            status: None,
        },
        None => proto::Status {
            pid,
            command: command.to_owned(),
            status: Some(proto::CommonStatus {
                code: 0,
                message: if state.note.is_empty() {
                    "not started yet".to_owned()
                } else {
                    state.note.clone()
                },
                details: Vec::new(),
            }),
            ..proto::Status::default()
        },
    }
}

/// Every service of the server.
pub struct Services {
    ctx: Arc<Ctx>,
    /// The plugin's shutdown token: every run's stop token is its child.
    shutdown: CancellationToken,
    groups: Mutex<BTreeMap<String, Arc<Group>>>,
}

impl Services {
    pub(crate) fn new(ctx: Arc<Ctx>, shutdown: CancellationToken) -> Self {
        Self {
            ctx,
            shutdown,
            groups: Mutex::default(),
        }
    }

    fn groups(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Group>>> {
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn group(&self, name: &str) -> Result<Arc<Group>, ServiceError> {
        self.groups()
            .get(name)
            .cloned()
            .ok_or_else(|| ServiceError::NoSuchService(name.to_owned()))
    }

    /// Starts the configured services; a command that cannot start is
    /// logged and retried by its slot.
    pub(crate) async fn start_configured(&self, specs: Vec<ServiceSpec>) {
        for spec in specs {
            let name = spec.name.clone();
            let group = Arc::new(Group::new(spec));
            {
                let mut run = group.run.lock().await;
                let firsts = group.slots.iter().map(|_| First::Spawn).collect();
                group.launch(&self.ctx, &mut run, &self.shutdown, firsts);
            }
            self.groups().insert(name, group);
        }
    }

    /// `service.Create`: every process is spawned before it answers; a
    /// command that cannot start is an error and leaves nothing behind.
    ///
    /// # Errors
    /// A name in use, the plugin stopping, a spawn failure.
    pub async fn create(&self, spec: ServiceSpec) -> Result<(), ServiceError> {
        let name = spec.name.clone();
        let group = Arc::new(Group::new(spec));
        // Held until the processes run: a Terminate or Restart of the new
        // name waits for it.
        let mut run = group.run.lock().await;
        {
            let mut groups = self.groups();
            if self.shutdown.is_cancelled() {
                return Err(ServiceError::Stopped);
            }
            if groups.contains_key(&name) {
                return Err(ServiceError::Exists(name));
            }
            groups.insert(name.clone(), group.clone());
        }
        match group.spawn_all(&self.ctx) {
            Ok(spawned) => {
                let firsts = spawned
                    .into_iter()
                    .map(|s| First::Running(Box::new(s)))
                    .collect();
                group.launch(&self.ctx, &mut run, &self.shutdown, firsts);
                Ok(())
            }
            Err(e) => {
                self.groups().remove(&name);
                Err(e)
            }
        }
    }

    /// `service.Terminate`: stops every process and forgets the service.
    ///
    /// # Errors
    /// An unknown name.
    pub async fn terminate(&self, name: &str) -> Result<(), ServiceError> {
        let group = self.group(name)?;
        let mut run = group.run.lock().await;
        Group::halt(&mut run).await;
        self.groups()
            .retain(|n, g| !(n == name && Arc::ptr_eq(g, &group)));
        Ok(())
    }

    /// `service.Restart`: stops every process, then starts them again. A
    /// command that no longer starts is an error; its slots keep retrying.
    ///
    /// # Errors
    /// An unknown name, the plugin stopping, a spawn failure.
    pub async fn restart(&self, name: &str) -> Result<(), ServiceError> {
        let group = self.group(name)?;
        let mut run = group.run.lock().await;
        Group::halt(&mut run).await;
        if self.shutdown.is_cancelled() {
            return Err(ServiceError::Stopped);
        }
        let mut failure = None;
        let firsts = group
            .slots
            .iter()
            .map(|_| match spawn(&group.spec, &self.ctx.tracker) {
                Ok(s) => First::Running(Box::new(s)),
                Err(error) => {
                    let first = First::Failed(std::io::Error::new(error.kind(), error.to_string()));
                    failure.get_or_insert(ServiceError::Spawn {
                        command: group.spec.command.clone(),
                        error,
                    });
                    first
                }
            })
            .collect();
        group.launch(&self.ctx, &mut run, &self.shutdown, firsts);
        failure.map_or(Ok(()), Err)
    }

    /// `service.Statuses`: one status per process.
    ///
    /// # Errors
    /// An unknown name.
    pub fn statuses(&self, name: &str) -> Result<Vec<proto::Status>, ServiceError> {
        Ok(self.group(name)?.statuses())
    }

    /// `service.List`: the names, sorted.
    pub fn list(&self) -> Vec<String> {
        self.groups().keys().cloned().collect()
    }

    /// Processes running now (for what the host logs when it abandons us).
    pub fn running(&self) -> usize {
        self.groups().values().map(|g| g.running()).sum()
    }

    /// The plugin's stop: every slot already saw its stop token; waits for
    /// all of them (each bounded by `timeout_stop_sec` and the grace
    /// deadline).
    pub(crate) async fn stop_all(&self) {
        let began = Instant::now();
        let groups: Vec<Arc<Group>> = self.groups().values().cloned().collect();
        for group in &groups {
            let mut run = group.run.lock().await;
            Group::halt(&mut run).await;
        }
        tracing::info!(target: "coyote::service", services = groups.len(),
            elapsed = ?began.elapsed(), "services stopped");
    }
}
