//! One client connection, on its own task: CONNECTED to a worker, then a
//! DATA event per delimited chunk, the worker's action carried out after
//! each, and CLOSE once the socket is closed.
//!
//! As in RoadRunner: the socket is closed before the CLOSE event is sent
//! (and the worker's answer to CLOSE is ignored); a worker that fails
//! (crash, error answer, timeout) closes the connection without a CLOSE
//! event. A worker is held only while it handles one event: an idle or
//! silent client holds its socket, its task and its pending bytes (at most
//! `read_buf_size`), never a worker.

use std::sync::Arc;

use bytes::Bytes;
use coyote_listener::{Peer, Stream};
use coyote_pool::{Payload, Pool};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::config::ServerSpec;
use crate::connections::Connections;
use crate::framing::Framer;
use crate::protocol::{Action, Context, Event};
use crate::TcpError;

/// The most bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;

/// What a connection needs from its server.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) server: Arc<ServerSpec>,
    pub(crate) read_buf_size: usize,
    pub(crate) pool: Pool,
    pub(crate) table: Connections,
}

/// How the connection ended.
enum End {
    /// Closed by the client, the worker, `tcp.Close` or the server's stop,
    /// or for a client-side error: the CLOSE event follows.
    Closed,
    /// The worker failed: no CLOSE event (RoadRunner's behaviour).
    WorkerFailed,
}

/// Serves one accepted connection until it closes. `shutdown` is the
/// plugin's: when it fires the connection closes (after the event at a
/// worker, if any, is answered).
pub(crate) async fn serve(stream: Stream, peer: Peer, shared: Shared, shutdown: CancellationToken) {
    let Stream::Tcp(stream) = stream else {
        // The plugin binds TCP listeners only.
        return;
    };
    let close = shutdown.child_token();
    let entry = shared
        .table
        .insert(uuid::Uuid::new_v4().to_string(), close.clone());
    let context = Context::new(&peer.to_string(), &shared.server.name, entry.uuid());
    let mut conn = Connection {
        framer: Framer::new(shared.server.delimiter.clone(), shared.read_buf_size),
        stream,
        context,
        close,
        shared,
    };
    tracing::debug!(target: "coyote::tcp", server = %conn.shared.server.name,
        uuid = entry.uuid(), %peer, "connected");
    let end = conn.run(entry.uuid(), &peer).await;
    // Closed before the CLOSE event, as RoadRunner does.
    let _ = conn.stream.shutdown().await;
    drop(entry);
    if let End::Closed = end {
        let payload = conn.payload(Event::Close, Bytes::new());
        if let Err(error) = conn.shared.pool.exec(payload).await {
            tracing::debug!(target: "coyote::tcp", %error, "the CLOSE event failed");
        }
    }
    tracing::debug!(target: "coyote::tcp", server = %conn.shared.server.name, %peer, "closed");
}

struct Connection {
    stream: TcpStream,
    framer: Framer,
    context: Context,
    /// Cancelled by `tcp.Close(uuid)` or the plugin's stop.
    close: CancellationToken,
    shared: Shared,
}

impl Connection {
    async fn run(&mut self, uuid: &str, peer: &Peer) -> End {
        match self.events().await {
            Ok(()) => End::Closed,
            Err(error @ TcpError::Worker(_)) => {
                tracing::error!(target: "coyote::tcp", server = %self.shared.server.name,
                    uuid, %peer, %error, "connection closed");
                End::WorkerFailed
            }
            Err(error) => {
                tracing::warn!(target: "coyote::tcp", server = %self.shared.server.name,
                    uuid, %peer, %error, "connection closed");
                End::Closed
            }
        }
    }

    /// The events until the connection is to close: `Ok` when closed by
    /// the client, the worker or from outside.
    async fn events(&mut self) -> Result<(), TcpError> {
        if !self.event(Event::Connected, Bytes::new()).await? {
            return Ok(());
        }
        loop {
            while let Some(chunk) = self.framer.next_chunk()? {
                if !self.event(Event::Data, chunk).await? {
                    return Ok(());
                }
            }
            // Wait with no buffer; allocate once there is something to read.
            let ready = tokio::select! {
                biased;
                () = self.close.cancelled() => return Ok(()),
                ready = self.stream.readable() => ready,
            };
            ready.map_err(TcpError::Read)?;
            match self
                .stream
                .try_read_buf(&mut self.framer.read_buf(READ_CHUNK))
            {
                Ok(0) => {
                    // The client hung up: what it sent after the last
                    // delimiter still goes to the worker.
                    if let Some(rest) = self.framer.take_rest() {
                        self.event(Event::Data, rest).await?;
                    }
                    return Ok(());
                }
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(TcpError::Read(error)),
            }
        }
    }

    /// Sends one event and carries out the answer; false when the
    /// connection is to close.
    async fn event(&mut self, event: Event, body: Bytes) -> Result<bool, TcpError> {
        let payload = self.payload(event, body);
        let reply = self
            .shared
            .pool
            .exec(payload)
            .await
            .map_err(TcpError::Worker)?;
        if self.close.is_cancelled() {
            // Closed by tcp.Close while the worker was busy with the event.
            return Ok(false);
        }
        match Action::parse(&reply.context) {
            Some(Action::Continue) => Ok(true),
            Some(Action::Write) => self.write(&reply.body).await,
            Some(Action::WriteClose) => {
                self.write(&reply.body).await?;
                Ok(false)
            }
            Some(Action::Close) => Ok(false),
            None => Err(TcpError::UnknownAction(
                String::from_utf8_lossy(&reply.context).into_owned(),
            )),
        }
    }

    /// Writes `body`; false when closed from outside meanwhile.
    async fn write(&mut self, body: &[u8]) -> Result<bool, TcpError> {
        tokio::select! {
            biased;
            () = self.close.cancelled() => Ok(false),
            written = self.stream.write_all(body) => written.map(|()| true).map_err(TcpError::Write),
        }
    }

    fn payload(&self, event: Event, body: Bytes) -> Payload {
        Payload::new(goridge::flags::CODEC_JSON, self.context.encode(event), body)
    }
}
