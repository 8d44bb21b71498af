//! End-to-end: the other ways in. HTTPS (HTTP/1.1 and HTTP/2 by ALPN,
//! client certificates), the HTTP -> HTTPS redirect, h2c, and FastCGI,
//! each against the real binary and real PHP workers, with real clients
//! (hyper over rustls, and the fastcgi-client crate).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coyote_test_support::pki::Pki;
use coyote_test_support::{php, repo_root, Server, TempDir};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const BIN: &str = env!("CARGO_BIN_EXE_coyote");

fn worker() -> String {
    repo_root()
        .join("crates/coyote/tests/workers/http.php")
        .display()
        .to_string()
}

/// Starts a server with `http` under `http:` (listeners on port 0) and
/// waits for `phase running`; the test reads the bound ports from the
/// report.
fn start(http: &str) -> Server {
    let config = format!(
        "version: \"3\"\nserver:\n  command: \"{php} {worker}\"\nhttp:\n{http}\n  pool:\n    num_workers: 2\n    allocate_timeout: 10s\nlogs:\n  level: info\n",
        php = php(),
        worker = worker(),
    );
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    server.wait_ready();
    server
}

struct Reply {
    status: u16,
    version: Version,
    headers: hyper::HeaderMap,
    body: Bytes,
    trailers: Option<hyper::HeaderMap>,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

fn connector(pki: &Pki, alpn: &[&[u8]], identity: Option<(&Path, &Path)>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&pki.ca).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(cert).unwrap()],
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// Sends the request and reads the whole answer while driving the
/// connection alongside (no detached task).
async fn exchange<C, S>(
    conn: C,
    send: S,
) -> Result<
    (
        hyper::http::response::Parts,
        Bytes,
        Option<hyper::HeaderMap>,
    ),
    hyper::Error,
>
where
    C: std::future::Future<Output = Result<(), hyper::Error>>,
    S: std::future::Future<Output = Result<hyper::Response<hyper::body::Incoming>, hyper::Error>>,
{
    let exchange = async {
        let (parts, body) = send.await?.into_parts();
        let collected = body.collect().await?;
        let trailers = collected.trailers().cloned();
        Ok((parts, collected.to_bytes(), trailers))
    };
    tokio::pin!(conn, exchange);
    tokio::select! {
        biased;
        r = &mut exchange => r,
        r = &mut conn => { r?; exchange.await }
    }
}

/// One request over `io`, HTTP/2 when `h2`.
async fn send<I>(io: I, h2: bool, req: Request<Full<Bytes>>) -> Result<Reply, hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let (parts, body, trailers) = if h2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        exchange(conn, sender.send_request(req)).await?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        exchange(conn, sender.send_request(req)).await?
    };
    Ok(Reply {
        status: parts.status.as_u16(),
        version: parts.version,
        headers: parts.headers,
        body,
        trailers,
    })
}

fn request(method: &str, uri: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

async fn https(
    port: u16,
    connector: &TlsConnector,
    h2: bool,
    req: Request<Full<Bytes>>,
) -> Result<Reply, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    send(tls, h2, req).await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_http2_client_certificates_and_redirect() {
    let dir = TempDir::new("coyote-tls-e2e").unwrap();
    let pki = Pki::generate(dir.path()).unwrap();
    let server = start(
        &format!(
            "  address: 127.0.0.1:0\n  ssl:\n    address: 127.0.0.1:0\n    redirect: true\n    cert: {}\n    key: {}\n    root_ca: {}\n    client_auth_type: require_and_verify_client_cert",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display()
        ),
    );
    let plain = server.port("http", "redirect");
    let secure = server.port("http", "https");
    let identity = Some((pki.client_cert.as_path(), pki.client_key.as_path()));

    // HTTP/1.1 over TLS: the worker sees an https URI.
    let h1 = connector(&pki, &[b"http/1.1"], identity);
    let r = https(
        secure,
        &h1,
        false,
        request("POST", "/echo?x=1", b"{\"a\":1}"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.version, Version::HTTP_11);
    let echo = r.json();
    assert_eq!(echo["uri"], "https://localhost/echo?x=1");
    assert_eq!(echo["body"], "{\"a\":1}");
    assert_eq!(echo["protocol"], "HTTP/1.1");

    // 103 Early Hints over TLS too (HTTP/1.1), before the final answer.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tcp = TcpStream::connect(("127.0.0.1", secure)).await.unwrap();
        let mut tls = h1
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(b"GET /early-hints HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut data = Vec::new();
        let _ = tls.read_to_end(&mut data).await;
        let text = String::from_utf8_lossy(&data);
        assert!(
            text.starts_with("HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"),
            "{text}"
        );
        assert!(text.ends_with("final"), "{text}");
    }

    // HTTP/2 chosen by ALPN; streamed responses still arrive whole.
    let h2 = connector(&pki, &[b"h2", b"http/1.1"], identity);
    let r = https(
        secure,
        &h2,
        true,
        request("GET", "https://localhost/echo", b""),
    )
    .await
    .unwrap();
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["protocol"], "HTTP/2.0");
    let r = https(
        secure,
        &h2,
        true,
        request("GET", "https://localhost/stream", b""),
    )
    .await
    .unwrap();
    assert_eq!(&r.body[..], b"part-0\npart-1\npart-2\n");
    // Early hints cannot be sent on HTTP/2 (hyper has no API); the final
    // response still arrives.
    let r = https(
        secure,
        &h2,
        true,
        request("GET", "https://localhost/early-hints", b""),
    )
    .await
    .unwrap();
    assert_eq!((r.status, &r.body[..]), (200, &b"final"[..]));

    // Without a certificate, or with one the CA did not sign: refused.
    for (what, identity) in [
        ("no certificate", None),
        (
            "self-signed certificate",
            Some((pki.rogue_cert.as_path(), pki.rogue_key.as_path())),
        ),
    ] {
        let c = connector(&pki, &[b"http/1.1"], identity);
        let r = https(secure, &c, false, request("GET", "/echo", b"")).await;
        assert!(r.is_err(), "{what}: got {:?}", r.map(|r| r.status));
    }

    // The plain port redirects, keeping path and query.
    let tcp = TcpStream::connect(("127.0.0.1", plain)).await.unwrap();
    let r = send(tcp, false, request("GET", "/a/b?c=d", b""))
        .await
        .unwrap();
    assert_eq!(r.status, 308);
    assert_eq!(
        r.headers["location"],
        format!("https://localhost:{secure}/a/b?c=d").as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_and_fastcgi() {
    let dir = TempDir::new("coyote-fcgi-e2e").unwrap();
    let socket = dir.path().join("fcgi.sock");
    let server = start(
        "  address: 127.0.0.1:0\n  http2:\n    h2c: true\n  max_request_size: 1\n  fcgi:\n    address: tcp://127.0.0.1:0",
    );
    let (http, fcgi_port) = (server.port("http", "http"), server.port("http", "fastcgi"));
    // h2c with prior knowledge, and HTTP/1.1 on the same port.
    let tcp = TcpStream::connect(("127.0.0.1", http)).await.unwrap();
    let r = send(tcp, true, request("GET", "http://localhost/echo", b""))
        .await
        .unwrap();
    assert_eq!((r.status, r.version), (200, Version::HTTP_2));
    let tcp = TcpStream::connect(("127.0.0.1", http)).await.unwrap();
    let r = send(tcp, false, request("GET", "/echo", b""))
        .await
        .unwrap();
    assert_eq!((r.status, r.version), (200, Version::HTTP_11));
    // Trailers on HTTP/2: after the body, not in the head.
    let tcp = TcpStream::connect(("127.0.0.1", http)).await.unwrap();
    let r = send(tcp, true, request("GET", "http://localhost/trailers", b""))
        .await
        .unwrap();
    assert_eq!(&r.body[..], b"body then trailers");
    assert!(r.headers.get("x-checksum").is_none());
    assert_eq!(r.trailers.as_ref().unwrap()["x-checksum"], "abc123");

    // FastCGI, as nginx would send it, on a kept-alive connection.
    use fastcgi_client::{io, Client, Params, Request as FcgiRequest};
    let stream = TcpStream::connect(("127.0.0.1", fcgi_port)).await.unwrap();
    let mut client = Client::new_keep_alive_tokio(stream);
    let body = br#"{"hello":"fcgi"}"#;
    let params = || {
        Params::default()
            .request_method("POST")
            .request_uri("/echo?q[]=1&q[]=2")
            .script_name("/echo")
            .query_string("q[]=1&q[]=2")
            .remote_addr("10.9.8.7")
            .remote_port(4321)
            .server_name("example.com")
            .content_type("application/json")
            .custom("HTTP_HOST", "example.com")
            .custom("HTTP_X_TRACE", "abc")
            .custom("HTTPS", "on")
    };
    for round in 0..3 {
        let out = client
            .execute(FcgiRequest::new(
                params().content_length(body.len()),
                io::Cursor::new(&body[..]),
            ))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let stdout = out.stdout.unwrap();
        let text = String::from_utf8_lossy(&stdout);
        let (head, json) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("Status: 200 OK\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let echo: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(echo["method"], "POST");
        assert_eq!(echo["uri"], "https://example.com/echo?q[]=1&q[]=2");
        assert_eq!(echo["body"], "{\"hello\":\"fcgi\"}");
        assert_eq!(echo["query"]["q"], serde_json::json!(["1", "2"]));
        assert_eq!(echo["headers"]["X-Trace"], serde_json::json!(["abc"]));
        assert_eq!(echo["remoteAddr"], "10.9.8.7");
    }

    // A body over max_request_size (1 MB) gets 413 and the connection
    // stays usable.
    let big = vec![b'x'; 1024 * 1024 + 10];
    let out = client
        .execute(FcgiRequest::new(
            params().content_length(big.len()),
            io::Cursor::new(&big[..]),
        ))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(out.stdout.as_deref().unwrap()).into_owned();
    assert!(stdout.starts_with("Status: 413"), "{stdout}");
    let out = client
        .execute(FcgiRequest::new(
            Params::default()
                .request_method("GET")
                .request_uri("/stream")
                .custom("HTTP_HOST", "example.com"),
            io::empty(),
        ))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(out.stdout.as_deref().unwrap()).into_owned();
    assert!(
        stdout.starts_with("Status: 200 OK") && stdout.ends_with("part-0\npart-1\npart-2\n"),
        "{stdout}"
    );
    drop(socket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastcgi_on_a_unix_socket_without_keep_alive() {
    let dir = TempDir::new("coyote-fcgi-unix").unwrap();
    let socket = dir.path().join("coyote.sock");
    let _server = start(&format!(
        "  address: 127.0.0.1:0\n  fcgi:\n    address: unix://{}",
        socket.display()
    ));
    use fastcgi_client::{io, Client, Params, Request as FcgiRequest};
    for _ in 0..2 {
        let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
        let out = Client::new_tokio(stream)
            .execute_once(FcgiRequest::new(
                Params::default()
                    .request_method("GET")
                    .request_uri("/status/404")
                    .remote_addr("127.0.0.1"),
                io::empty(),
            ))
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(out.stdout.as_deref().unwrap()).into_owned();
        assert!(stdout.starts_with("Status: 404 Not Found\r\n"), "{stdout}");
    }
}

#[test]
fn a_regular_file_at_the_fastcgi_socket_path_is_never_deleted() {
    let dir = TempDir::new("coyote-fcgi-file").unwrap();
    let path = dir.path().join("data.txt");
    std::fs::write(&path, "precious").unwrap();
    let config = format!(
        "version: \"3\"\nserver:\n  command: \"{php} {worker}\"\nhttp:\n  fcgi:\n    address: unix://{}\n  pool:\n    num_workers: 1\n",
        path.display(),
        php = php(),
        worker = worker(),
    );
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("the server should refuse to start");
    assert_eq!(status.code(), Some(1), "{}", server.output());
    assert!(
        server.output().contains("http: fastcgi: cannot listen on"),
        "{}",
        server.output()
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}
