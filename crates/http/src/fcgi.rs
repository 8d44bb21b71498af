//! `http.fcgi`: a FastCGI responder, so nginx (or any FastCGI client) can
//! sit in front of Coyote exactly as it sits in front of RoadRunner (Go's
//! `net/http/fcgi`). Each request goes through the same [`Handler`] as
//! HTTP requests.
//!
//! Written by hand because the maintained crate (tokio-fastcgi) buffers
//! request bodies without any bound and panics when two multiplexed
//! requests write at once; here every record is at most 64 KiB, params
//! and bodies are bounded, and requests on one connection run
//! concurrently with their records written whole.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use coyote_listener::Listener;
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::handler::HttpBody;
use crate::Handler;

const VERSION_1: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const ABORT_REQUEST: u8 = 2;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const DATA: u8 = 8;
const GET_VALUES: u8 = 9;
const GET_VALUES_RESULT: u8 = 10;
const UNKNOWN_TYPE: u8 = 11;

const ROLE_RESPONDER: u16 = 1;
const KEEP_CONN: u8 = 1;
const REQUEST_COMPLETE: u8 = 0;
const UNKNOWN_ROLE: u8 = 3;

/// Largest record content (the length field is 16 bits).
const MAX_CONTENT: usize = 0xffff;
/// Bound on one request's name-value params (they carry the headers).
const MAX_PARAMS: usize = 1 << 20;
/// Requests one connection may have open at once.
const MAX_REQUESTS: usize = 64;

/// Where the FastCGI listener accepts.
pub enum FcgiListener {
    /// `tcp://host:port` or `host:port`.
    Tcp(TcpListener),
    /// `unix:///path`.
    Unix(UnixListener),
}

/// Serves FastCGI on `listener` until `shutdown`; in-flight requests
/// finish first.
pub async fn serve_fcgi(
    listener: FcgiListener,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    // Backoff on accept errors (EMFILE never spins) and the stop come
    // from the listener; TCP_NODELAY is set on every TCP connection.
    let listener = match listener {
        FcgiListener::Tcp(l) => Listener::from_tcp(l),
        FcgiListener::Unix(l) => Listener::from_unix(l),
    };
    let listener = match listener {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(target: "coyote::http", %error, "not serving FastCGI");
            return;
        }
    };
    while let Some((stream, peer)) = listener.accept(&shutdown).await {
        let (r, w) = stream.into_split();
        tracker.spawn(connection(
            r,
            w,
            peer.socket_addr(),
            handler.clone(),
            shutdown.clone(),
        ));
    }
}

/// One record as read from the wire.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    kind: u8,
    id: u16,
    content: Bytes,
}

/// Why a connection was dropped.
#[derive(Debug, thiserror::Error)]
enum FcgiError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("unsupported FastCGI version {0}")]
    Version(u8),
    #[error("malformed {0} record")]
    Malformed(&'static str),
    #[error("request {0}: params larger than 1 MiB")]
    ParamsTooLarge(u16),
    #[error("more than {MAX_REQUESTS} concurrent requests on one connection")]
    TooManyRequests,
}

async fn read_record<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Record>, FcgiError> {
    let mut header = [0u8; 8];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    if header[0] != VERSION_1 {
        return Err(FcgiError::Version(header[0]));
    }
    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let padding = usize::from(header[6]);
    let mut content = vec![0u8; len + padding];
    r.read_exact(&mut content).await?;
    content.truncate(len);
    Ok(Some(Record {
        kind: header[1],
        id: u16::from_be_bytes([header[2], header[3]]),
        content: Bytes::from(content),
    }))
}

fn put_record(out: &mut BytesMut, kind: u8, id: u16, content: &[u8]) {
    debug_assert!(content.len() <= MAX_CONTENT);
    out.put_u8(VERSION_1);
    out.put_u8(kind);
    out.put_u16(id);
    out.put_u16(u16::try_from(content.len()).unwrap_or(u16::MAX));
    out.put_u8(0);
    out.put_u8(0);
    out.put_slice(content);
}

/// `data` as STDOUT records (an empty `data` writes nothing).
fn put_stdout(out: &mut BytesMut, id: u16, data: &[u8]) {
    for chunk in data.chunks(MAX_CONTENT) {
        put_record(out, STDOUT, id, chunk);
    }
}

fn put_end(out: &mut BytesMut, id: u16, protocol_status: u8) {
    put_record(out, STDOUT, id, &[]);
    let mut body = [0u8; 8];
    body[4] = protocol_status;
    put_record(out, END_REQUEST, id, &body);
}

/// Decodes FastCGI name-value pairs (1- or 4-byte lengths).
fn name_values(mut data: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    fn length(data: &mut &[u8]) -> Option<usize> {
        let first = *data.first()?;
        if first < 0x80 {
            *data = &data[1..];
            return Some(usize::from(first));
        }
        let bytes: [u8; 4] = data.get(..4)?.try_into().ok()?;
        *data = &data[4..];
        usize::try_from(u32::from_be_bytes(bytes) & 0x7fff_ffff).ok()
    }
    let mut pairs = Vec::new();
    while !data.is_empty() {
        let name_len = length(&mut data)?;
        let value_len = length(&mut data)?;
        let name = data.get(..name_len)?.to_vec();
        let value = data
            .get(name_len..name_len.checked_add(value_len)?)?
            .to_vec();
        data = &data[name_len + value_len..];
        pairs.push((name, value));
    }
    Some(pairs)
}

fn put_name_value(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    for len in [name.len(), value.len()] {
        if len < 0x80 {
            out.push(u8::try_from(len).unwrap_or(0));
        } else {
            out.extend_from_slice(&(u32::try_from(len).unwrap_or(0) | 0x8000_0000).to_be_bytes());
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// A request being received.
struct Pending {
    keep_conn: bool,
    params: BytesMut,
    params_done: bool,
    stdin: BytesMut,
    too_large: bool,
}

type Writer<W> = Arc<Mutex<W>>;

async fn connection<R, W>(
    mut reader: R,
    writer: W,
    tcp_peer: Option<SocketAddr>,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let writer: Writer<W> = Arc::new(Mutex::new(writer));
    let requests = TaskTracker::new();
    // Set when a request without FCGI_KEEP_CONN has been answered.
    let close = CancellationToken::new();
    let mut pending: HashMap<u16, Pending> = HashMap::new();
    let mut running: HashMap<u16, CancellationToken> = HashMap::new();
    let limit = usize::try_from(handler.options().max_request_size).unwrap_or(usize::MAX);
    let result: Result<(), FcgiError> = async {
        loop {
            let record = tokio::select! {
                () = shutdown.cancelled() => break,
                () = close.cancelled() => break,
                record = read_record(&mut reader) => record?,
            };
            let Some(record) = record else { break };
            running.retain(|_, token| !token.is_cancelled());
            match record.kind {
                BEGIN_REQUEST => {
                    let c = &record.content;
                    if c.len() < 8 {
                        return Err(FcgiError::Malformed("BEGIN_REQUEST"));
                    }
                    if pending.len() + running.len() >= MAX_REQUESTS {
                        return Err(FcgiError::TooManyRequests);
                    }
                    let role = u16::from_be_bytes([c[0], c[1]]);
                    let keep_conn = c[2] & KEEP_CONN != 0;
                    if role != ROLE_RESPONDER {
                        let mut out = BytesMut::new();
                        let mut body = [0u8; 8];
                        body[4] = UNKNOWN_ROLE;
                        put_record(&mut out, END_REQUEST, record.id, &body);
                        writer.lock().await.write_all(&out).await?;
                        continue;
                    }
                    pending.insert(
                        record.id,
                        Pending {
                            keep_conn,
                            params: BytesMut::new(),
                            params_done: false,
                            stdin: BytesMut::new(),
                            too_large: false,
                        },
                    );
                }
                PARAMS => {
                    let Some(p) = pending.get_mut(&record.id) else {
                        continue;
                    };
                    if record.content.is_empty() {
                        p.params_done = true;
                    } else if p.params.len() + record.content.len() > MAX_PARAMS {
                        return Err(FcgiError::ParamsTooLarge(record.id));
                    } else {
                        p.params.extend_from_slice(&record.content);
                    }
                }
                STDIN => {
                    let Some(p) = pending.get_mut(&record.id) else {
                        continue;
                    };
                    if !record.content.is_empty() {
                        // Past the limit the body is read and dropped, so
                        // the client gets its 413 and the connection stays
                        // in sync.
                        if p.stdin.len() + record.content.len() > limit {
                            p.too_large = true;
                            p.stdin = BytesMut::new();
                        } else if !p.too_large {
                            p.stdin.extend_from_slice(&record.content);
                        }
                        continue;
                    }
                    let Some(p) = pending.remove(&record.id) else {
                        continue;
                    };
                    if !p.params_done {
                        return Err(FcgiError::Malformed("STDIN before the end of PARAMS"));
                    }
                    let token = CancellationToken::new();
                    running.insert(record.id, token.clone());
                    requests.spawn(respond(
                        record.id,
                        p,
                        tcp_peer,
                        handler.clone(),
                        writer.clone(),
                        token,
                        close.clone(),
                    ));
                }
                ABORT_REQUEST => {
                    if pending.remove(&record.id).is_some() {
                        let mut out = BytesMut::new();
                        put_end(&mut out, record.id, REQUEST_COMPLETE);
                        writer.lock().await.write_all(&out).await?;
                    } else if let Some(token) = running.remove(&record.id) {
                        token.cancel();
                    }
                }
                DATA => {}
                GET_VALUES => {
                    let mut values = Vec::new();
                    for (name, _) in name_values(&record.content).unwrap_or_default() {
                        let value = match name.as_slice() {
                            b"FCGI_MAX_CONNS" => "1024".to_owned(),
                            b"FCGI_MAX_REQS" => MAX_REQUESTS.to_string(),
                            b"FCGI_MPXS_CONNS" => "1".to_owned(),
                            _ => continue,
                        };
                        put_name_value(&mut values, &name, value.as_bytes());
                    }
                    let mut out = BytesMut::new();
                    put_record(&mut out, GET_VALUES_RESULT, 0, &values);
                    writer.lock().await.write_all(&out).await?;
                }
                other => {
                    let mut out = BytesMut::new();
                    put_record(&mut out, UNKNOWN_TYPE, 0, &[other, 0, 0, 0, 0, 0, 0, 0]);
                    writer.lock().await.write_all(&out).await?;
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(target: "coyote::http", error = %e, "fcgi connection dropped");
        for token in running.values() {
            token.cancel();
        }
    }
    requests.close();
    requests.wait().await;
    let _ = writer.lock().await.shutdown().await;
}

/// Runs one request through the handler and writes the answer.
async fn respond<W: AsyncWrite + Unpin + Send>(
    id: u16,
    p: Pending,
    tcp_peer: Option<SocketAddr>,
    handler: Arc<Handler>,
    writer: Writer<W>,
    abort: CancellationToken,
    close: CancellationToken,
) {
    let keep_conn = p.keep_conn;
    let work = async {
        let response = match build_request(&p, tcp_peer) {
            Ok((_, _)) if p.too_large => crate::handler::full(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is larger than max_request_size\n",
            ),
            Ok((request, peer)) => handler.handle(request, peer).await,
            Err(reason) => {
                tracing::debug!(target: "coyote::http", %reason, "bad fcgi request");
                crate::handler::full(StatusCode::BAD_REQUEST, "malformed request\n")
            }
        };
        write_response(id, response, &writer).await
    };
    let result = tokio::select! {
        result = work => result,
        () = abort.cancelled() => {
            let mut out = BytesMut::new();
            put_end(&mut out, id, REQUEST_COMPLETE);
            writer.lock().await.write_all(&out).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(target: "coyote::http", error = %e, "fcgi response not delivered");
    }
    abort.cancel();
    if !keep_conn {
        close.cancel();
    }
}

async fn write_response<W: AsyncWrite + Unpin>(
    id: u16,
    response: Response<HttpBody>,
    writer: &Writer<W>,
) -> std::io::Result<()> {
    let (parts, mut body) = response.into_parts();
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"Status: ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let mut out = BytesMut::with_capacity(head.len() + 64);
    put_stdout(&mut out, id, &head);
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    put_stdout(&mut out, id, &data);
                    // Streamed bodies are flushed chunk by chunk.
                    if !body.is_end_stream() {
                        writer.lock().await.write_all(&out).await?;
                        out.clear();
                    }
                }
            }
            Some(Err(e)) => {
                tracing::warn!(target: "coyote::http", error = %e, "fcgi response body failed midway");
                break;
            }
            None => break,
        }
    }
    put_end(&mut out, id, REQUEST_COMPLETE);
    let mut w = writer.lock().await;
    w.write_all(&out).await?;
    w.flush().await
}

/// CGI params -> an HTTP request (as Go's `cgi.RequestFromMap`).
fn build_request(
    p: &Pending,
    tcp_peer: Option<SocketAddr>,
) -> Result<(Request<Full<Bytes>>, SocketAddr), String> {
    let pairs = name_values(&p.params).ok_or("malformed params")?;
    let mut env: HashMap<String, Vec<u8>> = HashMap::new();
    let mut builder = Request::builder()
        .version(Version::HTTP_11)
        .extension(crate::host::Gateway);
    let mut headers = Vec::new();
    for (name, value) in pairs {
        let name = String::from_utf8(name).map_err(|_| "param name is not UTF-8")?;
        if let Some(header) = name.strip_prefix("HTTP_") {
            let header = header.replace('_', "-").to_ascii_lowercase();
            if header == "proxy" {
                // httpoxy: never trust a client's Proxy header.
                continue;
            }
            headers.push((header, value.clone()));
        }
        env.insert(name, value);
    }
    let text = |key: &str| env.get(key).and_then(|v| std::str::from_utf8(v).ok());
    let method = text("REQUEST_METHOD").ok_or("REQUEST_METHOD missing")?;
    builder = builder.method(method);
    let uri = match text("REQUEST_URI") {
        Some(uri) if !uri.is_empty() => uri.to_owned(),
        _ => {
            let mut uri = format!(
                "{}{}",
                text("SCRIPT_NAME").unwrap_or(""),
                text("PATH_INFO").unwrap_or("")
            );
            if uri.is_empty() {
                uri.push('/');
            }
            if let Some(q) = text("QUERY_STRING").filter(|q| !q.is_empty()) {
                uri.push('?');
                uri.push_str(q);
            }
            uri
        }
    };
    builder = builder.uri(uri);
    if text("SERVER_PROTOCOL") == Some("HTTP/1.0") {
        builder = builder.version(Version::HTTP_10);
    }
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_bytes(&value).map_err(|e| e.to_string())?;
        builder = builder.header(name, value);
    }
    for (key, header) in [
        ("CONTENT_TYPE", "content-type"),
        ("CONTENT_LENGTH", "content-length"),
    ] {
        if let Some(value) = env.get(key).filter(|v| !v.is_empty()) {
            let value = HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
            builder = builder.header(header, value);
        }
    }
    if text("HTTPS").is_some_and(|v| v.eq_ignore_ascii_case("on") || v == "1") {
        builder = builder.extension(crate::server::Https);
    }
    let ip = text("REMOTE_ADDR").and_then(|a| a.parse::<IpAddr>().ok());
    let port = text("REMOTE_PORT").and_then(|p| p.parse::<u16>().ok());
    let peer = match (ip, tcp_peer) {
        (Some(ip), _) => SocketAddr::new(ip, port.unwrap_or(0)),
        (None, Some(peer)) => peer,
        (None, None) => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
    };
    let body = Full::new(p.stdin.clone().freeze());
    let request = builder.body(body).map_err(|e| e.to_string())?;
    Ok((request, peer))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn records_round_trip_with_padding() {
        let mut out = BytesMut::new();
        put_record(&mut out, STDOUT, 7, b"hello");
        // The same record as a client would pad it to 8 bytes.
        let mut padded = out.to_vec();
        padded[6] = 3;
        padded.extend_from_slice(&[0, 0, 0]);
        let mut r = &padded[..];
        let record = read_record(&mut r).await.unwrap().unwrap();
        assert_eq!(
            record,
            Record {
                kind: STDOUT,
                id: 7,
                content: Bytes::from_static(b"hello")
            }
        );
        assert!(read_record(&mut r).await.unwrap().is_none());
        let mut bad = &[2u8, 1, 0, 1, 0, 0, 0, 0][..];
        assert!(matches!(
            read_record(&mut bad).await,
            Err(FcgiError::Version(2))
        ));
    }

    #[test]
    fn name_values_with_short_and_long_lengths() {
        let long = vec![b'x'; 300];
        let mut data = Vec::new();
        put_name_value(&mut data, b"REQUEST_METHOD", b"GET");
        put_name_value(&mut data, b"HTTP_COOKIE", &long);
        let pairs = name_values(&data).unwrap();
        assert_eq!(pairs[0], (b"REQUEST_METHOD".to_vec(), b"GET".to_vec()));
        assert_eq!(pairs[1].1.len(), 300);
        // A length running past the end is rejected, not panicked on.
        assert!(name_values(&data[..data.len() - 1]).is_none());
        assert!(name_values(&[0x80, 0, 0]).is_none());
    }

    proptest::proptest! {
        /// Whatever a client sends as params, decoding and turning them
        /// into a request never panics; a stream of garbage records ends
        /// in an error or EOF, never a panic.
        #[test]
        fn garbage_params_and_records_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = name_values(&bytes);
            let p = Pending {
                keep_conn: false,
                params: BytesMut::from(&bytes[..]),
                params_done: true,
                stdin: BytesMut::new(),
                too_large: false,
            };
            let _ = build_request(&p, None);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let mut r = &bytes[..];
                while let Ok(Some(_)) = read_record(&mut r).await {}
            });
        }
    }

    #[test]
    fn cgi_params_become_an_http_request() {
        let mut params = Vec::new();
        for (k, v) in [
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/a/b?x=1"),
            ("HTTP_HOST", "example.com"),
            ("HTTP_X_CUSTOM_THING", "yes"),
            ("HTTP_PROXY", "http://evil"),
            ("CONTENT_TYPE", "application/json"),
            ("CONTENT_LENGTH", "2"),
            ("REMOTE_ADDR", "10.1.2.3"),
            ("REMOTE_PORT", "5555"),
            ("HTTPS", "on"),
        ] {
            put_name_value(&mut params, k.as_bytes(), v.as_bytes());
        }
        let p = Pending {
            keep_conn: true,
            params: BytesMut::from(&params[..]),
            params_done: true,
            stdin: BytesMut::from(&b"{}"[..]),
            too_large: false,
        };
        let (req, peer) = build_request(&p, None).unwrap();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri(), "/a/b?x=1");
        assert_eq!(req.headers()["host"], "example.com");
        assert_eq!(req.headers()["x-custom-thing"], "yes");
        assert!(req.headers().get("proxy").is_none());
        assert_eq!(req.headers()["content-type"], "application/json");
        assert!(req.extensions().get::<crate::server::Https>().is_some());
        assert_eq!(peer, "10.1.2.3:5555".parse().unwrap());
    }
}
