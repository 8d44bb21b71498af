//! End-to-end: worker errors and crashes, request limits (413, 431, the
//! header timeout against slowloris), a busy pool's 503, streams, early
//! hints, trailers and malformed requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{
    config, get, http_port, marker, parse, post, raw, start, wait_for_idle_worker, wait_for_marker,
    wait_for_output,
};

#[test]
fn errors_limits_streams_and_status_codes() {
    let server = start(&config(1, "  max_request_size: 1\n"));
    let http = http_port(&server);

    let r = get(http, "/error", "");
    assert_eq!(r.status, 500);
    assert!(
        !r.text().contains("secret failure text"),
        "no details outside debug mode"
    );
    assert!(
        wait_for_output(&server, "secret failure text", Duration::from_secs(10)),
        "the error text is logged"
    );

    // Announced too large: refused from the headers, before any body byte.
    let r = raw(
        http,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 2097152\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    let chunked = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        700_000,
        "y".repeat(700_000),
        700_000,
        "y".repeat(700_000)
    );
    assert_eq!(
        raw(http, chunked.as_bytes()).status,
        413,
        "chunked body over the limit"
    );

    let r = get(http, "/crash", "");
    assert_eq!(r.status, 500);
    assert_eq!(
        get(http, "/status/201", "").status,
        201,
        "served after a crash"
    );

    let r = get(http, "/stream", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "part-0\npart-1\npart-2\n");

    // 103 Early Hints goes out as an interim response, then the final one.
    let mut stream = TcpStream::connect(("127.0.0.1", http)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(b"GET /early-hints HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut data = Vec::new();
    stream.read_to_end(&mut data).unwrap();
    let hint = b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n";
    assert!(data.starts_with(hint), "{}", String::from_utf8_lossy(&data));
    let r = parse(&data[hint.len()..]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-final"), Some("yes"));
    assert_eq!(r.text(), "final");
    let r = raw(
        http,
        b"GET /early-hints HTTP/1.0\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(r.status, 200, "HTTP/1.0 clients get no interim response");

    // Headers named in `Trailer` go after the body (the client asked for
    // trailers with TE).
    let mut stream = TcpStream::connect(("127.0.0.1", http)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(b"GET /trailers HTTP/1.1\r\nHost: localhost\r\nTE: trailers\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut data = Vec::new();
    stream.read_to_end(&mut data).unwrap();
    let text = String::from_utf8_lossy(&data).to_ascii_lowercase();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("transfer-encoding: chunked"), "{text}");
    assert!(
        head.contains("trailer: x-checksum") && head.contains("x-head: here"),
        "{text}"
    );
    assert!(!head.contains("x-checksum: abc123"), "{text}");
    assert!(body.ends_with("0\r\nx-checksum: abc123\r\n\r\n"), "{text}");
    assert!(body.contains("body then trailers"), "{text}");

    assert_eq!(get(http, "/status/418", "").status, 418);
    let r = raw(http, b"GARBAGE\r\n\r\n");
    assert_eq!(r.status, 400, "malformed request line");
    let r = post(
        http,
        "/echo",
        "multipart/form-data; boundary=B",
        b"--B\r\nnot a part header",
    );
    assert_eq!(r.status, 400, "truncated multipart body");
    let r = post(http, "/echo", "multipart/form-data", b"--B--\r\n");
    assert_eq!(r.status, 400, "multipart without a boundary");
    let r = raw(
        http,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400, "invalid chunk size");
    assert_eq!(get(http, "/status/200", "").status, 200, "still serving");
}

#[test]
fn debug_mode_shows_worker_errors() {
    let cfg = config(1, "").replace(
        "    num_workers: 1\n",
        "    num_workers: 1\n    debug: true\n",
    );
    let server = start(&cfg);
    let http = http_port(&server);
    let r = get(http, "/error", "");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("secret failure text"), "{}", r.text());
}

#[test]
fn busy_pool_answers_503_with_retry_after() {
    let cfg = config(1, "").replace("allocate_timeout: 10s", "allocate_timeout: 200ms");
    let server = start(&cfg);
    let http = http_port(&server);
    // The worker boots within the 200 ms allocate_timeout only when the
    // machine is not loaded; the supervisor retries, so wait until it is
    // up.
    wait_for_idle_worker(&server, "http");
    let busy = marker(&server, "busy");
    let path = format!("/slow?ms=1500&marker={}", busy.display());
    let slow = std::thread::spawn(move || get(http, &path, ""));
    // The only worker has the slow request.
    wait_for_marker(&server, &busy);
    let r = get(http, "/status/200", "");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("no-workers"), Some("true"));
    assert_eq!(slow.join().unwrap().status, 200);
}

#[test]
fn slowloris_is_cut_off_at_the_header_timeout_and_workers_stay_free() {
    let server = start(&config(1, "  header_read_timeout: 1s"));
    let http = http_port(&server);
    // 20 clients trickle a request head one byte at a time.
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", http)).unwrap();
            s.write_all(b"GET /pid HTTP/1.1\r\nHost: localhost\r\n")
                .unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let mut served_meanwhile = false;
    while started.elapsed() < Duration::from_millis(2500) {
        for s in &mut slow {
            let _ = s.write_all(b"X");
        }
        if !served_meanwhile {
            // The only worker is not tied up by the trickling clients.
            let t = Instant::now();
            let r = get(http, "/pid", "");
            assert_eq!(r.status, 200);
            assert!(t.elapsed() < Duration::from_secs(2), "served late");
            served_meanwhile = true;
        }
        // sleep is the behaviour under test: the clients trickle a byte
        // every 100 ms, for longer than the header timeout.
        std::thread::sleep(Duration::from_millis(100));
    }
    // By now (2.5 s, timeout 1 s) every trickling connection is closed:
    // a read ends at once instead of waiting.
    for (i, s) in slow.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = Vec::new();
        match s.read_to_end(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection {i} still open after the header timeout: {e}"),
        }
        assert!(
            buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
            "connection {i} got {:?}",
            String::from_utf8_lossy(&buf)
        );
    }
    assert!(served_meanwhile);
    drop(server);
}

#[test]
fn oversized_request_heads_get_431() {
    let server = start(&config(1, ""));
    let http = http_port(&server);
    // More header lines than the parser takes (100): the whole head is
    // read, so the answer is always seen.
    let mut req = String::from("GET /pid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for i in 0..150 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let r = raw(http, req.as_bytes());
    assert_eq!(r.status, 431);

    // A 2 MiB header against the 1 MiB head limit: the server answers 431
    // and closes while the client may still be writing.
    let mut stream = TcpStream::connect(("127.0.0.1", http)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let mut head = b"GET /pid HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
        head.resize(head.len() + 2 * 1024 * 1024, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        let _ = writer.write_all(&head);
    });
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !data.is_empty() => break,
            Err(e) => panic!("no answer to an oversized head: {e}"),
        }
    }
    sending.join().unwrap();
    assert!(
        data.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&data[..data.len().min(200)])
    );
    // And the server is fine.
    assert_eq!(get(http, "/pid", "").status, 200);
}
