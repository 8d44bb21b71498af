//! Server-sent events (the WHATWG `text/event-stream` format): framing,
//! and the stream one client reads: a retry hint, the current snapshot at
//! once, then every new one; a keep-alive comment when nothing was sent
//! for a while (proxies close silent connections); the end on shutdown.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use hyper::body::Frame;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A comment line sent when no event went out for this long.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long the browser waits before it reconnects (the `retry:` field).
pub const RETRY_MS: u64 = 2000;

/// One `message` event carrying `data`: a `data:` line per line of it
/// (a newline in the data cannot end the event early) and a blank line.
pub fn event(data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 16);
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// A comment: ignored by `EventSource`, keeps the connection busy.
pub fn comment(text: &str) -> Bytes {
    Bytes::from(format!(": {}\n\n", text.replace(['\r', '\n'], " ")))
}

/// The first bytes of a stream: the reconnection delay and a comment.
fn preamble() -> Bytes {
    Bytes::from(format!("retry: {RETRY_MS}\n: coyote dashboard\n\n"))
}

enum State {
    Start,
    Live,
}

/// The stream of one client: `snapshots` carries the latest JSON document
/// (empty until the first sample). It ends when `shutdown` is cancelled or
/// the sampler drops the sender.
pub fn stream(
    snapshots: watch::Receiver<Bytes>,
    shutdown: CancellationToken,
    keep_alive: Duration,
) -> impl Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static {
    futures::stream::unfold(
        (State::Start, snapshots, shutdown),
        move |(state, mut rx, shutdown)| async move {
            if shutdown.is_cancelled() {
                return None;
            }
            if let State::Start = state {
                let current = rx.borrow_and_update().clone();
                let mut first = preamble().to_vec();
                if !current.is_empty() {
                    first.extend_from_slice(&event(&String::from_utf8_lossy(&current)));
                }
                return Some((
                    Ok(Frame::data(Bytes::from(first))),
                    (State::Live, rx, shutdown),
                ));
            }
            let chunk = tokio::select! {
                () = shutdown.cancelled() => return None,
                changed = rx.changed() => {
                    changed.ok()?;
                    let current = rx.borrow_and_update().clone();
                    event(&String::from_utf8_lossy(&current))
                }
                () = tokio::time::sleep(keep_alive) => comment("keep-alive"),
            };
            Some((Ok(Frame::data(chunk)), (State::Live, rx, shutdown)))
        },
    )
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn text(frame: Option<Result<Frame<Bytes>, Infallible>>) -> String {
        let data = frame
            .expect("a frame")
            .expect("infallible")
            .into_data()
            .expect("a data frame");
        String::from_utf8(data.to_vec()).unwrap()
    }

    #[test]
    fn framing() {
        assert_eq!(&event("{\"a\":1}")[..], b"data: {\"a\":1}\n\n");
        assert_eq!(
            &event("one\ntwo\r\n")[..],
            b"data: one\ndata: two\ndata: \n\n"
        );
        assert_eq!(&comment("keep\nalive")[..], b": keep alive\n\n");
    }

    #[tokio::test(start_paused = true)]
    async fn snapshots_keep_alives_and_the_end() {
        let (tx, rx) = watch::channel(Bytes::from_static(b"{\"n\":1}"));
        let shutdown = CancellationToken::new();
        let mut events = Box::pin(stream(rx, shutdown.clone(), KEEP_ALIVE));
        assert_eq!(
            text(events.next().await),
            "retry: 2000\n: coyote dashboard\n\ndata: {\"n\":1}\n\n"
        );
        tx.send_replace(Bytes::from_static(b"{\"n\":2}"));
        assert_eq!(text(events.next().await), "data: {\"n\":2}\n\n");
        // Nothing new: a keep-alive comment after KEEP_ALIVE (paused time).
        assert_eq!(text(events.next().await), ": keep-alive\n\n");
        shutdown.cancel();
        assert!(events.next().await.is_none(), "ends on shutdown");
    }

    #[tokio::test]
    async fn ends_when_the_sampler_is_gone() {
        let (tx, rx) = watch::channel(Bytes::new());
        let mut events = Box::pin(stream(rx, CancellationToken::new(), KEEP_ALIVE));
        assert_eq!(
            text(events.next().await),
            "retry: 2000\n: coyote dashboard\n\n"
        );
        drop(tx);
        assert!(events.next().await.is_none());
    }
}
