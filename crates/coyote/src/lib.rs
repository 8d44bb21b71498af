//! `coyote`: the server's command line as a library, so that a Rust
//! program can build its own server from the built-in plugins plus its
//! own (as RoadRunner users build custom `rr` binaries with Velox):
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     // coyote::main_with(coyote::builtin().with(MyPlugin))
//!     coyote::main_with(coyote::builtin())
//! }
//! ```
//!
//! `main_with` parses the command line (`serve`, `workers`, `reset`,
//! `jobs`, `stop`, `-v`), runs the command, prints the whole error chain
//! and maps failures to exit codes (see README).

mod cli;
mod jobs_cli;
mod ops;
mod output;
mod serve;
mod stop;
pub mod version;

pub use coyote_host::{Host, Plugin};

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

/// Exit code for a failure while starting or running.
const EXIT_RUNTIME: u8 = 1;
/// Exit code for a configuration that does not load or validate.
const EXIT_CONFIG: u8 = 3;

/// Whether a failure is the configuration's fault or not.
#[derive(Debug, Clone, Copy)]
pub enum FailureKind {
    /// The config did not load or validate; nothing was started.
    Config,
    /// Something failed while starting or running.
    Runtime,
}

/// An error with its exit-code class.
pub struct Failure {
    /// Which exit code.
    pub kind: FailureKind,
    /// The whole chain, printed with `{:#}`.
    pub error: anyhow::Error,
}

/// A configuration failure (exit code 3).
/// (A configuration file that cannot be read at all is a runtime failure,
/// exit code 1, as with `rr`.)
pub fn config_failure(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        kind: FailureKind::Config,
        error: error.into(),
    }
}

/// A runtime failure (exit code 1).
pub fn runtime_failure(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        kind: FailureKind::Runtime,
        error: error.into(),
    }
}

#[cfg(feature = "count-allocs")]
pub mod allocs;

/// The built-in plugins, in start order (stopped in reverse): one line
/// per plugin.
pub fn builtin() -> Host {
    Host::new()
        .with(coyote_status::StatusPlugin)
        .with(coyote_host::RpcPlugin)
        .with(coyote_metrics::MetricsPlugin)
        .with(coyote_kv::KvPlugin)
        .with(
            coyote_jobs::JobsPlugin::new()
                .with_broker(&coyote_jobs_amqp::DRIVER)
                .with_broker(&coyote_jobs_beanstalk::DRIVER)
                .with_broker(&coyote_jobs_nats::DRIVER)
                .with_broker(&coyote_jobs_redis::DRIVER)
                .with_broker(&coyote_jobs_sqs::DRIVER),
        )
        .with(coyote_lock::LockPlugin)
        .with(coyote_service::ServicePlugin)
        .with(coyote_tcp::TcpPlugin)
        .with(coyote_handoff::HandoffPlugin)
        .with(coyote_http::HttpPlugin)
        .with(coyote_reload::ReloadPlugin)
}

/// Runs the command line with the plugins of `host`.
pub fn main_with(host: Host) -> ExitCode {
    let cli = cli::Cli::parse();
    let result = if cli.version {
        output::print(&version::text())
    } else {
        let Some(command) = cli.command else {
            cli::Cli::command()
                .error(
                    clap::error::ErrorKind::MissingSubcommand,
                    "name a command (serve, workers, reset, jobs, stop)",
                )
                .exit()
        };
        match command {
            cli::Command::Serve { report } => serve::run(&cli.global, host, report),
            cli::Command::Workers {
                plugins,
                interactive,
            } => ops::workers(&cli.global, &plugins, interactive),
            cli::Command::Reset { plugins } => ops::reset(&cli.global, &plugins),
            cli::Command::Jobs { command } => jobs_cli::run(&cli.global, &command),
            cli::Command::Stop => stop::run(&cli.global),
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`coyote workers | head -1`): nothing is
        // wrong and there is no one to tell.
        Err(failure) if output::is_closed_stdout(&failure) => ExitCode::SUCCESS,
        Err(failure) => {
            output::eprint_line(&format!("coyote: {:#}", failure.error));
            ExitCode::from(match failure.kind {
                FailureKind::Config => EXIT_CONFIG,
                FailureKind::Runtime => EXIT_RUNTIME,
            })
        }
    }
}
