//! A worker's stdout pipe: the reader the relay uses, and a second handle
//! on the same pipe ([`PipeWatch`]) for what the relay cannot see.
//!
//! tokio's `ChildStdout` learns that a pipe is drained only from a `read`
//! that fails with EAGAIN, so every request/response round trip pays a
//! wasted `read` right after the request is written. A short read (fewer
//! bytes than the buffer had room for) already proves the pipe was empty at
//! that instant, so this reader clears readiness itself and the next poll
//! parks without a syscall. `AsyncFd` ignores the clear if the I/O driver
//! saw new data meanwhile, so no wakeup is lost.
//!
//! Each read is offered at most the pipe's capacity: the room offered has
//! to be zeroed first, so offering all the room the relay reserved for a
//! large frame made every read cost the whole frame (quadratic).
//!
//! While the worker starts, every byte the relay reads is also kept (up to
//! [`MAX_BOOT_OUTPUT`]): a worker that prints an error instead of the
//! handshake is shown whole, not as the 12 bytes of a would-be header.
//!
//! While the worker is idle nobody reads its stdout, but the I/O driver
//! still records that the pipe became readable. [`PipeWatch::stray`]
//! looks at that record before the worker is handed a request: bytes that
//! arrived while it was idle are an `echo` outside any frame, and would
//! otherwise be read as the next request's answer.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, Interest, ReadBuf};

use crate::boot::MAX_BOOT_OUTPUT;

/// The read end of a worker's stdout pipe, as the relay reads it.
pub(crate) struct PipeReader {
    shared: Arc<Shared>,
}

/// Another handle on the same pipe, kept beside the relay.
pub(crate) struct PipeWatch {
    shared: Arc<Shared>,
}

struct Shared {
    fd: AsyncFd<File>,
    /// The most one read is offered: the pipe's capacity.
    read_room: usize,
    /// True until the handshake is done: reads are copied to `boot`.
    booting: AtomicBool,
    boot: Mutex<Vec<u8>>,
}

impl PipeReader {
    /// Takes over a child's stdout.
    pub(crate) fn new(stdout: tokio::process::ChildStdout) -> io::Result<(Self, PipeWatch)> {
        let fd = nonblocking(stdout.into_owned_fd()?)?;
        let read_room = pipe_capacity(&fd);
        let file = File::from(fd);
        // SAFETY: `File` owns the descriptor, which therefore stays open and
        // refers to the same pipe for as long as the `AsyncFd` owns the
        // `File`; `File::as_raw_fd` always returns that same descriptor.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register_with_interest(file, Interest::READABLE) }
            .map_err(io::Error::from)?;
        let shared = Arc::new(Shared {
            fd,
            read_room,
            booting: AtomicBool::new(true),
            boot: Mutex::default(),
        });
        Ok((
            Self {
                shared: shared.clone(),
            },
            PipeWatch { shared },
        ))
    }
}

/// tokio hands the descriptor back in blocking mode (for a child to
/// inherit); a read that finds the pipe empty must fail with EAGAIN, not
/// park the event loop's thread until the worker writes again.
fn nonblocking(fd: OwnedFd) -> io::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
    Ok(fd)
}

/// How many bytes the pipe buffers (64 KiB unless raised), within 64 KiB
/// to 1 MiB.
fn pipe_capacity(fd: &OwnedFd) -> usize {
    use nix::fcntl::{fcntl, FcntlArg};
    const DEFAULT: usize = 64 * 1024;
    fcntl(fd.as_raw_fd(), FcntlArg::F_GETPIPE_SZ)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .map_or(DEFAULT, |n| n.clamp(DEFAULT, 1024 * 1024))
}

impl AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let shared = &*self.shared;
        loop {
            let mut guard = ready!(shared.fd.poll_read_ready(cx))?;
            // Offer at most what the pipe can hold: a read never returns
            // more, and the offered room must be zeroed first (reading into
            // uninitialised memory needs `unsafe`), so offering the whole
            // reserved frame made every read cost the frame's size.
            let room = buf.remaining().min(shared.read_room);
            let unfilled = buf.initialize_unfilled_to(room);
            match guard.try_io(|file| file.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    if n < room {
                        guard.clear_ready();
                    }
                    if shared.booting.load(Ordering::Relaxed) {
                        shared.keep_boot_bytes(&unfilled[..n]);
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl Shared {
    fn keep_boot_bytes(&self, bytes: &[u8]) {
        let mut kept = crate::pool::lock(&self.boot);
        let room = MAX_BOOT_OUTPUT.saturating_sub(kept.len());
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// What [`PipeWatch::stray`] found on an idle worker's stdout.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stray {
    /// Nothing arrived since the last answer.
    Nothing,
    /// These bytes (the first of them, bounded) arrived.
    Bytes(Vec<u8>),
    /// The worker closed its stdout (it is exiting).
    Closed,
}

impl PipeWatch {
    /// Bytes that arrived on stdout while no request was in flight, at most
    /// `max` of them (they are consumed: the worker is replaced anyway).
    /// Costs no syscall unless the I/O driver saw the pipe become
    /// readable, so it can run on every hand-out of a worker.
    pub(crate) fn stray(&self, max: usize) -> Stray {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut guard = match self.shared.fd.poll_read_ready(&mut cx) {
            Poll::Pending => return Stray::Nothing,
            Poll::Ready(Err(_)) => return Stray::Closed,
            Poll::Ready(Ok(guard)) => guard,
        };
        let mut bytes = vec![0u8; max];
        match guard.try_io(|file| file.get_ref().read(&mut bytes)) {
            // Readiness was stale: the last answer filled the buffer exactly.
            Err(_would_block) => Stray::Nothing,
            Ok(Ok(0)) | Ok(Err(_)) => Stray::Closed,
            Ok(Ok(n)) => {
                bytes.truncate(n);
                Stray::Bytes(bytes)
            }
        }
    }

    /// The handshake is done: stop keeping what the relay reads.
    pub(crate) fn booted(&self) {
        self.shared.booting.store(false, Ordering::Relaxed);
        *crate::pool::lock(&self.shared.boot) = Vec::new();
    }

    /// After a failed handshake: every byte the worker wrote on stdout, the
    /// ones the relay read plus what follows, until EOF, `limit` bytes,
    /// `idle` without a new byte or `total` in all. What follows a
    /// would-be frame header is usually the rest of an error message.
    pub(crate) async fn boot_output(
        &self,
        limit: usize,
        idle: Duration,
        total: Duration,
    ) -> Vec<u8> {
        let shared = &*self.shared;
        shared.booting.store(false, Ordering::Relaxed);
        let mut out = std::mem::take(&mut *crate::pool::lock(&shared.boot));
        out.truncate(limit);
        let deadline = tokio::time::Instant::now() + total;
        let mut chunk = [0u8; 4096];
        while out.len() < limit {
            let wait = idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            let read = tokio::time::timeout(wait, async {
                loop {
                    let mut guard = shared.fd.readable().await?;
                    match guard.try_io(|file| file.get_ref().read(&mut chunk)) {
                        Ok(result) => return result,
                        Err(_would_block) => continue,
                    }
                }
            })
            .await;
            match read {
                Ok(Ok(n)) if n > 0 => {
                    let room = limit - out.len();
                    out.extend_from_slice(&chunk[..n.min(room)]);
                }
                _ => break,
            }
        }
        out
    }
}
