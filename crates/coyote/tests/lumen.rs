//! End-to-end: a real Lumen application (`examples/lumen`, Debian's
//! php-laravel-lumen-framework) served by the real binary through the PHP
//! SDK's HttpFoundation bridge, in both request-context encodings: JSON
//! routes, a multipart upload checked byte for byte, query/header/cookie
//! reading, several Set-Cookie headers, file and streamed responses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{example_config, get, http_port, post, raw, start};
use coyote_test_support::repo_root;
use sha2::{Digest, Sha256};

/// A binary upload body: every byte value, CR/LF and dashes that look like
/// a boundary, so a parser that mangles any of them changes the hash.
fn upload_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    out.extend_from_slice(b"\r\n--B\r\n--Boundary\r\n");
    out
}

fn multipart(boundary: &str, title: &str, file_name: &str, file: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{title}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[test]
fn serves_the_lumen_example() {
    for encoding in ["json", "proto"] {
        let cfg = example_config("lumen", 2, &format!("  context_encoding: {encoding}\n"));
        let server = start(&cfg);
        let http = http_port(&server);

        // The JSON route, through Lumen's router and a controller.
        let user = get(http, "/users/42", "");
        assert_eq!(user.status, 200, "{encoding}: {}", user.text());
        assert_eq!(user.header("content-type"), Some("application/json"));
        assert_eq!(
            user.json(),
            serde_json::json!({"id": 42, "name": "User 42", "email": "user42@example.test", "roles": ["member"]}),
            "{encoding}"
        );
        assert_eq!(get(http, "/users/abc", "").status, 404, "{encoding}");
        let r = raw(
            http,
            b"DELETE /users/1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 405, "{encoding}");

        // Query, header and cookie as the app reads them; two cookies back.
        let seen = get(
            http,
            "/inspect?q=hello%20world",
            "X-Token: t0k\r\nCookie: sid=abc; other=1\r\n",
        );
        assert_eq!(seen.status, 200, "{encoding}: {}", seen.text());
        assert_eq!(
            seen.json(),
            serde_json::json!({
                "q": "hello world", "token": "t0k", "sid": "abc", "ip": "127.0.0.1",
                "host": "localhost", "url": "http://localhost/inspect?q=hello%20world", "secure": false,
            }),
            "{encoding}"
        );
        assert_eq!(seen.header("x-served-by"), Some("lumen"));
        let cookies = seen.all("set-cookie");
        assert_eq!(cookies.len(), 2, "{encoding}: {cookies:?}");
        assert!(cookies[0].starts_with("seen=yes; path=/"), "{cookies:?}");
        assert!(cookies[0].contains("httponly"), "{cookies:?}");
        assert!(cookies[1].starts_with("theme=dark; path=/"), "{cookies:?}");
        assert!(!cookies[1].contains("httponly"), "{cookies:?}");

        // A multipart upload: the app sees the file whole (size and hash).
        let file = upload_bytes(300_000);
        let body = multipart("Boundary42", "report", "data.bin", &file);
        let up = post(
            http,
            "/upload",
            "multipart/form-data; boundary=Boundary42",
            &body,
        );
        assert_eq!(up.status, 201, "{encoding}: {}", up.text());
        let expected = format!("{:x}", Sha256::digest(&file));
        assert_eq!(
            up.json(),
            serde_json::json!({
                "name": "data.bin", "size": file.len(), "mime": "application/octet-stream",
                "sha256": expected, "title": "report",
            }),
            "{encoding}"
        );
        // A forbidden extension never reaches the disk: not a valid file.
        let body = multipart("B", "x", "evil.php", b"<?php evil();");
        let refused = post(http, "/upload", "multipart/form-data; boundary=B", &body);
        assert_eq!(refused.status, 422, "{encoding}: {}", refused.text());

        // A BinaryFileResponse and a StreamedResponse.
        let download = get(http, "/download", "");
        assert_eq!(download.status, 200, "{encoding}: {}", download.text());
        let on_disk = std::fs::read(repo_root().join("examples/lumen/public/hello.txt")).unwrap();
        assert_eq!(download.body, on_disk, "{encoding}");
        assert_eq!(
            download.header("content-disposition"),
            Some("attachment; filename=hello.txt")
        );
        let stream = get(http, "/stream", "");
        assert_eq!(stream.status, 200, "{encoding}");
        assert_eq!(stream.text(), "one\ntwo\nthree\n", "{encoding}");
        assert_eq!(stream.header("transfer-encoding"), Some("chunked"));

        assert!(
            !server.output().contains("ERROR"),
            "{encoding}: {}",
            server.output()
        );
    }
}
