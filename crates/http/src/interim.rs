//! 1xx interim responses (103 Early Hints) on HTTP/1.1.
//!
//! hyper 1 has no server API for informational responses, so the
//! connection's IO is wrapped: the handler may write an interim response
//! head straight onto the connection while its request is being served.
//! That is only safe when hyper has nothing of its own half-written, so
//! the wrapper tracks whether hyper's last write was flushed completely;
//! when it was not (a slow client), the hint is dropped, which HTTP allows
//! (interim responses are advisory). Bytes of a hint that the socket could
//! not take at once are kept and go out before hyper's next bytes, so the
//! byte stream is never interleaved.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use hyper::header::{HeaderName, HeaderValue};
use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

struct State<I> {
    io: I,
    /// Interim bytes the socket has not taken yet.
    pending: BytesMut,
    /// hyper has written since its last completed flush.
    dirty: bool,
}

/// The connection IO given to hyper.
pub(crate) struct InterimIo<I> {
    state: Arc<Mutex<State<I>>>,
}

/// The handler's side: sends interim responses on this connection.
#[derive(Clone)]
pub struct Interim {
    sender: Arc<dyn SendInterim>,
}

trait SendInterim: Send + Sync {
    fn send(&self, head: &[u8]) -> bool;
}

fn lock<I>(state: &Mutex<State<I>>) -> MutexGuard<'_, State<I>> {
    // A panic while holding this lock cannot leave the state half-updated
    // in a way that matters more than the panic itself.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Wraps `io`; the returned [`Interim`] belongs in the request extensions.
pub(crate) fn wrap<I>(io: I) -> (InterimIo<I>, Interim)
where
    I: AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(Mutex::new(State {
        io,
        pending: BytesMut::new(),
        dirty: false,
    }));
    let interim = Interim {
        sender: Arc::new(Sender(state.clone())),
    };
    (InterimIo { state }, interim)
}

struct Sender<I>(Arc<Mutex<State<I>>>);

impl<I: AsyncWrite + Unpin + Send> SendInterim for Sender<I> {
    fn send(&self, head: &[u8]) -> bool {
        let mut state = lock(&self.0);
        if state.dirty {
            return false;
        }
        state.pending.extend_from_slice(head);
        let mut cx = Context::from_waker(Waker::noop());
        // Whatever the socket does not take now stays in `pending` and is
        // written before hyper's next bytes.
        let _ = drain(&mut state, &mut cx);
        if state.pending.is_empty() {
            let _ = Pin::new(&mut state.io).poll_flush(&mut cx);
        }
        true
    }
}

/// Writes `pending` out; Ready(Ok) once it is empty.
fn drain<I: AsyncWrite + Unpin>(
    state: &mut State<I>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while !state.pending.is_empty() {
        let State { io, pending, .. } = state;
        match Pin::new(io).poll_write(cx, pending) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => pending.advance(n),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    Poll::Ready(Ok(()))
}

impl Interim {
    /// Sends `status` with `headers` as an interim response. False when it
    /// was dropped because the connection is backed up.
    pub(crate) fn send(&self, status: StatusCode, headers: &[(HeaderName, HeaderValue)]) -> bool {
        let mut head = Vec::with_capacity(64 + headers.len() * 64);
        head.extend_from_slice(b"HTTP/1.1 ");
        head.extend_from_slice(status.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(
            status
                .canonical_reason()
                .unwrap_or("Informational")
                .as_bytes(),
        );
        head.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        self.sender.send(&head)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for InterimIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut lock(&self.state).io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for InterimIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = lock(&self.state);
        state.dirty = true;
        match drain(&mut state, cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut state.io).poll_write(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut state = lock(&self.state);
        state.dirty = true;
        match drain(&mut state, cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut state.io).poll_write_vectored(cx, bufs),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        lock(&self.state).io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.state);
        match drain(&mut state, cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let flushed = Pin::new(&mut state.io).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            // hyper flushes its own buffer into the IO before it flushes
            // the IO, so nothing of hyper's is outstanding now.
            state.dirty = false;
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.state);
        match drain(&mut state, cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        Pin::new(&mut state.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn hints_go_out_before_the_response_and_never_inside_unflushed_bytes() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (mut io, interim) = wrap(server);
        let hint = [(
            HeaderName::from_static("link"),
            HeaderValue::from_static("</a.css>; rel=preload"),
        )];
        assert!(interim.send(StatusCode::EARLY_HINTS, &hint));
        io.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        // Written but not yet flushed by "hyper": a hint now would land
        // in the middle of a response, so it is refused.
        assert!(!interim.send(StatusCode::EARLY_HINTS, &hint));
        io.flush().await.unwrap();
        assert!(interim.send(StatusCode::EARLY_HINTS, &hint));
        drop(io);
        drop(interim);
        let mut out = String::new();
        let mut client = client;
        client.read_to_string(&mut out).await.unwrap();
        assert_eq!(
            out,
            "HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n\
             HTTP/1.1 200 OK\r\n\
             HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn a_hint_the_socket_cannot_take_is_finished_before_hypers_bytes() {
        let (mut client, server) = tokio::io::duplex(8);
        let (mut io, interim) = wrap(server);
        assert!(interim.send(StatusCode::EARLY_HINTS, &[]));
        let reader = async {
            let mut out = vec![0u8; 0];
            let mut buf = [0u8; 64];
            while out.len() < 45 {
                let n = client.read(&mut buf).await.unwrap();
                out.extend_from_slice(&buf[..n]);
            }
            out
        };
        let writer = async {
            io.write_all(b"HTTP/1.1 204 \r\n\r\n").await.unwrap();
            io.flush().await.unwrap();
        };
        let (out, ()) = tokio::join!(reader, writer);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 204 \r\n\r\n"
        );
    }
}
