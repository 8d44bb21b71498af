//! Line-by-line forwarding of a worker's stderr (or stdout on socket
//! relays) into the log, tagged with pool and pid.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::boot::BootLog;

/// Longest piece logged as one line: a longer line is logged in pieces of
/// this size, so a worker cannot make the server buffer without bound (and
/// nothing it writes ends the forwarding).
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
/// Bytes that are not UTF-8 are shown lossily, and a line longer than
/// [`MAX_LINE`] is logged in pieces as it arrives (numbered `part`), so
/// memory stays bounded and forwarding never stops early: that would
/// leave the pipe undrained and block the worker on its next write.
pub(crate) async fn forward_lines<R: AsyncRead + Unpin>(
    reader: R,
    source: Source,
    stop: CancellationToken,
) {
    forward(reader, source, stop, MAX_LINE).await;
}

/// Logs every line a process outside a pool (a handoff worker) writes on
/// `stream`, tagged `pool` and `pid`, as [`forward_lines`] does.
pub async fn forward_output<R: AsyncRead + Unpin>(
    reader: R,
    pool: String,
    pid: u32,
    stream: &'static str,
    stop: CancellationToken,
) {
    let boot = Arc::new(BootLog::default());
    boot.stop();
    let source = Source {
        pool,
        pid,
        stream,
        boot,
    };
    forward(reader, source, stop, MAX_LINE).await;
}

/// [`forward_lines`] with pieces of at most `max_line` bytes (at least 4).
async fn forward<R: AsyncRead + Unpin>(
    mut reader: R,
    source: Source,
    stop: CancellationToken,
    max_line: usize,
) {
    let max_line = max_line.max(4);
    let give_up = async {
        stop.cancelled().await;
        tokio::time::sleep(DRAIN_AFTER_STOP).await;
    };
    tokio::pin!(give_up);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // Bytes of `buf` already searched for a newline.
    let mut scanned = 0;
    // Pieces of the current line logged so far (0: none, a normal line).
    let mut parts = 0u32;
    loop {
        while let Some(at) = buf[scanned..].iter().position(|b| *b == b'\n') {
            let line = buf.split_to(scanned + at + 1);
            scanned = 0;
            source.line(&line[..line.len() - 1], &mut parts, max_line);
            parts = 0;
        }
        while buf.len() >= max_line {
            let piece = buf.split_to(char_cut(&buf, max_line));
            parts += 1;
            source.emit(&piece, parts);
        }
        scanned = buf.len();
        buf.reserve(8 * 1024);
        let read = tokio::select! {
            read = reader.read_buf(&mut buf) => read,
            () = &mut give_up => return,
        };
        if !matches!(read, Ok(n) if n > 0) {
            if !buf.is_empty() {
                source.line(&buf, &mut parts, max_line);
            }
            return;
        }
    }
}

/// Where to cut `bytes` to at most `max` bytes without splitting a UTF-8
/// sequence (for text that is UTF-8; any cut is fine for the rest).
fn char_cut(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    let mut cut = max;
    // At most 3 continuation bytes (0b10xx_xxxx) precede a boundary.
    while cut > max.saturating_sub(3) && bytes[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    cut
}

impl Source {
    /// Logs a complete line: whole, or the rest of a line already logged in
    /// `parts` pieces, or (read in one go, longer than `max`) in pieces.
    fn line(&self, mut line: &[u8], parts: &mut u32, max: usize) {
        if let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
        if *parts == 0 && line.len() <= max {
            return self.emit(line, 0);
        }
        while !line.is_empty() {
            let (piece, rest) = line.split_at(char_cut(line, max));
            *parts += 1;
            self.emit(piece, *parts);
            line = rest;
        }
    }

    /// Logs one line, or piece `part` (from 1) of a longer one.
    fn emit(&self, text: &[u8], part: u32) {
        let text = String::from_utf8_lossy(text);
        self.boot.record(self.stream, &text);
        if part == 0 {
            tracing::info!(target: "coyote::worker", pool = %self.pool, pid = self.pid,
                stream = self.stream, "{text}");
        } else {
            tracing::info!(target: "coyote::worker", pool = %self.pool, pid = self.pid,
                stream = self.stream, part, "{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn lines_of(input: &[u8], max_line: usize) -> String {
        let boot = Arc::new(BootLog::default());
        let source = Source {
            pool: "t".into(),
            pid: 1,
            stream: "stderr",
            boot: boot.clone(),
        };
        forward(input, source, CancellationToken::new(), max_line).await;
        boot.report(b"")
    }

    /// Yields its chunks one read at a time, as a pipe would.
    struct Chunks(Vec<Vec<u8>>);

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if !self.0.is_empty() {
                let chunk = self.0.remove(0);
                buf.put_slice(&chunk);
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn splits_lines_survives_bad_utf8_and_logs_long_lines_in_pieces() {
        let input = b"one\r\n\xff\xfe two\nabcdefghij1234567890XYZ\nafter\nlast without newline";
        assert_eq!(
            lines_of(input, 8).await,
            "--- stderr ---\none\n\u{fffd}\u{fffd} two\nabcdefgh\nij123456\n7890XYZ\n\
             after\nlast wit\nhout new\nline\n"
        );
        // A line arriving over several reads is logged as it comes.
        let boot = Arc::new(BootLog::default());
        let source = Source {
            pool: "t".into(),
            pid: 1,
            stream: "stderr",
            boot: boot.clone(),
        };
        let chunks = Chunks(vec![
            b"abcde".to_vec(),
            b"fghij".to_vec(),
            b"k\nend\n".to_vec(),
        ]);
        forward(chunks, source, CancellationToken::new(), 4).await;
        assert_eq!(boot.report(b""), "--- stderr ---\nabcd\nefgh\nijk\nend\n");
    }

    #[test]
    fn pieces_are_cut_on_char_boundaries() {
        let text = "aé€😀".repeat(10);
        for max in 4..text.len() {
            let cut = char_cut(text.as_bytes(), max);
            assert!(text.is_char_boundary(cut), "{max} -> {cut}");
            assert!(cut <= max && cut + 3 >= max, "{max} -> {cut}");
        }
        assert_eq!(char_cut(b"abc", 10), 3);
    }
}
