//! The `tcp` section, planned whole before anything binds: RoadRunner's
//! keys (`servers.<name>{addr, delimiter}`, `read_buf_size` in megabytes,
//! `pool`) with its defaults, every problem reported at its key.

use std::collections::BTreeMap;

use bytes::Bytes;
use coyote_config::PoolConfig;
use coyote_host::Plan;
use coyote_listener::Address;
use coyote_pool::PoolOptions;
use serde::Deserialize;

/// `delimiter` when absent or empty (RoadRunner's).
pub const DEFAULT_DELIMITER: &str = "\r\n";
/// `read_buf_size` when absent or 0, in megabytes (RoadRunner's).
pub const DEFAULT_READ_BUF_MB: u64 = 1;
/// The largest `read_buf_size` accepted, in megabytes (RoadRunner has no
/// bound; this is a cap per connection, so a typo must not allow gigabytes).
pub const MAX_READ_BUF_MB: u64 = 1024;

const MIB: usize = 1024 * 1024;

/// The section as written.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Section {
    servers: BTreeMap<String, ServerKeys>,
    read_buf_size: i64,
    pool: PoolConfig,
}

/// One `servers.<name>` entry as written.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ServerKeys {
    addr: String,
    delimiter: String,
}

/// One planned server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// `servers.<name>`: the `server` field of the event context.
    pub name: String,
    /// `host:port` to bind.
    pub addr: String,
    /// The bytes that end a DATA chunk (never empty).
    pub delimiter: Bytes,
}

/// The planned plugin.
pub struct TcpOptions {
    /// Every server, by name.
    pub servers: Vec<ServerSpec>,
    /// The most bytes one DATA chunk may hold, delimiter included
    /// (`read_buf_size` megabytes).
    pub read_buf_size: usize,
    /// The pool (`RR_MODE=tcp`).
    pub pool: PoolOptions,
}

/// Plans the `tcp` section; `None` when it is absent or has problems.
pub fn plan(plan: &mut Plan<'_>) -> Option<TcpOptions> {
    let section: Section = plan.decode("tcp")?;
    if section.servers.is_empty() {
        plan.problem("tcp.servers", "no servers registered");
    }
    let mut servers = Vec::with_capacity(section.servers.len());
    for (name, keys) in section.servers {
        let path = format!("tcp.servers.{name}.addr");
        let Some(addr) = server_addr(plan, &path, &keys.addr) else {
            continue;
        };
        let delimiter = if keys.delimiter.is_empty() {
            DEFAULT_DELIMITER
        } else {
            keys.delimiter.as_str()
        };
        servers.push(ServerSpec {
            name,
            addr,
            delimiter: Bytes::copy_from_slice(delimiter.as_bytes()),
        });
    }
    let read_buf_size = read_buf_size(plan, section.read_buf_size);
    let pool = plan.pool_options("tcp", &section.pool);
    let (Some(read_buf_size), Some(pool)) = (read_buf_size, pool) else {
        return None;
    };
    plan.is_clean().then_some(TcpOptions {
        servers,
        read_buf_size,
        pool,
    })
}

/// `addr`: `host:port` (or `tcp://host:port`); an empty host is every
/// interface, as in Go.
fn server_addr(plan: &mut Plan<'_>, path: &str, addr: &str) -> Option<String> {
    let addr = addr.trim();
    if addr.is_empty() {
        plan.problem(path, "required: the host:port to listen on");
        return None;
    }
    let host_port = match Address::parse(addr) {
        Address::Tcp(host_port) => host_port,
        Address::Unix(_) => {
            plan.problem(path, "unix sockets are not supported here; use host:port");
            return None;
        }
    };
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            if host.is_empty() {
                Some(format!("0.0.0.0:{port}"))
            } else {
                Some(host_port)
            }
        }
        _ => {
            plan.problem(path, format!("{addr:?} is not host:port"));
            None
        }
    }
}

/// `read_buf_size` megabytes as bytes; 0 is the default.
fn read_buf_size(plan: &mut Plan<'_>, megabytes: i64) -> Option<usize> {
    let Ok(mb) = u64::try_from(megabytes) else {
        plan.problem("tcp.read_buf_size", "must not be negative (megabytes)");
        return None;
    };
    let mb = if mb == 0 { DEFAULT_READ_BUF_MB } else { mb };
    if mb > MAX_READ_BUF_MB {
        plan.problem(
            "tcp.read_buf_size",
            format!("{mb} megabytes is above the limit of {MAX_READ_BUF_MB}"),
        );
        return None;
    }
    usize::try_from(mb).ok().and_then(|mb| mb.checked_mul(MIB))
}
