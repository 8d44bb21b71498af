//! A relay carries frames between the pool and one worker: the worker's
//! pipes, or a TCP / unix connection the worker opened to the pool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use coyote_listener::{Address, Listener, LocalAddr, Peer};
use goridge::{flags, Frame, FrameError, Options};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{ProtocolError, SpawnError};
use crate::RelayAddress;

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Frame-level I/O on one worker connection, with reusable buffers so an
/// execution allocates nothing but the response payload it returns.
pub(crate) struct Relay {
    reader: Reader,
    writer: Writer,
    rbuf: BytesMut,
    wbuf: BytesMut,
    max_payload: usize,
    /// Once a frame has started arriving, the rest must follow within this.
    partial_timeout: Duration,
}

/// What a read from the relay can fail with.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The connection closed or failed.
    Io(std::io::Error),
    /// The bytes were not a frame.
    Frame(FrameError),
    /// Half a frame arrived and the rest did not follow in time.
    Stalled,
}

impl Relay {
    pub(crate) fn new(
        reader: Reader,
        writer: Writer,
        max_payload: usize,
        partial_timeout: Duration,
    ) -> Self {
        Self {
            reader,
            writer,
            rbuf: BytesMut::with_capacity(16 * 1024),
            wbuf: BytesMut::with_capacity(16 * 1024),
            max_payload,
            partial_timeout,
        }
    }

    /// Sends one frame whose payload is `parts` joined.
    pub(crate) async fn send(
        &mut self,
        frame_flags: u8,
        stream: u8,
        options: &Options,
        parts: &[&[u8]],
    ) -> Result<(), std::io::Error> {
        self.wbuf.clear();
        goridge::encode_parts(frame_flags, stream, options, parts, &mut self.wbuf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.writer.write_all(&self.wbuf).await?;
        // Keep a huge request body from pinning memory for the worker's life.
        if self.wbuf.capacity() > 1024 * 1024 {
            self.wbuf = BytesMut::with_capacity(16 * 1024);
        }
        Ok(())
    }

    /// Sends a control frame (JSON payload).
    pub(crate) async fn send_control(&mut self, json: &[u8]) -> Result<(), std::io::Error> {
        self.send(
            flags::CONTROL | flags::CODEC_JSON,
            0,
            &Options::new(),
            &[json],
        )
        .await
    }

    /// Receives one frame. Waiting for the first byte is unbounded (the
    /// caller applies exec_ttl); the rest of a started frame must arrive
    /// within `partial_timeout`, so half a frame cannot hang a request.
    pub(crate) async fn recv(&mut self) -> Result<Frame, ReadError> {
        loop {
            if let Some(frame) =
                goridge::decode(&mut self.rbuf, self.max_payload).map_err(ReadError::Frame)?
            {
                return Ok(frame);
            }
            let want =
                goridge::reserve_hint(&self.rbuf, self.max_payload).map_err(ReadError::Frame)?;
            self.rbuf
                .reserve(want.saturating_sub(self.rbuf.len()).max(4096));
            let n = if self.rbuf.is_empty() {
                self.reader.read_buf(&mut self.rbuf).await
            } else {
                match tokio::time::timeout(
                    self.partial_timeout,
                    self.reader.read_buf(&mut self.rbuf),
                )
                .await
                {
                    Ok(n) => n,
                    Err(_) => return Err(ReadError::Stalled),
                }
            }
            .map_err(ReadError::Io)?;
            if n == 0 {
                return Err(if self.rbuf.is_empty() {
                    ReadError::Io(std::io::ErrorKind::UnexpectedEof.into())
                } else {
                    ReadError::Frame(FrameError::Truncated {
                        needed: want,
                        got: self.rbuf.len(),
                    })
                });
            }
        }
    }

    /// True when bytes arrived that no request asked for (stray output
    /// while the worker was idle).
    pub(crate) fn has_unread(&self) -> bool {
        !self.rbuf.is_empty()
    }

    /// Server side of the pid handshake; returns the worker's pid.
    pub(crate) async fn handshake(&mut self) -> Result<u32, SpawnError> {
        let hello = format!("{{\"pid\":{}}}", std::process::id());
        self.send_control(hello.as_bytes()).await?;
        let frame = match self.recv().await {
            Ok(frame) => frame,
            Err(ReadError::Io(e)) => return Err(SpawnError::Io(e)),
            Err(ReadError::Frame(e)) => return Err(ProtocolError::Frame(e).into()),
            Err(ReadError::Stalled) => {
                return Err(ProtocolError::Handshake("half a frame, then silence".into()).into())
            }
        };
        if !frame.has_flag(flags::CONTROL) {
            return Err(ProtocolError::Handshake(format!(
                "expected a CONTROL frame, got flags {:#04x}",
                frame.flags
            ))
            .into());
        }
        #[derive(serde::Deserialize)]
        struct Pid {
            pid: i64,
        }
        let pid: Pid = serde_json::from_slice(&frame.payload).map_err(|e| {
            ProtocolError::Handshake(format!(
                "payload {:?} is not {{\"pid\":N}}: {e}",
                String::from_utf8_lossy(&frame.payload)
            ))
        })?;
        u32::try_from(pid.pid)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ProtocolError::Handshake(format!("invalid pid {}", pid.pid)).into())
    }
}

/// A connection that finished the handshake, waiting to be claimed by the
/// spawn that started its process.
enum Slot {
    Waiting(oneshot::Sender<Relay>),
    Arrived(Relay, Instant),
}

/// Handshakes running at once on one relay listener. Each is two small
/// frames from a process that just connected; the bound only matters
/// when something other than workers connects, and then further
/// connections wait in the listen backlog instead of costing a task each.
const MAX_HANDSHAKES: usize = 64;

/// A handshake finished but never claimed is dropped after this.
const UNCLAIMED: Duration = Duration::from_secs(120);

/// The listening side of the tcp / unix relays: accepts worker
/// connections, runs each handshake on its own task, and hands each
/// connection to the spawn waiting for that pid.
pub(crate) struct RelayListener {
    shared: Arc<Shared>,
    /// The address workers are told to connect to (port 0 resolved).
    env_address: String,
}

/// What the accept loop, the handshakes and the spawns share.
struct Shared {
    slots: Mutex<HashMap<u32, Slot>>,
    /// How long one connection may take over its handshake, in
    /// nanoseconds: as long as a spawn waits for its worker to connect
    /// (`relay_timeout`, which every claim carries), `stream_timeout`
    /// until the first claim.
    handshake_timeout: AtomicU64,
    max_payload: usize,
    partial_timeout: Duration,
}

impl RelayListener {
    /// Binds `address` and starts the accept loop on `tracker`; the
    /// handshakes run there too, each on its own task, until `cancel`.
    pub(crate) async fn bind(
        address: &RelayAddress,
        max_payload: usize,
        partial_timeout: Duration,
        tracker: &TaskTracker,
        cancel: CancellationToken,
    ) -> Result<Self, SpawnError> {
        let listen_err = |source| SpawnError::Listen {
            address: address.to_env(None),
            source,
        };
        let bind = match address {
            RelayAddress::Pipes => {
                return Err(listen_err(std::io::Error::other("pipes need no listener")))
            }
            RelayAddress::Tcp(addr) => Address::Tcp(addr.clone()),
            RelayAddress::Unix(path) => Address::Unix(path.clone()),
        };
        // Stale sockets, backoff on accept errors, TCP_NODELAY and removing
        // the socket file at the end are the listener's.
        let listener = Listener::bind(&bind)
            .await
            .map_err(|e| listen_err(e.into()))?;
        let env_address = match listener.local_addr() {
            LocalAddr::Tcp(local) => address.to_env(Some(&local.to_string())),
            LocalAddr::Unix(_) => address.to_env(None),
        };
        let shared = Arc::new(Shared {
            slots: Mutex::default(),
            handshake_timeout: AtomicU64::new(nanos(partial_timeout)),
            max_payload,
            partial_timeout,
        });
        tracker.spawn(accept_loop(
            listener,
            shared.clone(),
            tracker.clone(),
            cancel,
        ));
        Ok(Self {
            shared,
            env_address,
        })
    }

    /// `RR_RELAY` for workers of this listener.
    pub(crate) fn env_address(&self) -> &str {
        &self.env_address
    }

    /// Waits for the process `pid` to connect and complete the handshake,
    /// at most `timeout` (`relay_timeout`).
    pub(crate) async fn claim(&self, pid: u32, timeout: Duration) -> Result<Relay, SpawnError> {
        self.shared
            .handshake_timeout
            .store(nanos(timeout), Ordering::Relaxed);
        let rx = {
            let mut slots = lock(&self.shared.slots);
            match slots.remove(&pid) {
                Some(Slot::Arrived(relay, _)) => return Ok(relay),
                Some(Slot::Waiting(_)) | None => {
                    let (tx, rx) = oneshot::channel();
                    slots.insert(pid, Slot::Waiting(tx));
                    rx
                }
            }
        };
        let result = tokio::time::timeout(timeout, rx).await;
        match result {
            Ok(Ok(relay)) => Ok(relay),
            Ok(Err(_)) | Err(_) => {
                lock(&self.shared.slots).remove(&pid);
                Err(SpawnError::Timeout(timeout))
            }
        }
    }

    /// Forgets a pid whose process died before connecting.
    pub(crate) fn forget(&self, pid: u32) {
        lock(&self.shared.slots).remove(&pid);
    }
}

impl Shared {
    fn handshake_timeout(&self) -> Duration {
        Duration::from_nanos(self.handshake_timeout.load(Ordering::Relaxed))
    }

    /// Hands a connection that completed its handshake to the spawn
    /// waiting for `pid`, or keeps it until that spawn claims it.
    fn arrived(&self, pid: u32, relay: Relay) {
        let mut slots = lock(&self.slots);
        slots.retain(|_, slot| match slot {
            Slot::Arrived(_, at) => at.elapsed() < UNCLAIMED,
            Slot::Waiting(tx) => !tx.is_closed(),
        });
        match slots.remove(&pid) {
            Some(Slot::Waiting(tx)) => {
                if let Err(relay) = tx.send(relay) {
                    slots.insert(pid, Slot::Arrived(relay, Instant::now()));
                }
            }
            _ => {
                slots.insert(pid, Slot::Arrived(relay, Instant::now()));
            }
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Accepts worker connections until `cancel`, each handshake on its own
/// task (so one connection that never answers holds up no other), at
/// most [`MAX_HANDSHAKES`] at once.
async fn accept_loop(
    listener: Listener,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let running = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            () = cancel.cancelled() => return,
            permit = running.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { return };
        let Some((stream, peer)) = listener.accept(&cancel).await else {
            return;
        };
        let (reader, writer) = stream.into_split();
        let relay = Relay::new(
            Box::new(reader),
            Box::new(writer),
            shared.max_payload,
            shared.partial_timeout,
        );
        tracker.spawn(handshake(
            relay,
            peer,
            shared.clone(),
            cancel.clone(),
            permit,
        ));
    }
}

/// One connection's handshake, under the handshake timeout; a
/// connection that fails it is closed.
async fn handshake(
    mut relay: Relay,
    peer: Peer,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    permit: OwnedSemaphorePermit,
) {
    let limit = shared.handshake_timeout();
    let answered = tokio::select! {
        () = cancel.cancelled() => return,
        answered = tokio::time::timeout(limit, relay.handshake()) => answered,
    };
    drop(permit);
    match answered {
        Ok(Ok(pid)) => shared.arrived(pid, relay),
        Ok(Err(e)) => {
            tracing::warn!(%peer, error = %e, "relay connection failed the handshake");
        }
        Err(_) => {
            tracing::warn!(%peer, ?limit, "relay connection sent no handshake in time");
        }
    }
}
