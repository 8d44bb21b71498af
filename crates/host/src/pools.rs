use std::path::Path;

use coyote_config::sections::pool::PoolConfig;
use coyote_config::{Relay, RpcConfig, ServerConfig};
use coyote_pool::{DynamicOptions, PoolOptions, RelayAddress, SupervisorOptions, WorkerCommand};

use crate::{resolve_user, ServerError};

/// Builds the options of the pool serving `plugin` (also its `RR_MODE`)
/// from the `server` section and the plugin's `pool` section.
pub fn pool_options(
    plugin: &str,
    pool: &PoolConfig,
    server: &ServerConfig,
    rpc: Option<&RpcConfig>,
    working_dir: Option<&Path>,
) -> Result<PoolOptions, ServerError> {
    let argv = pool
        .command
        .as_ref()
        .filter(|c| !c.is_empty())
        .unwrap_or(&server.command)
        .clone();
    if argv.is_empty() {
        return Err(ServerError::NoCommand {
            plugin: plugin.to_owned(),
        });
    }
    let user = match server.user.as_deref().filter(|u| !u.is_empty()) {
        Some(name) => Some(resolve_user(name, server.group.as_deref())?),
        None => None,
    };
    let command = WorkerCommand {
        argv,
        // RoadRunner upper-cases server.env keys.
        env: server
            .env
            .iter()
            .map(|(k, v)| (k.to_uppercase(), v.clone()))
            .collect(),
        cwd: working_dir.map(Path::to_path_buf),
        user,
        mode: plugin.to_owned(),
        rpc: rpc.map(|r| r.listen.dsn()),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let relay = match &server.relay {
        Relay::Pipes => RelayAddress::Pipes,
        Relay::Tcp { host, port } if host.contains(':') => {
            RelayAddress::Tcp(format!("[{host}]:{port}"))
        }
        Relay::Tcp { host, port } => RelayAddress::Tcp(format!("{host}:{port}")),
        Relay::Unix(path) => RelayAddress::Unix(path.clone()),
    };
    let supervisor = pool
        .supervisor
        .as_ref()
        .map(|s| SupervisorOptions {
            watch_tick: s.watch_tick,
            ttl: s.ttl,
            idle_ttl: s.idle_ttl,
            max_worker_memory: s.max_worker_memory_bytes().map_or(0, |b| b.get()),
            exec_ttl: s.exec_ttl,
        })
        .unwrap_or_default();
    let dynamic = pool.dynamic_allocator.as_ref().map(|d| DynamicOptions {
        max_workers: usize::try_from(d.max_workers).unwrap_or(usize::MAX),
        spawn_rate: usize::try_from(d.spawn_rate).unwrap_or(usize::MAX),
        idle_timeout: d.idle_timeout,
    });
    Ok(PoolOptions {
        name: plugin.to_owned(),
        command,
        relay,
        num_workers: pool.num_workers().map_or(0, |n| n.get()),
        max_jobs: pool.max_jobs().map_or(0, |n| n.get()),
        max_queue_size: usize::try_from(pool.max_queue_size).unwrap_or(usize::MAX),
        allocate_timeout: pool.allocate_timeout,
        relay_timeout: server.relay_timeout,
        destroy_timeout: pool.destroy_timeout,
        reset_timeout: pool.reset_timeout,
        stream_timeout: pool.stream_timeout,
        debug: pool.debug,
        supervisor,
        dynamic,
        ..PoolOptions::default()
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use coyote_config::{Config, LoadOptions};

    use super::*;

    fn load(yaml: &str) -> Config {
        Config::from_str(yaml, &LoadOptions::default())
            .unwrap()
            .config
    }

    #[test]
    fn maps_every_pool_option() {
        let config = load(
            r#"
version: "3"
rpc:
  listen: tcp://127.0.0.1:6001
server:
  command: "php worker.php"
  env:
    app_env: prod
  relay: tcp://127.0.0.1:6002
http:
  address: 127.0.0.1:8080
  pool:
    num_workers: 3
    max_jobs: 100
    max_queue_size: 7
    allocate_timeout: 2s
    destroy_timeout: 3s
    supervisor:
      watch_tick: 1s
      ttl: 10s
      idle_ttl: 5s
      max_worker_memory: 64
      exec_ttl: 30s
    dynamic_allocator:
      max_workers: 4
      spawn_rate: 2
      idle_timeout: 20s
"#,
        );
        let http = config.http.as_ref().unwrap();
        let server = config.server.as_ref().unwrap();
        let opts = pool_options("http", &http.pool, server, config.rpc.as_ref(), None).unwrap();
        assert_eq!(opts.command.argv, ["php", "worker.php"]);
        assert_eq!(opts.command.mode, "http");
        assert_eq!(
            opts.command.env.get("APP_ENV").map(String::as_str),
            Some("prod")
        );
        assert_eq!(opts.command.rpc.as_deref(), Some("tcp://127.0.0.1:6001"));
        assert_eq!(opts.relay, RelayAddress::Tcp("127.0.0.1:6002".into()));
        assert_eq!(opts.num_workers, 3);
        assert_eq!(opts.max_jobs, 100);
        assert_eq!(opts.max_queue_size, 7);
        assert_eq!(opts.allocate_timeout, Duration::from_secs(2));
        assert_eq!(opts.destroy_timeout, Duration::from_secs(3));
        assert_eq!(opts.supervisor.ttl, Duration::from_secs(10));
        assert_eq!(opts.supervisor.idle_ttl, Duration::from_secs(5));
        assert_eq!(opts.supervisor.exec_ttl, Duration::from_secs(30));
        assert_eq!(opts.supervisor.max_worker_memory, 64 * 1024 * 1024);
        let dynamic = opts.dynamic.unwrap();
        assert_eq!((dynamic.max_workers, dynamic.spawn_rate), (4, 2));
        assert_eq!(dynamic.idle_timeout, Duration::from_secs(20));
    }

    #[test]
    fn plugin_command_overrides_server_command_and_none_is_an_error() {
        let config = load(
            r#"
version: "3"
server:
  command: ["php", "a.php"]
http:
  address: 127.0.0.1:8080
  pool:
    command: "php b.php"
"#,
        );
        let http = config.http.as_ref().unwrap();
        let server = config.server.as_ref().unwrap();
        let opts = pool_options("http", &http.pool, server, None, None).unwrap();
        assert_eq!(opts.command.argv, ["php", "b.php"]);
        assert_eq!(opts.num_workers, 0, "0 = CPUs, resolved by the pool");
        assert_eq!(opts.relay, RelayAddress::Pipes);
        let empty = ServerConfig::default();
        let err = pool_options("jobs", &PoolConfig::default(), &empty, None, None).unwrap_err();
        assert!(err.to_string().contains("server.command"), "{err}");
    }
}
