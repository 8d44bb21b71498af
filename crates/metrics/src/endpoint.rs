//! `GET /metrics` on `metrics.address`: the 0.0.4 text format, or
//! OpenMetrics when `Accept` asks for it.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{Format, Metrics};

/// Serves the exposition until `shutdown`.
pub async fn serve(
    metrics: Arc<Metrics>,
    listener: TcpListener,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let answer = move |req: &Request<Incoming>| {
        if req.uri().path() == "/metrics" {
            let format = Format::negotiate(
                req.headers()
                    .get(hyper::header::ACCEPT)
                    .and_then(|v| v.to_str().ok()),
            );
            let mut r = Response::new(Full::new(Bytes::from(metrics.render_as(format))));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(format.content_type()),
            );
            r
        } else {
            let mut r = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    coyote_host::endpoint::serve_http(listener, answer, shutdown, tracker).await;
}
