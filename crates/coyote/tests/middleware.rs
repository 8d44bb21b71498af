//! End-to-end: the middleware in front of the workers: request/response
//! headers, CORS preflights answered without a worker, gzip, and static
//! files (never PHP sources, never out of the root).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;

use common::{cli, config, get, http_port, raw, start};

#[test]
fn headers_middleware_and_cors() {
    let extra = "  middleware: [\"headers\", \"gzip\"]\n  headers:\n    request:\n      X-From-Coyote: \"yes\"\n    response:\n      X-Powered-By: \"coyote\"\n    cors:\n      allowed_origin: \"https://app.example.com\"\n      allowed_headers: \"Content-Type, X-Token\"\n      allowed_methods: \"GET, POST\"\n      allow_credentials: true\n      exposed_headers: \"X-Total\"\n      max_age: 600\n";
    let server = start(&config(1, extra));
    let http = http_port(&server);
    let pre = raw(
        http,
        b"OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-token\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(pre.header("access-control-allow-headers"), Some("x-token"));
    assert_eq!(pre.header("access-control-max-age"), Some("600"));
    let denied = raw(
        http,
        b"OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    );
    assert!(denied.header("access-control-allow-origin").is_none());

    let r = get(http, "/echo", "Origin: https://app.example.com\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-expose-headers"), Some("X-Total"));
    assert_eq!(r.header("x-powered-by"), Some("coyote"));
    assert_eq!(
        r.json()["headers"]["X-From-Coyote"],
        serde_json::json!(["yes"])
    );
    let execs: u64 = {
        let out = cli(&server, &["workers"]);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
            .sum()
    };
    assert_eq!(execs, 1, "preflights never reached a worker");

    let long = "x".repeat(3000);
    let plain = get(http, &format!("/echo?q={long}"), "");
    assert!(plain.header("content-encoding").is_none());
    let zipped = get(
        http,
        &format!("/echo?q={long}"),
        "Accept-Encoding: gzip, br\r\n",
    );
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(
        zipped.body.len() < plain.body.len() / 4,
        "{} vs {}",
        zipped.body.len(),
        plain.body.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&unzipped).unwrap();
    assert_eq!(v["query"]["q"].as_str().map(str::len), Some(3000));
    let streamed = get(http, "/stream", "Accept-Encoding: gzip\r\n");
    assert!(
        streamed.header("content-encoding").is_none(),
        "streams are not buffered for gzip"
    );
    assert_eq!(streamed.text(), "part-0\npart-1\npart-2\n");
}

#[test]
fn static_files_without_a_worker() {
    let temp = coyote_test_support::TempDir::new("coyote-static").unwrap();
    let public = temp.path().join("public");
    std::fs::create_dir_all(public.join("css")).unwrap();
    std::fs::write(public.join("css/site.css"), "body{color:red}").unwrap();
    std::fs::write(public.join("index.php"), "<?php secret();").unwrap();
    std::fs::write(temp.path().join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(temp.path().join("secret.txt"), public.join("link.txt")).unwrap();
    let extra = format!(
        "  middleware: [\"static\"]\n  static:\n    dir: {}\n    calculate_etag: true\n    response:\n      Cache-Control: \"max-age=60\"\n",
        public.display()
    );
    let server = start(&config(1, &extra));
    let http = http_port(&server);

    let r = get(http, "/css/site.css", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "body{color:red}");
    assert_eq!(r.header("content-type"), Some("text/css"));
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    let etag = r.header("etag").unwrap().to_owned();
    assert!(r.header("last-modified").is_some());
    let again = get(http, "/css/site.css", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let part = get(http, "/css/site.css", "Range: bytes=5-9\r\n");
    assert_eq!(part.status, 206);
    assert_eq!(part.text(), "color");
    assert_eq!(part.header("content-range"), Some("bytes 5-9/15"));
    assert_eq!(
        get(http, "/css/site.css", "Range: bytes=99-\r\n").status,
        416
    );
    let head = raw(
        http,
        b"HEAD /css/site.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("15"));

    // Never served: PHP sources, paths out of the root, symlinks out.
    for path in [
        "/index.php",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/css/%2E%2E/%2E%2E/secret.txt",
        "/link.txt",
        "//etc/passwd",
    ] {
        let r = get(http, path, "");
        assert!(
            !r.text().contains("top secret") && !r.text().contains("secret();"),
            "{path} leaked: {}",
            r.text()
        );
        assert!(!r.text().contains("root:"), "{path} leaked /etc/passwd");
    }
    // Everything else still reaches PHP.
    assert_eq!(get(http, "/status/201", "").status, 201);
}
