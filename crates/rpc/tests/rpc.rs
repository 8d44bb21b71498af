//! RPC round trips against a real pool of PHP workers, plus malformed
//! and pipelined traffic on raw sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use coyote_pool::{Pool, PoolOptions, WorkerCommand};
use coyote_rpc::services::{AppLogger, Informer, LogAttrs, LogEntry, Resetter, WorkerState};
use coyote_rpc::{Call, RpcClient, RpcError, RpcServer, Services};
use coyote_test_support::worker_argv;
use goridge::{flags, Frame, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

struct Fixture {
    pool: Pool,
    address: String,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

async fn fixture(address: &str) -> Fixture {
    let pool = Pool::start(PoolOptions {
        name: "http".into(),
        command: WorkerCommand {
            argv: worker_argv("echo"),
            ..WorkerCommand::default()
        },
        num_workers: 2,
        allocate_timeout: Duration::from_secs(10),
        destroy_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    })
    .await
    .unwrap();
    let pools = coyote_rpc::services::Pools::new();
    pools.insert("http", pool.clone());
    let services = Services::new()
        .with(Arc::new(Informer::new(pools.clone())))
        .with(Arc::new(Resetter::new(pools)))
        .with(Arc::new(AppLogger));
    let server = RpcServer::bind(address).await.unwrap();
    let address = server.address().to_owned();
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(server.serve(services, shutdown.clone(), tracker.clone()));
    Fixture {
        pool,
        address,
        shutdown,
        tracker,
    }
}

impl Fixture {
    async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(10), self.tracker.wait())
            .await
            .expect("rpc tasks stop");
        self.pool.shutdown().await;
    }
}

#[derive(Debug, serde::Deserialize)]
struct WorkerList {
    workers: Vec<WorkerState>,
}

#[tokio::test]
async fn informer_and_resetter_over_tcp() {
    let fx = fixture("tcp://127.0.0.1:0").await;
    let mut client = RpcClient::connect(&fx.address).await.unwrap();
    let plugins: Vec<String> = client.call_json("informer.List", &true).await.unwrap();
    assert_eq!(plugins, ["http"]);
    let list: WorkerList = client.call_json("informer.Workers", &"http").await.unwrap();
    assert_eq!(list.workers.len(), 2);
    let before: HashSet<i64> = list.workers.iter().map(|w| w.pid).collect();
    for w in &list.workers {
        assert_eq!(w.status_str, "ready");
        assert_eq!(w.status, 1);
        assert!(w.memory_usage > 0);
        assert!(w.created > 1_600_000_000_000_000_000, "unix nanoseconds");
        assert!(w.command.contains("echo.php"));
    }
    let resettable: Vec<String> = client.call_json("resetter.List", &true).await.unwrap();
    assert_eq!(resettable, ["http"]);
    let done: bool = client.call_json("resetter.Reset", &"http").await.unwrap();
    assert!(done);
    let list: WorkerList = client.call_json("informer.Workers", &"http").await.unwrap();
    let after: HashSet<i64> = list.workers.iter().map(|w| w.pid).collect();
    assert_eq!(after.len(), 2);
    assert!(after.is_disjoint(&before), "reset replaced every worker");
    fx.stop().await;
}

#[tokio::test]
async fn errors_use_net_rpc_wording() {
    let fx = fixture("tcp://127.0.0.1:0").await;
    let mut client = RpcClient::connect(&fx.address).await.unwrap();
    let err = client
        .call_json::<_, bool>("kv.Clear", &"x")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("rpc: can't find service kv"),
        "{err}"
    );
    let err = client
        .call_json::<_, bool>("informer.Nope", &"x")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("rpc: can't find method informer.Nope"),
        "{err}"
    );
    let err = client
        .call_json::<_, WorkerList>("informer.Workers", &"jobs")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such plugin: jobs"), "{err}");
    let err = client
        .call_raw(
            "informer.Workers",
            flags::CODEC_JSON,
            Bytes::from_static(b"{not json"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Remote { .. }), "{err}");
    let err = client
        .call_raw("informer.Workers", flags::CODEC_PROTO, Bytes::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not support codec"), "{err}");
    // msgpack and raw arguments work like JSON ones.
    let packed = client
        .call_raw(
            "informer.Workers",
            flags::CODEC_MSGPACK,
            Bytes::from(vec![0xa4, b'h', b't', b't', b'p']),
        )
        .await
        .unwrap();
    assert!(
        packed.first().is_some_and(|b| b & 0xf0 == 0x80),
        "msgpack map answer"
    );
    let raw = client
        .call_raw(
            "informer.Workers",
            flags::CODEC_RAW,
            Bytes::from_static(b"http"),
        )
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&raw).contains("\"statusStr\":\"ready\""));
    // The connection is still usable after errors.
    let plugins: Vec<String> = client.call_json("informer.List", &true).await.unwrap();
    assert_eq!(plugins, ["http"]);
    fx.stop().await;
}

#[tokio::test]
async fn unix_socket_listener() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix://{}", dir.path().join("rpc.sock").display());
    let fx = fixture(&address).await;
    let mut client = RpcClient::connect(&fx.address).await.unwrap();
    let plugins: Vec<String> = client.call_json("informer.List", &true).await.unwrap();
    assert_eq!(plugins, ["http"]);
    fx.stop().await;
    assert!(
        !dir.path().join("rpc.sock").exists(),
        "socket removed on stop"
    );
}

async fn read_frame(stream: &mut TcpStream, buf: &mut BytesMut) -> Frame {
    loop {
        if let Some(frame) = goridge::decode(buf, 1 << 20).unwrap() {
            return frame;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read_buf(buf))
            .await
            .expect("answer in time")
            .unwrap();
        assert!(n > 0, "connection closed");
    }
}

#[tokio::test]
async fn pipelined_calls_are_answered_by_seq() {
    let fx = fixture("tcp://127.0.0.1:0").await;
    let mut stream = TcpStream::connect(fx.address.trim_start_matches("tcp://"))
        .await
        .unwrap();
    let mut out = BytesMut::new();
    for seq in 1..=20u32 {
        let call = Call {
            seq,
            method: "informer.List".into(),
            codec: flags::CODEC_JSON,
            body: Bytes::from_static(b"true"),
        };
        goridge::encode(&call.to_frame(), &mut out).unwrap();
    }
    stream.write_all(&out).await.unwrap();
    let mut seen = HashSet::new();
    let mut buf = BytesMut::new();
    for _ in 0..20 {
        let frame = read_frame(&mut stream, &mut buf).await;
        assert!(!frame.has_flag(flags::ERROR));
        let answer = Call::from_frame(frame).unwrap();
        assert_eq!(answer.method, "informer.List");
        assert_eq!(&answer.body[..], b"[\"http\"]");
        seen.insert(answer.seq);
    }
    assert_eq!(seen, (1..=20).collect());
    fx.stop().await;
}

#[tokio::test]
async fn malformed_frames() {
    let fx = fixture("tcp://127.0.0.1:0").await;
    let addr = fx.address.trim_start_matches("tcp://").to_owned();

    // Wrong option count: answered with an error, connection kept.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let mut out = BytesMut::new();
    goridge::encode(
        &Frame::new(flags::CODEC_JSON, Options::one(9), &b"informer.List"[..]),
        &mut out,
    )
    .unwrap();
    stream.write_all(&out).await.unwrap();
    let answer = read_frame(&mut stream, &mut BytesMut::new()).await;
    assert!(answer.has_flag(flags::ERROR));
    assert_eq!(answer.options.as_slice()[0], 9, "seq echoed");
    assert!(String::from_utf8_lossy(&answer.payload).contains("should be 2 options"));

    // Bad CRC: the connection is closed (no way to re-synchronise).
    let mut bad = BytesMut::new();
    goridge::encode(
        &Call {
            seq: 1,
            method: "informer.List".into(),
            codec: flags::CODEC_JSON,
            body: Bytes::from_static(b"true"),
        }
        .to_frame(),
        &mut bad,
    )
    .unwrap();
    bad[6] ^= 0xff;
    stream.write_all(&bad).await.unwrap();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .unwrap();
    assert_eq!(n, 0, "closed without an answer");

    // A header announcing more than the limit: closed before reading it.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let mut head = vec![0x15, flags::CODEC_JSON];
    head.extend_from_slice(&u32::MAX.to_le_bytes());
    let crc = crc(&head);
    head.extend_from_slice(&crc.to_le_bytes());
    head.extend_from_slice(&[0, 0, 1, 0, 0, 0, 13, 0, 0, 0]);
    stream.write_all(&head).await.unwrap();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .unwrap();
    assert_eq!(n, 0);

    // The server still serves new connections.
    let mut client = RpcClient::connect(&fx.address).await.unwrap();
    let plugins: Vec<String> = client.call_json("informer.List", &true).await.unwrap();
    assert_eq!(plugins, ["http"]);
    fx.stop().await;
}

fn crc(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for b in bytes {
        c ^= u32::from(*b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[tokio::test]
async fn php_sdk_client_round_trips() {
    let fx = fixture("tcp://127.0.0.1:0").await;
    let before: HashSet<u32> = fx.pool.workers().iter().map(|w| w.pid).collect();
    let script = coyote_test_support::repo_root().join("crates/rpc/tests/php/informer-client.php");
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(coyote_test_support::php())
            .arg(&script)
            .env("RR_RPC", &fx.address)
            .output(),
    )
    .await
    .expect("php client finished in time")
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["plugins"], serde_json::json!(["http"]));
    let workers = seen["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    for w in workers {
        assert!(before.contains(&(w["pid"].as_u64().unwrap() as u32)));
        assert_eq!(w["statusStr"], "ready");
    }
    let error = seen["error"].as_str().unwrap();
    assert!(
        error.contains("rpc: can't find method informer.Nope"),
        "{error}"
    );
    assert_eq!(seen["prefixed"], serde_json::json!(["http"]));
    assert_eq!(seen["reset"], true);
    let after: HashSet<u32> = seen["after"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as u32)
        .collect();
    assert!(
        after.is_disjoint(&before),
        "PHP-triggered reset replaced the workers"
    );
    fx.stop().await;
}

#[tokio::test]
async fn app_logger_writes_into_the_server_log() {
    use prost::Message;
    use std::sync::Mutex;
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish(),
    );
    let fx = fixture("tcp://127.0.0.1:0").await;
    let mut client = RpcClient::connect(&fx.address).await.unwrap();
    for (method, text) in [
        ("app.Error", "an error from php"),
        ("app.Warning", "a warning from php"),
        ("app.Info", "an info from php"),
        ("app.Debug", "a debug from php"),
    ] {
        let ok: bool = client.call_json(method, &text).await.unwrap();
        assert!(ok);
    }
    let entry = LogEntry {
        message: "with context".into(),
        log_attrs: vec![LogAttrs {
            key: "user".into(),
            value: "42".into(),
        }],
    };
    let answer = client
        .call_raw(
            "app.InfoWithContext",
            flags::CODEC_PROTO,
            entry.encode_to_vec().into(),
        )
        .await
        .unwrap();
    assert!(answer.is_empty(), "applogger.v1.Response is empty");
    let err = client
        .call_raw(
            "app.InfoWithContext",
            flags::CODEC_JSON,
            Bytes::from_static(b"{}"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not support codec"), "{err}");
    let err = client
        .call_raw(
            "app.ErrorWithContext",
            flags::CODEC_PROTO,
            Bytes::from_static(&[0x0a, 0xff]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot decode"), "{err}");
    let err = client
        .call_json::<_, bool>("app.Notice", &"x")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("can't find method app.Notice"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("ERROR coyote::app: an error from php"),
        "{text}"
    );
    assert!(
        text.contains("WARN coyote::app: a warning from php"),
        "{text}"
    );
    assert!(
        text.contains("INFO coyote::app: an info from php"),
        "{text}"
    );
    assert!(
        text.contains("DEBUG coyote::app: a debug from php"),
        "{text}"
    );
    assert!(
        text.contains("with context context=\"user:42\"")
            || text.contains("with context context=user:42"),
        "{text}"
    );
    fx.stop().await;
}
