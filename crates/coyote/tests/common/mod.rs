//! Shared by the end-to-end test files: configs with port-0 listeners,
//! starting the real binary and waiting for `phase running`, the operator
//! CLI pointed at a server's bound RPC address, and a raw HTTP/1.1 client.

// Each test file uses its own part of this module.
#![allow(dead_code)]

pub mod handoff;
pub mod jobs;
pub mod kv;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coyote_test_support::{php, repo_root, wait_until, Server};

pub const BIN: &str = env!("CARGO_BIN_EXE_coyote");

pub fn test_worker() -> String {
    repo_root()
        .join("crates/coyote/tests/workers/http.php")
        .display()
        .to_string()
}

/// The head every e2e config starts with: `version`, an `rpc` listener
/// on port 0 and `server.command` running `worker` under the test PHP.
pub fn preamble(worker: &std::path::Path) -> String {
    format!(
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nserver:\n  command: \"{php} {worker}\"\n",
        php = php(),
        worker = worker.display(),
    )
}

/// A config with the e2e worker, every listener on port 0 (the test reads
/// the bound ports from the report); `extra_http` is appended under `http:`.
pub fn config(workers: usize, extra_http: &str) -> String {
    config_with(workers, extra_http, "")
}

/// [`config`] with `extra_status` appended under `status:` (indented 2).
pub fn config_with(workers: usize, extra_http: &str, extra_status: &str) -> String {
    format!(
        r#"{preamble}http:
  address: 127.0.0.1:0
  pool:
    num_workers: {workers}
    allocate_timeout: 10s
    destroy_timeout: 5s
{extra_http}
status:
  address: 127.0.0.1:0
{extra_status}logs:
  level: info
"#,
        preamble = preamble(std::path::Path::new(&test_worker())),
    )
}

/// A config serving `examples/<name>/worker.php` on port 0; `extra_http`
/// is appended under `http:`.
pub fn example_config(name: &str, workers: usize, extra_http: &str) -> String {
    format!(
        "version: \"3\"\nserver:\n  command: \"{php} {worker}\"\nhttp:\n  address: 127.0.0.1:0\n{extra_http}  pool:\n    num_workers: {workers}\n",
        php = php(),
        worker = repo_root().join("examples").join(name).join("worker.php").display(),
    )
}

/// Starts `coyote serve` with `config` and waits for `phase running`.
pub fn start(config: &str) -> Server {
    start_with_env(config, &[])
}

/// Like [`start`], with extra environment variables.
pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Server {
    let mut server = Server::start_with_env(BIN, config, &[], env).unwrap();
    server.wait_ready();
    server
}

/// The bound port of the plain HTTP listener.
pub fn http_port(server: &Server) -> u16 {
    server.port("http", "http")
}

/// The config path of `server` and the override that points the CLI at
/// its bound RPC address: `-c .rr.yaml -o rpc.listen=tcp://127.0.0.1:PORT`.
pub fn cli_args(server: &Server) -> Vec<String> {
    let rpc = server
        .address("rpc", "rpc")
        .unwrap_or_else(|| panic!("no rpc listener in {:?}", server.events()));
    vec![
        "-c".to_owned(),
        server.dir.join(".rr.yaml").display().to_string(),
        "-o".to_owned(),
        format!("rpc.listen={rpc}"),
    ]
}

/// Runs `coyote ARGS` against `server` (its config and bound RPC).
pub fn cli(server: &Server, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .args(cli_args(server))
        .output()
        .unwrap()
}

/// The worker pids listed by `coyote workers http`.
pub fn worker_pids(server: &Server) -> Vec<String> {
    worker_pids_of(server, "http")
}

/// The worker pids listed by `coyote workers <plugin>`.
pub fn worker_pids_of(server: &Server, plugin: &str) -> Vec<String> {
    let out = cli(server, &["workers", plugin]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// A marker file the test worker's `/slow?marker=PATH` creates when the
/// request reaches it (so the test knows it is in flight).
pub fn marker(server: &Server, name: &str) -> PathBuf {
    server.dir.join(format!("{name}.marker"))
}

/// Waits (up to 20 s) for a worker to create `marker`, panicking with the
/// server output otherwise.
pub fn wait_for_marker(server: &Server, marker: &Path) {
    assert!(
        wait_until(Duration::from_secs(20), || marker.exists().then_some(())).is_some(),
        "the request never reached a worker ({}):\n{}",
        marker.display(),
        server.output()
    );
}

/// Waits (up to 20 s) until the status plugin's `/ready?plugin=PLUGIN`
/// answers 200 (a worker is idle), panicking with the server output
/// otherwise.
pub fn wait_for_idle_worker(server: &Server, plugin: &str) {
    let status = server.port("status", "status");
    let path = format!("/ready?plugin={plugin}");
    assert!(
        wait_until(Duration::from_secs(20), || {
            (get(status, &path, "").status == 200).then_some(())
        })
        .is_some(),
        "{plugin} never had an idle worker:\n{}",
        server.output()
    );
}

/// Waits (up to `limit`) until the server output contains `text`.
pub fn wait_for_output(server: &Server, text: &str, limit: Duration) -> bool {
    wait_until(limit, || server.output().contains(text).then_some(())).is_some()
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// Sends raw bytes, reads until the server closes, parses the reply
/// (Content-Length or chunked).
pub fn raw(port: u16, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut data = Vec::new();
    stream.read_to_end(&mut data).unwrap();
    parse(&data)
}

pub fn parse(data: &[u8]) -> Reply {
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

pub fn get(port: u16, path: &str, extra: &str) -> Reply {
    raw(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
}

pub fn post(port: u16, path: &str, content_type: &str, body: &[u8]) -> Reply {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(port, &req)
}

/// The value of the series `series` (name and labels as written) in a
/// Prometheus text exposition, panicking with the text when it is missing.
pub fn series_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{series}: no number in:\n{text}"))
}

/// An RPC client on its own connection to `server`, with the runtime that
/// drives it (for tests that call RPC services one blocking call at a time).
pub fn blocking_rpc(server: &Server) -> (tokio::runtime::Runtime, coyote_rpc::RpcClient) {
    let address = server.address("rpc", "rpc").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime
        .block_on(coyote_rpc::RpcClient::connect(&address))
        .unwrap();
    (runtime, client)
}
