//! The small HTTP endpoints plugins expose (`status`, `metrics`): one
//! accept loop with the rules every listener follows (a
//! [`coyote_listener::Listener`]: backoff on accept errors, graceful
//! stop) and a header-read deadline that also closes idle keep-alive
//! connections, so a silent client holds nothing.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coyote_listener::Listener;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A client must send a request head within this (and an idle keep-alive
/// connection closes after it), as `http.header_read_timeout` defaults.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What an endpoint answers: a complete response per request.
pub type Answer = Response<Full<Bytes>>;

/// A response whose body may stream (server-sent events) or come from an
/// asynchronous handler.
pub type Streamed = Response<UnsyncBoxBody<Bytes, Infallible>>;

/// Serves `answer` on `listener` until `shutdown`: then stops accepting,
/// and open connections finish the request in flight and close.
pub async fn serve_http<F>(
    listener: TcpListener,
    answer: F,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) where
    F: Fn(&Request<Incoming>) -> Answer + Send + Sync + 'static,
{
    let handle = move |req: Request<Incoming>| {
        let response = answer(&req).map(BodyExt::boxed_unsync);
        async move { response }
    };
    serve_streamed(listener, handle, shutdown, tracker).await;
}

/// Like [`serve_http`], for handlers that answer asynchronously or with a
/// streamed body. A streamed body must end by itself once `shutdown` is
/// cancelled: the graceful stop waits for the response in flight.
pub async fn serve_streamed<F, Fut>(
    listener: TcpListener,
    handle: F,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Streamed> + Send + 'static,
{
    let listener = match Listener::from_tcp(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(target: "coyote::server", %error, "endpoint not served");
            return;
        }
    };
    let handle = Arc::new(handle);
    while let Some((stream, _)) = listener.accept(&shutdown).await {
        let handle = handle.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let response = handle(req);
                async move { Ok::<_, Infallible>(response.await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}
