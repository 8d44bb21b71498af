//! The beanstalkd protocol (`protocol.txt` of beanstalkd): a command line,
//! an optional data block, one reply line (and data for RESERVED / OK).
//!
//! Written here rather than taken from a crate: the Rust clients on
//! crates.io (tokio-beanstalkd 0.4, 2018, tokio 0.1; mamenoki 0.1) are
//! unmaintained or on old tokio, and the part a jobs driver needs is eight
//! commands over a line protocol.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest reply line or data block accepted (beanstalkd's default
/// max-job-size is 64 KiB; `-z` raises it).
const MAX_DATA: usize = 64 * 1024 * 1024;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The connection failed.
    #[error("beanstalkd connection: {0}")]
    Io(#[from] std::io::Error),
    /// beanstalkd answered something else than expected.
    #[error("beanstalkd answered {0:?}")]
    Unexpected(String),
}

/// One connection.
pub struct Conn {
    stream: BufReader<TcpStream>,
}

/// A reserved job.
pub struct Reserved {
    /// beanstalkd's job id.
    pub id: u64,
    /// The job body.
    pub body: Bytes,
}

impl Conn {
    /// Connects to `host:port` within `timeout`.
    pub async fn connect(address: &str, timeout: Duration) -> Result<Self, ProtoError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting to {address} timed out after {timeout:?}"),
                )
            })??;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }

    async fn line(&mut self) -> Result<String, ProtoError> {
        let mut buf = Vec::new();
        let n = (&mut self.stream)
            .take(1024)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        if !buf.ends_with(b"\r\n") {
            return Err(ProtoError::Unexpected(
                String::from_utf8_lossy(&buf).into_owned(),
            ));
        }
        buf.truncate(buf.len() - 2);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    async fn data(&mut self, len: usize) -> Result<Bytes, ProtoError> {
        if len > MAX_DATA {
            return Err(ProtoError::Unexpected(format!("a {len}-byte data block")));
        }
        let mut buf = vec![0; len + 2];
        self.stream.read_exact(&mut buf).await?;
        if !buf.ends_with(b"\r\n") {
            return Err(ProtoError::Unexpected("data block without CRLF".to_owned()));
        }
        buf.truncate(len);
        Ok(buf.into())
    }

    async fn send(&mut self, line: &str, data: Option<&[u8]>) -> Result<(), ProtoError> {
        let mut out = Vec::with_capacity(line.len() + 4 + data.map_or(0, <[u8]>::len));
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(d) = data {
            out.extend_from_slice(d);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.get_mut().write_all(&out).await?;
        Ok(())
    }

    async fn expect(&mut self, line: &str, want: &str) -> Result<String, ProtoError> {
        self.send(line, None).await?;
        let reply = self.line().await?;
        if reply.starts_with(want) {
            Ok(reply)
        } else {
            Err(ProtoError::Unexpected(reply))
        }
    }

    /// Puts jobs into `tube`: `(priority, delay seconds, ttr seconds, body)`
    /// each, pipelined; their ids.
    pub async fn put(
        &mut self,
        tube: &str,
        jobs: &[(u32, u64, u64, Vec<u8>)],
    ) -> Result<Vec<u64>, ProtoError> {
        self.expect(&format!("use {tube}"), "USING").await?;
        let mut out = Vec::new();
        for (pri, delay, ttr, body) in jobs {
            out.extend_from_slice(format!("put {pri} {delay} {ttr} {}\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.get_mut().write_all(&out).await?;
        let mut ids = Vec::with_capacity(jobs.len());
        for _ in jobs {
            let reply = self.line().await?;
            match reply.strip_prefix("INSERTED ").map(str::parse::<u64>) {
                Some(Ok(id)) => ids.push(id),
                _ => return Err(ProtoError::Unexpected(reply)),
            }
        }
        Ok(ids)
    }

    /// Watches only `tube`.
    pub async fn watch_only(&mut self, tube: &str) -> Result<(), ProtoError> {
        self.expect(&format!("watch {tube}"), "WATCHING").await?;
        if tube != "default" {
            self.expect("ignore default", "WATCHING").await?;
        }
        Ok(())
    }

    /// Reserves a job, waiting at most `timeout` (`None`: none ready).
    pub async fn reserve(&mut self, timeout: Duration) -> Result<Option<Reserved>, ProtoError> {
        self.send(&format!("reserve-with-timeout {}", timeout.as_secs()), None)
            .await?;
        let reply = self.line().await?;
        if reply == "TIMED_OUT" || reply == "DEADLINE_SOON" {
            return Ok(None);
        }
        let mut parts = reply.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("RESERVED"), Some(id), Some(len)) => {
                let (Ok(id), Ok(len)) = (id.parse(), len.parse()) else {
                    return Err(ProtoError::Unexpected(reply));
                };
                let body = self.data(len).await?;
                Ok(Some(Reserved { id, body }))
            }
            _ => Err(ProtoError::Unexpected(reply)),
        }
    }

    /// Deletes a job (NOT_FOUND is fine: it was released and taken again).
    pub async fn delete(&mut self, id: u64) -> Result<(), ProtoError> {
        self.send(&format!("delete {id}"), None).await?;
        let reply = self.line().await?;
        match reply.as_str() {
            "DELETED" | "NOT_FOUND" => Ok(()),
            _ => Err(ProtoError::Unexpected(reply)),
        }
    }

    /// `stats-tube`: (ready, reserved, delayed) jobs; zeros for a tube
    /// that does not exist yet.
    pub async fn tube_stats(&mut self, tube: &str) -> Result<(i64, i64, i64), ProtoError> {
        self.send(&format!("stats-tube {tube}"), None).await?;
        let reply = self.line().await?;
        if reply == "NOT_FOUND" {
            return Ok((0, 0, 0));
        }
        let Some(Ok(len)) = reply.strip_prefix("OK ").map(str::parse::<usize>) else {
            return Err(ProtoError::Unexpected(reply));
        };
        let yaml = self.data(len).await?;
        let text = String::from_utf8_lossy(&yaml);
        let get = |key: &str| -> i64 {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(": ")?.trim().parse().ok())
                .unwrap_or(0)
        };
        Ok((
            get("current-jobs-ready"),
            get("current-jobs-reserved"),
            get("current-jobs-delayed"),
        ))
    }
}

impl Conn {
    /// Releases a job it reserved back to ready (NOT_FOUND is fine).
    pub async fn release(&mut self, id: u64, priority: u32) -> Result<(), ProtoError> {
        self.send(&format!("release {id} {priority} 0"), None)
            .await?;
        let reply = self.line().await?;
        match reply.as_str() {
            "RELEASED" | "BURIED" | "NOT_FOUND" => Ok(()),
            _ => Err(ProtoError::Unexpected(reply)),
        }
    }
}
