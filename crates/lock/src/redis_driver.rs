//! The `redis` driver: locks kept in Redis so that several servers share
//! them. Each resource is two keys, `coyote:lock:{<resource>}:w` (the
//! exclusive holder's id, with `PX` for its TTL) and `...:r` (a sorted set
//! of read holders scored by their expiry in ms, `+inf` for none); every
//! operation is one Lua script run atomically, which drops expired readers
//! first and reads the clock with `TIME` (the Redis server's, so servers'
//! clocks do not matter).
//!
//! Waking waiters: a bounded retry (1 ms doubling to 8 ms, never past the
//! caller's wait). It is not FIFO across servers; the memory driver is.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use crate::Kind;

const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local op, id, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local writer = redis.call('GET', KEYS[1])
local function reader(i) return redis.call('ZSCORE', KEYS[2], i) end
if op == 'lock' then
  if writer or redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
  if ttl > 0 then redis.call('SET', KEYS[1], id, 'PX', ttl) else redis.call('SET', KEYS[1], id) end
  return 1
elseif op == 'read' then
  if writer or reader(id) then return 0 end
  local score = '+inf'
  if ttl > 0 then score = now + ttl end
  redis.call('ZADD', KEYS[2], score, id)
  return 1
elseif op == 'release' then
  if writer == id then redis.call('DEL', KEYS[1]) return 1 end
  return redis.call('ZREM', KEYS[2], id)
elseif op == 'force' then
  if redis.call('DEL', KEYS[1], KEYS[2]) > 0 then return 1 end
  return 0
elseif op == 'exists' then
  if id == '*' then
    if writer or redis.call('ZCARD', KEYS[2]) > 0 then return 1 end
    return 0
  end
  if writer == id or reader(id) then return 1 end
  return 0
elseif op == 'ttl' then
  if ttl <= 0 then return 0 end
  if writer == id then redis.call('PEXPIRE', KEYS[1], ttl) return 1 end
  if reader(id) then redis.call('ZADD', KEYS[2], 'XX', now + ttl, id) return 1 end
  return 0
end
return redis.error_reply('unknown lock op ' .. op)
";

/// Locks in one Redis server.
#[derive(Clone)]
pub struct RedisLocks {
    conn: MultiplexedConnection,
    script: redis::Script,
}

/// A TTL in whole milliseconds, rounded up (0: none).
fn millis(ttl: Option<Duration>) -> u64 {
    ttl.map_or(0, |d| {
        u64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
    })
}

impl RedisLocks {
    /// Connects to `url` (`redis://[user:password@]host:port/db`).
    ///
    /// # Errors
    /// An unreachable server or refused credentials.
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(Self {
            conn,
            script: redis::Script::new(SCRIPT),
        })
    }

    async fn run(
        &self,
        op: &str,
        resource: &str,
        id: &str,
        ttl: u64,
    ) -> Result<bool, redis::RedisError> {
        let mut conn = self.conn.clone();
        let n: i64 = self
            .script
            .key(format!("coyote:lock:{{{resource}}}:w"))
            .key(format!("coyote:lock:{{{resource}}}:r"))
            .arg(op)
            .arg(id)
            .arg(ttl)
            .invoke_async(&mut conn)
            .await?;
        Ok(n == 1)
    }

    /// As [`crate::Locks::acquire`], waiting by bounded retry.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn acquire(
        &self,
        kind: Kind,
        resource: &str,
        id: &str,
        ttl: Option<Duration>,
        wait: Duration,
    ) -> Result<bool, redis::RedisError> {
        let op = match kind {
            Kind::Exclusive => "lock",
            Kind::Read => "read",
        };
        let deadline = Instant::now().checked_add(wait);
        let mut pause = Duration::from_millis(1);
        loop {
            if self.run(op, resource, id, millis(ttl)).await? {
                return Ok(true);
            }
            let now = Instant::now();
            let Some(left) = deadline.and_then(|d| d.checked_duration_since(now)) else {
                return Ok(false);
            };
            if left.is_zero() {
                return Ok(false);
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(Duration::from_millis(8));
        }
    }

    /// As [`crate::Locks::release`].
    ///
    /// # Errors
    /// Redis failed.
    pub async fn release(&self, resource: &str, id: &str) -> Result<bool, redis::RedisError> {
        self.run("release", resource, id, 0).await
    }

    /// As [`crate::Locks::force_release`].
    ///
    /// # Errors
    /// Redis failed.
    pub async fn force_release(&self, resource: &str) -> Result<bool, redis::RedisError> {
        self.run("force", resource, "", 0).await
    }

    /// As [`crate::Locks::exists`].
    ///
    /// # Errors
    /// Redis failed.
    pub async fn exists(&self, resource: &str, id: &str) -> Result<bool, redis::RedisError> {
        self.run("exists", resource, id, 0).await
    }

    /// As [`crate::Locks::update_ttl`].
    ///
    /// # Errors
    /// Redis failed.
    pub async fn update_ttl(
        &self,
        resource: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<bool, redis::RedisError> {
        self.run("ttl", resource, id, millis(Some(ttl))).await
    }
}
