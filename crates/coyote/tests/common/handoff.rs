//! Shared by the handoff end-to-end files: a config with one handoff
//! listener `web` on port 0, the informer's view of its workers, and
//! waiting on their connection counts.

use std::time::Duration;

use coyote_rpc::services::{WorkerList, WorkerState};
use coyote_test_support::{wait_until, worker_script, Server};

use super::blocking_rpc;

/// Every wait and socket read is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(20);

/// `handoff.web` on port 0 with `listener` (its keys, indented 4) and
/// `workers` of `php/workers/handoff-http.php`.
pub fn config(listener: &str, workers: usize) -> String {
    config_for("handoff-http", listener, workers)
}

/// [`config`] with another worker of `php/workers/`.
pub fn config_for(worker: &str, listener: &str, workers: usize) -> String {
    format!(
        r#"version: "3"
rpc:
  listen: tcp://127.0.0.1:0
server:
  command: "{php} {worker}"
handoff:
  web:
    address: tcp://127.0.0.1:0
{listener}
    pool:
      num_workers: {workers}
      allocate_timeout: 10s
      destroy_timeout: 5s
logs:
  level: debug
"#,
        php = coyote_test_support::php(),
        worker = worker_script(worker).display(),
    )
}

/// The handoff workers as `informer.Workers("handoff")` lists them.
pub fn workers(server: &Server) -> Vec<WorkerState> {
    let (rt, mut client) = blocking_rpc(server);
    let list: WorkerList = rt
        .block_on(client.call_json("informer.Workers", &"handoff"))
        .unwrap();
    list.workers
}

/// Waits until the ready workers' open counts satisfy `check`.
pub fn wait_counts(server: &Server, what: &str, check: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let mut last = Vec::new();
    let found = wait_until(LIMIT, || {
        last = workers(server)
            .iter()
            .filter(|w| w.status_str == "ready")
            .map(|w| w.connections.unwrap())
            .collect();
        check(&last).then_some(())
    });
    assert!(
        found.is_some(),
        "{what}: counts {last:?}\n{}",
        server.output()
    );
    last
}
