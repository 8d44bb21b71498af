//! The `handoff` section, planned whole before anything binds: one entry
//! per listener (`handoff.<name>{address, mode, balancer, max_queue_size,
//! overflow, max_connections, backlog, pool}`), every problem reported at
//! its key.

use std::collections::BTreeMap;

use coyote_config::PoolConfig;
use coyote_host::Plan;
use coyote_listener::Address;
use coyote_pool::PoolOptions;
use serde::Deserialize;

/// `max_queue_size` when absent.
pub const DEFAULT_MAX_QUEUE: usize = 1024;
/// `backlog` when absent.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// One `handoff.<name>` entry as written.
#[derive(Deserialize)]
#[serde(default)]
struct ListenerKeys {
    address: String,
    mode: String,
    balancer: String,
    max_queue_size: i64,
    overflow: String,
    max_connections: i64,
    backlog: i64,
    pool: PoolConfig,
}

impl Default for ListenerKeys {
    fn default() -> Self {
        Self {
            address: String::new(),
            mode: String::new(),
            balancer: String::new(),
            max_queue_size: DEFAULT_MAX_QUEUE as i64,
            overflow: String::new(),
            max_connections: 0,
            backlog: i64::from(DEFAULT_BACKLOG),
            pool: PoolConfig::default(),
        }
    }
}

/// Who accepts the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Each worker accepts on its own `SO_REUSEPORT` socket.
    Reuseport,
    /// Coyote accepts and passes each descriptor to a worker.
    FdPassing,
}

impl Mode {
    /// The configuration's (and `RR_MODE`'s) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reuseport => "reuseport",
            Self::FdPassing => "fd_passing",
        }
    }
}

/// How `fd_passing` picks a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalancerKind {
    /// The fewest open connections (ties in turn).
    LeastConnections,
    /// In turn.
    RoundRobin,
    /// By the client's IP address (unix peers: in turn).
    IpHash,
}

/// What happens to a connection beyond the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Closed at once.
    Close,
    /// Answered `503 Service Unavailable`, then closed.
    Http503,
}

/// One planned listener.
#[derive(Clone, Debug)]
pub struct ListenerSpec {
    /// `handoff.<name>`.
    pub name: String,
    /// Where to listen (`host:port` with an explicit host, or a unix path).
    pub address: Address,
    /// Who accepts.
    pub mode: Mode,
    /// `fd_passing`: how a worker is picked.
    pub balancer: BalancerKind,
    /// `fd_passing`: connections that may wait for a worker.
    pub max_queue_size: usize,
    /// `fd_passing`: beyond the queue.
    pub overflow: Overflow,
    /// `fd_passing`: open connections per worker (0: no cap).
    pub max_connections: usize,
    /// `listen(2)` backlog.
    pub backlog: i32,
    /// The workers (`RR_MODE` is the mode).
    pub pool: PoolOptions,
}

/// The planned plugin.
#[derive(Debug)]
pub struct HandoffOptions {
    /// Every listener, by name.
    pub listeners: Vec<ListenerSpec>,
}

/// Plans the `handoff` section; `None` when it is absent or has problems.
pub fn plan(plan: &mut Plan<'_>) -> Option<HandoffOptions> {
    let section: BTreeMap<String, ListenerKeys> = plan.decode("handoff")?;
    if section.is_empty() {
        plan.problem("handoff", "no listeners configured");
    }
    let mut listeners = Vec::with_capacity(section.len());
    for (name, keys) in section {
        if let Some(spec) = listener(plan, name, keys) {
            listeners.push(spec);
        }
    }
    plan.is_clean().then_some(HandoffOptions { listeners })
}

fn listener(plan: &mut Plan<'_>, name: String, keys: ListenerKeys) -> Option<ListenerSpec> {
    let at = format!("handoff.{name}");
    let address = address(plan, &format!("{at}.address"), &keys.address);
    let mode = match keys.mode.trim() {
        "reuseport" => Some(Mode::Reuseport),
        "fd_passing" => Some(Mode::FdPassing),
        "" => {
            plan.problem(&format!("{at}.mode"), "required: reuseport or fd_passing");
            None
        }
        other => {
            plan.problem(
                &format!("{at}.mode"),
                format!("{other:?} is not reuseport or fd_passing"),
            );
            None
        }
    };
    let balancer = match keys.balancer.trim() {
        "" | "least_connections" => Some(BalancerKind::LeastConnections),
        "round_robin" => Some(BalancerKind::RoundRobin),
        "ip_hash" => Some(BalancerKind::IpHash),
        other => {
            plan.problem(
                &format!("{at}.balancer"),
                format!("{other:?} is not least_connections, round_robin or ip_hash"),
            );
            None
        }
    };
    let overflow = match keys.overflow.trim() {
        "" | "close" => Some(Overflow::Close),
        "http_503" => Some(Overflow::Http503),
        other => {
            plan.problem(
                &format!("{at}.overflow"),
                format!("{other:?} is not close or http_503"),
            );
            None
        }
    };
    let max_queue_size = count(plan, &format!("{at}.max_queue_size"), keys.max_queue_size);
    let max_connections = count(plan, &format!("{at}.max_connections"), keys.max_connections);
    let backlog = match i32::try_from(keys.backlog) {
        Ok(b) if b > 0 => Some(b),
        _ => {
            plan.problem(
                &format!("{at}.backlog"),
                format!("{} is not between 1 and {}", keys.backlog, i32::MAX),
            );
            None
        }
    };
    let mut pool = plan.pool_options(&at, &keys.pool)?;
    let (address, mode, balancer, overflow, max_queue_size, max_connections, backlog) = (
        address?,
        mode?,
        balancer?,
        overflow?,
        max_queue_size?,
        max_connections?,
        backlog?,
    );
    mode.as_str().clone_into(&mut pool.command.mode);
    Some(ListenerSpec {
        name,
        address,
        mode,
        balancer,
        max_queue_size,
        overflow,
        max_connections,
        backlog,
        pool,
    })
}

/// A count that must not be negative.
fn count(plan: &mut Plan<'_>, path: &str, value: i64) -> Option<usize> {
    if let Ok(n) = usize::try_from(value) {
        return Some(n);
    }
    plan.problem(path, format!("{value} must not be negative"));
    None
}

/// `tcp://host:port`, `host:port` (an empty host is every interface) or
/// `unix:///path`.
fn address(plan: &mut Plan<'_>, path: &str, value: &str) -> Option<Address> {
    if value.trim().is_empty() {
        plan.problem(path, "required: tcp://host:port, host:port or unix:///path");
        return None;
    }
    match Address::parse(value) {
        Address::Unix(p) if p.as_os_str().is_empty() => {
            plan.problem(path, "unix:// needs a socket path");
            None
        }
        Address::Unix(p) => Some(Address::Unix(p)),
        Address::Tcp(host_port) => match host_port.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => {
                if host.is_empty() {
                    Some(Address::Tcp(format!("0.0.0.0:{port}")))
                } else {
                    Some(Address::Tcp(host_port))
                }
            }
            _ => {
                plan.problem(path, format!("{value:?} is not host:port"));
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use coyote_config::{Config, LoadOptions};

    use super::*;

    /// Plans `yaml`; the options, or every problem as `path: message`.
    fn planned(yaml: &str) -> Result<HandoffOptions, Vec<String>> {
        let loaded = Config::from_str(yaml, &LoadOptions::default()).unwrap();
        let mut p = Plan::new(&loaded.config, &loaded.tree, Path::new("."));
        match plan(&mut p) {
            Some(opts) => Ok(opts),
            None => Err(p
                .problems()
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect()),
        }
    }

    const HEAD: &str = "version: \"3\"\nserver:\n  command: php w.php\n";

    #[test]
    fn defaults_and_good_values() {
        let opts = planned(&format!(
            "{HEAD}handoff:\n  web:\n    address: tcp://127.0.0.1:0\n    mode: fd_passing\n    pool:\n      num_workers: 2\n  api:\n    address: \":9000\"\n    mode: reuseport\n    balancer: ip_hash\n    max_queue_size: 3\n    overflow: http_503\n    max_connections: 5\n    backlog: 64\n  sock:\n    address: unix:///tmp/x.sock\n    mode: reuseport\n"
        ))
        .unwrap();
        let by = |n: &str| opts.listeners.iter().find(|l| l.name == n).unwrap();
        let web = by("web");
        assert_eq!(web.address, Address::Tcp("127.0.0.1:0".into()));
        assert_eq!(web.mode, Mode::FdPassing);
        assert_eq!(web.balancer, BalancerKind::LeastConnections);
        assert_eq!(web.max_queue_size, DEFAULT_MAX_QUEUE);
        assert_eq!(web.overflow, Overflow::Close);
        assert_eq!(web.max_connections, 0);
        assert_eq!(web.backlog, DEFAULT_BACKLOG);
        assert_eq!(web.pool.num_workers, 2);
        assert_eq!(web.pool.command.mode, "fd_passing");
        assert_eq!(web.pool.command.argv, ["php", "w.php"]);
        let api = by("api");
        assert_eq!(api.address, Address::Tcp("0.0.0.0:9000".into()));
        assert_eq!(api.mode, Mode::Reuseport);
        assert_eq!(api.pool.command.mode, "reuseport");
        assert_eq!(api.balancer, BalancerKind::IpHash);
        assert_eq!(
            (
                api.max_queue_size,
                api.overflow,
                api.max_connections,
                api.backlog
            ),
            (3, Overflow::Http503, 5, 64)
        );
        assert_eq!(by("sock").address, Address::Unix("/tmp/x.sock".into()));
    }

    #[test]
    fn every_bad_value_at_its_path() {
        let problems = planned(&format!(
            "{HEAD}handoff:\n  web:\n    address: nowhere\n    mode: sideways\n    balancer: random\n    overflow: explode\n    max_queue_size: -1\n    max_connections: -2\n    backlog: 0\n  bare:\n    address: 127.0.0.1:0\n  sock:\n    address: \"unix://\"\n    mode: reuseport\n"
        ))
        .unwrap_err();
        for expected in [
            "handoff.web.address: \"nowhere\" is not host:port",
            "handoff.web.mode: \"sideways\" is not reuseport or fd_passing",
            "handoff.web.balancer: \"random\" is not least_connections, round_robin or ip_hash",
            "handoff.web.overflow: \"explode\" is not close or http_503",
            "handoff.web.max_queue_size: -1 must not be negative",
            "handoff.web.max_connections: -2 must not be negative",
            "handoff.web.backlog: 0 is not between 1 and 2147483647",
            "handoff.bare.mode: required: reuseport or fd_passing",
            "handoff.sock.address: unix:// needs a socket path",
        ] {
            assert!(
                problems.iter().any(|p| p == expected),
                "{expected} not in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), 9, "{problems:#?}");
    }

    #[test]
    fn missing_address_type_errors_and_empty_section() {
        let problems =
            planned(&format!("{HEAD}handoff:\n  web:\n    mode: reuseport\n")).unwrap_err();
        assert_eq!(
            problems,
            ["handoff.web.address: required: tcp://host:port, host:port or unix:///path"]
        );
        // A type error is the decoder's, at its key.
        let problems = planned(&format!(
            "{HEAD}handoff:\n  web:\n    address: 127.0.0.1:0\n    mode: reuseport\n    max_connections: lots\n"
        ))
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].starts_with("handoff.web.max_connections: invalid type"));
        let problems = planned(&format!("{HEAD}handoff: {{}}\n")).unwrap_err();
        assert_eq!(problems, ["handoff: no listeners configured"]);
    }

    #[test]
    fn pool_problems_are_under_the_listener() {
        let problems = planned(
            "version: \"3\"\nhandoff:\n  web:\n    address: 127.0.0.1:0\n    mode: reuseport\n",
        )
        .unwrap_err();
        assert!(
            problems.iter().any(|p| p.starts_with("handoff.web.pool")),
            "{problems:#?}"
        );
    }
}
