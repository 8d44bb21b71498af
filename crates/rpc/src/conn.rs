//! One client connection, served by one task: it reads request frames,
//! runs their calls concurrently inside itself (at most
//! `max_in_flight`), and writes every answer that is ready in one write.
//!
//! A call answered at once (a kv Get on the memory driver) costs one
//! wakeup, one read and one write: no task is spawned per call and no
//! channel hands the answer to a writer task. Answers go out in the order
//! calls finish, matched by seq as RoadRunner's clients expect.
//!
//! Frames are decoded from the read buffer only while a call slot is
//! free, and the socket is read only when the buffer holds no complete
//! frame, so a client pipelining faster than its calls finish gets
//! backpressure (its bytes wait in the kernel), never a growing buffer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use coyote_listener::{ReadHalf, WriteHalf};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use goridge::{flags, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::message::respond;
use crate::server::{RpcLimits, Services};
use crate::{Call, MAX_FRAME};

/// Bytes asked of the socket per read (answers and requests are small;
/// a large frame reserves its whole length once its header is in).
const READ_CHUNK: usize = 64 * 1024;

/// One accepted connection and what it needs to serve it.
pub(crate) struct Conn {
    pub(crate) services: Services,
    pub(crate) shutdown: CancellationToken,
    pub(crate) limits: RpcLimits,
    /// The listener's connection slots (to tell when it is under pressure).
    pub(crate) slots: Arc<Semaphore>,
}

/// Why a connection stopped reading.
enum End {
    /// The client closed its side, or the server is stopping.
    Done,
    /// A frame that cannot be decoded: the stream cannot be re-synchronised.
    BadFrame(goridge::FrameError),
    /// Idle too long while the listener is under pressure.
    Idle,
}

impl Conn {
    /// The future of one request frame's answer. A frame that is not a
    /// call (option count, method length) is answered with the error and
    /// the connection kept.
    fn start(&self, frame: Frame) -> impl Future<Output = Frame> {
        let codec = frame.flags & !(flags::ERROR | flags::CONTROL);
        let services = self.services.clone();
        async move {
            match Call::from_frame(frame) {
                Ok(call) => services.dispatch(&call).await,
                Err((seq, e)) => respond(seq, "", codec | flags::ERROR, e.to_string().as_bytes()),
            }
        }
    }

    fn under_pressure(&self) -> bool {
        let max = self.limits.max_connections.max(1);
        max - self.slots.available_permits() > max / 2
    }

    /// Serves the connection until the client closes it, a frame is bad,
    /// it idles under pressure, or `shutdown`; the calls running then are
    /// finished and answered before the connection closes.
    pub(crate) async fn serve(self, mut reader: ReadHalf, mut writer: WriteHalf) {
        let max_in_flight = self.limits.max_in_flight.max(1);
        let idle_timeout = self.limits.idle_timeout;
        let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
        let mut out = BytesMut::new();
        let mut calls = FuturesUnordered::new();
        let mut last_activity = Instant::now();
        let idle = tokio::time::sleep(idle_timeout);
        tokio::pin!(idle);
        let end = loop {
            // Start the calls of the frames already buffered, as far as
            // the slots allow, and collect every answer that is ready; a
            // call answered at once frees its slot for the next buffered
            // frame. A bad frame ends the connection.
            let mut bad = None;
            'fill: loop {
                while calls.len() < max_in_flight {
                    match goridge::decode(&mut inbuf, MAX_FRAME) {
                        Ok(Some(frame)) => calls.push(self.start(frame)),
                        Ok(None) => break,
                        Err(e) => {
                            bad = Some(e);
                            break 'fill;
                        }
                    }
                }
                let mut answered = false;
                while let Some(Some(answer)) = calls.next().now_or_never() {
                    encode(&answer, &mut out);
                    answered = true;
                }
                if !answered {
                    break;
                }
            }
            if let Some(e) = bad {
                break End::BadFrame(e);
            }
            // Every answer that is ready now goes out in one write.
            if !out.is_empty() {
                if let Err(e) = writer.write_all(&out).await {
                    tracing::debug!(target: "coyote::rpc", error = %e, "client went away");
                    return;
                }
                out.clear();
                last_activity = Instant::now();
            }
            // Read only when a slot is free: the buffer then holds no
            // complete frame (all were started above).
            let can_read = calls.len() < max_in_flight;
            if can_read {
                let want = goridge::reserve_hint(&inbuf, MAX_FRAME).unwrap_or(0);
                inbuf.reserve(want.saturating_sub(inbuf.len()).max(READ_CHUNK));
            }
            tokio::select! {
                () = self.shutdown.cancelled() => break End::Done,
                Some(answer) = calls.next(), if !calls.is_empty() => {
                    encode(&answer, &mut out);
                }
                read = reader.read_buf(&mut inbuf), if can_read => match read {
                    Ok(0) => {
                        if !inbuf.is_empty() {
                            tracing::warn!(target: "coyote::rpc", buffered = inbuf.len(),
                                "RPC client closed the connection inside a frame");
                        }
                        break End::Done;
                    }
                    Ok(_) => last_activity = Instant::now(),
                    Err(e) => {
                        tracing::debug!(target: "coyote::rpc", error = %e, "client went away");
                        break End::Done;
                    }
                },
                () = &mut idle => {
                    let deadline = last_activity + idle_timeout;
                    if calls.is_empty() && Instant::now() >= deadline && self.under_pressure() {
                        break End::Idle;
                    }
                    // Re-armed lazily: activity only records its time.
                    let now = Instant::now();
                    let next = if now >= deadline {
                        now + idle_timeout.max(Duration::from_millis(1))
                    } else {
                        deadline
                    };
                    idle.as_mut().reset(next);
                }
            }
        };
        match end {
            End::Done => {}
            End::Idle => {
                tracing::debug!(target: "coyote::rpc", "closing an idle connection: too many are open");
            }
            End::BadFrame(e) => {
                tracing::warn!(target: "coyote::rpc", error = %e,
                    "bad RPC frame; closing this connection (others are not affected)");
            }
        }
        // The calls already running are finished and answered.
        while let Some(answer) = calls.next().await {
            encode(&answer, &mut out);
        }
        if !out.is_empty() {
            if let Err(e) = writer.write_all(&out).await {
                tracing::debug!(target: "coyote::rpc", error = %e, "client went away");
            }
        }
    }
}

/// Appends an answer frame to the output buffer. A frame too large to
/// encode (over 4 GiB) cannot happen for answers the services build; it
/// is logged and dropped rather than tearing the connection down.
fn encode(answer: &Frame, out: &mut BytesMut) {
    if let Err(e) = goridge::encode(answer, out) {
        tracing::warn!(target: "coyote::rpc", error = %e, "cannot encode an RPC answer");
    }
}
