//! A pipe reader that saves one syscall per execution.
//!
//! tokio's `ChildStdout` learns that a pipe is drained only from a `read`
//! that fails with EAGAIN, so every request/response round trip pays a
//! wasted `read` right after the request is written. A short read (fewer
//! bytes than the buffer had room for) already proves the pipe was empty at
//! that instant, so this reader clears readiness itself and the next poll
//! parks without a syscall. `AsyncFd` ignores the clear if the I/O driver
//! saw new data meanwhile, so no wakeup is lost.

use std::fs::File;
use std::io::{self, Read};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, Interest, ReadBuf};

/// The read end of a worker's stdout pipe.
pub(crate) struct PipeReader {
    fd: AsyncFd<File>,
}

impl PipeReader {
    /// Takes over a child's stdout (already non-blocking in tokio).
    pub(crate) fn new(stdout: tokio::process::ChildStdout) -> io::Result<Self> {
        let file = File::from(stdout.into_owned_fd()?);
        // SAFETY: `File` owns the descriptor, which therefore stays open and
        // refers to the same pipe for as long as the `AsyncFd` owns the
        // `File`; `File::as_raw_fd` always returns that same descriptor.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register_with_interest(file, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { fd })
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let room = buf.remaining();
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|file| file.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    if n < room {
                        guard.clear_ready();
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
