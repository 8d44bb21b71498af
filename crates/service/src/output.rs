//! A service's stdout and stderr, line by line into the log (target
//! `coyote::service`, level info, as RoadRunner logs them), tagged with the
//! pid and, with `service_name_in_log`, the service's name.
//!
//! Hand-written rather than `tokio_util`'s `LinesCodec`: a codec stream
//! ends at its first error (an over-long line, bytes that are not UTF-8),
//! and a forwarder that stops reading leaves the pipe full and blocks the
//! service on its next write. Here a long line is logged in pieces and
//! invalid bytes are shown lossily; reading never stops before the end.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

/// Longest piece logged as one line.
const MAX_LINE: usize = 64 * 1024;

/// After `drain` fires (the process group is dead), how long a forwarder
/// still waits for the end of its stream: only a descendant that left the
/// group (`setsid`) while holding the pipe keeps it open that long.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

/// Whose output a forwarder carries.
#[derive(Clone)]
pub(crate) struct Source {
    /// The service.
    pub(crate) name: String,
    /// Its process.
    pub(crate) pid: u32,
    /// Tag lines with the name.
    pub(crate) name_in_log: bool,
}

impl Source {
    fn emit(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let line = text.trim_end_matches(['\r', '\n']).trim_end();
        if line.is_empty() {
            return;
        }
        if self.name_in_log {
            tracing::info!(target: "coyote::service", service = %self.name, pid = self.pid, "{line}");
        } else {
            tracing::info!(target: "coyote::service", pid = self.pid, "{line}");
        }
    }
}

/// Logs every line of `reader` until it ends (or shortly after `drain`).
pub(crate) async fn forward<R: AsyncRead + Unpin>(
    mut reader: R,
    source: Source,
    drain: CancellationToken,
) {
    let give_up = async {
        drain.cancelled().await;
        tokio::time::sleep(DRAIN_AFTER_EXIT).await;
    };
    tokio::pin!(give_up);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // Bytes of `buf` already searched for a newline.
    let mut scanned = 0;
    loop {
        while let Some(at) = buf[scanned..].iter().position(|b| *b == b'\n') {
            let line = buf.split_to(scanned + at + 1);
            scanned = 0;
            source.emit(&line);
        }
        while buf.len() >= MAX_LINE {
            let piece = buf.split_to(MAX_LINE);
            source.emit(&piece);
        }
        scanned = buf.len();
        buf.reserve(8 * 1024);
        let read = tokio::select! {
            read = reader.read_buf(&mut buf) => read,
            () = &mut give_up => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    if !buf.is_empty() {
        source.emit(&buf);
    }
}
