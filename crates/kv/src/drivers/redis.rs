//! The `redis` driver: items are plain Redis strings under their own key
//! names (as RoadRunner stores them), expiry through `PEXPIREAT`, Clear is
//! `FLUSHDB` of the configured database. One address is a server; with
//! `master_name` the addresses are Sentinels; several addresses without it
//! are cluster nodes.
//!
//! One multiplexed connection serves every call, with `TCP_NODELAY` (the
//! client's default is off). A multi-key call is one round trip: one
//! `MGET` / `DEL`, or a pipeline of per-key commands, on a server; on a
//! cluster (where a pipeline must stay in one slot) its per-key commands
//! are sent at once and awaited together. A call that finds the
//! link broken (I/O, timeout, dropped) gives it up and answers the error;
//! the next call, or the health task (a `PING` every second), dials again.
//! The last failure is what `/ready` reports until a dial succeeds.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use coyote_host::BoxFuture;
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::TcpSettings;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, FromRedisValue, Pipeline, RedisConnectionInfo,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{split_host_port, RedisOptions};
use crate::storage::{Expiries, Put, Storage};
use crate::KvError;

/// How often the health task pings.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

enum Target {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

#[derive(Clone)]
enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// What one round trip sends.
#[derive(Clone, Copy)]
enum Req<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

impl Conn {
    async fn query<T: FromRedisValue>(&mut self, req: Req<'_>) -> redis::RedisResult<T> {
        match (self, req) {
            (Self::Single(c), Req::Cmd(cmd)) => cmd.query_async(c).await,
            (Self::Cluster(c), Req::Cmd(cmd)) => cmd.query_async(c).await,
            (Self::Single(c), Req::Pipe(p)) => p.query_async(c).await,
            (Self::Cluster(c), Req::Pipe(p)) => p.query_async(c).await,
        }
    }
}

/// The client's TCP options: `TCP_NODELAY`, so that a command is not held
/// back behind an unacknowledged one.
fn tcp() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

#[derive(Default)]
struct Link {
    conn: Option<Conn>,
    /// The last failure, while no connection works.
    error: Option<String>,
}

/// One redis storage.
pub struct RedisStorage {
    o: RedisOptions,
    target: Target,
    link: Mutex<Link>,
    /// One dial at a time.
    dialing: tokio::sync::Mutex<()>,
}

fn info(addr: &str, user: &str, password: &str, db: i64) -> Result<redis::ConnectionInfo, String> {
    let (host, port) = split_host_port(addr).ok_or_else(|| format!("{addr:?} is not host:port"))?;
    let mut settings = RedisConnectionInfo::default().set_db(db);
    if !user.is_empty() {
        settings = settings.set_username(user);
    }
    if !password.is_empty() {
        settings = settings.set_password(password);
    }
    Ok(
        redis::IntoConnectionInfo::into_connection_info(ConnectionAddr::Tcp(host, port))
            .map_err(|e| e.to_string())?
            .set_redis_settings(settings)
            .set_tcp_settings(tcp()),
    )
}

fn target(o: &RedisOptions) -> Result<Target, String> {
    if !o.master_name.is_empty() {
        let sentinels = o
            .addrs
            .iter()
            .map(|a| info(a, "", &o.sentinel_password, 0))
            .collect::<Result<Vec<_>, _>>()?;
        let mut node = RedisConnectionInfo::default().set_db(o.db);
        if !o.username.is_empty() {
            node = node.set_username(&o.username);
        }
        if !o.password.is_empty() {
            node = node.set_password(&o.password);
        }
        let client = SentinelClient::build(
            sentinels,
            o.master_name.clone(),
            Some(
                SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(node)
                    .set_tcp_settings(tcp()),
            ),
            SentinelServerType::Master,
        )
        .map_err(|e| e.to_string())?;
        return Ok(Target::Sentinel(tokio::sync::Mutex::new(client)));
    }
    if o.addrs.len() > 1 {
        let nodes = o
            .addrs
            .iter()
            .map(|a| info(a, "", "", 0))
            .collect::<Result<Vec<_>, _>>()?;
        let mut b = redis::cluster::ClusterClientBuilder::new(nodes)
            .connection_timeout(o.dial_timeout)
            .response_timeout(o.response_timeout)
            .tcp_settings(tcp());
        if !o.username.is_empty() {
            b = b.username(&o.username);
        }
        if !o.password.is_empty() {
            b = b.password(&o.password);
        }
        return Ok(Target::Cluster(b.build().map_err(|e| e.to_string())?));
    }
    let addr = o.addrs.first().map_or("127.0.0.1:6379", String::as_str);
    let client = redis::Client::open(info(addr, &o.username, &o.password, o.db)?)
        .map_err(|e| e.to_string())?;
    Ok(Target::Single(client))
}

fn broken(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

impl RedisStorage {
    /// A storage on `o`, with its health task on `tracker` until `stop`.
    /// A server out of reach is not an error here: calls fail with a clear
    /// message and `/ready` answers 503 until it answers.
    ///
    /// # Errors
    /// Options the client refuses.
    pub async fn start(
        o: RedisOptions,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> Result<Arc<Self>, KvError> {
        let target = target(&o).map_err(|e| KvError::Backend(format!("redis: {e}")))?;
        let me = Arc::new(Self {
            o,
            target,
            link: Mutex::new(Link::default()),
            dialing: tokio::sync::Mutex::new(()),
        });
        if let Err(e) = me.conn().await {
            tracing::warn!(target: "coyote::kv", "{e}; retrying in the background");
        }
        tracker.spawn(health(me.clone(), stop));
        Ok(me)
    }

    fn lock(&self) -> MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn name(&self) -> String {
        format!("redis {}", self.o.addrs.join(","))
    }

    async fn dial(&self) -> Result<Conn, String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.o.dial_timeout))
            .set_response_timeout(Some(self.o.response_timeout));
        let dial = async {
            let mut conn = match &self.target {
                Target::Single(c) => Conn::Single(
                    c.get_multiplexed_async_connection_with_config(&config)
                        .await
                        .map_err(|e| e.to_string())?,
                ),
                Target::Cluster(c) => {
                    Conn::Cluster(c.get_async_connection().await.map_err(|e| e.to_string())?)
                }
                Target::Sentinel(c) => Conn::Single(
                    c.lock()
                        .await
                        .get_async_connection_with_config(&config)
                        .await
                        .map_err(|e| e.to_string())?,
                ),
            };
            conn.query::<()>(Req::Cmd(&redis::cmd("PING")))
                .await
                .map_err(|e| e.to_string())?;
            Ok(conn)
        };
        tokio::time::timeout(self.o.dial_timeout, dial)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {:?} (dial_timeout)",
                    self.o.dial_timeout
                ))
            })
    }

    /// The working connection, dialing one when there is none.
    async fn conn(&self) -> Result<Conn, KvError> {
        if let Some(c) = self.lock().conn.clone() {
            return Ok(c);
        }
        let _one = self.dialing.lock().await;
        if let Some(c) = self.lock().conn.clone() {
            return Ok(c);
        }
        match self.dial().await {
            Ok(c) => {
                let mut link = self.lock();
                if link.error.take().is_some() {
                    tracing::info!(target: "coyote::kv", "{}: connected again", self.name());
                }
                link.conn = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                let why = format!("{} is out of reach: {e}", self.name());
                self.lock().error = Some(why.clone());
                Err(KvError::Backend(why))
            }
        }
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, KvError> {
        self.send(Req::Cmd(cmd)).await
    }

    async fn send<T: FromRedisValue>(&self, req: Req<'_>) -> Result<T, KvError> {
        let mut conn = self.conn().await?;
        match conn.query(req).await {
            Ok(v) => Ok(v),
            Err(e) if broken(&e) => {
                let why = format!("{}: link lost: {e}", self.name());
                let mut link = self.lock();
                link.conn = None;
                link.error = Some(why.clone());
                Err(KvError::Backend(why))
            }
            Err(e) => Err(KvError::Backend(format!("{}: {e}", self.name()))),
        }
    }
}

async fn health(me: Arc<RedisStorage>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(HEALTH_EVERY) => {}
        }
        let ping = redis::cmd("PING");
        let pinged = tokio::select! {
            () = stop.cancelled() => return,
            r = me.query::<()>(&ping) => r,
        };
        if let Err(e) = pinged {
            tracing::debug!(target: "coyote::kv", "{e}");
        }
    }
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .max(1)
}

impl RedisStorage {
    /// Runs one command per key in one round trip: a pipeline on a server,
    /// all at once on a cluster (a pipeline there must stay in one slot;
    /// the multiplexed connection sends the commands together).
    async fn per_key<T: FromRedisValue>(&self, cmds: Vec<Cmd>) -> Result<Vec<T>, KvError> {
        match (&self.target, cmds.as_slice()) {
            (_, [one]) => Ok(vec![self.query(one).await?]),
            (Target::Cluster(_), _) => {
                futures::future::try_join_all(cmds.iter().map(|c| self.query(c))).await
            }
            _ => {
                let mut pipe = redis::pipe();
                for c in cmds {
                    pipe.add_command(c);
                }
                self.send(Req::Pipe(&pipe)).await
            }
        }
    }
}

impl Storage for RedisStorage {
    fn has<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<String>, KvError>> {
        Box::pin(async move {
            let cmds = keys.iter().map(|k| redis::cmd("EXISTS").arg(k).clone());
            let found: Vec<i64> = self.per_key(cmds.collect()).await?;
            Ok(keys
                .iter()
                .zip(found)
                .filter(|(_, n)| *n > 0)
                .map(|(k, _)| k.clone())
                .collect())
        })
    }

    fn mget<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<(String, Bytes)>, KvError>> {
        Box::pin(async move {
            // One MGET on a server; on a cluster MGET works only for
            // same-slot keys, so it gets one GET per key.
            let values: Vec<Option<Vec<u8>>> = match &self.target {
                Target::Cluster(_) => {
                    let cmds = keys.iter().map(|k| redis::cmd("GET").arg(k).clone());
                    self.per_key(cmds.collect()).await?
                }
                _ => self.query(redis::cmd("MGET").arg(keys)).await?,
            };
            Ok(keys
                .iter()
                .zip(values)
                .filter_map(|(k, v)| v.map(|v| (k.clone(), Bytes::from(v))))
                .collect())
        })
    }

    fn set(&self, items: Vec<Put>) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            let cmds = items.iter().map(|p| {
                let mut cmd = redis::cmd("SET");
                cmd.arg(&p.key).arg(p.value.as_ref());
                if let Some(at) = p.expires {
                    cmd.arg("PXAT").arg(millis(at));
                }
                cmd
            });
            let _: Vec<redis::Value> = self.per_key(cmds.collect()).await?;
            Ok(())
        })
    }

    fn expire(&self, items: Vec<(String, SystemTime)>) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move {
            let cmds = items
                .iter()
                .map(|(k, at)| redis::cmd("PEXPIREAT").arg(k).arg(millis(*at)).clone());
            let _: Vec<i64> = self.per_key(cmds.collect()).await?;
            Ok(())
        })
    }

    fn ttl<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Expiries, KvError>> {
        Box::pin(async move {
            let cmds = keys
                .iter()
                .map(|k| redis::cmd("PEXPIRETIME").arg(k).clone());
            let found: Vec<i64> = self.per_key(cmds.collect()).await?;
            let mut out = Vec::new();
            for (k, at) in keys.iter().zip(found) {
                // -2: no such key; -1: no expiry; else ms since the epoch.
                match at {
                    -2 => {}
                    -1 => out.push((k.clone(), None)),
                    ms => {
                        let ms = u64::try_from(ms).unwrap_or(0);
                        out.push((
                            k.clone(),
                            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
                        ));
                    }
                }
            }
            Ok(out)
        })
    }

    fn delete<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<(), KvError>> {
        Box::pin(async move {
            // One DEL of every key on a server; per key on a cluster.
            match &self.target {
                Target::Cluster(_) => {
                    let cmds = keys.iter().map(|k| redis::cmd("DEL").arg(k).clone());
                    let _: Vec<i64> = self.per_key(cmds.collect()).await?;
                }
                _ => {
                    self.query::<i64>(redis::cmd("DEL").arg(keys)).await?;
                }
            }
            Ok(())
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), KvError>> {
        Box::pin(async move { self.query::<()>(&redis::cmd("FLUSHDB")).await })
    }

    fn problem(&self) -> Option<String> {
        self.lock().error.clone()
    }
}
