//! One worker process: its shared state (seen by the supervisor and the
//! informer) and the owned handle a caller holds while it executes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use goridge::{flags, Frame, Options};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::{PoolError, ProtocolError};
use crate::pipe::{PipeWatch, Stray};
use crate::relay::{ReadError, Relay};
use crate::stats;

/// A worker's state, with RoadRunner's numeric codes (`informer.Workers`
/// reports both the number and [`WorkerStatus::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum WorkerStatus {
    /// Started, handshake not done.
    Inactive = 0,
    /// Idle, waiting for a job.
    Ready = 1,
    /// Executing.
    Working = 2,
    /// Marked for replacement after its current job.
    Invalid = 3,
    /// Stop frame sent, waiting for exit.
    Stopping = 4,
    /// Exited after a stop.
    Stopped = 5,
    /// Killed by the pool.
    Destroyed = 6,
    /// Retired after `max_jobs` executions.
    MaxJobsReached = 7,
    /// Exited unexpectedly or broke the protocol.
    Errored = 8,
    /// Retired after `idle_ttl`.
    IdleTtlReached = 9,
    /// Retired after `ttl`.
    TtlReached = 10,
    /// Retired for exceeding `max_worker_memory`.
    MaxMemoryReached = 11,
    /// Killed for exceeding `exec_ttl`.
    ExecTtlReached = 12,
}

impl WorkerStatus {
    /// RoadRunner's `statusStr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "inactive",
            Self::Ready => "ready",
            Self::Working => "working",
            Self::Invalid => "invalid",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Destroyed => "destroyed",
            Self::MaxJobsReached => "maxJobsReached",
            Self::Errored => "errored",
            Self::IdleTtlReached => "idleTTLReached",
            Self::TtlReached => "ttlReached",
            Self::MaxMemoryReached => "maxMemoryReached",
            Self::ExecTtlReached => "execTTLReached",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Ready,
            2 => Self::Working,
            3 => Self::Invalid,
            4 => Self::Stopping,
            5 => Self::Stopped,
            6 => Self::Destroyed,
            7 => Self::MaxJobsReached,
            8 => Self::Errored,
            9 => Self::IdleTtlReached,
            10 => Self::TtlReached,
            11 => Self::MaxMemoryReached,
            12 => Self::ExecTtlReached,
            _ => Self::Inactive,
        }
    }
}

impl std::fmt::Display for WorkerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of one worker, for operators (`coyote workers`, informer).
#[derive(Clone, Debug)]
pub struct WorkerInfo {
    /// Process id.
    pub pid: u32,
    /// Current state.
    pub status: WorkerStatus,
    /// Completed executions.
    pub num_execs: u64,
    /// When the process was started.
    pub created: SystemTime,
    /// Resident memory in bytes (0 when unreadable).
    pub memory_rss: u64,
    /// Average CPU use over the process's life, in percent of one core.
    pub cpu_percent: f64,
    /// The command line.
    pub command: String,
}

/// How a process ended.
#[derive(Debug)]
struct Exit {
    text: String,
    status: Option<std::process::ExitStatus>,
}

/// State shared between the owner of a worker, the supervisor, the exit
/// watcher and the informer. Everything here is lock-free to read.
#[derive(Debug)]
pub(crate) struct WorkerState {
    pub(crate) id: u64,
    pub(crate) pid: u32,
    pub(crate) generation: u64,
    /// The shard whose event loop drives this worker's I/O (0 unsharded).
    pub(crate) home: usize,
    pub(crate) created: Instant,
    created_wall: SystemTime,
    status: AtomicU8,
    num_execs: AtomicU64,
    /// Milliseconds after `created` of the last finished job; 0 = never used.
    last_used_ms: AtomicU64,
    /// Set once the worker must leave the pool (soft limit, reset, error).
    retiring: AtomicBool,
    exited: AtomicBool,
    exit_status: Mutex<Option<Exit>>,
    exit_notify: Notify,
    /// Cancelling it kills the process (the exit watcher listens).
    pub(crate) kill: CancellationToken,
    pub(crate) command: Arc<str>,
}

impl WorkerState {
    pub(crate) fn new(
        id: u64,
        pid: u32,
        generation: u64,
        home: usize,
        kill: CancellationToken,
        command: Arc<str>,
    ) -> Self {
        Self {
            id,
            pid,
            generation,
            home,
            created: Instant::now(),
            created_wall: SystemTime::now(),
            status: AtomicU8::new(WorkerStatus::Inactive as u8),
            num_execs: AtomicU64::new(0),
            last_used_ms: AtomicU64::new(0),
            retiring: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            exit_status: Mutex::new(None),
            exit_notify: Notify::new(),
            kill,
            command,
        }
    }

    pub(crate) fn status(&self) -> WorkerStatus {
        WorkerStatus::from_u8(self.status.load(Ordering::Relaxed))
    }

    pub(crate) fn set_status(&self, status: WorkerStatus) {
        self.status.store(status as u8, Ordering::Relaxed);
    }

    pub(crate) fn num_execs(&self) -> u64 {
        self.num_execs.load(Ordering::Relaxed)
    }

    /// Idle time since the last job, `None` when never used.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        let last = self.last_used_ms.load(Ordering::Relaxed);
        (last != 0).then(|| {
            self.created
                .elapsed()
                .saturating_sub(Duration::from_millis(last))
        })
    }

    fn mark_used(&self) {
        let ms = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_used_ms.store(ms.max(1), Ordering::Relaxed);
        self.num_execs.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the worker for replacement with the reason shown to operators;
    /// returns false when it was already retiring.
    pub(crate) fn retire(&self, why: WorkerStatus) -> bool {
        let first = !self.retiring.swap(true, Ordering::AcqRel);
        if first {
            self.set_status(why);
        }
        first
    }

    pub(crate) fn is_retiring(&self) -> bool {
        self.retiring.load(Ordering::Acquire)
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    /// Records the reaped process's status and wakes `exited()` waiters.
    pub(crate) fn mark_exited(&self, status: std::process::ExitStatus) {
        self.set_exit(Exit {
            text: status.to_string(),
            status: Some(status),
        });
    }

    /// Records that waiting for the process failed (it is gone for us).
    pub(crate) fn mark_wait_failed(&self, error: &std::io::Error) {
        self.set_exit(Exit {
            text: format!("wait failed: {error}"),
            status: None,
        });
    }

    fn set_exit(&self, exit: Exit) {
        *self
            .exit_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(exit);
        self.exited.store(true, Ordering::Release);
        self.exit_notify.notify_waiters();
    }

    /// How the process ended, as text (`exit status: 1`, `signal: 9 ...`).
    pub(crate) fn exit_status(&self) -> Option<String> {
        self.exit_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|e| e.text.clone())
    }

    /// The raw status once reaped (`None` before, or if waiting failed).
    pub(crate) fn exit_raw(&self) -> Option<std::process::ExitStatus> {
        self.exit_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|e| e.status)
    }

    /// Waits until the process has exited.
    pub(crate) async fn exited(&self) {
        loop {
            let notified = self.exit_notify.notified();
            if self.has_exited() {
                return;
            }
            notified.await;
        }
    }

    /// Kills the process (SIGKILL to it and its process group).
    pub(crate) fn kill_now(&self) {
        self.kill.cancel();
    }

    pub(crate) fn info(&self) -> WorkerInfo {
        let sample = stats::sample(self.pid, self.created.elapsed());
        WorkerInfo {
            pid: self.pid,
            status: self.status(),
            num_execs: self.num_execs(),
            created: self.created_wall,
            memory_rss: sample.rss,
            cpu_percent: sample.cpu_percent,
            command: self.command.to_string(),
        }
    }
}

/// What one response frame turned out to be.
pub(crate) enum Answer {
    /// A response (possibly the first of a stream).
    Frame(Response),
    /// The worker asked to be replaced (`{"stop":true}` header, empty body).
    StopRequested,
}

/// A worker's answer: the header ("context") and body, plus how they are
/// encoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// Header bytes (HTTP: status and headers), encoded per `codec`.
    pub context: Bytes,
    /// Body bytes.
    pub body: Bytes,
    /// The frame's codec flags (`goridge::flags::CODEC_*`; 0 from older
    /// PHP clients, meaning JSON).
    pub codec: u8,
    /// True when more frames of this response follow (streaming).
    pub more: bool,
}

/// The owned side of a worker: whoever holds it may exchange frames.
pub(crate) struct Worker {
    pub(crate) state: Arc<WorkerState>,
    pub(crate) relay: Relay,
    /// Pipes relay: a second handle on stdout, to notice output that
    /// arrives while the worker is idle.
    pub(crate) stdout: Option<PipeWatch>,
    /// The pool's name, for logs.
    pub(crate) pool: Arc<str>,
    /// `max_jobs` with this worker's jitter; 0 = unlimited.
    pub(crate) max_jobs: u64,
}

/// At most this much of a worker's stray stdout is read and logged.
const STRAY_SHOWN: usize = 1024;

impl Worker {
    pub(crate) fn pid(&self) -> u32 {
        self.state.pid
    }

    /// Whether the worker can take another job right now. A worker that
    /// wrote on stdout outside a response is marked for replacement here
    /// (once), before it could be handed a request.
    pub(crate) fn usable(&self) -> bool {
        !self.state.has_exited()
            && !self.state.is_retiring()
            && (self.max_jobs == 0 || self.state.num_execs() < self.max_jobs)
            && !self.wrote_stray_output()
    }

    /// True when bytes arrived that no request asked for: right behind the
    /// last response (already read by the relay), or since, while idle
    /// (RoadRunner's "invalid data found in the buffer (possible echo)").
    /// Logs them and marks the worker for replacement.
    pub(crate) fn wrote_stray_output(&self) -> bool {
        let stray = if self.relay.has_unread() {
            None
        } else {
            match self.stdout.as_ref().map(|w| w.stray(STRAY_SHOWN)) {
                None | Some(Stray::Nothing) => return false,
                // Exiting: the exit watcher reports it.
                Some(Stray::Closed) => {
                    self.state.retire(WorkerStatus::Errored);
                    return true;
                }
                Some(Stray::Bytes(bytes)) => Some(bytes),
            }
        };
        if self.state.retire(WorkerStatus::Invalid) {
            match stray {
                Some(bytes) => {
                    let shown = String::from_utf8_lossy(&bytes);
                    tracing::warn!(pool = %self.pool, pid = self.pid(), bytes = bytes.len(),
                        output = %shown.escape_debug(),
                        "invalid data found in the buffer (possible echo): the worker wrote \
                         to stdout outside a response; replacing it");
                }
                None => {
                    tracing::warn!(pool = %self.pool, pid = self.pid(),
                        "invalid data found in the buffer (possible echo): the worker wrote \
                         to stdout right after its response; replacing it");
                }
            }
        }
        true
    }

    /// Sends a request frame: codec flags, `options[0]` = context length.
    pub(crate) async fn send_request(
        &mut self,
        codec: u8,
        context: &[u8],
        body: &[u8],
    ) -> Result<(), PoolError> {
        let len = u32::try_from(context.len()).unwrap_or(u32::MAX);
        self.relay
            .send(codec, 0, &Options::one(len), &[context, body])
            .await
            .map_err(|source| PoolError::WorkerGone {
                pid: self.pid(),
                source,
            })
    }

    /// Reads and classifies one response frame.
    pub(crate) async fn read_answer(&mut self) -> Result<Answer, PoolError> {
        let frame = self.read_frame().await?;
        self.classify(frame)
    }

    async fn read_frame(&mut self) -> Result<Frame, PoolError> {
        let pid = self.pid();
        self.relay.recv().await.map_err(|e| match e {
            ReadError::Io(source) => PoolError::WorkerGone { pid, source },
            ReadError::Frame(e) => PoolError::Protocol {
                pid,
                source: ProtocolError::Frame(e),
            },
            ReadError::Stalled => PoolError::Protocol {
                pid,
                source: ProtocolError::Unexpected("half a frame, then silence"),
            },
        })
    }

    fn classify(&mut self, frame: Frame) -> Result<Answer, PoolError> {
        let pid = self.pid();
        if frame.has_flag(flags::ERROR) {
            return Err(PoolError::Job {
                message: String::from_utf8_lossy(&frame.payload).into_owned(),
            });
        }
        if frame.has_flag(flags::CONTROL) {
            return Err(PoolError::Protocol {
                pid,
                source: ProtocolError::Unexpected("control frame in place of a response"),
            });
        }
        let [offset] = frame.options.as_slice() else {
            return Err(PoolError::Protocol {
                pid,
                source: ProtocolError::OptionCount {
                    count: frame.options.len(),
                },
            });
        };
        let split = usize::try_from(*offset).unwrap_or(usize::MAX);
        if split > frame.payload.len() {
            return Err(PoolError::Protocol {
                pid,
                source: ProtocolError::HeaderOffset {
                    offset: *offset,
                    len: frame.payload.len(),
                },
            });
        }
        let context = frame.payload.slice(..split);
        let body = frame.payload.slice(split..);
        let more = frame.has_stream_flag(flags::STREAM);
        if !more && body.is_empty() && is_stop_request(&context) {
            return Ok(Answer::StopRequested);
        }
        Ok(Answer::Frame(Response {
            context,
            body,
            codec: frame.flags,
            more,
        }))
    }

    /// Reads the next frame of a stream, answering PINGs on the way.
    pub(crate) async fn next_stream_frame(&mut self) -> Result<Response, PoolError> {
        loop {
            let frame = self.read_frame().await?;
            if frame.has_stream_flag(flags::PING) {
                self.send_stream_control(flags::PONG).await?;
            }
            // A bare PING with no options carries no data.
            if frame.options.is_empty() && frame.payload.is_empty() && !frame.has_flag(flags::ERROR)
            {
                if frame.has_stream_flag(flags::STREAM) {
                    continue;
                }
                return Ok(Response::default());
            }
            return match self.classify(frame)? {
                Answer::Frame(response) => Ok(response),
                Answer::StopRequested => Ok(Response::default()),
            };
        }
    }

    /// Sends a bare frame with `bits` in byte 10 (STOP, PONG).
    pub(crate) async fn send_stream_control(&mut self, bits: u8) -> Result<(), PoolError> {
        self.relay
            .send(0, bits, &Options::new(), &[])
            .await
            .map_err(|source| PoolError::WorkerGone {
                pid: self.state.pid,
                source,
            })
    }

    /// Records a finished job.
    pub(crate) fn finished(&self) {
        self.state.mark_used();
    }

    /// Sends the stop control frame; the process should exit on its own.
    pub(crate) async fn send_stop(&mut self) -> bool {
        self.relay.send_control(br#"{"stop":true}"#).await.is_ok()
    }
}

/// `{"stop":true}` with any JSON spacing.
fn is_stop_request(context: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Stop {
        stop: bool,
    }
    context.len() < 64
        && context.first() == Some(&b'{')
        && serde_json::from_slice::<Stop>(context).is_ok_and(|s| s.stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_strings_match_roadrunner() {
        assert_eq!(WorkerStatus::Ready.as_str(), "ready");
        assert_eq!(WorkerStatus::IdleTtlReached.as_str(), "idleTTLReached");
        assert_eq!(WorkerStatus::ExecTtlReached as u8, 12);
        for v in 0..=12u8 {
            assert_eq!(WorkerStatus::from_u8(v) as u8, v);
        }
    }

    #[test]
    fn recognises_stop_requests() {
        assert!(is_stop_request(br#"{"stop":true}"#));
        assert!(is_stop_request(br#"{ "stop" : true }"#));
        assert!(!is_stop_request(br#"{"stop":false}"#));
        assert!(!is_stop_request(br#"{"status":200}"#));
        assert!(!is_stop_request(b""));
    }
}
