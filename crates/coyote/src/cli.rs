//! The command line, shaped like RoadRunner's `rr` so scripts keep working.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Coyote: a RoadRunner-compatible PHP application server.
#[derive(Parser, Debug)]
#[command(
    name = "coyote",
    about,
    long_about = None,
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Print the version: first RoadRunner's `rr version X (...)` line
    /// (what tools such as Laravel Octane parse), then Coyote's own.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// Options shared by every command (accepted before or after it).
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// RoadRunner's global flags.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Configuration file.
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        default_value = ".rr.yaml"
    )]
    pub config: PathBuf,
    /// Working directory (default: the configuration file's directory).
    #[arg(
        short = 'w',
        long = "workdir",
        visible_alias = "WorkDir",
        global = true
    )]
    pub workdir: Option<PathBuf>,
    /// Override a config value: `-o http.address=127.0.0.1:9000` (repeatable).
    #[arg(short = 'o', long = "override", global = true)]
    pub overrides: Vec<String>,
    /// Load environment variables from this file first.
    #[arg(long = "dotenv", global = true)]
    pub dotenv: Option<PathBuf>,
    /// Debug logging everywhere.
    #[arg(short = 'd', long = "debug", global = true)]
    pub debug: bool,
    /// No log output.
    #[arg(short = 's', long = "silent", global = true)]
    pub silent: bool,
    /// `serve`: write the server's pid to `.pid` in the working directory
    /// (removed on exit), for `coyote stop`.
    #[arg(short = 'p', long = "pid", global = true)]
    pub pid: bool,
    /// `serve`: write the pid to this file instead; `stop`: read it from
    /// here.
    #[arg(long = "pid-file", value_name = "PATH", global = true)]
    pub pid_file: Option<PathBuf>,
    /// `stop`: a second SIGTERM a second later (an immediate stop), unless
    /// the server is gone by then.
    #[arg(short = 'f', long = "force", global = true)]
    pub force: bool,
    /// Unknown keys in the configuration are errors, not warnings (also
    /// `COYOTE_STRICT=1`).
    #[arg(long = "strict", global = true)]
    pub strict: bool,
}

impl Global {
    /// `--strict`, or `COYOTE_STRICT` set to `1` or `true`.
    pub fn strict(&self) -> bool {
        self.strict
            || std::env::var("COYOTE_STRICT")
                .is_ok_and(|v| matches!(v.trim(), "1") || v.trim().eq_ignore_ascii_case("true"))
    }
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the server with the configured plugins.
    Serve {
        /// Append lifecycle events (`phase running`, `listen http http
        /// 127.0.0.1:8080` with the bound port) to this file, one per line.
        #[arg(long = "report", value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Show the workers of a running server (through its RPC).
    Workers {
        /// Plugins to show (default: every plugin with workers).
        plugins: Vec<String>,
        /// Refresh every second until interrupted.
        #[arg(short = 'i', long = "interactive")]
        interactive: bool,
    },
    /// Replace the workers of a running server, one by one, without
    /// failing requests (new code is loaded).
    Reset {
        /// Plugins to reset (default: all).
        plugins: Vec<String>,
    },
    /// Stop a server started with `serve -p` (or `--pid-file`): SIGTERM to
    /// the pid in its pid file (`-f`: a second one, an immediate stop).
    Stop,
    /// Inspect and steer the jobs pipelines of a running server.
    Jobs {
        /// What to do.
        #[command(subcommand)]
        command: JobsCommand,
    },
}

/// `coyote jobs ...`.
#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Every pipeline with its driver, state and queue counts.
    List,
    /// Stop consuming these pipelines (jobs stay queued).
    Pause {
        /// Pipeline names.
        pipelines: Vec<String>,
    },
    /// Consume these pipelines again.
    Resume {
        /// Pipeline names.
        pipelines: Vec<String>,
    },
    /// Stop and remove these pipelines.
    Destroy {
        /// Pipeline names.
        pipelines: Vec<String>,
    },
}
