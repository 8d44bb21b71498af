//! Which event-loop shard serves a connection (see `coyote_pool::Shards`).
//!
//! A connection is best served on the CPU where its packets arrive: its
//! client (on loopback), the kernel's network work, the shard's thread
//! and that shard's PHP workers then share a CPU and wake each other
//! without inter-processor interrupts, which on a VM cost more than the
//! whole request. The kernel reports that CPU per socket
//! (`SO_INCOMING_CPU`). A client's CPU can change after it connected (a
//! scheduler that packs idle threads on one CPU, then spreads them under
//! load), so a connection checks again every `CHECK_EVERY` reads and
//! moves, between two polls, to the shard of its current CPU: its
//! serving future is handed to that shard's runtime, and the socket
//! re-registers with that runtime's reactor on its next poll. Shards are
//! kept within half again of each other's connection count.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use coyote_pool::Shards;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::task::TaskTracker;

/// Reads between two checks of a connection's CPU (a `getsockopt`).
const CHECK_EVERY: u32 = 64;

/// No move wanted.
const STAY: usize = usize::MAX;

type Serving = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where accepted connections are served: on the accepting runtime, or
/// on event-loop shards, each connection on the shard of its CPU.
#[derive(Clone, Default)]
pub struct Placement {
    shards: Option<Arc<Steering>>,
}

struct Steering {
    shards: Shards,
    /// Open connections per shard.
    open: Box<[AtomicUsize]>,
}

impl Placement {
    /// Connections stay on the runtime that accepted them.
    pub fn local() -> Self {
        Self::default()
    }

    /// Connections go to (and follow their CPU between) `shards`.
    pub fn sharded(shards: Shards) -> Self {
        let open = (0..shards.len()).map(|_| AtomicUsize::new(0)).collect();
        Self {
            shards: Some(Arc::new(Steering { shards, open })),
        }
    }

    /// Runs `serve_one` for `stream` on `tracker`, where this placement
    /// says.
    pub(crate) fn run<F, Fut>(
        &self,
        tracker: &TaskTracker,
        stream: TcpStream,
        peer: SocketAddr,
        serve_one: &Arc<F>,
    ) where
        F: Fn(SteeredStream, SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(steering) = &self.shards else {
            tracker.spawn(serve_one(SteeredStream::local(stream), peer));
            return;
        };
        let preferred = socket2::SockRef::from(&stream)
            .cpu_affinity()
            .ok()
            .and_then(|cpu| steering.shards.on_cpu(cpu));
        let shard = pick_shard(preferred, &steering.open);
        // The socket must be registered with the shard's own reactor:
        // leave this one here, join that one inside the shard.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(target: "coyote::http", %peer, error = %e, "cannot hand the connection over");
                return;
            }
        };
        steering.open[shard].fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(Follow {
            steering: steering.clone(),
            at: AtomicUsize::new(shard),
            want: AtomicUsize::new(STAY),
        });
        let serve_one = serve_one.clone();
        let owner = tracker.clone();
        tracker.spawn_on(
            async move {
                match TcpStream::from_std(stream) {
                    Ok(stream) => {
                        let io = SteeredStream {
                            stream: Some(stream),
                            follow: Some(state.clone()),
                            registered: shard,
                            reads: 0,
                            last_seen: None,
                        };
                        follow(Box::pin(serve_one(io, peer)), state, owner).await;
                    }
                    Err(e) => {
                        state.leave();
                        tracing::debug!(target: "coyote::http", %peer, error = %e, "cannot take the connection over");
                    }
                }
            },
            steering.shards.handle(shard),
        );
    }
}

/// The shard for a connection: `preferred` (its CPU's), unless that shard
/// already serves more than half again as many connections as the least
/// busy one, which then gets it.
fn pick_shard(preferred: Option<usize>, open: &[AtomicUsize]) -> usize {
    let count = |i: usize| {
        open.get(i)
            .map_or(usize::MAX, |n| n.load(Ordering::Relaxed))
    };
    let least = (0..open.len()).min_by_key(|&i| count(i)).unwrap_or(0);
    match preferred {
        Some(p) if count(p) <= count(least) * 3 / 2 + 1 => p,
        _ => least,
    }
}

/// One steered connection's shared state.
struct Follow {
    steering: Arc<Steering>,
    /// The shard whose runtime drives the connection.
    at: AtomicUsize,
    /// The shard it should move to, or `STAY`.
    want: AtomicUsize,
}

impl Follow {
    /// Asks for a move to `target`, if that is another shard and the
    /// shards stay balanced.
    fn consider(&self, target: usize) {
        let at = self.at.load(Ordering::Relaxed);
        if target != at && pick_shard(Some(target), &self.steering.open) == target {
            self.want.store(target, Ordering::Relaxed);
        }
    }

    fn leave(&self) {
        let at = self.at.load(Ordering::Relaxed);
        self.steering.open[at].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Drives `serving` on the current shard until it ends or the
/// connection asks to move (which happens inside `serving`'s own poll, so
/// it is seen right after it); then hands it, unfinished, to the other
/// shard's runtime (on the same tracker, so shutdown still waits for it).
fn follow(mut serving: Serving, state: Arc<Follow>, owner: TaskTracker) -> Serving {
    Box::pin(async move {
        let target = std::future::poll_fn(|cx| {
            if serving.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            let target = state.want.swap(STAY, Ordering::Relaxed);
            if target == STAY || target == state.at.load(Ordering::Relaxed) {
                Poll::Pending
            } else {
                Poll::Ready(Some(target))
            }
        })
        .await;
        let Some(target) = target else {
            state.leave();
            return;
        };
        let open = &state.steering.open;
        let at = state.at.load(Ordering::Relaxed);
        open[target].fetch_add(1, Ordering::Relaxed);
        open[at].fetch_sub(1, Ordering::Relaxed);
        state.at.store(target, Ordering::Relaxed);
        let handle = state.steering.shards.handle(target).clone();
        owner.spawn_on(follow(serving, state, owner.clone()), &handle);
    })
}

/// A client connection that can move between shards: it re-registers
/// with the reactor of whichever shard polls it, and tells its driver
/// when the client's packets arrive on another shard's CPU.
pub(crate) struct SteeredStream {
    /// `None` only after a failed re-registration (then every call fails).
    stream: Option<TcpStream>,
    follow: Option<Arc<Follow>>,
    /// The shard whose reactor the stream is registered with.
    registered: usize,
    reads: u32,
    /// The shard of the CPU seen at the last check: a move needs two
    /// checks in a row to agree, so a client thread passing through
    /// another CPU does not drag its connections along.
    last_seen: Option<usize>,
}

impl SteeredStream {
    fn local(stream: TcpStream) -> Self {
        Self {
            stream: Some(stream),
            follow: None,
            registered: 0,
            reads: 0,
            last_seen: None,
        }
    }

    /// The stream, registered with the reactor of the calling shard.
    fn here(&mut self) -> io::Result<&mut TcpStream> {
        if let Some(follow) = &self.follow {
            let here = follow.steering.shards.current();
            if let Some(here) = here.filter(|h| *h != self.registered) {
                let moved = self
                    .stream
                    .take()
                    .map(TcpStream::into_std)
                    .transpose()?
                    .map(TcpStream::from_std)
                    .transpose()?;
                self.stream = moved;
                self.registered = here;
            }
        }
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection lost in a move"))
    }

    /// Test hook: asks to move to `target` as a CPU check would.
    #[cfg(test)]
    fn request_move(&self, target: usize) {
        if let Some(follow) = &self.follow {
            follow.consider(target);
        }
    }

    /// Runs one poll on the stream, registered where it is polled.
    fn poll_here<T>(
        &mut self,
        poll: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match self.here() {
            Ok(stream) => poll(Pin::new(stream)),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn count_read(&mut self) {
        let Some(follow) = &self.follow else { return };
        self.reads = self.reads.wrapping_add(1);
        if !self.reads.is_multiple_of(CHECK_EVERY) {
            return;
        }
        let seen = self
            .stream
            .as_ref()
            .and_then(|s| socket2::SockRef::from(s).cpu_affinity().ok())
            .and_then(|cpu| follow.steering.shards.on_cpu(cpu));
        if let Some(target) = seen.filter(|t| self.last_seen == Some(*t)) {
            follow.consider(target);
        }
        self.last_seen = seen;
    }
}

impl AsyncRead for SteeredStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = this.poll_here(|stream| stream.poll_read(cx, buf));
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.count_read();
        }
        polled
    }
}

impl AsyncWrite for SteeredStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_here(|stream| stream.poll_write(cx, data))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_here(|stream| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_here(|stream| stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_here(|stream| stream.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A line server: answers each line with the shard serving it and the
    /// shard whose reactor the socket is registered with (they must
    /// agree); the line "move N" asks the connection to move to shard N.
    async fn shard_echo(io: SteeredStream, shards: Shards) {
        let mut io = BufReader::new(io);
        let mut line = String::new();
        while io.read_line(&mut line).await.unwrap_or(0) > 0 {
            if let Some(target) = line.trim().strip_prefix("move ") {
                io.get_ref().request_move(target.parse().unwrap());
            }
            let answer = format!("{:?} {}\n", shards.current(), io.get_ref().registered);
            if io.get_mut().write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            line.clear();
        }
    }

    #[tokio::test]
    async fn a_connection_moves_to_another_shard_between_requests_and_keeps_working() {
        let shards = Shards::start(2).unwrap();
        let placement = Placement::sharded(shards.clone());
        let tracker = TaskTracker::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let client = TcpStream::connect(address).await.unwrap();
        let (accepted, peer) = listener.accept().await.unwrap();
        let serve = {
            let shards = shards.clone();
            Arc::new(move |io, _peer| shard_echo(io, shards.clone()))
        };
        placement.run(&tracker, accepted, peer, &serve);
        let steering = placement.shards.clone().unwrap();
        let open = |i: usize| steering.open[i].load(Ordering::Relaxed);

        let (read, mut write) = client.into_split();
        let mut read = BufReader::new(read);
        let mut ask = async |line: &str| {
            write
                .write_all(format!("{line}\n").as_bytes())
                .await
                .unwrap();
            let mut answer = String::new();
            read.read_line(&mut answer).await.unwrap();
            answer.trim().to_owned()
        };
        let first = ask("hello").await;
        let start: usize = match first.as_str() {
            "Some(0) 0" => 0,
            "Some(1) 1" => 1,
            other => panic!("served outside the shards: {other}"),
        };
        assert_eq!((open(start), open(1 - start)), (1, 0));
        // The move is asked while a request is being served: that answer
        // still comes from the old shard, the next ones from the new one,
        // over the same socket.
        assert_eq!(ask(&format!("move {}", 1 - start)).await, first);
        let moved = format!("Some({0}) {0}", 1 - start);
        for _ in 0..3 {
            assert_eq!(ask("again").await, moved);
        }
        assert_eq!((open(start), open(1 - start)), (0, 1));
        // And back.
        assert_eq!(ask(&format!("move {start}")).await, moved);
        assert_eq!(ask("again").await, first);
        drop((read, write));
        tracker.close();
        tokio::time::timeout(std::time::Duration::from_secs(5), tracker.wait())
            .await
            .unwrap();
        assert_eq!((open(0), open(1)), (0, 0), "the connection left its count");
        shards.stop();
    }

    #[test]
    fn connections_go_to_their_cpus_shard_while_the_shards_stay_balanced() {
        let open: Vec<AtomicUsize> = [4, 2, 9].into_iter().map(AtomicUsize::new).collect();
        assert_eq!(pick_shard(Some(1), &open), 1);
        assert_eq!(pick_shard(Some(0), &open), 0, "4 <= 2 * 1.5 + 1");
        assert_eq!(
            pick_shard(Some(2), &open),
            1,
            "too busy: the least busy instead"
        );
        assert_eq!(pick_shard(None, &open), 1);
        assert_eq!(pick_shard(Some(7), &open), 1, "no such shard");
        // Every connection arriving on one CPU: the shards still fill up
        // evenly, within half again.
        let open: Vec<AtomicUsize> = (0..2).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..64 {
            open[pick_shard(Some(0), &open)].fetch_add(1, Ordering::Relaxed);
        }
        let (a, b) = (
            open[0].load(Ordering::Relaxed),
            open[1].load(Ordering::Relaxed),
        );
        assert_eq!(a + b, 64);
        assert!(a <= b * 3 / 2 + 2 && b > 0, "{a} / {b}");
    }
}
