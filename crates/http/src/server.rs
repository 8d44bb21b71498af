//! Accept loops: plain HTTP/1.1 (and h2c when enabled), HTTPS with
//! HTTP/2 by ALPN, and the HTTP -> HTTPS redirect. Every connection runs
//! on the plugin's tracker and finishes its in-flight requests on
//! shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coyote_listener::{Listener, Peer, Stream};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, HOST, LOCATION};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::interim;
use crate::steering::{Placement, SteeredStream};
use crate::Handler;

/// Marks requests that arrived over TLS (the context's `uri` says https).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Https;

/// Accepts until `shutdown`, handing each connection to `serve_one` on
/// `tracker`, where `placement` says.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    placement: Placement,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    serve_one: F,
) where
    F: Fn(SteeredStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Backoff on accept errors (EMFILE never spins) and the stop come
    // from the listener; TCP_NODELAY is set on every connection.
    let listener = match Listener::from_tcp(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(target: "coyote::http", %error, "not serving this listener");
            return;
        }
    };
    let serve_one = Arc::new(serve_one);
    while let Some((stream, peer)) = listener.accept(&shutdown).await {
        // A TCP listener accepts only TCP connections.
        let (Stream::Tcp(stream), Peer::Tcp(peer)) = (stream, peer) else {
            continue;
        };
        placement.run(&tracker, stream, peer, &serve_one);
    }
}

/// Serves `listener` until `shutdown`: then stops accepting, and each
/// connection finishes its in-flight requests before it closes.
pub async fn serve(
    listener: TcpListener,
    placement: Placement,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let stop = shutdown.clone();
    accept_loop(
        listener,
        placement,
        shutdown,
        tracker,
        move |stream, peer| {
            let h2 = handler.options().h2c;
            connection(stream, peer, handler.clone(), stop.clone(), h2, false)
        },
    )
    .await;
}

/// Serves HTTPS on `listener`: the TLS handshake must finish within the
/// header read timeout; HTTP/2 is chosen by ALPN.
pub async fn serve_tls(
    listener: TcpListener,
    placement: Placement,
    acceptor: TlsAcceptor,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let stop = shutdown.clone();
    accept_loop(listener, placement, shutdown, tracker, move |stream, peer| {
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        let stop = stop.clone();
        async move {
            let limit = handler.options().header_read_timeout;
            let tls = tokio::select! {
                () = stop.cancelled() => return,
                tls = tokio::time::timeout(limit, acceptor.accept(stream)) => tls,
            };
            match tls {
                Ok(Ok(tls)) => connection(tls, peer, handler, stop, true, true).await,
                Ok(Err(e)) => {
                    tracing::debug!(target: "coyote::http", %peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    tracing::debug!(target: "coyote::http", %peer, "TLS handshake timed out");
                }
            }
        }
    })
    .await;
}

/// Answers every request on `listener` with a permanent redirect (308,
/// as RoadRunner) to the same path on the HTTPS port.
pub async fn serve_redirect(
    listener: TcpListener,
    https_port: u16,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let stop = shutdown.clone();
    let placement = Placement::local();
    accept_loop(listener, placement, shutdown, tracker, move |stream, peer| {
        let stop = stop.clone();
        async move {
            let service = service_fn(move |req: Request<Incoming>| async move {
                Ok::<_, Infallible>(redirect(&req, https_port))
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let builder = builder.http1_only();
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(target: "coyote::http", %peer, error = %e, "connection ended with an error");
            }
        }
    })
    .await;
}

fn redirect<B>(req: &Request<B>, https_port: u16) -> Response<Full<Bytes>> {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("localhost");
    let mut response = Response::new(Full::new(Bytes::new()));
    if !crate::host::valid(host.as_bytes()) {
        // Never a Location pointing somewhere the Host smuggled in.
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
    }
    // Strip a port, keeping IPv6 brackets.
    let host = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    let mut target = format!("https://{host}");
    if https_port != 443 {
        target.push_str(&format!(":{https_port}"));
    }
    target.push_str(req.uri().path_and_query().map_or("/", |p| p.as_str()));
    match HeaderValue::from_str(&target) {
        Ok(location) => {
            *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
            response.headers_mut().insert(LOCATION, location);
        }
        Err(_) => *response.status_mut() = StatusCode::BAD_REQUEST,
    }
    response
}

/// One connection: HTTP/1.1 with interim responses, plus HTTP/2 when
/// `h2` (h2c on plain connections, ALPN "h2" on TLS).
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
    h2: bool,
    https: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let opts = handler.options().clone();
    let (io, interim) = interim::wrap(io);
    let service = service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        // Interim responses are written as HTTP/1.1 text: never on h2, and
        // never to an HTTP/1.0 client (RFC 9110, 15.2).
        let interim = (req.version() == hyper::Version::HTTP_11).then(|| interim.clone());
        async move { Ok::<_, Infallible>(handler.handle_on(req, peer, interim, https).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .max_buf_size(opts.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(opts.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(opts.max_concurrent_streams);
    if !h2 {
        builder = builder.http1_only();
    }
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(target: "coyote::http", %peer, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn location(host: &str, uri: &str, port: u16) -> String {
        let req = Request::builder()
            .uri(uri)
            .header(HOST, host)
            .body(())
            .unwrap();
        let response = redirect(&req, port);
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        response.headers()[LOCATION].to_str().unwrap().to_owned()
    }

    #[test]
    fn redirects_keep_path_and_query_and_name_the_https_port() {
        assert_eq!(
            location("example.com:8080", "/a/b?x=1&y[]=2", 8443),
            "https://example.com:8443/a/b?x=1&y[]=2"
        );
        assert_eq!(location("example.com", "/", 443), "https://example.com/");
        assert_eq!(location("[::1]:80", "/p", 443), "https://[::1]/p");
        assert_eq!(location("[::1]", "/p", 8443), "https://[::1]:8443/p");
        let req = Request::builder()
            .uri("/")
            .header(HOST, "evil.example/phish?")
            .body(())
            .unwrap();
        assert_eq!(redirect(&req, 443).status(), StatusCode::BAD_REQUEST);
    }
}
