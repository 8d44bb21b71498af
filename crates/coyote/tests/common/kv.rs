//! Shared by the kv end-to-end files: a config with only rpc, status and
//! the `kv` section, and a blocking `kv.*` RPC client (protobuf, as
//! roadrunner-php/kv calls it).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use coyote_kv::proto::{Item, Request, Response};
use coyote_kv::timeout;
use coyote_rpc::RpcClient;
use coyote_test_support::Server;
use goridge::flags;
use prost::Message;

use super::BIN;

/// A config with `storages` (YAML under `kv:`, indented 2).
pub fn config(storages: &str) -> String {
    format!(
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nstatus:\n  address: 127.0.0.1:0\nlogs:\n  level: info\nkv:\n{storages}\n"
    )
}

/// A started server and a client on its RPC listener.
pub struct KvServer {
    pub server: Server,
    runtime: tokio::runtime::Runtime,
    client: Option<RpcClient>,
}

impl KvServer {
    pub fn start(config: &str) -> Self {
        let mut server = Server::start(BIN, config, &[]).unwrap();
        server.wait_ready();
        Self::attach(server)
    }

    /// A client for an already started server.
    pub fn attach(server: Server) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self {
            server,
            runtime,
            client: None,
        }
    }

    /// Calls `kv.<method>` with raw bytes as the protobuf argument.
    pub fn call_bytes(&mut self, method: &str, body: Bytes) -> Result<Response, String> {
        if self.client.is_none() {
            let address = self.server.address("rpc", "rpc").unwrap();
            self.client = Some(self.runtime.block_on(RpcClient::connect(&address)).unwrap());
        }
        let client = self.client.as_mut().unwrap();
        let reply = self
            .runtime
            .block_on(client.call_raw(&format!("kv.{method}"), flags::CODEC_PROTO, body))
            .map_err(|e| e.to_string())?;
        Ok(Response::decode(reply).expect("the reply is a kv.v1.Response"))
    }

    pub fn call(
        &mut self,
        method: &str,
        storage: &str,
        items: Vec<Item>,
    ) -> Result<Response, String> {
        let req = Request {
            storage: storage.to_owned(),
            items,
        };
        self.call_bytes(method, req.encode_to_vec().into())
    }

    pub fn set(&mut self, storage: &str, pairs: &[(&str, &[u8])], ttl: Option<Duration>) {
        let timeout = ttl
            .map(|d| timeout::format(SystemTime::now() + d))
            .unwrap_or_default();
        let items = pairs
            .iter()
            .map(|(k, v)| Item {
                key: (*k).to_owned(),
                value: Bytes::copy_from_slice(v),
                timeout: timeout.clone(),
            })
            .collect();
        self.call("Set", storage, items).unwrap();
    }

    /// MGet: (key, value) of the keys found, in request order.
    pub fn mget(&mut self, storage: &str, ks: &[&str]) -> Vec<(String, Vec<u8>)> {
        let r = self.call("MGet", storage, keys(ks)).unwrap();
        r.items
            .into_iter()
            .map(|i| (i.key, i.value.to_vec()))
            .collect()
    }

    pub fn has(&mut self, storage: &str, ks: &[&str]) -> Vec<String> {
        let r = self.call("Has", storage, keys(ks)).unwrap();
        r.items.into_iter().map(|i| i.key).collect()
    }

    /// TTL: (key, timeout) of the keys found.
    pub fn ttl(&mut self, storage: &str, ks: &[&str]) -> Vec<(String, String)> {
        let r = self.call("TTL", storage, keys(ks)).unwrap();
        r.items.into_iter().map(|i| (i.key, i.timeout)).collect()
    }

    /// The status of `GET /ready?plugin=kv`.
    pub fn ready(&self) -> u16 {
        let port = self.server.port("status", "status");
        super::get(port, "/ready?plugin=kv", "").status
    }
}

pub fn keys(ks: &[&str]) -> Vec<Item> {
    ks.iter()
        .map(|k| Item {
            key: (*k).to_owned(),
            ..Item::default()
        })
        .collect()
}

pub fn expiring(k: &str, at: SystemTime) -> Item {
    Item {
        key: k.to_owned(),
        value: Bytes::new(),
        timeout: timeout::format(at),
    }
}

/// Every method against `storage`, the way the PHP client uses them
/// (the same checks for every driver).
pub fn exercise(s: &mut KvServer, storage: &str) {
    // Binary-safe values, and a large one.
    let binary: Vec<u8> = (0..=255u8).chain([0, 0, 13, 10]).collect();
    let large = vec![0xa5u8; 512 * 1024];
    s.call("Clear", storage, Vec::new()).unwrap();
    s.set(
        storage,
        &[("bin", &binary), ("large", &large), ("plain", b"v")],
        None,
    );
    assert_eq!(s.has(storage, &["bin", "nope", "plain"]), ["bin", "plain"]);
    let got = s.mget(storage, &["large", "nope", "bin"]);
    assert_eq!(got.len(), 2, "only existing keys come back");
    let by: std::collections::HashMap<_, _> = got.into_iter().collect();
    assert_eq!(by["bin"], binary);
    assert_eq!(by["large"], large);
    // TTL of a key without expiry: found, empty timeout.
    let t = s.ttl(storage, &["plain", "nope"]);
    assert_eq!(t, [("plain".to_owned(), String::new())]);
    // Set with a TTL; TTL reads the expiry back (whole seconds).
    let at = SystemTime::now() + Duration::from_secs(3600);
    s.call(
        "Set",
        storage,
        vec![Item {
            key: "soon".into(),
            value: Bytes::from_static(b"x"),
            timeout: timeout::format(at),
        }],
    )
    .unwrap();
    let t = s.ttl(storage, &["soon"]);
    let back = timeout::parse(&t[0].1).unwrap();
    let diff = back.duration_since(at).unwrap_or_else(|e| e.duration());
    assert!(diff <= Duration::from_secs(2), "{t:?}");
    // MExpire moves it; a past time deletes it.
    let later = SystemTime::now() + Duration::from_secs(7200);
    s.call("MExpire", storage, vec![expiring("soon", later)])
        .unwrap();
    let back = timeout::parse(&s.ttl(storage, &["soon"])[0].1).unwrap();
    assert!(back > at + Duration::from_secs(3000));
    let past = SystemTime::now() - Duration::from_secs(10);
    s.call("MExpire", storage, vec![expiring("plain", past)])
        .unwrap();
    assert!(s.has(storage, &["plain"]).is_empty());
    // MExpire on a missing key creates nothing.
    s.call("MExpire", storage, vec![expiring("ghost", later)])
        .unwrap();
    assert!(s.has(storage, &["ghost"]).is_empty());
    // A Set whose expiry passed a moment ago (a 1 s TTL arriving late)
    // deletes the key instead of storing it.
    let just = SystemTime::now() - Duration::from_millis(500);
    s.call(
        "Set",
        storage,
        vec![Item {
            key: "large".into(),
            value: Bytes::from_static(b"late"),
            timeout: timeout::format(just),
        }],
    )
    .unwrap();
    assert!(s.has(storage, &["large"]).is_empty());
    s.set(storage, &[("large", &large)], None);
    // Delete, then Clear.
    s.call("Delete", storage, keys(&["bin", "nope"])).unwrap();
    assert_eq!(s.has(storage, &["bin", "large"]), ["large"]);
    s.call("Clear", storage, Vec::new()).unwrap();
    assert!(s.has(storage, &["large", "soon"]).is_empty());
}

/// A key set with a 1 s TTL is gone within a deadline (polled).
pub fn expires(s: &mut KvServer, storage: &str) {
    s.set(storage, &[("brief", b"1")], Some(Duration::from_secs(1)));
    s.set(storage, &[("stays", b"1")], None);
    let gone = coyote_test_support::wait_until(Duration::from_secs(10), || {
        s.has(storage, &["brief"]).is_empty().then_some(())
    });
    assert!(gone.is_some(), "the 1 s key never expired");
    assert_eq!(s.has(storage, &["stays"]), ["stays"]);
}

/// Bad requests: clear errors, and the server keeps serving.
pub fn bad_input(s: &mut KvServer, storage: &str) {
    let err = s.call("Has", "", keys(&["a"])).unwrap_err();
    assert!(err.contains("no storage provided"), "{err}");
    let err = s.call("MGet", "missing", keys(&["a"])).unwrap_err();
    assert!(err.contains("no such storage: missing"), "{err}");
    let err = s.call("Has", storage, Vec::new()).unwrap_err();
    assert!(err.contains("should provide at least 1 key"), "{err}");
    let err = s.call("Delete", storage, keys(&["  "])).unwrap_err();
    assert!(err.contains("key can't be empty string"), "{err}");
    let huge = vec![0u8; coyote_kv::MAX_VALUE_SIZE + 1];
    let err = s
        .call(
            "Set",
            storage,
            vec![Item {
                key: "huge".into(),
                value: huge.into(),
                timeout: String::new(),
            }],
        )
        .unwrap_err();
    assert!(err.contains("the limit is"), "{err}");
    for (bad, want) in [
        ("yesterday", "not an RFC 3339 time"),
        ("2001-01-01T00:00:00Z", "is in the past"),
        ("9999-01-01T00:00:00Z", "absurd"),
    ] {
        let err = s
            .call(
                "Set",
                storage,
                vec![Item {
                    key: "k".into(),
                    value: Bytes::from_static(b"v"),
                    timeout: bad.into(),
                }],
            )
            .unwrap_err();
        assert!(err.contains(want), "{bad}: {err}");
    }
    let err = s
        .call(
            "MExpire",
            storage,
            vec![Item {
                key: "k".into(),
                ..Item::default()
            }],
        )
        .unwrap_err();
    assert!(err.contains("timeout for MExpire is empty"), "{err}");
    let err = s
        .call_bytes("Set", Bytes::from_static(b"\xff\xff\xff\xff"))
        .unwrap_err();
    assert!(err.contains("cannot decode"), "{err}");
    let err = s.call("Nope", storage, Vec::new()).unwrap_err();
    assert!(err.contains("can't find method kv.Nope"), "{err}");
    assert!(
        s.has(storage, &["huge", "k"]).is_empty(),
        "nothing was stored"
    );
    s.set(storage, &[("after", b"ok")], None);
    assert_eq!(s.mget(storage, &["after"])[0].1, b"ok");
}
