//! End-to-end hardening: what a hostile worker or a hostile client can no
//! longer do. Each test starts the real binary on port 0 with real PHP
//! workers (`php/workers/hardening.php`) and talks raw HTTP to it, so
//! the bytes on the wire are what is asserted.
//!
//! Classes covered: worker response framing, worker header count and size,
//! Host validation, client IP rewriting, static files, request body
//! timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use coyote_test_support::{php, worker_script, Server};

const BIN: &str = env!("CARGO_BIN_EXE_coyote");

fn worker() -> String {
    worker_script("hardening").display().to_string()
}

/// Starts a server with `http` lines added to the `http` section (two
/// spaces of indent) and `workers` workers; returns it and its HTTP port.
fn start(http: &str, workers: usize) -> (Server, u16) {
    let config = format!(
        "version: \"3\"\nserver:\n  command: \"{php} {worker}\"\nhttp:\n  address: 127.0.0.1:0\n{http}  pool:\n    num_workers: {workers}\n    allocate_timeout: 10s\nlogs:\n  level: info\n",
        php = php(),
        worker = worker(),
    );
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    server.wait_ready();
    let port = server.port("http", "http");
    (server, port)
}

/// One HTTP/1.x response as read off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Writes `request` and reads until the server closes (30 s at most).
fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut data = Vec::new();
    let _ = stream.read_to_end(&mut data);
    data
}

/// Splits a byte stream into the responses it holds, framing each by its
/// own headers exactly as a client would (Content-Length, chunked, or to
/// the end). `head` marks responses to HEAD requests (no body).
fn responses(mut data: &[u8], head: &[bool]) -> Vec<Reply> {
    let mut out = Vec::new();
    let mut i = 0;
    while !data.is_empty() {
        let split = data
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(data)));
        let text = String::from_utf8_lossy(&data[..split]).into_owned();
        let mut lines = text.lines();
        let status_line = lines.next().unwrap();
        assert!(
            status_line.starts_with("HTTP/1."),
            "not a response: {status_line:?} (previous: {out:?})"
        );
        let status = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        data = &data[split + 4..];
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let no_body =
            head.get(i).copied().unwrap_or(false) || status == 304 || status == 204 || status < 200;
        let body = if no_body {
            Vec::new()
        } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let end = data.windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16)
                        .unwrap();
                data = &data[end + 2..];
                if size == 0 {
                    // Trailers, then the empty line.
                    let end = data.windows(2).position(|w| w == b"\r\n").unwrap();
                    if end == 0 {
                        data = &data[2..];
                    } else {
                        let stop = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                        data = &data[stop + 4..];
                    }
                    break;
                }
                body.extend_from_slice(&data[..size]);
                data = &data[size + 2..];
            }
            body
        } else if let Some(len) = get("content-length") {
            let len: usize = len.parse().unwrap();
            assert!(len <= data.len(), "truncated body: {len} > {}", data.len());
            let body = data[..len].to_vec();
            data = &data[len..];
            body
        } else {
            let body = data.to_vec();
            data = &[];
            body
        };
        out.push(Reply {
            status,
            headers,
            body,
        });
        i += 1;
    }
    out
}

fn get(port: u16, path: &str) -> Reply {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut all = responses(&exchange(port, request.as_bytes()), &[]);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

// ---------------------------------------------------------------------
// Worker response framing
// ---------------------------------------------------------------------

/// A worker Content-Length shorter or longer than its body, or not a
/// number, never reaches the wire: the body goes out with its real length
/// and the next response on the same connection is intact.
#[test]
fn a_worker_content_length_never_frames_the_response() {
    let (server, port) = start("", 1);
    for value in ["2", "1000", "abc", "11, 12", "-1"] {
        let request = format!(
            "GET /length?value={} HTTP/1.1\r\nHost: localhost\r\n\r\nGET /pid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            value.replace(' ', "%20")
        );
        let all = responses(&exchange(port, request.as_bytes()), &[]);
        assert_eq!(all.len(), 2, "{value}: {all:?}");
        assert_eq!(all[0].status, 200, "{value}");
        assert_eq!(all[0].text(), "hello world", "{value}");
        assert_eq!(all[0].header("content-length"), Some("11"), "{value}");
        assert_eq!(all[0].count("content-length"), 1);
        assert_eq!(all[1].status, 200, "{value}: the next response is intact");
        assert!(all[1].text().parse::<u32>().is_ok(), "{:?}", all[1]);
    }
    // The worker fault is logged with the real and declared lengths.
    assert!(
        server
            .output()
            .contains("Content-Length disagrees with its body"),
        "{}",
        server.output()
    );
}

/// Content-Length and Transfer-Encoding together from a worker (a request
/// smuggling shape) gives one well-framed response, not EOF.
#[test]
fn a_worker_cannot_send_both_content_length_and_transfer_encoding() {
    let (_server, port) = start("", 1);
    let request = b"GET /length-and-chunked HTTP/1.1\r\nHost: localhost\r\n\r\nGET /pid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let all = responses(&exchange(port, request), &[]);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].text(), "hello world");
    assert_eq!(all[0].header("content-length"), Some("11"));
    assert!(all[0].header("transfer-encoding").is_none());
    assert_eq!(all[1].status, 200);
}

/// Connection, Keep-Alive, Upgrade, TE and Transfer-Encoding from a worker
/// are dropped; the connection stays alive for the next request.
#[test]
fn hop_by_hop_headers_from_the_worker_are_dropped() {
    let (_server, port) = start("", 1);
    let request = b"GET /hop-by-hop HTTP/1.1\r\nHost: localhost\r\n\r\nGET /pid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let all = responses(&exchange(port, request), &[]);
    assert_eq!(all.len(), 2, "{all:?}");
    let first = &all[0];
    assert_eq!(first.text(), "hop");
    assert_eq!(first.header("x-kept"), Some("yes"));
    for name in [
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "transfer-encoding",
    ] {
        assert!(first.header(name).is_none(), "{name} in {first:?}");
    }
    assert_eq!(all[1].status, 200);
}

/// `Connection: close` from the worker closes the connection after its
/// response (the server's own header), HEAD keeps the worker's length
/// without a body, and Trailer still announces trailers (never framing
/// ones).
#[test]
fn close_head_and_trailers_still_work() {
    let (_server, port) = start("", 1);
    // Anything after a closing response is never answered.
    let request = b"GET /close HTTP/1.1\r\nHost: localhost\r\n\r\nGET /pid HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let all = responses(&exchange(port, request), &[]);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].text(), "bye");
    assert_eq!(all[0].header("connection"), Some("close"));

    let request = b"HEAD /head HTTP/1.1\r\nHost: localhost\r\n\r\nGET /pid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let all = responses(&exchange(port, request), &[true]);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].header("content-length"), Some("1234"));
    assert_eq!(all[1].status, 200);

    let request =
        b"GET /trailers HTTP/1.1\r\nHost: localhost\r\nTE: trailers\r\nConnection: close\r\n\r\n";
    let data = exchange(port, request);
    let text = String::from_utf8_lossy(&data);
    let all = responses(&data, &[]);
    assert_eq!(all[0].text(), "body then trailers");
    assert_eq!(all[0].header("trailer"), Some("x-checksum"), "{text}");
    assert!(
        text.ends_with("\r\n0\r\nx-checksum: abc123\r\n\r\n"),
        "{text}"
    );
}

// ---------------------------------------------------------------------
// Worker header count and size
// ---------------------------------------------------------------------

/// 40,000 headers (more than a HeaderMap holds: the old code panicked and
/// the client got EOF), 10,000 headers and one 30 MiB header are each a
/// clean 500; RSS comes back; a head within the limits is served.
#[test]
fn oversized_worker_heads_are_a_clean_500() {
    let (server, port) = start("", 1);
    let rss_before = rss_kib(server.pid());
    for _ in 0..4 {
        for path in ["/many?n=40000", "/many?n=10000", "/big?bytes=31457280"] {
            let r = get(port, path);
            assert_eq!(r.status, 500, "{path}: {r:?}");
        }
    }
    let rss_after = rss_kib(server.pid());
    let r = get(port, "/many?n=900");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-h-"))
            .count(),
        900
    );
    let r = get(port, "/big?bytes=65536");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-big").map(str::len), Some(65536));
    let log = server.output();
    assert!(log.contains("more than 1000 headers"), "{log}");
    assert!(log.contains("larger than 1048576 bytes"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    // The refused heads are not kept: 4 of 30 MiB would be 120 MiB. What
    // remains is the worker relay's read buffer, sized for the largest
    // frame so far, and memory glibc keeps for reuse.
    assert!(
        rss_after < rss_before + 100 * 1024,
        "RSS {rss_before} KiB -> {rss_after} KiB"
    );
    eprintln!("oversized heads: RSS {rss_before} KiB -> {rss_after} KiB");
}

/// The limits are configurable.
#[test]
fn response_head_limits_are_configurable() {
    let (_server, port) = start(
        "  max_response_headers: 50\n  max_response_header_bytes: 2048\n",
        1,
    );
    assert_eq!(get(port, "/many?n=40").status, 200);
    assert_eq!(get(port, "/many?n=51").status, 500);
    assert_eq!(get(port, "/big?bytes=1900").status, 200);
    assert_eq!(get(port, "/big?bytes=2100").status, 500);
    // The largest limit the config allows fits in a response.
    let (_server, port) = start("  max_response_headers: 16384\n", 1);
    let r = get(port, "/many?n=16384");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-h-"))
            .count(),
        16384
    );
}

// ---------------------------------------------------------------------
// Host
// ---------------------------------------------------------------------

fn send(port: u16, request: &str) -> Reply {
    let mut all = responses(&exchange(port, request.as_bytes()), &[]);
    assert_eq!(all.len(), 1, "{request:?}: {all:?}");
    all.remove(0)
}

/// A Host that is not `host[:port]`, a missing Host on HTTP/1.1 and two
/// Host headers are 400 (RFC 9112, as Go); the URI PHP sees is built from
/// validated parts only.
#[test]
fn host_is_validated_before_it_reaches_the_uri() {
    let (_server, port) = start("", 1);
    for (request, why) in [
        (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1/echo?\r\nConnection: close\r\n\r\n",
            "path in Host",
        ),
        (
            "GET / HTTP/1.1\r\nHost: a@b\r\nConnection: close\r\n\r\n",
            "userinfo in Host",
        ),
        (
            "GET /echo HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
            "space in Host",
        ),
        (
            "GET /echo HTTP/1.1\r\nHost: a:99999\r\nConnection: close\r\n\r\n",
            "port out of range",
        ),
        (
            "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n",
            "missing Host",
        ),
        (
            "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
            "two Hosts",
        ),
        (
            "GET /echo HTTP/1.1\r\nHost: a\r\nHost: a\r\nConnection: close\r\n\r\n",
            "the same Host twice",
        ),
        (
            "GET http://x@target/echo HTTP/1.1\r\nHost: target\r\nConnection: close\r\n\r\n",
            "userinfo in the target",
        ),
    ] {
        let r = send(port, request);
        assert_eq!(r.status, 400, "{why}: {r:?}");
    }
    let uri = |request: &str| {
        let r = send(port, request);
        assert_eq!(r.status, 200, "{request:?}: {r:?}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["uri"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        uri("GET /echo?a=1 HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n"),
        "http://example.com:8080/echo?a=1"
    );
    assert_eq!(
        uri("GET /echo HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\nConnection: close\r\n\r\n"),
        "http://[2001:db8::1]:8443/echo"
    );
    // HTTP/1.0 may leave Host out.
    assert_eq!(uri("GET /echo HTTP/1.0\r\n\r\n"), "http://localhost/echo");
    // Absolute form: the target's authority wins over Host (RFC 9112, 3.2.2).
    assert_eq!(
        uri("GET http://target.example/echo HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"),
        "http://target.example/echo"
    );
}

/// HTTP/2 (h2c): `:authority` is the host; a Host header that names
/// another one is 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_authority_must_agree_with_host() {
    use http_body_util::{BodyExt, Empty};
    let (_server, port) = start("  http2:\n    h2c: true\n", 1);
    let send = |host: Option<&'static str>| async move {
        let io = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(io),
        )
        .await
        .unwrap();
        let exchange = async {
            let mut req = hyper::Request::get("http://h2.example:81/echo");
            if let Some(host) = host {
                req = req.header("host", host);
            }
            let response = sender
                .send_request(req.body(Empty::<bytes::Bytes>::new()).unwrap())
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        };
        tokio::select! {
            r = exchange => r,
            r = conn => panic!("connection ended first: {r:?}"),
        }
    };
    let (status, body) = send(None).await;
    assert_eq!(status, 200, "{body:?}");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["uri"], "http://h2.example:81/echo");
    let (status, _) = send(Some("h2.example:81")).await;
    assert_eq!(status, 200);
    let (status, _) = send(Some("elsewhere.example")).await;
    assert_eq!(status, 400);
}

// ---------------------------------------------------------------------
// Client IP
// ---------------------------------------------------------------------

/// The remoteAddr PHP sees for a request from 127.0.0.1 with `headers`.
fn remote_addr(port: u16, headers: &str) -> String {
    let r = send(
        port,
        &format!("GET /echo HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["remoteAddr"].as_str().unwrap().to_owned()
}

const SPOOF: &str = "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\nX-Real-Ip: 198.51.100.1\r\n";

/// Forwarding headers change nothing unless `proxy_ip_parser` is listed,
/// even from a peer inside RoadRunner's default trusted ranges (loopback
/// here, a container network in the probe).
#[test]
fn forwarding_headers_are_ignored_without_proxy_ip_parser() {
    let (_server, port) = start("", 1);
    assert_eq!(remote_addr(port, SPOOF), "127.0.0.1");
    assert_eq!(
        remote_addr(port, "Forwarded: for=203.0.113.9\r\n"),
        "127.0.0.1"
    );
    assert_eq!(
        remote_addr(port, "True-Client-Ip: 203.0.113.9\r\n"),
        "127.0.0.1"
    );
    // Listed, but no trusted_subnets in the file: disabled, as RoadRunner.
    let (server, port) = start("  middleware: [proxy_ip_parser]\n", 1);
    assert_eq!(remote_addr(port, SPOOF), "127.0.0.1");
    assert!(
        server
            .output()
            .contains("proxy_ip_parser needs http.trusted_subnets"),
        "{}",
        server.output()
    );
}

/// With the middleware: only trusted peers, RoadRunner's header order
/// (Forwarded, X-Forwarded-For leftmost, X-Real-Ip, ...), and only the
/// headers in `trusted_headers`.
#[test]
fn proxy_ip_parser_follows_trusted_subnets_and_trusted_headers() {
    let (_server, port) = start(
        "  middleware: [proxy_ip_parser]\n  trusted_subnets: [\"127.0.0.0/8\"]\n",
        1,
    );
    assert_eq!(remote_addr(port, SPOOF), "203.0.113.7");
    assert_eq!(
        remote_addr(
            port,
            &format!("Forwarded: for=\"[2001:db8::7]:4711\";proto=https\r\n{SPOOF}")
        ),
        "2001:db8::7"
    );
    assert_eq!(
        remote_addr(port, "X-Real-Ip: 198.51.100.1\r\n"),
        "198.51.100.1"
    );
    assert_eq!(
        remote_addr(port, "X-Forwarded-For: not-an-ip\r\n"),
        "127.0.0.1"
    );

    let (_server, port) = start(
        "  middleware: [proxy_ip_parser]\n  trusted_subnets: [\"10.0.0.0/8\"]\n",
        1,
    );
    assert_eq!(remote_addr(port, SPOOF), "127.0.0.1", "peer not trusted");

    let (_server, port) = start(
        "  middleware: [proxy_ip_parser]\n  trusted_subnets: [\"127.0.0.0/8\"]\n  trusted_headers: [\"X-Real-Ip\"]\n",
        1,
    );
    assert_eq!(remote_addr(port, SPOOF), "198.51.100.1");
    assert_eq!(
        remote_addr(port, "X-Forwarded-For: 5.6.7.8\r\n"),
        "127.0.0.1"
    );
    assert_eq!(remote_addr(port, "Forwarded: for=5.6.7.8\r\n"), "127.0.0.1");
}

// ---------------------------------------------------------------------
// Static files
// ---------------------------------------------------------------------

/// A server whose `static` middleware serves `root/public`.
fn start_static(root: &std::path::Path) -> (Server, u16) {
    std::fs::create_dir_all(root.join("public")).unwrap();
    start(
        &format!(
            "  middleware: [static]\n  static:\n    dir: {}\n    calculate_etag: true\n",
            root.join("public").display()
        ),
        1,
    )
}

/// `x.txt` is swapped between a regular file and a symlink to a secret
/// outside `dir` as fast as a thread can, for 2 s, while it is requested
/// over HTTP: the secret never comes out (the old code resolved the path,
/// then reopened it by name, and lost the race).
#[test]
fn a_symlink_swap_race_never_serves_outside_the_static_dir() {
    let temp = coyote_test_support::TempDir::new("coyote-static-race").unwrap();
    let base = temp.path().canonicalize().unwrap();
    let (_server, port) = start_static(&base);
    let public = base.join("public");
    std::fs::write(base.join("secret.txt"), "SECRET").unwrap();
    std::fs::write(public.join("x.txt"), "inside").unwrap();
    // The race lasts 2 s: time passing is the behaviour under test.
    let deadline = Instant::now() + Duration::from_secs(2);
    let swapper = {
        let (public, secret) = (public.clone(), base.join("secret.txt"));
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while Instant::now() < deadline {
                let link = public.join(".link");
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&secret, &link).unwrap();
                std::fs::rename(&link, public.join("x.txt")).unwrap();
                std::fs::write(public.join(".file"), "inside").unwrap();
                std::fs::rename(public.join(".file"), public.join("x.txt")).unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let (mut served, mut requests) = (0u32, 0u32);
    while Instant::now() < deadline {
        let r = get(port, "/x.txt");
        requests += 1;
        assert_ne!(r.text(), "SECRET", "served a file outside static.dir");
        if r.status == 200 && r.text() == "inside" {
            served += 1;
        }
    }
    let swaps = swapper.join().unwrap();
    eprintln!("static race: {requests} requests, {served} served from dir, {swaps} swaps");
    assert!(
        swaps > 100 && served > 10,
        "swaps {swaps}, served {served} of {requests}"
    );
}

/// `GET path`, answered within 5 s or the test fails.
fn get_within_5s(port: u16, path: &str) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut data = Vec::new();
    let read = stream.read_to_end(&mut data);
    assert!(read.is_ok(), "{path}: no answer within 5 s: {read:?}");
    responses(&data, &[]).remove(0)
}

/// A FIFO in `dir` is answered at once (403), also when a served file is
/// swapped for one mid-request; the old code's open blocked the request
/// and a thread for ever.
#[test]
fn a_fifo_in_the_static_dir_is_answered_promptly() {
    let temp = coyote_test_support::TempDir::new("coyote-static-fifo").unwrap();
    let base = temp.path().canonicalize().unwrap();
    let (_server, port) = start_static(&base);
    let public = base.join("public");
    let status = std::process::Command::new("mkfifo")
        .arg(public.join("pipe.txt"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(get_within_5s(port, "/pipe.txt").status, 403);
    // x.txt swapped between a file and the FIFO (hard links, renamed over
    // it) for 2 s: time passing is the behaviour under test.
    std::fs::write(public.join("file.txt"), "inside").unwrap();
    std::fs::hard_link(public.join("file.txt"), public.join("x.txt")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let swapper = {
        let public = public.clone();
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while Instant::now() < deadline {
                for source in ["pipe.txt", "file.txt"] {
                    let _ = std::fs::remove_file(public.join(".tmp"));
                    std::fs::hard_link(public.join(source), public.join(".tmp")).unwrap();
                    std::fs::rename(public.join(".tmp"), public.join("x.txt")).unwrap();
                }
                swaps += 1;
            }
            swaps
        })
    };
    let (mut files, mut fifos) = (0u32, 0u32);
    while Instant::now() < deadline {
        let r = get_within_5s(port, "/x.txt");
        match r.status {
            200 => {
                assert_eq!(r.text(), "inside");
                files += 1;
            }
            403 => fifos += 1,
            other => panic!("{other}: {r:?}"),
        }
    }
    let swaps = swapper.join().unwrap();
    eprintln!("fifo race: {files} files, {fifos} FIFOs refused, {swaps} swaps");
    assert!(
        swaps > 100 && files > 10,
        "swaps {swaps}, files {files}, FIFOs {fifos}"
    );
    std::fs::write(public.join("a.txt"), "a").unwrap();
    assert_eq!(get(port, "/a.txt").text(), "a");
}

/// The ETag is made from metadata: other bytes of the same length with
/// the same inode and mtime keep it (the old code hashed the whole file,
/// read into memory, on every GET and HEAD).
#[test]
fn static_etags_never_read_the_file() {
    let temp = coyote_test_support::TempDir::new("coyote-static-etag").unwrap();
    let base = temp.path().canonicalize().unwrap();
    let (_server, port) = start_static(&base);
    let path = base.join("public/a.txt");
    std::fs::write(&path, "aaaa").unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let first = get(port, "/a.txt");
    assert_eq!(first.text(), "aaaa");
    let tag = first.header("etag").unwrap().to_owned();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    (&file).write_all(b"bbbb").unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    let second = get(port, "/a.txt");
    assert_eq!(second.text(), "bbbb");
    assert_eq!(second.header("etag"), Some(tag.as_str()));
    let not_modified = send(
        port,
        &format!("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {tag}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(not_modified.status, 304);
}

// ---------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------

/// Reads one response from `stream` (the server closes after it), at most
/// `limit`; `None` when nothing came in time.
fn answer_within(stream: &mut TcpStream, limit: Duration) -> Option<Reply> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut data = Vec::new();
    stream.read_to_end(&mut data).ok()?;
    (!data.is_empty()).then(|| responses(&data, &[]).remove(0))
}

/// Clients that announce a body and send it slowly (or stop sending) get
/// 408 once `body_read_timeout` passes, and the connection closes; the
/// only worker serves other clients meanwhile. (Before: held for ever.)
#[test]
fn slow_request_bodies_get_408_and_never_hold_a_worker() {
    let (server, port) = start("  body_read_timeout: 1s\n", 1);
    let head = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n";
    let started = Instant::now();
    // 20 clients send their head and 1 byte of 1000, then nothing.
    let mut stalled: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(b"x").unwrap();
            s
        })
        .collect();
    // Meanwhile the single worker answers someone else.
    let pid = get(port, "/pid");
    assert_eq!(pid.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "served while bodies stall"
    );
    for s in &mut stalled {
        let r = answer_within(s, Duration::from_secs(10)).expect("no 408 within 10 s");
        assert_eq!(r.status, 408, "{r:?}");
        assert_eq!(r.header("connection"), Some("close"));
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // A client trickling a byte every 100 ms is cut off too: the timeout
    // is for the whole body, not between bytes. The sleeps are the slow
    // client (time passing is the behaviour under test).
    let mut trickle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    trickle.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut cut = false;
    for _ in 0..40 {
        if trickle.write_all(b"x").is_err() {
            cut = true;
            break;
        }
        // sleep is the behaviour under test: the client trickles its body
        // a byte every 100 ms, past body_read_timeout.
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = answer_within(&mut trickle, Duration::from_secs(5));
    assert!(
        cut || r.as_ref().is_some_and(|r| r.status == 408),
        "trickled body not refused: {r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // A normal body still goes through.
    let r = send(
        port,
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["body"], "hello");
    assert!(!server.output().contains("panicked"));
}

/// Zero is refused at startup with the key named (exit code 3), as are
/// out-of-range head limits.
#[test]
fn new_limits_are_validated() {
    for (line, key) in [
        ("  body_read_timeout: 0s\n", "http.body_read_timeout"),
        (
            "  max_response_headers: 40000\n",
            "http.max_response_headers",
        ),
        (
            "  max_response_header_bytes: 0\n",
            "http.max_response_header_bytes",
        ),
    ] {
        let config = format!(
            "version: \"3\"\nserver:\n  command: \"{php} {worker}\"\nhttp:\n  address: 127.0.0.1:0\n{line}",
            php = php(),
            worker = worker(),
        );
        let mut server = Server::start(BIN, &config, &[]).unwrap();
        let status = server.wait_exit(Duration::from_secs(20)).expect("exits");
        assert_eq!(status.code(), Some(3), "{line}: {}", server.output());
        assert!(server.output().contains(key), "{}", server.output());
    }
}
