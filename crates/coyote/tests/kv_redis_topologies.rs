//! End-to-end: the `redis` kv driver on a Sentinel group (`master_name`)
//! and on a cluster (several `addrs`), each made of redis-servers this
//! test starts on free ports in a temp dir (Debian's redis-server; the
//! shared Redis is not touched), killed when the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::kv::{config, exercise, KvServer};
use coyote_test_support::{wait_until, TempDir};

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port whose cluster bus port (+10000) is free too.
fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn redis_server(dir: &Path, name: &str, args: &[&str]) -> Proc {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new("redis-server")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect(
            "redis-server (Debian's redis-server package) runs; scripts/brokers.sh installs it",
        );
    Proc(child)
}

fn conn(port: u16) -> Option<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .ok()?
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()
}

fn wait_up(port: u16) -> redis::Connection {
    wait_until(Duration::from_secs(20), || {
        let mut c = conn(port)?;
        redis::cmd("PING").query::<String>(&mut c).ok()?;
        Some(c)
    })
    .unwrap_or_else(|| panic!("redis-server on {port} never answered"))
}

#[test]
fn redis_sentinel_master_name_finds_the_master() {
    let tmp = TempDir::new("coyote-sentinel").unwrap();
    let master = free_port();
    let ms = master.to_string();
    let _m = redis_server(
        tmp.path(),
        "master",
        &["--port", &ms, "--save", "", "--appendonly", "no"],
    );
    let mut direct = wait_up(master);
    let sentinel = free_port();
    let conf = tmp.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel}\nbind 127.0.0.1\nsentinel monitor coyote 127.0.0.1 {master} 1\nsentinel down-after-milliseconds coyote 60000\n"
        ),
    )
    .unwrap();
    let _s = redis_server(
        tmp.path(),
        "sentinel",
        &[conf.to_str().unwrap(), "--sentinel"],
    );
    let mut sc = wait_up(sentinel);
    let known = wait_until(Duration::from_secs(20), || {
        let addr: Option<Vec<String>> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg("coyote")
            .query(&mut sc)
            .ok()?;
        addr.filter(|a| a.len() == 2)
    })
    .expect("the sentinel knows the master");
    assert_eq!(known[1], ms);

    let mut s = KvServer::start(&config(&format!(
        "  ha:\n    driver: redis\n    config:\n      addrs: [\"127.0.0.1:{sentinel}\"]\n      master_name: coyote\n      db: 3\n"
    )));
    exercise(&mut s, "ha");
    s.set("ha", &[("via-sentinel", b"yes")], None);
    let _: () = redis::cmd("SELECT").arg(3).query(&mut direct).unwrap();
    let got: Vec<u8> = redis::cmd("GET")
        .arg("via-sentinel")
        .query(&mut direct)
        .unwrap();
    assert_eq!(
        got, b"yes",
        "the item is on the master Sentinel named, in db 3"
    );
    assert_eq!(s.ready(), 200);
}

#[test]
fn redis_cluster_from_several_addrs() {
    let tmp = TempDir::new("coyote-cluster").unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes = Vec::new();
    for p in &ports {
        let ps = p.to_string();
        let file = format!("nodes-{p}.conf");
        nodes.push(redis_server(
            tmp.path(),
            &format!("node-{p}"),
            &[
                "--port",
                &ps,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &file,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        ));
        wait_up(*p);
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&addrs)
        .arg("--cluster-yes")
        .output()
        .expect("redis-cli runs");
    assert!(
        created.status.success(),
        "redis-cli --cluster create: {}",
        String::from_utf8_lossy(&created.stdout)
    );
    for p in &ports {
        let ok = wait_until(Duration::from_secs(30), || {
            let mut c = conn(*p)?;
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).ok()?;
            info.contains("cluster_state:ok").then_some(())
        });
        assert!(ok.is_some(), "node {p} never reached cluster_state:ok");
    }

    let list = addrs
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = KvServer::start(&config(&format!(
        "  cl:\n    driver: redis\n    config:\n      addrs: [{list}]\n"
    )));
    exercise(&mut s, "cl");
    // Keys spread over the slots of every node, read back in one MGet.
    let keys: Vec<String> = (0..50).map(|i| format!("spread-{i}")).collect();
    let pairs: Vec<(&str, &[u8])> = keys.iter().map(|k| (k.as_str(), k.as_bytes())).collect();
    s.set("cl", &pairs, None);
    let ks: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got = s.mget("cl", &ks);
    assert_eq!(got.len(), 50);
    assert!(got.iter().all(|(k, v)| k.as_bytes() == v.as_slice()));
    let mut held = 0;
    for p in &ports {
        let mut c = conn(*p).unwrap();
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert!(n > 0, "node {p} holds none of the keys");
        held += n;
    }
    assert_eq!(held, 50);
    assert_eq!(s.ready(), 200);
}
