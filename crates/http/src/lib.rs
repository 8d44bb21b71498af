//! The HTTP plugin: a hyper front end that turns each request into a
//! worker payload exactly as RoadRunner does (so spiral/roadrunner-http and
//! Coyote's own PSR-7 worker both work), runs it on the pool, and turns the
//! worker's answer back into an HTTP response.
//!
//! # Layout
//! - `options`: [`HttpOptions`], plain values mapped from `.rr.yaml`.
//! - `context`: request -> context (JSON or `http.v1.Request` protobuf).
//! - `proto`: the `http.v1` protobuf messages.
//! - `form`: urlencoded bodies -> PHP's bracket tree (`a[b][]=1`).
//! - `uploads`: multipart bodies -> form tree + temp files (removed when the
//!   request ends).
//! - `body`: reading a body under `max_request_size`.
//! - `response`: the worker's answer -> status, headers, (streamed) body.
//! - `handler`: one request end to end ([`Handler`]).
//! - `headers`: the `headers` middleware (request / response headers, CORS).
//! - `gzip`: the `gzip` middleware (complete bodies >= 1 KiB, negotiated).
//! - `files`: the `static` middleware (files served without a worker).
//! - `metrics`: request counters / histogram / in-flight ([`HttpMetrics`]).
//! - `server`: accept loop, HTTP/1.1 + h2c, graceful shutdown ([`serve`]).

mod body;
mod context;
mod files;
mod form;
mod gzip;
mod handler;
mod headers;
mod metrics;
mod options;
pub mod proto;
mod response;
mod server;
mod uploads;

pub use files::StaticOptions;
pub use handler::Handler;
pub use headers::{CorsOptions, HeadersOptions};
/// Header types used by [`HeadersOptions`].
pub use hyper::header::{HeaderName, HeaderValue};
pub use metrics::HttpMetrics;
pub use options::{ContextEncoding, HttpOptions, UploadOptions};
pub use server::serve;
