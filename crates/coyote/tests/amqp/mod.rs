//! The RabbitMQ side of `jobs_amqp.rs` and `jobs_amqp_start.rs`: the test
//! broker's address (`COYOTE_TEST_AMQP`), names no other test uses, the
//! test's own AMQP client (publishes as RoadRunner would, reads raw,
//! deletes what the test made), and the pipeline configs.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::jobs::config;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};

pub const LIMIT: Duration = Duration::from_secs(30);

/// The test broker's address (`amqp://user:pass@host:port/vhost`); a test
/// without one fails.
pub fn amqp_addr() -> String {
    let addr = std::env::var("COYOTE_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let reachable = hostport(&addr)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "no RabbitMQ answers at {addr} (COYOTE_TEST_AMQP): run the tests through \
         scripts/test, which starts one and exports its address"
    );
    addr
}

pub fn hostport(addr: &str) -> String {
    let rest = addr.split("://").nth(1).unwrap_or(addr);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

pub fn amqp_socket() -> SocketAddr {
    hostport(&amqp_addr())
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap()
}

/// The broker's address with its host and port replaced (a proxy's).
pub fn via(addr: SocketAddr) -> String {
    let real = amqp_addr();
    real.replacen(&hostport(&real), &addr.to_string(), 1)
}

/// The broker's address with other credentials.
pub fn with_user(user: &str, password: &str) -> String {
    let real = amqp_addr();
    let (scheme, rest) = real.split_once("://").unwrap();
    let rest = rest.rsplit('@').next().unwrap();
    format!("{scheme}://{user}:{password}@{rest}")
}

/// A queue and an exchange no other test (or run) uses.
pub struct Names {
    pub queue: String,
    pub exchange: String,
}

pub fn names(tag: &str) -> Names {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    Names {
        queue: format!("coyote-{tag}-{pid}-{n}"),
        exchange: format!("coyote-x-{tag}-{pid}-{n}"),
    }
}

/// The test's own AMQP client: publishes as RoadRunner would, reads
/// messages raw, and deletes the test's queues and exchanges when dropped.
pub struct Amqp {
    pub rt: tokio::runtime::Runtime,
    pub conn: Connection,
    pub queues: Vec<String>,
    pub exchanges: Vec<String>,
}

impl Amqp {
    pub fn connect() -> Self {
        let addr = amqp_addr();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let conn = rt
            .block_on(Connection::connect(&addr, ConnectionProperties::default()))
            .unwrap();
        Self {
            rt,
            conn,
            queues: Vec::new(),
            exchanges: Vec::new(),
        }
    }

    /// Deletes the queue and the exchange (and the delay queues of `delays`
    /// seconds) at the end of the test.
    pub fn own(&mut self, n: &Names, delays: &[u64]) {
        self.queues.push(n.queue.clone());
        self.exchanges.push(n.exchange.clone());
        for d in delays {
            self.queues.push(delay_queue(n, *d));
        }
    }

    pub fn channel(&self) -> lapin::Channel {
        self.rt.block_on(self.conn.create_channel()).unwrap()
    }

    /// Publishes like RoadRunner's driver: its headers, its properties.
    pub fn publish(&self, exchange: &str, routing_key: &str, headers: FieldTable, body: &[u8]) {
        let ch = self.channel();
        self.rt.block_on(async {
            ch.confirm_select(Default::default()).await.unwrap();
            let confirm = ch
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions::default(),
                    body,
                    BasicProperties::default()
                        .with_headers(headers)
                        .with_content_type("application/octet-stream".into())
                        .with_delivery_mode(2),
                )
                .await
                .unwrap()
                .await
                .unwrap();
            assert!(confirm.is_ack());
        });
    }

    /// Takes one message from `queue` (acked): its properties and body.
    pub fn get(&self, queue: &str) -> Option<(BasicProperties, Vec<u8>)> {
        let ch = self.channel();
        self.rt.block_on(async {
            ch.basic_get(queue.into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()
                .map(|m| (m.delivery.properties.clone(), m.delivery.data.clone()))
        })
    }

    /// Messages ready in `queue`, or `None` when it does not exist.
    pub fn count(&self, queue: &str) -> Option<u32> {
        let ch = self.channel();
        self.rt
            .block_on(ch.queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            ))
            .ok()
            .map(|q| q.message_count())
    }

    pub fn declare_queue(&self, queue: &str) {
        let ch = self.channel();
        self.rt
            .block_on(ch.queue_declare(
                queue.into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            ))
            .unwrap();
    }
}

impl Drop for Amqp {
    fn drop(&mut self) {
        let Ok(ch) = self.rt.block_on(self.conn.create_channel()) else {
            return;
        };
        for q in &self.queues {
            let _ = self
                .rt
                .block_on(ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()));
        }
        for x in &self.exchanges {
            let _ = self
                .rt
                .block_on(ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()));
        }
    }
}

/// RoadRunner's delay queue for `delay` seconds on `n`.
pub fn delay_queue(n: &Names, delay: u64) -> String {
    format!("delayed-{}.{}.{}", delay * 1000, n.exchange, n.queue)
}

/// An amqp pipeline on `n` with more `extra` config keys (indented 8).
pub fn pipeline(name: &str, n: &Names, extra: &str) -> String {
    format!(
        "    {name}:\n      driver: amqp\n      config:\n        queue: {}\n        exchange: {}\n        \
         routing_key: {}\n{extra}",
        n.queue, n.exchange, n.queue
    )
}

/// The jobs config with the top-level `amqp.addr`.
pub fn amqp_config(workers: usize, consume: &[&str], pipelines: &str, addr: &str) -> String {
    format!(
        "{}amqp:\n  addr: \"{addr}\"\n",
        config(workers, consume, pipelines, "")
    )
}

/// Deliveries per id in the worker log.
pub fn counts(entries: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for e in entries {
        *out.entry(e["id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    out
}

pub fn entries_of(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes()))
}
