//! `coyote`: the binary. Parses the command line, runs the command, prints
//! the whole error chain and maps failures to exit codes (see README).

mod cli;
mod ops;
mod plugins;
mod serve;

use std::process::ExitCode;

use clap::Parser;

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

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve => serve::run(&cli.global),
        cli::Command::Workers {
            plugins,
            interactive,
        } => ops::workers(&cli.global, &plugins, interactive),
        cli::Command::Reset { plugins } => ops::reset(&cli.global, &plugins),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("coyote: {:#}", failure.error);
            ExitCode::from(match failure.kind {
                FailureKind::Config => EXIT_CONFIG,
                FailureKind::Runtime => EXIT_RUNTIME,
            })
        }
    }
}
