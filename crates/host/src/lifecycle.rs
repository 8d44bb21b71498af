//! The server's lifecycle: an observable phase (tests and the status
//! plugin read it instead of sleeping; systemd hears of it through
//! [`Notifier`]) and the signals that drive it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::sd_notify::Notifier;

/// Where the server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading config, running on_init, starting pools and listeners.
    Starting,
    /// Serving.
    Running,
    /// Graceful stop: listeners closed, in-flight work finishing.
    Stopping,
    /// Everything stopped.
    Stopped,
}

impl Phase {
    /// The phase in lower case, as reported.
    pub fn name(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }
}

/// The root of the shutdown tree: plugins take child tokens of
/// [`Lifecycle::shutdown`]; [`Lifecycle::force`] fires on a second signal.
#[derive(Clone)]
pub struct Lifecycle {
    phase: watch::Sender<Phase>,
    shutdown: CancellationToken,
    force: CancellationToken,
    report: Option<Arc<Path>>,
    notifier: Option<Arc<Notifier>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A lifecycle in [`Phase::Starting`].
    pub fn new() -> Self {
        Self {
            phase: watch::Sender::new(Phase::Starting),
            shutdown: CancellationToken::new(),
            force: CancellationToken::new(),
            report: None,
            notifier: None,
        }
    }

    /// Tells systemd (`Type=notify`) `READY=1` once every plugin is
    /// serving and `STOPPING=1` when the stop begins: `coyote serve` passes
    /// the socket from `$NOTIFY_SOCKET`.
    pub fn with_notifier(mut self, notifier: Option<Notifier>) -> Self {
        self.notifier = notifier.map(Arc::new);
        self
    }

    /// Also appends every event (phases, bound addresses) to `file`, one
    /// line each (`phase running`, `listen http http 127.0.0.1:8080`):
    /// `coyote serve --report FILE`, for tests and supervisors that need
    /// the ports a `:0` address got.
    pub fn with_report(mut self, file: Option<PathBuf>) -> Self {
        self.report = file.map(Arc::from);
        self
    }

    /// Appends `line` to the report file, if any.
    pub fn report(&self, line: &str) {
        use std::io::Write;
        let Some(path) = &self.report else { return };
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            tracing::warn!(target: "coyote::server", path = %path.display(), error = %e,
                "cannot write the report file");
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// A receiver to wait for phase changes.
    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Moves to `phase` and logs it.
    pub fn set(&self, phase: Phase) {
        tracing::debug!(target: "coyote::server", ?phase, "lifecycle");
        self.phase.send_replace(phase);
        self.report(&format!("phase {}", phase.name()));
        let state = match phase {
            Phase::Running => "READY=1",
            Phase::Stopping => "STOPPING=1",
            Phase::Starting | Phase::Stopped => return,
        };
        if let Some(notifier) = &self.notifier {
            match notifier.notify(state) {
                Ok(()) => tracing::debug!(target: "coyote::server", socket = notifier.name(),
                    state, "sd_notify sent"),
                Err(e) => tracing::warn!(target: "coyote::server", socket = notifier.name(),
                    state, error = %e, "sd_notify failed"),
            }
        }
    }

    /// Cancelled when a graceful stop begins.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Cancelled when the stop must be immediate.
    pub fn force(&self) -> &CancellationToken {
        &self.force
    }

    /// Maps SIGINT / SIGTERM to a graceful stop, and a second one to an
    /// immediate stop; SIGUSR1 / SIGHUP call `reset` (a rolling reset of
    /// every pool, as `coyote reset` does). Returns once the force token
    /// fires or the server reached [`Phase::Stopped`].
    pub async fn handle_signals<F, Fut>(&self, reset: F) -> std::io::Result<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut phase = self.subscribe();
        loop {
            let reload = tokio::select! {
                _ = int.recv() => false,
                _ = term.recv() => false,
                _ = usr1.recv() => true,
                _ = hup.recv() => true,
                r = phase.wait_for(|p| *p == Phase::Stopped) => { let _ = r; return Ok(()); }
            };
            if reload {
                if self.shutdown.is_cancelled() {
                    continue;
                }
                tracing::info!(target: "coyote::server", "reset signal received: replacing workers one by one");
                // A stop signal during the reset still stops the server.
                let stop = tokio::select! {
                    () = reset() => false,
                    _ = int.recv() => true,
                    _ = term.recv() => true,
                };
                if !stop {
                    continue;
                }
            }
            if self.shutdown.is_cancelled() {
                tracing::warn!(target: "coyote::server", "second signal: stopping now");
                self.force.cancel();
                return Ok(());
            }
            tracing::info!(target: "coyote::server", "stop signal received: finishing in-flight requests (send it again to stop at once)");
            self.shutdown.cancel();
        }
    }
}
