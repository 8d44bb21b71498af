//! Shared fixtures for Coyote's tests: where the PHP SDK and its test
//! workers live, and the PHP binary to run them with.
//!
//! Tests that need PHP fail loudly when it is missing: the README's test
//! command installs it, and a silently skipped test would hide a regression.

pub mod pki;
pub mod proxy;

pub use proxy::FaultProxy;

use std::path::PathBuf;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
}

/// Path of a test worker script in `php/workers/`, e.g. `worker("echo")`.
pub fn worker_script(name: &str) -> PathBuf {
    repo_root().join("php/workers").join(format!("{name}.php"))
}

/// The PHP interpreter: `$COYOTE_PHP` or `php` from `PATH`.
pub fn php() -> String {
    std::env::var("COYOTE_PHP").unwrap_or_else(|_| "php".to_owned())
}

/// `argv` that runs a test worker: `[php, -n?, path]`.
pub fn worker_argv(name: &str) -> Vec<String> {
    vec![php(), worker_script(name).display().to_string()]
}

/// Polls `check` every 5 ms until it yields a value or `limit` passes:
/// the way tests wait for an event (a line in a file, a process count)
/// with a deadline instead of sleeping for a guessed time.
pub fn wait_until<T>(
    limit: std::time::Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A running `coyote serve` in a temp dir, started with `--report` so the
/// test reads the phases and the bound addresses (configs use port 0);
/// stopped (SIGTERM, then SIGKILL after 10 s) when dropped.
pub struct Server {
    child: Option<std::process::Child>,
    /// The temp dir holding `.rr.yaml` (and anything the test put there).
    pub dir: std::path::PathBuf,
    _temp: TempDir,
    /// Where stdout + stderr of the server go.
    pub log: std::path::PathBuf,
    /// The `--report` file: `phase running`, `listen http http 127.0.0.1:PORT`.
    pub report: std::path::PathBuf,
}

/// A temp dir removed on drop (std only, no extra dependency).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    /// Writes `config` as `.rr.yaml` in a new temp dir and starts
    /// `binary serve` there; `args` are extra CLI arguments.
    pub fn start(binary: &str, config: &str, args: &[&str]) -> std::io::Result<Self> {
        Self::start_with_env(binary, config, args, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_with_env(
        binary: &str,
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        let temp = TempDir::new("coyote-e2e")?;
        let dir = temp.path().to_path_buf();
        std::fs::write(dir.join(".rr.yaml"), config)?;
        let log = dir.join("server.log");
        let report = dir.join("report.log");
        let out = std::fs::File::create(&log)?;
        let child = std::process::Command::new(binary)
            .arg("serve")
            .arg("--report")
            .arg(&report)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&dir)
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        Ok(Self {
            child: Some(child),
            dir,
            _temp: temp,
            log,
            report,
        })
    }

    /// The report lines so far.
    pub fn events(&self) -> Vec<String> {
        std::fs::read_to_string(&self.report)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits for a report line equal to `line` (e.g. `phase running`).
    /// False when the deadline passes or the server exits first.
    pub fn wait_event(&mut self, line: &str, limit: std::time::Duration) -> bool {
        wait_until(limit, || {
            if self.events().iter().any(|l| l == line) {
                return Some(true);
            }
            let exited = self
                .child
                .as_mut()
                .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
            exited.then_some(false)
        })
        .unwrap_or(false)
            || self.events().iter().any(|l| l == line)
    }

    /// Waits until the server is serving (`phase running`), panicking with
    /// its output when it does not get there within 30 s.
    pub fn wait_ready(&mut self) {
        assert!(
            self.wait_event("phase running", std::time::Duration::from_secs(30)),
            "the server did not start:\n{}",
            self.output()
        );
    }

    /// The bound address of the listener `what` of `plugin` (`http`,
    /// `https`, `fastcgi`, `rpc`, `status`, `metrics`), from the report.
    pub fn address(&self, plugin: &str, what: &str) -> Option<String> {
        let prefix = format!("listen {plugin} {what} ");
        self.events()
            .iter()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
    }

    /// The port of [`Server::address`] (panics when there is none).
    pub fn port(&self, plugin: &str, what: &str) -> u16 {
        let address = self
            .address(plugin, what)
            .unwrap_or_else(|| panic!("no {plugin} {what} listener in {:?}", self.events()));
        address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {address}"))
    }

    /// The server's output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Sends SIGTERM and waits (up to `limit`) for the exit status.
    pub fn terminate(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit on its own (e.g. a config error).
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate(std::time::Duration::from_secs(10));
    }
}
