//! The redis driver's tasks, one each per pipeline: the reader (which
//! also redials), the mover of due delayed jobs, and the counts refresher.

#[allow(clippy::wildcard_imports)] // the driver's private state, shared
use super::*;

/// Moves due delayed jobs into the stream.
/// KEYS: delayed set, stream. ARGV: now (Unix ms), limit, max_len (0: none).
/// Returns `{moved, next due score or nothing}`.
const MOVE_SCRIPT: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local maxlen = tonumber(ARGV[3])
for _, m in ipairs(due) do
  local t = cmsgpack.unpack(m)
  local args = {KEYS[2]}
  if maxlen > 0 then
    args[#args + 1] = 'MAXLEN'
    args[#args + 1] = '~'
    args[#args + 1] = ARGV[3]
  end
  args[#args + 1] = '*'
  for i = 2, #t do args[#args + 1] = t[i] end
  redis.call('XADD', unpack(args))
  redis.call('ZREM', KEYS[1], m)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, tonumber(nxt[2])}
";

/// XPENDING's summary `[count, min, max, [[consumer, count], ...]]`: the
/// group's count and `consumer`'s.
pub(super) fn pending_summary(v: &Value, consumer: &str) -> (i64, i64) {
    let Value::Array(parts) = v else {
        return (0, 0);
    };
    let total = match parts.first() {
        Some(Value::Int(n)) => *n,
        _ => 0,
    };
    let ours = match parts.get(3) {
        Some(Value::Array(list)) => list
            .iter()
            .find_map(|c| match c {
                Value::Array(pair) => match (pair.first(), pair.get(1)) {
                    (Some(Value::BulkString(name)), Some(Value::BulkString(n)))
                        if name == consumer.as_bytes() =>
                    {
                        std::str::from_utf8(n).ok()?.parse().ok()
                    }
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or(0),
        _ => 0,
    };
    (total, ours)
}

enum Read {
    /// This consumer's pending entries after this id.
    Own(String),
    /// Entries idle past `visibility_timeout`, from this cursor.
    Claim(String),
    /// New entries, waiting up to this long.
    New(Duration),
}

async fn read(
    d: &RedisDriver,
    conn: &mut MultiplexedConnection,
    how: &Read,
    count: usize,
) -> Result<(Option<String>, Vec<Entry>), RedisError> {
    let o = &d.o;
    match how {
        Read::Own(_) | Read::New(_) => {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(&o.group)
                .arg(&o.consumer)
                .arg("COUNT")
                .arg(count);
            let id = match how {
                Read::Own(after) => after.as_str(),
                Read::New(block) => {
                    cmd.arg("BLOCK")
                        .arg(u64::try_from(block.as_millis()).unwrap_or(1000).max(1));
                    ">"
                }
                Read::Claim(_) => "0",
            };
            cmd.arg("STREAMS").arg(&o.stream).arg(id);
            let v = cmd.query_async::<Value>(conn).await?;
            Ok((None, entry::read_reply(&v)))
        }
        Read::Claim(cursor) => {
            let v = redis::cmd("XAUTOCLAIM")
                .arg(&o.stream)
                .arg(&o.group)
                .arg(&o.consumer)
                .arg(u64::try_from(o.visibility_timeout.as_millis()).unwrap_or(u64::MAX))
                .arg(cursor)
                .arg("COUNT")
                .arg(count)
                .query_async::<Value>(conn)
                .await?;
            let (next, entries) = entry::autoclaim_reply(&v);
            Ok((Some(next), entries))
        }
    }
}

pub(super) async fn reader_loop(d: Arc<RedisDriver>, first: MultiplexedConnection) {
    let stop = d.stop.clone();
    let visibility = d.o.visibility_timeout;
    let beat_every = (visibility / 3).max(Duration::from_millis(30));
    let claim_every = (visibility / 2).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut rconn = Some(first);
    let mut backoff = BACKOFF_MIN;
    let mut own: Option<String> = None;
    let mut claim_cursor = "0-0".to_owned();
    let mut next_claim = Instant::now();
    let mut next_beat = Instant::now() + beat_every;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let mut conn = match rconn.clone() {
            Some(c) if d.link_is_up() => c,
            _ => {
                rconn = None;
                let dialed = tokio::select! {
                    r = d.connect() => r,
                    () = stop.cancelled() => return,
                };
                match dialed {
                    Ok(c) => {
                        tracing::info!(target: "coyote::jobs", pipeline = %d.o.pipeline,
                            addr = %d.o.connection.addr, "redis link restored");
                        rconn = Some(c);
                        backoff = BACKOFF_MIN;
                    }
                    Err(why) => {
                        {
                            let mut link = d.link();
                            link.error = format!(
                                "redis {}: unreachable ({why}); redialing",
                                d.o.connection.addr
                            );
                        }
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = stop.cancelled() => return,
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                }
                continue;
            }
        };
        if let Err(e) = d.replay(&mut conn).await {
            d.link_failed(None, &short(&e));
            continue;
        }
        if Instant::now() >= next_beat {
            if let Err(e) = d.heartbeat(&mut conn).await {
                if broken(&e) {
                    d.link_failed(None, &short(&e));
                    continue;
                }
                tracing::warn!(target: "coyote::jobs", pipeline = %d.o.pipeline, "redis heartbeat: {}", short(&e));
            }
            next_beat = Instant::now() + beat_every;
        }
        let notified = d.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (running, room) = {
            let mut st = d.lock();
            if std::mem::take(&mut st.reread) {
                own = Some("0".to_owned());
            }
            (
                st.running && !st.stopped,
                d.o.prefetch.saturating_sub(st.unsettled.len()),
            )
        };
        if !running || room == 0 {
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(next_beat.into()) => {}
                () = stop.cancelled() => return,
            }
            continue;
        }
        let count = room.min(MAX_BATCH);
        let now = Instant::now();
        let how = match &own {
            Some(after) => Read::Own(after.clone()),
            None if now >= next_claim => Read::Claim(claim_cursor.clone()),
            None => Read::New(
                BLOCK
                    .min(next_claim.saturating_duration_since(now))
                    .min(next_beat.saturating_duration_since(now))
                    .max(Duration::from_millis(1)),
            ),
        };
        let result = tokio::select! {
            r = read(&d, &mut conn, &how, count) => r,
            () = stop.cancelled() => return,
        };
        match result {
            Ok((cursor, entries)) => {
                match &how {
                    Read::Own(_) => {
                        own = entries.last().map(|e| e.id.clone());
                    }
                    Read::Claim(_) => {
                        let next = cursor.unwrap_or_else(|| "0-0".to_owned());
                        if next == "0-0" {
                            next_claim = Instant::now() + claim_every;
                        }
                        if !entries.is_empty() {
                            tracing::info!(target: "coyote::jobs", pipeline = %d.o.pipeline,
                                claimed = entries.len(), "redis: claimed entries idle past visibility_timeout");
                        }
                        claim_cursor = next;
                    }
                    Read::New(_) => {}
                }
                if !entries.is_empty() {
                    let gone = d.deliver(entries);
                    if let Err(e) = d.drop_entries(&mut conn, &gone).await {
                        if broken(&e) {
                            d.link_failed(None, &short(&e));
                        }
                    }
                }
            }
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::warn!(target: "coyote::jobs", pipeline = %d.o.pipeline, stream = %d.o.stream,
                    "redis: the stream or its group is gone; creating them again");
                if let Err(e) = d.ensure_group(&mut conn).await {
                    if broken(&e) {
                        d.link_failed(None, &short(&e));
                    }
                }
            }
            Err(e) if broken(&e) => d.link_failed(None, &short(&e)),
            Err(e) => {
                tracing::error!(target: "coyote::jobs", pipeline = %d.o.pipeline, "redis read: {}", short(&e));
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }
}

pub(super) async fn mover_loop(d: Arc<RedisDriver>) {
    let script = redis::Script::new(MOVE_SCRIPT);
    let stop = d.stop.clone();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let notified = d.mover_wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let wait = match d.conn() {
            Err(_) => Duration::from_millis(250),
            Ok((generation, mut conn)) => {
                let now = now_ms();
                let moved = script
                    .key(&d.o.delayed)
                    .key(&d.o.stream)
                    .arg(now)
                    .arg(MOVE_BATCH)
                    .arg(d.o.max_len)
                    .invoke_async::<Vec<i64>>(&mut conn)
                    .await;
                match moved {
                    Ok(v) => {
                        let n = v.first().copied().unwrap_or(0);
                        match v.get(1) {
                            _ if usize::try_from(n).unwrap_or(0) >= MOVE_BATCH => Duration::ZERO,
                            Some(next) => Duration::from_millis(
                                u64::try_from(*next).unwrap_or(0).saturating_sub(now),
                            )
                            .min(Duration::from_secs(1)),
                            None => Duration::from_secs(1),
                        }
                    }
                    Err(e) => {
                        if broken(&e) {
                            d.link_failed(Some(generation), &short(&e));
                        } else {
                            tracing::error!(target: "coyote::jobs", pipeline = %d.o.pipeline,
                                "redis: moving delayed jobs failed: {}", short(&e));
                        }
                        Duration::from_secs(1)
                    }
                }
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut notified => {}
            () = stop.cancelled() => return,
        }
    }
}

pub(super) async fn stats_loop(d: Arc<RedisDriver>) {
    let stop = d.stop.clone();
    loop {
        let notified = d.stats_wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        tokio::select! {
            () = tokio::time::sleep(STATS_EVERY) => {}
            () = &mut notified => {}
            () = stop.cancelled() => return,
        }
        d.refresh().await;
    }
}
