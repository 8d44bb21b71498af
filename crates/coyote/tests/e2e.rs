//! End-to-end: the real `coyote` binary, a temp dir with a `.rr.yaml`,
//! real PHP workers, real HTTP on 127.0.0.1 ports picked by the test.
//! Every wait has a deadline; servers stop on drop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use coyote_test_support::{free_port, php, repo_root, wait_for_port, Server};

const BIN: &str = env!("CARGO_BIN_EXE_coyote");

fn test_worker() -> String {
    repo_root()
        .join("crates/coyote/tests/workers/http.php")
        .display()
        .to_string()
}

struct Ports {
    http: u16,
    rpc: u16,
    status: u16,
}

/// A config with the e2e worker; `extra_http` is appended under `http:`.
fn config(ports: &Ports, workers: usize, extra_http: &str) -> String {
    format!(
        r#"version: "3"
rpc:
  listen: tcp://127.0.0.1:{rpc}
server:
  command: "{php} {worker}"
http:
  address: 127.0.0.1:{http}
  pool:
    num_workers: {workers}
    allocate_timeout: 10s
    destroy_timeout: 5s
{extra_http}
status:
  address: 127.0.0.1:{status}
logs:
  level: info
"#,
        rpc = ports.rpc,
        http = ports.http,
        status = ports.status,
        php = php(),
        worker = test_worker(),
    )
}

/// A config serving `examples/<name>/worker.php`; `extra_http` is
/// appended under `http:`.
fn example_config(name: &str, ports: &Ports, workers: usize, extra_http: &str) -> String {
    format!(
        "version: \"3\"\nserver:\n  command: \"{php} {worker}\"\nhttp:\n  address: 127.0.0.1:{http}\n{extra_http}  pool:\n    num_workers: {workers}\n",
        php = php(),
        worker = repo_root().join("examples").join(name).join("worker.php").display(),
        http = ports.http,
    )
}

fn ports() -> Ports {
    Ports {
        http: free_port(),
        rpc: free_port(),
        status: free_port(),
    }
}

fn start(config: &str, ports: &Ports) -> Server {
    let server = Server::start(BIN, config, &[]).unwrap();
    let addr = format!("127.0.0.1:{}", ports.http);
    assert!(
        wait_for_port(&addr, Duration::from_secs(20)),
        "server did not start:\n{}",
        server.output()
    );
    server
}

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

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// Sends raw bytes, reads until the server closes, parses the reply
/// (Content-Length or chunked).
fn raw(port: u16, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut data = Vec::new();
    stream.read_to_end(&mut data).unwrap();
    parse(&data)
}

fn parse(data: &[u8]) -> Reply {
    let split = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(data)));
    let head = String::from_utf8_lossy(&data[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = data[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                    .unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn get(port: u16, path: &str, extra: &str) -> Reply {
    raw(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
}

fn post(port: u16, path: &str, content_type: &str, body: &[u8]) -> Reply {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(port, &req)
}

/// Creates (once) an unprivileged system user for the test; `None` when
/// not running as root, where workers cannot change user at all.
fn test_user() -> Option<(String, u32)> {
    let me = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid_line = me.lines().find(|l| l.starts_with("Uid:")).unwrap();
    if uid_line.split_whitespace().nth(1) != Some("0") {
        eprintln!("not root: skipping the server.user test (it needs root, as RoadRunner does)");
        return None;
    }
    let name = "coyote-e2e";
    let _ = std::process::Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ])
        .output();
    let out = std::process::Command::new("id")
        .args(["-u", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "useradd {name} failed");
    let uid = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Some((name.to_owned(), uid))
}

fn uid_of(pid: &str) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn workers_run_as_the_configured_user() {
    let Some((user, uid)) = test_user() else {
        return;
    };
    let p = ports();
    let cfg = config(&p, 1, "").replace("server:\n", &format!("server:\n  user: {user}\n"));
    let server = start(&cfg, &p);
    let pid = get(p.http, "/pid", "").text();
    assert_eq!(uid_of(&pid), uid, "worker {pid} runs as {user}");
    assert_eq!(
        uid_of(&server.pid().to_string()),
        0,
        "the server itself stays root"
    );
    // Upload temp files are handed to the worker user (0600), so PHP can
    // read them and nobody else can.
    let body = "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nsecret\r\n--B--\r\n";
    let r = post(
        p.http,
        "/echo",
        "multipart/form-data; boundary=B",
        body.as_bytes(),
    );
    let v = r.json();
    assert_eq!(
        v["uploads"]["f"]["content"], "secret",
        "the worker user could read its upload"
    );
}

#[test]
fn headers_middleware_and_cors() {
    let p = ports();
    let extra = "  middleware: [\"headers\", \"gzip\"]\n  headers:\n    request:\n      X-From-Coyote: \"yes\"\n    response:\n      X-Powered-By: \"coyote\"\n    cors:\n      allowed_origin: \"https://app.example.com\"\n      allowed_headers: \"Content-Type, X-Token\"\n      allowed_methods: \"GET, POST\"\n      allow_credentials: true\n      exposed_headers: \"X-Total\"\n      max_age: 600\n";
    let server = start(&config(&p, 1, extra), &p);
    let pre = raw(
        p.http,
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
        p.http,
        b"OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    );
    assert!(denied.header("access-control-allow-origin").is_none());

    let r = get(p.http, "/echo", "Origin: https://app.example.com\r\n");
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
        let out = std::process::Command::new(BIN)
            .args(["workers", "-c"])
            .arg(server.dir.join(".rr.yaml"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
            .sum()
    };
    assert_eq!(execs, 1, "preflights never reached a worker");

    let long = "x".repeat(3000);
    let plain = get(p.http, &format!("/echo?q={long}"), "");
    assert!(plain.header("content-encoding").is_none());
    let zipped = get(
        p.http,
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
    let streamed = get(p.http, "/stream", "Accept-Encoding: gzip\r\n");
    assert!(
        streamed.header("content-encoding").is_none(),
        "streams are not buffered for gzip"
    );
    assert_eq!(streamed.text(), "part-0\npart-1\npart-2\n");
}

#[test]
fn static_files_without_a_worker() {
    let p = ports();
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
    let _server = start(&config(&p, 1, &extra), &p);

    let r = get(p.http, "/css/site.css", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "body{color:red}");
    assert_eq!(r.header("content-type"), Some("text/css"));
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    let etag = r.header("etag").unwrap().to_owned();
    assert!(r.header("last-modified").is_some());
    let again = get(
        p.http,
        "/css/site.css",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let part = get(p.http, "/css/site.css", "Range: bytes=5-9\r\n");
    assert_eq!(part.status, 206);
    assert_eq!(part.text(), "color");
    assert_eq!(part.header("content-range"), Some("bytes 5-9/15"));
    assert_eq!(
        get(p.http, "/css/site.css", "Range: bytes=99-\r\n").status,
        416
    );
    let head = raw(
        p.http,
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
        let r = get(p.http, path, "");
        assert!(
            !r.text().contains("top secret") && !r.text().contains("secret();"),
            "{path} leaked: {}",
            r.text()
        );
        assert!(!r.text().contains("root:"), "{path} leaked /etc/passwd");
    }
    // Everything else still reaches PHP.
    assert_eq!(get(p.http, "/status/201", "").status, 201);
}

/// CPUs this process may run on (`Cpus_allowed_list`, e.g. "0-1,4").
fn allowed_cpus(pid: u32) -> Vec<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_owned();
    list.split(',')
        .flat_map(|range| {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()
        })
        .collect()
}

#[test]
fn sharded_server_runs_a_pinned_event_loop_and_workers_per_cpu() {
    let p = ports();
    let server =
        Server::start_with_env(BIN, &config(&p, 4, ""), &[], &[("COYOTE_SHARDS", "2")]).unwrap();
    assert!(
        wait_for_port(&format!("127.0.0.1:{}", p.http), Duration::from_secs(20)),
        "server did not start:\n{}",
        server.output()
    );
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .collect();
    for shard in ["coyote-shard-0", "coyote-shard-1"] {
        assert!(threads.iter().any(|t| t == shard), "{threads:?}");
    }
    // Many connections at once, with queueing (4 workers, 16 callers):
    // every request is answered, by workers of both shards.
    let port = p.http;
    let callers: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| {
                        let r = get(port, "/pid", "");
                        assert_eq!(r.status, 200, "{}", r.text());
                        r.text().trim().parse::<u32>().unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let pids: HashSet<u32> = callers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(pids.len() >= 2, "{pids:?}");
    // With at least two CPUs, each shard and its two workers share one.
    let workers: Vec<u32> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .map(|p| p.parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(workers.len(), 4, "{workers:?}");
    assert!(
        pids.iter().all(|p| workers.contains(p)),
        "{pids:?} {workers:?}"
    );
    if allowed_cpus(server.pid()).len() >= 2 {
        let mut per_cpu = std::collections::BTreeMap::<usize, usize>::new();
        for pid in &workers {
            let pinned = allowed_cpus(*pid);
            assert_eq!(pinned.len(), 1, "worker {pid} is not pinned: {pinned:?}");
            *per_cpu.entry(pinned[0]).or_default() += 1;
        }
        assert_eq!(
            per_cpu.values().copied().collect::<Vec<_>>(),
            [2, 2],
            "{per_cpu:?}"
        );
    }
}
