use std::time::Duration;

use goridge::FrameError;

/// Who is at fault when an execution fails; decides the HTTP status and
/// whether the worker is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The caller sent something unusable (an empty payload).
    Caller,
    /// The worker failed: error payload, crash, protocol violation, timeout.
    Worker,
    /// No capacity right now: no free worker in time, queue full.
    Overloaded,
    /// The pool itself is stopping or could not start workers.
    Internal,
}

/// Why an execution (or a pool operation) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The worker answered with an ERROR frame (a PHP exception). The
    /// worker is healthy and stays in the pool.
    #[error("worker error: {message}")]
    Job {
        /// The text the worker sent.
        message: String,
    },
    /// No worker became free within `allocate_timeout` (or the deadline).
    #[error("no free workers in the {pool} pool after waiting {waited:?}")]
    NoFreeWorkers {
        /// Pool name.
        pool: String,
        /// How long the caller waited.
        waited: Duration,
    },
    /// `max_queue_size` callers are already waiting.
    #[error("the {pool} pool's queue is full ({limit} waiting)")]
    QueueFull {
        /// Pool name.
        pool: String,
        /// The configured limit.
        limit: usize,
    },
    /// The execution exceeded `exec_ttl`; the worker was killed.
    #[error("worker {pid} exceeded exec_ttl of {ttl:?} and was killed")]
    ExecTtl {
        /// The killed worker.
        pid: u32,
        /// The limit.
        ttl: Duration,
    },
    /// The caller's deadline passed while the worker was executing; the
    /// worker was killed because a goridge exec cannot be cancelled.
    #[error("deadline exceeded while worker {pid} was executing; the worker was killed")]
    Deadline {
        /// The killed worker.
        pid: u32,
    },
    /// The worker died or closed its relay during the execution.
    #[error("worker {pid} died during the execution: {source}")]
    WorkerGone {
        /// The worker.
        pid: u32,
        /// What the relay reported.
        #[source]
        source: std::io::Error,
    },
    /// The worker broke the protocol (garbage on stdout, bad CRC, a frame
    /// with the wrong option count, an oversized frame); it was killed.
    #[error("worker {pid} broke the goridge protocol: {source}")]
    Protocol {
        /// The worker.
        pid: u32,
        /// What was wrong.
        #[source]
        source: ProtocolError,
    },
    /// A streamed response stalled longer than `stream_timeout`.
    #[error("worker {pid} sent no stream frame within {timeout:?}; the worker was killed")]
    StreamTimeout {
        /// The worker.
        pid: u32,
        /// The limit.
        timeout: Duration,
    },
    /// A worker could not be started.
    #[error("cannot start worker `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: SpawnError,
    },
    /// One of the pool's initial workers could not start, so the pool did
    /// not start either (RoadRunner fails the same way): the other workers
    /// were stopped. Once a pool runs, the same failure on a replacement is
    /// logged and retried with backoff instead.
    #[error("worker `{command}` failed to start: {cause}; {status}{}", output_section(.output))]
    Boot {
        /// The command line that was run.
        command: String,
        /// What went wrong: spawn error, exit before the handshake,
        /// something other than the handshake, no handshake in time.
        cause: SpawnError,
        /// How the process ended.
        status: BootStatus,
        /// What the worker wrote before it failed: its stderr and (pipes
        /// relay) what it wrote on stdout instead of the handshake, or
        /// (socket relays) its stdout; each part headed `--- stderr ---` /
        /// `--- stdout ---`, control characters escaped, at most 64 KiB.
        output: String,
    },
    /// Both context and body were empty (RoadRunner refuses these too).
    #[error("payload can not be empty")]
    EmptyPayload,
    /// The pool is shutting down or was destroyed.
    #[error("the {pool} pool is stopped")]
    Stopped {
        /// Pool name.
        pool: String,
    },
}

impl PoolError {
    /// Who is at fault, for status codes and metrics.
    pub fn fault(&self) -> Fault {
        match self {
            Self::EmptyPayload => Fault::Caller,
            Self::NoFreeWorkers { .. } | Self::QueueFull { .. } => Fault::Overloaded,
            Self::Stopped { .. } | Self::Spawn { .. } | Self::Boot { .. } => Fault::Internal,
            Self::Job { .. }
            | Self::ExecTtl { .. }
            | Self::Deadline { .. }
            | Self::WorkerGone { .. }
            | Self::Protocol { .. }
            | Self::StreamTimeout { .. } => Fault::Worker,
        }
    }

    /// True when the payload certainly never reached a worker's code, so
    /// sending it again (to another worker) cannot run it twice.
    pub fn retry_safe(&self) -> bool {
        matches!(
            self,
            Self::NoFreeWorkers { .. }
                | Self::QueueFull { .. }
                | Self::Stopped { .. }
                | Self::Spawn { .. }
                | Self::Boot { .. }
        )
    }
}

/// The worker's output as shown after the message.
fn output_section(output: &str) -> String {
    if output.is_empty() {
        "; it wrote nothing".to_owned()
    } else {
        format!("\nthe worker wrote:\n{}", output.trim_end())
    }
}

/// How a worker process that failed to start ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BootStatus {
    /// The OS did not start the program (not found, not executable).
    NotStarted,
    /// It exited on its own with this code.
    Exited(i32),
    /// A signal the pool did not send ended it.
    Signaled(i32),
    /// It was still running (silent past the timeout, or it sent
    /// something other than the handshake) and the pool killed it.
    Killed,
    /// Waiting for it failed, so how it ended is unknown.
    Unknown,
}

impl std::fmt::Display for BootStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotStarted => f.write_str("the process never started"),
            Self::Exited(code) => write!(f, "exit status {code}"),
            Self::Signaled(signal) => match nix::sys::signal::Signal::try_from(*signal) {
                Ok(name) => write!(f, "killed by signal {signal} ({name})"),
                Err(_) => write!(f, "killed by signal {signal}"),
            },
            Self::Killed => f.write_str("killed by the pool"),
            Self::Unknown => f.write_str("exit status unknown"),
        }
    }
}

/// A protocol violation by a worker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes were not a valid frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A response frame did not carry exactly one option (the header length).
    #[error("response frame has {count} options, expected 1 (header length)")]
    OptionCount {
        /// Options found.
        count: usize,
    },
    /// The header length option points past the payload.
    #[error("header length {offset} exceeds the payload of {len} bytes")]
    HeaderOffset {
        /// `options[0]`.
        offset: u32,
        /// Payload length.
        len: usize,
    },
    /// The handshake answer was not a CONTROL frame with a positive pid.
    #[error("bad handshake: {0}")]
    Handshake(String),
    /// A frame arrived where none was expected.
    #[error("unexpected frame: {0}")]
    Unexpected(&'static str),
}

/// Why a worker process could not be brought into service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The command is empty.
    #[error("the worker command is empty")]
    EmptyCommand,
    /// The OS refused to start the process.
    #[error("spawn failed: {0}")]
    Io(#[from] std::io::Error),
    /// The process exited before completing the handshake.
    #[error("the worker exited before the handshake")]
    ExitedEarly,
    /// No handshake (or, on sockets, no connection) within `allocate_timeout`.
    #[error("no handshake within {0:?}")]
    Timeout(Duration),
    /// The handshake was malformed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The relay listener could not be bound.
    #[error("cannot listen on relay {address}: {source}")]
    Listen {
        /// The relay address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
