//! Line-by-line forwarding of a worker's stderr (or stdout on socket
//! relays) into the log, tagged with pool and pid.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::boot::BootLog;

/// Longest line kept; longer ones are cut so a worker cannot make the
/// server buffer without bound.
const MAX_LINE: usize = 64 * 1024;

/// After the pool's stop token fires, how long a forwarder still waits for
/// the end of its stream. Normally the stream ends as soon as the worker's
/// process group is killed; this only bounds a descendant that left the
/// group (`setsid`) while holding the pipe.
const DRAIN_AFTER_STOP: Duration = Duration::from_millis(500);

/// One stream of one worker.
pub(crate) struct Source {
    pub(crate) pool: String,
    pub(crate) pid: u32,
    pub(crate) stream: &'static str,
    /// Where lines also go while the worker starts.
    pub(crate) boot: Arc<BootLog>,
}

/// Logs every line of `reader` until it ends (or shortly after `stop`).
/// Bytes that are not UTF-8 are shown lossily and an overlong line is cut:
/// nothing a worker writes ends the forwarding, which would leave the pipe
/// undrained and block the worker on its next write.
pub(crate) async fn forward_lines<R: AsyncRead + Unpin>(
    mut reader: R,
    source: Source,
    stop: CancellationToken,
) {
    let give_up = async {
        stop.cancelled().await;
        tokio::time::sleep(DRAIN_AFTER_STOP).await;
    };
    tokio::pin!(give_up);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // Bytes of `buf` already searched for a newline.
    let mut scanned = 0;
    // Inside a line that was too long: drop bytes until its newline.
    let mut discarding = false;
    loop {
        while let Some(at) = buf[scanned..].iter().position(|b| *b == b'\n') {
            let line = buf.split_to(scanned + at + 1);
            scanned = 0;
            if std::mem::take(&mut discarding) {
                continue;
            }
            if line.len() > MAX_LINE + 1 {
                source.overlong();
                continue;
            }
            source.emit(&line[..line.len() - 1]);
        }
        scanned = buf.len();
        if buf.len() > MAX_LINE {
            if !discarding {
                source.overlong();
            }
            discarding = true;
            buf.clear();
            scanned = 0;
        }
        buf.reserve(4096);
        let read = tokio::select! {
            read = reader.read_buf(&mut buf) => read,
            () = &mut give_up => return,
        };
        if !matches!(read, Ok(n) if n > 0) {
            if !buf.is_empty() && !discarding {
                source.emit(&buf);
            }
            return;
        }
    }
}

impl Source {
    fn emit(&self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = String::from_utf8_lossy(line);
        self.boot.record(self.stream, &line);
        tracing::info!(target: "coyote::worker", pool = %self.pool, pid = self.pid,
            stream = self.stream, "{line}");
    }

    fn overlong(&self) {
        self.boot
            .record(self.stream, "[a line longer than 64 KiB was cut]");
        tracing::warn!(target: "coyote::worker", pool = %self.pool, pid = self.pid,
            stream = self.stream, "worker wrote a line longer than {MAX_LINE} bytes; cut");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn lines_of(input: &[u8]) -> String {
        let boot = Arc::new(BootLog::default());
        let source = Source {
            pool: "t".into(),
            pid: 1,
            stream: "stderr",
            boot: boot.clone(),
        };
        forward_lines(input, source, CancellationToken::new()).await;
        boot.report(b"")
    }

    #[tokio::test]
    async fn splits_lines_survives_bad_utf8_and_cuts_overlong_lines() {
        let mut input = b"one\r\n\xff\xfe two\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend(b"\nafter\nlast without newline");
        assert_eq!(
            lines_of(&input).await,
            "--- stderr ---\none\n\u{fffd}\u{fffd} two\n[a line longer than 64 KiB was cut]\nafter\nlast without newline\n"
        );
    }
}
