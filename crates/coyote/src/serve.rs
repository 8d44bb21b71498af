//! `coyote serve`: load the config (refusing to start on any problem), set
//! up logging, run `on_init`, start the plugins, then wait for a stop
//! signal and shut everything down in order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use coyote_config::{Config, LoadOptions, Loaded};
use coyote_server::{logging, run_on_init, Lifecycle, Phase};

use crate::cli::Global;
use crate::plugins::{self, Running};
use crate::{config_failure, runtime_failure, Failure};

/// Loads `-c FILE` with the process environment, `--dotenv` and `-o`.
pub fn load(global: &Global) -> Result<(Loaded, PathBuf), Failure> {
    let config_path = std::path::absolute(&global.config)
        .with_context(|| format!("config path {}", global.config.display()))
        .map_err(config_failure)?;
    let working_dir = match &global.workdir {
        Some(dir) => std::path::absolute(dir)
            .with_context(|| format!("working dir {}", dir.display()))
            .map_err(config_failure)?,
        None => config_path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let loaded = Config::load(
        &config_path,
        &LoadOptions {
            env,
            dotenv: global.dotenv.clone(),
            overrides: global.overrides.clone(),
            working_dir: Some(working_dir.clone()),
        },
    )
    .map_err(config_failure)?;
    Ok((loaded, working_dir))
}

/// Runs the server until a stop signal (or a fatal error).
pub fn run(global: &Global) -> Result<(), Failure> {
    let (loaded, working_dir) = load(global)?;
    // Relative paths in the config (static dir, uploads dir, unix sockets)
    // are relative to the working directory, as with `rr`.
    std::env::set_current_dir(&working_dir)
        .with_context(|| format!("cannot enter working dir {}", working_dir.display()))
        .map_err(config_failure)?;
    logging::init(
        &loaded.config.logs,
        logging::Overrides {
            debug: global.debug,
            silent: global.silent,
        },
    )
    .map_err(runtime_failure)?;
    for warning in &loaded.warnings {
        tracing::warn!(target: "coyote::config", "{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("coyote")
        .build()
        .context("cannot start the async runtime")
        .map_err(runtime_failure)?;
    let result = runtime.block_on(serve(&loaded.config, &working_dir));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

async fn serve(config: &Config, working_dir: &Path) -> Result<(), Failure> {
    let lifecycle = Lifecycle::new();
    if config.http.is_none() {
        return Err(config_failure(anyhow!(
            "nothing to serve: configure an http section (other worker plugins are not supported yet)"
        )));
    }
    let server = config.server.clone().unwrap_or_default();
    if let Some(on_init) = &server.on_init {
        run_on_init(on_init, Some(working_dir))
            .await
            .map_err(runtime_failure)?;
    }
    let pools = plugins::start_pools(config, &server, working_dir).await?;
    let stop_pools = || async {
        for pool in pools.values() {
            pool.shutdown().await;
        }
    };
    let mut listeners: Vec<Running> = Vec::new();
    let started = async {
        let http_metrics = config
            .metrics
            .as_ref()
            .map(|_| coyote_http::HttpMetrics::default());
        let metrics = plugins::build_metrics(config, &pools, http_metrics.as_ref())?;
        if let Some(status) =
            plugins::start_status(config, &pools, lifecycle.shutdown().clone()).await?
        {
            listeners.push(status);
        }
        if let Some(endpoint) = plugins::start_metrics(config, metrics.as_ref()).await? {
            listeners.push(endpoint);
        }
        if let Some(rpc) = plugins::start_rpc(config, &pools, metrics.as_ref()).await? {
            listeners.push(rpc);
        }
        if let Some(pool) = pools.get("http") {
            if let Some(http) = plugins::start_http(config, pool.clone(), http_metrics).await? {
                listeners.push(http);
            }
        }
        Ok::<(), Failure>(())
    }
    .await;
    if let Err(failure) = started {
        for running in &listeners {
            running.stop().await;
        }
        stop_pools().await;
        return Err(failure);
    }
    lifecycle.set(Phase::Running);
    tracing::info!(target: "coyote::server", pid = std::process::id(), "coyote is ready");

    // Signals are watched for the whole stop too: a second one forces it.
    let reset_all = || async {
        for (name, pool) in &pools {
            match pool.reset().await {
                Ok(()) => tracing::info!(target: "coyote::server", plugin = %name, "workers reset"),
                Err(e) => {
                    tracing::warn!(target: "coyote::server", plugin = %name, error = %e, "reset failed")
                }
            }
        }
    };
    let signals = lifecycle.handle_signals(reset_all);
    tokio::pin!(signals);
    tokio::select! {
        result = &mut signals => {
            if let Err(e) = result {
                return Err(runtime_failure(anyhow!(e).context("cannot watch signals")));
            }
        }
        () = lifecycle.shutdown().cancelled() => {}
    }
    let stop = async {
        lifecycle.set(Phase::Stopping);
        // HTTP first (in-flight requests finish), then RPC; the status
        // endpoint last, answering "shutting down" meanwhile.
        for running in listeners.iter().rev() {
            tokio::select! {
                () = running.stop() => {}
                () = lifecycle.force().cancelled() => {
                    tracing::warn!(target: "coyote::server", plugin = running.name, "forced stop: abandoning in-flight work");
                }
            }
        }
        tokio::select! {
            () = stop_pools() => {}
            () = lifecycle.force().cancelled() => {}
        }
        lifecycle.set(Phase::Stopped);
        tracing::info!(target: "coyote::server", "stopped");
    };
    let ((), result) = tokio::join!(stop, signals);
    if let Err(e) = result {
        tracing::warn!(target: "coyote::server", error = %e, "signal handling failed during stop");
    }
    Ok(())
}
