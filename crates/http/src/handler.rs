//! One request end to end: context + body -> pool -> response.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use coyote_pool::{Fault, Payload, Pool, PoolError, ResponseStream};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Body, Frame};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use crate::body::{self, BodyError, BoxError};
use crate::response::{self, DeclaredLength, Head, HeadLimits};
use crate::uploads::{self, TempFiles};
use crate::{context, form, HttpOptions};

/// The body type of every response: one buffer as it is (most answers,
/// with no allocation for the body itself), or any other body, boxed.
/// (`http_body_util::Either` would do, but its error type trips the
/// higher-ranked `Send` bound hyper's connection future needs.)
pub enum HttpBody {
    /// One buffer.
    Whole(Full<Bytes>),
    /// Streamed, files, trailers.
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body for HttpBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Both variants are Unpin, so the enum is.
        match self.get_mut() {
            Self::Whole(b) => std::pin::Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(|e| match e {}))),
            Self::Boxed(b) => std::pin::Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Whole(b) => b.is_end_stream(),
            Self::Boxed(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Self::Whole(b) => b.size_hint(),
            Self::Boxed(b) => b.size_hint(),
        }
    }
}

/// A body of one buffer.
pub(crate) fn whole(bytes: impl Into<Bytes>) -> HttpBody {
    HttpBody::Whole(Full::new(bytes.into()))
}

/// Any other body (streamed, files, trailers).
pub(crate) fn boxed<B>(body: B) -> HttpBody
where
    B: Body<Data = Bytes, Error = BoxError> + Send + 'static,
{
    HttpBody::Boxed(body.boxed_unsync())
}

/// Serves requests from one pool with one set of options.
pub struct Handler {
    pool: Pool,
    opts: HttpOptions,
    metrics: Option<crate::HttpMetrics>,
}

/// What the response must fit: the request's method and protocol.
#[derive(Clone, Copy)]
struct Asked {
    /// A HEAD request: no body goes out, a declared length may.
    head: bool,
    /// HTTP/1.x, where `Connection: close` means something.
    http1: bool,
}

/// What the body turned into for the worker.
struct Prepared {
    body: Bytes,
    parsed: bool,
    uploads: Option<Value>,
    files: TempFiles,
}

pub(crate) fn full(status: StatusCode, text: impl Into<Bytes>) -> Response<HttpBody> {
    let mut response = Response::new(crate::handler::whole(text.into()));
    *response.status_mut() = status;
    response
}

impl Handler {
    /// A handler for `pool` (shared by the HTTP, HTTPS and FastCGI
    /// listeners).
    pub fn new(pool: Pool, opts: HttpOptions) -> Self {
        Self {
            pool,
            opts,
            metrics: None,
        }
    }

    /// Keeps request metrics in `metrics` (registered by the caller).
    pub fn with_metrics(mut self, metrics: crate::HttpMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The options in force.
    pub fn options(&self) -> &HttpOptions {
        &self.opts
    }

    /// Answers one request from `peer`; an [`crate::interim::Interim`]
    /// and [`crate::server::Https`] in the request's extensions say how
    /// the connection can answer.
    pub async fn handle<B>(&self, mut req: Request<B>, peer: SocketAddr) -> Response<HttpBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let interim = req.extensions_mut().remove::<crate::interim::Interim>();
        let https = req.extensions().get::<crate::server::Https>().is_some();
        self.handle_on(req, peer, interim, https).await
    }

    /// [`Handler::handle`] with the connection's facts passed directly:
    /// the server's hot path (request extensions cost three allocations).
    pub(crate) async fn handle_on<B>(
        &self,
        req: Request<B>,
        peer: SocketAddr,
        interim: Option<crate::interim::Interim>,
        https: bool,
    ) -> Response<HttpBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let _in_flight = self.metrics.as_ref().map(crate::HttpMetrics::started);
        let (mut parts, body) = req.into_parts();
        let scheme = if https { "https" } else { "http" };
        let headers = self.opts.headers.as_ref();
        if let Some(cors) = headers.and_then(|h| h.cors.as_ref()) {
            if let Some((status, cors_headers)) =
                crate::headers::preflight(cors, &parts.method, &parts.headers)
            {
                let mut response = full(status, Bytes::new());
                *response.headers_mut() = cors_headers;
                return response;
            }
        }
        let origin = parts.headers.get(hyper::header::ORIGIN).cloned();
        let gzip = self.opts.gzip && crate::gzip::accepts(&parts.headers);
        if let Some(h) = headers {
            for (name, value) in &h.request {
                parts.headers.insert(name.clone(), value.clone());
            }
        }
        let client = match &self.opts.proxy_ip_parser {
            Some(proxy) => proxy.client(&parts.headers, peer.ip()),
            None => peer.ip(),
        };
        let meta = match context::meta(&parts, client, scheme) {
            Ok(meta) => meta,
            Err(e) => {
                tracing::debug!(target: "coyote::http", %peer, error = %e, "bad request");
                let mut response = full(StatusCode::BAD_REQUEST, format!("400 Bad Request: {e}\n"));
                if parts.version <= hyper::Version::HTTP_11 {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                return response;
            }
        };
        let file = match &self.opts.static_files {
            Some(files) => {
                // Boxed here and below: rarely taken branches, kept out of
                // the per-request future hyper allocates and moves.
                Box::pin(crate::files::serve(
                    files,
                    &parts.method,
                    parts.uri.path(),
                    &parts.headers,
                ))
                .await
            }
            None => None,
        };
        let mut response = match file {
            Some(response) => response,
            None => self.run(&parts, &meta, body, interim).await,
        };
        if let Some(h) = headers {
            for (name, value) in &h.response {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            if let Some(cors) = h.cors.as_ref() {
                crate::headers::cors_response(cors, origin.as_ref(), response.headers_mut());
            }
        }
        if gzip {
            response = Box::pin(crate::gzip::compress(response)).await;
        }
        // Always kept (a few relaxed atomic adds): the dashboard reads it.
        self.pool
            .meter()
            .record(started.elapsed(), response.status().is_server_error());
        if let Some(metrics) = &self.metrics {
            metrics.finished(
                response.status().as_u16(),
                started.elapsed().as_secs_f64(),
                response.headers().contains_key("no-workers"),
            );
        }
        if self.opts.access_logs {
            tracing::info!(target: "coyote::http::access",
                method = %meta.method, uri = %meta.uri, status = response.status().as_u16(),
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, remote = %meta.remote_addr,
                "http request");
        }
        response
    }

    async fn run<B>(
        &self,
        parts: &hyper::http::request::Parts,
        meta: &context::Meta<'_>,
        body: B,
        interim: Option<crate::interim::Interim>,
    ) -> Response<HttpBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // The whole body within body_read_timeout: a client trickling it
        // holds neither the connection nor its buffers for ever (and no
        // worker: none is asked for before the body is in).
        let prepared = if body.is_end_stream() {
            self.prepare(parts, body).await
        } else {
            tokio::time::timeout(self.opts.body_read_timeout, self.prepare(parts, body))
                .await
                .unwrap_or(Err(BodyError::Timeout))
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(BodyError::Timeout) => {
                tracing::debug!(target: "coyote::http", timeout = ?self.opts.body_read_timeout,
                    "request body too slow");
                let mut response = full(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received within body_read_timeout\n",
                );
                if parts.version <= hyper::Version::HTTP_11 {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                return response;
            }
            Err(BodyError::TooLarge) => {
                return full(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body is larger than max_request_size\n",
                )
            }
            Err(BodyError::Bad(reason)) => {
                tracing::debug!(target: "coyote::http", %reason, "unreadable request body");
                return full(StatusCode::BAD_REQUEST, "malformed request body\n");
            }
        };
        let (codec, context) = context::encode(
            meta,
            prepared.parsed,
            prepared.uploads.as_ref(),
            self.opts.encoding,
        );
        let payload = Payload::new(codec, context, prepared.body);
        let stream = match self.pool.exec_stream(payload).await {
            Ok(stream) => stream,
            Err(e) => return self.failure(&e),
        };
        let asked = Asked {
            head: parts.method == Method::HEAD,
            http1: parts.version <= hyper::Version::HTTP_11,
        };
        self.respond(stream, prepared.files, interim, asked).await
    }

    /// Reads the body the way RoadRunner hands it to PHP.
    async fn prepare<B>(
        &self,
        parts: &hyper::http::request::Parts,
        body: B,
    ) -> Result<Prepared, BodyError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let limit = self.opts.max_request_size;
        let announced = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|len| len > limit) {
            return Err(BodyError::TooLarge);
        }
        let mut prepared = Prepared {
            body: Bytes::new(),
            parsed: false,
            uploads: None,
            files: TempFiles::default(),
        };
        if parts.method == Method::HEAD || parts.method == Method::OPTIONS {
            return Ok(prepared);
        }
        let raw_content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let content_type = raw_content_type.to_ascii_lowercase();
        if !self.opts.raw_body && content_type.contains("application/x-www-form-urlencoded") {
            let raw = body::collect(body, limit).await?;
            prepared.body =
                Bytes::from(serde_json::to_vec(&form::urlencoded(&raw)).unwrap_or_default());
            prepared.parsed = true;
        } else if !self.opts.raw_body && content_type.contains("multipart/form-data") {
            // The boundary is case-sensitive: parse the header as sent.
            let boundary = multer::parse_boundary(raw_content_type)
                .map_err(|e| BodyError::Bad(format!("multipart boundary: {e}")))?;
            let parsed = Box::pin(uploads::parse(
                body::limited_stream(body, limit),
                boundary,
                &self.opts.uploads,
            ))
            .await?;
            prepared.body = Bytes::from(serde_json::to_vec(&parsed.fields).unwrap_or_default());
            prepared.parsed = true;
            prepared.uploads = Some(Value::Object(parsed.uploads));
            prepared.files = parsed.files;
        } else {
            prepared.body = body::collect(body, limit).await?;
        }
        Ok(prepared)
    }

    /// Turns the worker's answer into a response; a streamed answer is
    /// sent part by part (the temp files live until the last part).
    async fn respond(
        &self,
        mut stream: ResponseStream,
        files: TempFiles,
        interim: Option<crate::interim::Interim>,
        asked: Asked,
    ) -> Response<HttpBody> {
        let limits = HeadLimits {
            max_headers: self.opts.max_response_headers,
            max_bytes: self.opts.max_response_header_bytes,
        };
        let (head, first) = loop {
            let part = match stream.next().await {
                Some(Ok(part)) => part,
                Some(Err(e)) => return self.failure(&e),
                None => return self.bad_worker("the worker sent no response", stream.pid()),
            };
            let head = match response::parse(&part.context, part.codec, limits) {
                Ok(head) => head,
                Err(reason) => return self.bad_worker(&reason.to_string(), stream.pid()),
            };
            if head.status.is_informational() {
                if !part.more {
                    return self.bad_worker(
                        "the worker sent only an informational response",
                        stream.pid(),
                    );
                }
                // 101 would switch protocols under hyper's feet; the rest
                // (103 Early Hints above all) go out as interim responses
                // where the connection allows it (HTTP/1.1; hyper's HTTP/2
                // has no API for them).
                let sent = head.status != StatusCode::SWITCHING_PROTOCOLS
                    && interim
                        .as_ref()
                        .is_some_and(|i| i.send(head.status, &head.headers));
                tracing::debug!(target: "coyote::http", status = head.status.as_u16(), sent,
                    "informational response from the worker");
                continue;
            }
            break (head, part);
        };
        let Head {
            status,
            headers,
            content_length,
            close,
        } = head;
        let pid = stream.pid();
        let (headers, trailers) = split_trailers(headers);
        let streamed = first.more || trailers.is_some();
        // The body is framed by its real length (or chunked when streamed);
        // what the worker declared only stands for HEAD, which has no body.
        let mut length = None;
        match content_length {
            Some(DeclaredLength::Valid(n)) if asked.head => length = Some(n),
            _ if asked.head && !first.more && !first.body.is_empty() => {
                length = Some(first.body.len() as u64);
            }
            Some(DeclaredLength::Valid(n)) if !streamed && n == first.body.len() as u64 => {}
            Some(declared) if !streamed => {
                tracing::warn!(target: "coyote::http", pid, ?declared, actual = first.body.len(),
                    "worker's Content-Length disagrees with its body; sent with the real length");
            }
            Some(_) | None => {}
        }
        let first_body = if asked.head { Bytes::new() } else { first.body };
        let body: HttpBody = if (first.more || trailers.is_some()) && !asked.head {
            // Streamed, or ending in trailers (which need chunked
            // encoding on HTTP/1.1, so the body must not have a known
            // length).
            let more = first.more;
            let chunks = futures::stream::unfold(
                (Some(first_body), more.then_some(stream), files, trailers),
                |(first, mut stream, files, trailers)| async move {
                    if let Some(chunk) = first {
                        return Some((Ok(Frame::data(chunk)), (None, stream, files, trailers)));
                    }
                    if let Some(s) = stream.as_mut() {
                        match s.next().await {
                            Some(Ok(part)) => {
                                return Some((
                                    Ok(Frame::data(part.body)),
                                    (None, stream, files, trailers),
                                ))
                            }
                            Some(Err(e)) => {
                                tracing::warn!(target: "coyote::http", error = %e, "streamed response failed midway");
                                return Some((Err(BoxError::from(e)), (None, None, files, None)));
                            }
                            None => {}
                        }
                    }
                    trailers.map(|t| (Ok(Frame::trailers(t)), (None, None, files, None)))
                },
            );
            crate::handler::boxed(StreamBody::new(chunks))
        } else {
            // A HEAD answer ends here; a streamed one is cancelled by
            // dropping the stream (the worker gets STOP).
            drop((files, stream));
            crate::handler::whole(first_body)
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let map = response.headers_mut();
        // Never `reserve`: it panics past the map's capacity.
        let _ = map.try_reserve(headers.len() + 2);
        for (name, value) in headers {
            // The head was bounded by `max_response_headers`, which the
            // config keeps well under HeaderMap's capacity (24,576
            // entries); never panic anyway.
            if map.try_append(name, value).is_err() {
                return self.bad_worker("too many response headers", pid);
            }
        }
        if let Some(n) = length {
            map.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        if close && asked.http1 {
            map.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }

    fn bad_worker(&self, reason: &str, pid: u32) -> Response<HttpBody> {
        tracing::error!(target: "coyote::http", %reason, pid, "invalid response from the worker");
        full(self.error_status(), "Internal Server Error\n")
    }

    fn error_status(&self) -> StatusCode {
        StatusCode::from_u16(self.opts.internal_error_code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Maps a pool error to a response.
    fn failure(&self, error: &PoolError) -> Response<HttpBody> {
        match error.fault() {
            Fault::Overloaded => {
                tracing::warn!(target: "coyote::http", %error, "no worker available");
                let mut response = full(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no workers available, retry later\n",
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                response
                    .headers_mut()
                    .insert("no-workers", HeaderValue::from_static("true"));
                response
            }
            Fault::Internal if matches!(error, PoolError::Stopped { .. }) => {
                let mut response = full(StatusCode::SERVICE_UNAVAILABLE, "server is stopping\n");
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            Fault::Caller => full(StatusCode::BAD_REQUEST, "bad request\n"),
            _ => {
                tracing::error!(target: "coyote::http", %error, "request failed");
                let text = if self.opts.debug {
                    format!("{error}\n")
                } else {
                    "Internal Server Error\n".to_owned()
                };
                full(self.error_status(), text)
            }
        }
    }
}

/// RoadRunner's trailer rule: headers named in the worker's `Trailer`
/// header are sent after the body as trailers instead of in the head
/// (`Trailer` itself stays, announcing them). hyper sends them on HTTP/2,
/// and on HTTP/1.1 when the client said `TE: trailers`. Names that may not
/// be trailers (RFC 9110, 6.5.1: framing, routing, `Trailer` itself and the
/// content's own metadata) stay in the head and are not announced.
fn split_trailers(
    headers: crate::response::HeadHeaders,
) -> (crate::response::HeadHeaders, Option<hyper::HeaderMap>) {
    if !headers
        .iter()
        .any(|(name, _)| *name == hyper::header::TRAILER)
    {
        return (headers, None);
    }
    let names: Vec<String> = headers
        .iter()
        .filter(|(name, _)| *name == hyper::header::TRAILER)
        .filter_map(|(_, value)| value.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && !NOT_TRAILERS.contains(&n.as_str()))
        .collect();
    let mut head = crate::response::HeadHeaders::with_capacity(headers.len());
    if names.is_empty() {
        head.extend(
            headers
                .into_iter()
                .filter(|(name, _)| *name != hyper::header::TRAILER),
        );
        return (head, None);
    }
    let mut trailers = hyper::HeaderMap::new();
    for (name, value) in headers {
        if name == hyper::header::TRAILER {
            continue;
        }
        if names.iter().any(|n| n == name.as_str()) {
            trailers.append(name, value);
        } else {
            head.push((name, value));
        }
    }
    if let Ok(announced) = HeaderValue::from_str(&names.join(", ")) {
        head.push((hyper::header::TRAILER, announced));
    }
    (head, Some(trailers))
}

/// Fields that never travel as trailers.
const NOT_TRAILERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "host",
    "content-type",
    "content-encoding",
    "content-range",
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hyper::header::HeaderName;

    fn pair(name: &'static str, value: &'static str) -> (HeaderName, HeaderValue) {
        (
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    }

    #[test]
    fn trailers_never_carry_framing_or_routing() {
        let (head, trailers) = split_trailers(smallvec::smallvec![
            pair("trailer", "X-Checksum, Content-Type, Host"),
            pair("x-checksum", "abc"),
            pair("content-type", "text/plain"),
            pair("x-head", "here"),
        ]);
        let trailers = trailers.unwrap();
        assert_eq!(trailers.len(), 1);
        assert_eq!(trailers["x-checksum"], "abc");
        let names: Vec<_> = head
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("content-type", "text/plain"),
                ("x-head", "here"),
                ("trailer", "x-checksum")
            ]
        );
        let (head, trailers) = split_trailers(smallvec::smallvec![
            pair("trailer", "content-length"),
            pair("x-a", "1")
        ]);
        assert!(trailers.is_none());
        assert_eq!(head.len(), 1, "an announcement of nothing is dropped");
        let (head, trailers) = split_trailers(smallvec::smallvec![pair("x-a", "1")]);
        assert!(trailers.is_none() && head.len() == 1);
    }
}
