//! End-to-end: the example apps and the shape of requests as PHP sees
//! them, against the real binary and real PHP workers on port-0 listeners.
//! Every wait has a deadline; servers stop on drop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{config, example_config, get, http_port, post, raw, start};
use coyote_test_support::wait_until;

#[test]
fn serves_the_example_app() {
    // Both request-context encodings: the PSR-7 worker answers in kind.
    for encoding in ["json", "proto"] {
        let cfg = example_config("hello", 2, &format!("  context_encoding: {encoding}\n"));
        let server = start(&cfg);
        let http = http_port(&server);
        let page = get(http, "/", "");
        assert_eq!(page.status, 200, "{encoding}: {}", page.text());
        assert!(page.text().contains("Hello from Coyote"));
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{encoding}: response headers"
        );
        let echo = get(
            http,
            "/echo?hello=world&list[]=1&list[]=2",
            "X-Test: yes\r\nX-Test: again\r\nCookie: a=1; b=two\r\n",
        );
        let v = echo.json();
        assert_eq!(v["query"]["hello"], "world", "{encoding}");
        assert_eq!(v["query"]["list"], serde_json::json!(["1", "2"]));
        assert_eq!(v["headers"]["X-Test"], serde_json::json!(["yes", "again"]));
        assert_eq!(v["cookies"], serde_json::json!({"a": "1", "b": "two"}));
        assert_eq!(v["remoteAddr"], "127.0.0.1");
        let form = post(
            http,
            "/echo",
            "application/x-www-form-urlencoded",
            b"a[b][]=1&a[b][]=2&c=3",
        );
        assert_eq!(
            form.json()["parsedBody"],
            serde_json::json!({"a": {"b": ["1", "2"]}, "c": "3"}),
            "{encoding}"
        );
        assert!(!server.output().contains("ERROR"), "{}", server.output());
    }
}

#[test]
fn serves_the_slim_example() {
    let server = start(&example_config("slim", 1, ""));
    let http = http_port(&server);
    let page = get(http, "/", "");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.text(), "<h1>Slim on Coyote</h1>");
    let first = page.header("x-worker").unwrap().to_owned();
    let hello = get(http, "/hello/bob?x=1", "");
    assert_eq!(
        hello.json(),
        serde_json::json!({"hello": "bob", "query": {"x": "1"}})
    );
    // Same process, one more request: the app stayed booted.
    let (pid, count) = first.split_once('/').unwrap();
    let count: u32 = count.parse().unwrap();
    assert_eq!(
        hello.header("x-worker").unwrap(),
        format!("{pid}/{}", count + 1)
    );
    let r = post(
        http,
        "/echo",
        "application/x-www-form-urlencoded",
        b"a[b]=1&c=2",
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json()["body"],
        serde_json::json!({"a": {"b": "1"}, "c": "2"})
    );
    let r = post(http, "/echo", "application/json", br#"{"n":[1,2]}"#);
    assert_eq!(r.json()["body"], serde_json::json!({"n": [1, 2]}));
    assert_eq!(get(http, "/nope", "").status, 404);
    let r = raw(
        http,
        b"PUT /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    // Slim's error handler answers 500 without details; the worker lives on.
    let r = get(http, "/fail", "");
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("the handler failed"));
    assert_eq!(get(http, "/", "").status, 200);
    assert!(
        server.output().contains("the handler failed"),
        "the error reaches the log"
    );
}

#[test]
fn requests_reach_php_as_roadrunner_sends_them() {
    let server = start(&config(2, ""));
    let http = http_port(&server);

    let r = get(
        http,
        "/echo?a[]=1&a[]=2&b[c]=3",
        "X-Many: one\r\nX-Many: two\r\nCookie: theme=dark%20blue; sid=xyz\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.all("x-multi"),
        ["a", "b"],
        "multiple response header values"
    );
    let v = r.json();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["protocol"], "HTTP/1.1");
    assert_eq!(v["uri"], "http://localhost/echo?a[]=1&a[]=2&b[c]=3");
    assert_eq!(
        v["query"],
        serde_json::json!({"a": ["1", "2"], "b": {"c": "3"}})
    );
    assert_eq!(v["headers"]["X-Many"], serde_json::json!(["one", "two"]));
    assert!(v["headers"].get("Host").is_none());
    assert_eq!(
        v["cookies"],
        serde_json::json!({"theme": "dark blue", "sid": "xyz"})
    );
    assert_eq!(v["remoteAddr"], "127.0.0.1");

    let r = post(http, "/echo", "application/json", br#"{"x":[1,2]}"#);
    let v = r.json();
    assert_eq!(v["parsed"], false);
    assert_eq!(v["body"], r#"{"x":[1,2]}"#);

    let r = post(
        http,
        "/echo",
        "application/x-www-form-urlencoded",
        b"user[name]=ann&user[roles][]=admin&user[roles][]=dev&plain=x+y",
    );
    let v = r.json();
    assert_eq!(v["parsed"], true);
    assert_eq!(
        v["parsedBody"],
        serde_json::json!({"user": {"name": "ann", "roles": ["admin", "dev"]}, "plain": "x y"})
    );

    let body = "--B\r\n\
        Content-Disposition: form-data; name=\"meta[title]\"\r\n\r\nreport\r\n\
        --B\r\n\
        Content-Disposition: form-data; name=\"files[doc]\"; filename=\"notes.txt\"\r\n\
        Content-Type: text/plain\r\n\r\nhello upload\r\n\
        --B\r\n\
        Content-Disposition: form-data; name=\"files[bad]\"; filename=\"shell.php\"\r\n\
        Content-Type: application/x-php\r\n\r\n<?php evil();\r\n\
        --B--\r\n";
    let r = post(
        http,
        "/echo",
        "multipart/form-data; boundary=B",
        body.as_bytes(),
    );
    let v = r.json();
    assert_eq!(
        v["parsedBody"],
        serde_json::json!({"meta": {"title": "report"}})
    );
    let doc = &v["uploads"]["files"]["doc"];
    assert_eq!(doc["name"], "notes.txt");
    assert_eq!(doc["size"], 12);
    assert_eq!(doc["error"], 0);
    assert_eq!(doc["exists"], true, "temp file exists during the request");
    assert_eq!(doc["content"], "hello upload");
    let tmp = doc["tmpName"].as_str().unwrap().to_owned();
    let bad = &v["uploads"]["files"]["bad"];
    assert_eq!(bad["error"], 8, "forbidden extension");
    assert_eq!(bad["exists"], false);
    let removed = wait_until(Duration::from_secs(5), || {
        (!std::path::Path::new(&tmp).exists()).then_some(())
    });
    assert!(removed.is_some(), "temp file {tmp} not removed");
    drop(server);
}
