//! Pid files and `coyote stop`, as RoadRunner's `rr serve -p` / `rr stop
//! [-f]`: `-p` writes the server's pid to `.pid` in the working directory
//! (`--pid-file PATH` names another file); `stop` sends SIGTERM to the pid
//! it finds there, and with `-f` a second SIGTERM a second later (the
//! server's "second signal: stop now"), unless the server is gone by then.
//! Unlike `rr`, the server removes its pid file when it exits, so a stale
//! file is an exception, reported as such.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cli::Global;
use crate::output::eprint_line;
use crate::{runtime_failure, Failure};

/// RoadRunner's pid file name, in the working directory.
const PID_FILE: &str = ".pid";

/// How long `stop -f` waits between its two signals (RoadRunner's delay:
/// a second signal sent at once could merge with the first).
const FORCE_DELAY: Duration = Duration::from_secs(1);

/// The pid file `serve` writes: `--pid-file` (relative to the directory
/// coyote was started in), else `.pid` in the working directory with `-p`.
pub(crate) fn serve_pid_file(global: &Global, working_dir: &Path) -> Option<PathBuf> {
    match &global.pid_file {
        Some(path) => Some(absolute(path)),
        None => global.pid.then(|| working_dir.join(PID_FILE)),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A pid file that lives as long as the server: removed on drop, unless
/// another process has written its own pid there since.
pub(crate) struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes the current pid to `path`.
    pub(crate) fn create(path: PathBuf) -> Result<Self, Failure> {
        let pid = std::process::id();
        std::fs::write(&path, pid.to_string())
            .with_context(|| format!("cannot write the pid file {}", path.display()))
            .map_err(runtime_failure)?;
        Ok(Self { path, pid })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.path)
            .is_ok_and(|text| text.trim() == self.pid.to_string());
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `coyote stop [-f]`.
pub(crate) fn run(global: &Global) -> Result<(), Failure> {
    let path = match &global.pid_file {
        Some(path) => absolute(path),
        None => crate::serve::working_dir(global)?.join(PID_FILE),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| {
            format!(
                "cannot read the pid file {} (a server writes it when started with \
                 `coyote serve -p` or `--pid-file PATH`)",
                path.display()
            )
        })
        .map_err(runtime_failure)?;
    // Zero and negative numbers would signal process groups.
    let pid = text
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| {
            runtime_failure(anyhow!(
                "the pid file {} holds {:?}, not a process id",
                path.display(),
                text.trim()
            ))
        })?;
    let pid = Pid::from_raw(pid);
    if !global.silent {
        eprint_line(&format!("stopping process with PID: {pid}"));
    }
    terminate(pid, &path)?;
    if global.force && !exits_within(pid, FORCE_DELAY) {
        terminate(pid, &path)?;
    }
    Ok(())
}

fn terminate(pid: Pid, path: &Path) -> Result<(), Failure> {
    match kill(pid, Signal::SIGTERM) {
        Ok(()) => Ok(()),
        Err(Errno::ESRCH) => Err(runtime_failure(anyhow!(
            "no process {pid} is running (stale pid file {}): the server has already stopped",
            path.display()
        ))),
        Err(e) => Err(runtime_failure(
            anyhow::Error::new(e).context(format!("cannot send SIGTERM to process {pid}")),
        )),
    }
}

/// Whether `pid` is gone within `limit` (checked every 20 ms).
fn exits_within(pid: Pid, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if kill(pid, None) == Err(Errno::ESRCH) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
