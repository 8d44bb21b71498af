//! The HTTP plugin: a hyper front end that turns each request into a
//! worker payload exactly as RoadRunner does (so spiral/roadrunner-http and
//! Coyote's own PSR-7 worker both work), runs it on the pool, and turns the
//! worker's answer back into an HTTP response.
//!
//! # Layout
//! - `plugin`: the [`HttpPlugin`]: plans the `http` section, starts the
//!   pool and the listeners.
//! - `options`: [`HttpOptions`], plain values mapped from `.rr.yaml`.
//! - `context`: request -> context (JSON or `http.v1.Request` protobuf).
//! - `arena`: a per-thread buffer small per-request byte strings are cut
//!   from (contexts, unescaped response heads).
//! - `proto`: the `http.v1` protobuf messages.
//! - `form`: urlencoded bodies -> PHP's bracket tree (`a[b][]=1`).
//! - `uploads`: multipart bodies -> form tree + temp files (removed when the
//!   request ends).
//! - `body`: reading a body under `max_request_size`.
//! - `response`: the worker's answer -> status, headers, (streamed) body.
//! - `handler`: one request end to end ([`Handler`]).
//! - `host`: the request's Host / `:authority`, validated (RFC 9112).
//! - `headers`: the `headers` middleware (request / response headers, CORS).
//! - `gzip`: the `gzip` middleware (complete bodies >= 1 KiB, negotiated).
//! - `proxy`: the `proxy_ip_parser` middleware (client IP from a trusted
//!   proxy's headers).
//! - `files`: the `static` middleware (files served without a worker).
//! - `metrics`: request counters / histogram / in-flight ([`HttpMetrics`]).
//! - `fcgi`: the FastCGI listener ([`serve_fcgi`]).
//! - `interim`: 1xx interim responses (103 Early Hints) on HTTP/1.1.
//! - `tls`: rustls acceptor, ALPN, client certificate policies.
//! - `server`: accept loops for HTTP/1.1 + h2c ([`serve`]), HTTPS + HTTP/2
//!   ([`serve_tls`]) and the HTTPS redirect ([`serve_redirect`]).
//! - `steering`: which event-loop shard serves a connection ([`Placement`]):
//!   the shard of its CPU, followed when the client moves.

mod arena;
mod body;
mod context;
mod fcgi;
mod files;
mod form;
mod gzip;
mod handler;
mod headers;
mod host;
mod interim;
mod metrics;
mod options;
mod plugin;
pub mod proto;
mod proxy;
mod response;
mod server;
mod steering;
mod tls;
mod uploads;

pub use fcgi::{serve_fcgi, FcgiListener};
pub use files::StaticOptions;
pub use handler::Handler;
pub use headers::{CorsOptions, HeadersOptions};
/// Header types used by [`HeadersOptions`].
pub use hyper::header::{HeaderName, HeaderValue};
pub use metrics::HttpMetrics;
pub use options::{ContextEncoding, HttpOptions, UploadOptions};
pub use plugin::HttpPlugin;
pub use proxy::{ForwardingHeader, ProxyOptions};
pub use server::{serve, serve_redirect, serve_tls};
pub use steering::Placement;
pub use tls::{acceptor as tls_acceptor, ClientAuth, TlsError, TlsOptions};
/// The acceptor [`tls_acceptor`] builds.
pub use tokio_rustls::TlsAcceptor;

/// Turns `bytes` into the form tree as an urlencoded body, and as the
/// field names of a multipart body would be, and checks the invariants:
/// no panic, nesting never deeper than the limit, and the tree always
/// encodes to JSON. Shared by the cargo-fuzz target and a stable property
/// test.
pub fn fuzz_form(bytes: &[u8]) {
    fn depth(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
            serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    let tree = serde_json::Value::Object(form::urlencoded(bytes));
    assert!(depth(&tree) <= form::MAX_DEPTH + 1);
    assert!(serde_json::to_vec(&tree).is_ok());
    let text = String::from_utf8_lossy(bytes);
    let pairs = text
        .split('\n')
        .map(|name| (name.to_owned(), serde_json::Value::String("v".into())));
    let fields = serde_json::Value::Object(form::tree(form::group(pairs)));
    assert!(depth(&fields) <= form::MAX_DEPTH + 1);
}
