//! One connection, one task: calls pipelined on a connection run
//! concurrently inside it (at most `max_in_flight`), answers carry their
//! request's seq in the order calls finish, and a hostile frame closes
//! that connection alone, with a log line saying why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use coyote_rpc::{Call, RpcLimits, RpcServer, Service, ServiceFuture, Services};
use goridge::{flags, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// `gate.Wait` blocks until the test lets one through; `gate.Echo`
/// answers its argument at once. `started` counts the Waits entered.
struct Gate {
    open: Semaphore,
    started: watch::Sender<usize>,
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            open: Semaphore::new(0),
            started: watch::Sender::new(0),
        })
    }
}

impl Service for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }

    fn call<'a>(&'a self, method: &'a str, _codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            if method == "Wait" {
                self.started.send_modify(|n| *n += 1);
                let pass = self.open.acquire().await;
                pass.map_err(|e| coyote_rpc::RpcError::Failed(e.to_string()))?
                    .forget();
            }
            Ok(body.to_vec())
        })
    }
}

async fn serve(gate: Arc<Gate>, limits: RpcLimits) -> (String, CancellationToken, TaskTracker) {
    let server = RpcServer::bind("tcp://127.0.0.1:0")
        .await
        .unwrap()
        .with_limits(limits);
    let address = server.address().trim_start_matches("tcp://").to_owned();
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(server.serve(
        Services::new().with(gate),
        shutdown.clone(),
        tracker.clone(),
    ));
    (address, shutdown, tracker)
}

fn call(seq: u32, method: &str, body: &'static [u8], out: &mut BytesMut) {
    let call = Call {
        seq,
        method: method.into(),
        codec: flags::CODEC_RAW,
        body: Bytes::from_static(body),
    };
    goridge::encode(&call.to_frame(), out).unwrap();
}

/// The next frame from `stream`, or `None` when the server closed it.
async fn next_frame(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Frame> {
    loop {
        if let Some(frame) = goridge::decode(buf, 1 << 20).unwrap() {
            return Some(frame);
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read_buf(buf))
            .await
            .expect("an answer or a close in time")
            .unwrap();
        if n == 0 {
            assert!(buf.is_empty(), "closed inside a frame");
            return None;
        }
    }
}

async fn answer(stream: &mut TcpStream, buf: &mut BytesMut) -> Call {
    let frame = next_frame(stream, buf).await.expect("an answer");
    assert!(!frame.has_flag(flags::ERROR), "{frame:?}");
    Call::from_frame(frame).unwrap()
}

async fn stop(shutdown: CancellationToken, tracker: TaskTracker) {
    shutdown.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(10), tracker.wait())
        .await
        .expect("connection tasks stop");
}

#[tokio::test]
async fn a_slow_call_does_not_hold_back_later_ones_and_answers_carry_their_seq() {
    let gate = Gate::new();
    let (address, shutdown, tracker) = serve(gate.clone(), RpcLimits::default()).await;
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let mut out = BytesMut::new();
    call(1, "gate.Wait", b"first", &mut out);
    call(2, "gate.Echo", b"second", &mut out);
    call(3, "gate.Echo", b"third", &mut out);
    stream.write_all(&out).await.unwrap();
    let mut buf = BytesMut::new();
    // Seq 1 is blocked inside the same connection; 2 and 3 answer first.
    let mut early = [
        answer(&mut stream, &mut buf).await,
        answer(&mut stream, &mut buf).await,
    ];
    early.sort_by_key(|c| c.seq);
    assert_eq!((early[0].seq, &early[0].body[..]), (2, &b"second"[..]));
    assert_eq!((early[1].seq, &early[1].body[..]), (3, &b"third"[..]));
    assert_eq!(early[0].method, "gate.Echo");
    assert_eq!(*gate.started.borrow(), 1);
    gate.open.add_permits(1);
    let last = answer(&mut stream, &mut buf).await;
    assert_eq!((last.seq, &last.body[..]), (1, &b"first"[..]));
    assert_eq!(last.method, "gate.Wait");
    stop(shutdown, tracker).await;
}

#[tokio::test]
async fn calls_beyond_max_in_flight_start_one_per_finished_call() {
    let gate = Gate::new();
    let limits = RpcLimits {
        max_in_flight: 2,
        ..RpcLimits::default()
    };
    let (address, shutdown, tracker) = serve(gate.clone(), limits).await;
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let mut out = BytesMut::new();
    for seq in 1..=5 {
        call(seq, "gate.Wait", b"w", &mut out);
    }
    call(6, "gate.Echo", b"e", &mut out);
    stream.write_all(&out).await.unwrap();
    let mut started = gate.started.subscribe();
    started.wait_for(|n| *n == 2).await.unwrap();
    // The other four are on the socket or in the buffer, not started:
    // nothing may happen until a call finishes (the waiting is the test).
    let more = tokio::time::timeout(Duration::from_millis(300), started.wait_for(|n| *n > 2));
    assert!(more.await.is_err(), "a third call started beyond the limit");
    let mut buf = BytesMut::new();
    let mut answered = Vec::new();
    for expected_started in 3..=5 {
        gate.open.add_permits(1);
        answered.push(answer(&mut stream, &mut buf).await.seq);
        started.wait_for(|n| *n == expected_started).await.unwrap();
        assert_eq!(
            *gate.started.borrow(),
            expected_started,
            "one start per finish"
        );
    }
    // Two Waits left, then the Echo behind them.
    gate.open.add_permits(2);
    for _ in 0..3 {
        answered.push(answer(&mut stream, &mut buf).await.seq);
    }
    answered.sort_unstable();
    assert_eq!(answered, [1, 2, 3, 4, 5, 6]);
    stop(shutdown, tracker).await;
}

/// Log lines written by the server, for assertions.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_hostile_frame_closes_only_its_connection_after_answering_its_running_calls() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // The test runtime is single-threaded: the server's tasks log here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let gate = Gate::new();
    let (address, shutdown, tracker) = serve(gate.clone(), RpcLimits::default()).await;
    let mut hostile = TcpStream::connect(&address).await.unwrap();
    let mut other = TcpStream::connect(&address).await.unwrap();

    // A call is running on the hostile connection when its garbage comes.
    let mut out = BytesMut::new();
    call(1, "gate.Wait", b"running", &mut out);
    hostile.write_all(&out).await.unwrap();
    gate.started
        .subscribe()
        .wait_for(|n| *n == 1)
        .await
        .unwrap();
    hostile
        .write_all(b"<html>not a goridge frame</html>")
        .await
        .unwrap();

    // The other connection is served meanwhile.
    let mut out = BytesMut::new();
    call(7, "gate.Echo", b"still here", &mut out);
    other.write_all(&out).await.unwrap();
    let mut other_buf = BytesMut::new();
    let echoed = answer(&mut other, &mut other_buf).await;
    assert_eq!((echoed.seq, &echoed.body[..]), (7, &b"still here"[..]));

    // The running call is answered, then the hostile connection closes.
    gate.open.add_permits(1);
    let mut buf = BytesMut::new();
    let last = answer(&mut hostile, &mut buf).await;
    assert_eq!((last.seq, &last.body[..]), (1, &b"running"[..]));
    assert!(
        next_frame(&mut hostile, &mut buf).await.is_none(),
        "closed after the bad frame"
    );
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("bad RPC frame; closing this connection") && text.contains("CRC"),
        "{text}"
    );

    // And the other one still works after it.
    let mut out = BytesMut::new();
    call(8, "gate.Echo", b"again", &mut out);
    other.write_all(&out).await.unwrap();
    assert_eq!(answer(&mut other, &mut other_buf).await.seq, 8);
    stop(shutdown, tracker).await;
}
