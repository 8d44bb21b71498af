//! The `gzip` middleware: compress complete response bodies when the client
//! accepts gzip. Streamed bodies pass through untouched, so each part still
//! reaches the client as soon as the worker sends it.

use std::io::Write;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body;
use hyper::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY,
};
use hyper::{Response, StatusCode};

use crate::handler::HttpBody;

/// Smaller bodies are not worth the CPU and the header bytes.
const MIN_SIZE: u64 = 1024;
/// Larger complete bodies are sent as they are: compressing them on the
/// request path would stall other requests on this thread.
const MAX_SIZE: u64 = 4 * 1024 * 1024;

/// Whether the request's Accept-Encoding allows gzip (`q=0` refuses).
pub(crate) fn accepts(request: &HeaderMap) -> bool {
    request
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused =
                parts.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

fn already_compressed(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    (ct.starts_with("image/") && !ct.starts_with("image/svg"))
        || ct.starts_with("video/")
        || ct.starts_with("audio/")
        || [
            "application/zip",
            "application/gzip",
            "application/x-gzip",
            "application/x-bzip2",
            "application/x-7z-compressed",
            "application/x-rar",
            "font/woff",
        ]
        .iter()
        .any(|t| ct.starts_with(t))
}

/// Compresses the response if it qualifies.
pub(crate) async fn compress(response: Response<HttpBody>) -> Response<HttpBody> {
    let (mut parts, body) = response.into_parts();
    let size = body.size_hint().exact();
    let skip = parts.headers.contains_key(CONTENT_ENCODING)
        || parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED
        || parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(already_compressed)
        || !size.is_some_and(|s| (MIN_SIZE..=MAX_SIZE).contains(&s));
    parts
        .headers
        .append(VARY, HeaderValue::from_static("Accept-Encoding"));
    if skip {
        return Response::from_parts(parts, body);
    }
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::warn!(target: "coyote::http", error = %e, "response body failed before compression");
            return Response::from_parts(parts, crate::handler::whole(Bytes::new()));
        }
    };
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::fast(),
    );
    let compressed = encoder.write_all(&bytes).and_then(|()| encoder.finish());
    let body = match compressed {
        Ok(gz) if gz.len() < bytes.len() => {
            parts
                .headers
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(CONTENT_LENGTH);
            Bytes::from(gz)
        }
        _ => bytes,
    };
    Response::from_parts(parts, crate::handler::whole(body))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn response(ct: &str, body: &'static [u8]) -> Response<HttpBody> {
        let mut r = Response::new(crate::handler::whole(Bytes::from_static(body)));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        r
    }

    #[test]
    fn negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts(&h));
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.8"));
        assert!(accepts(&h));
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, br"));
        assert!(!accepts(&h));
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("*"));
        assert!(accepts(&h));
    }

    #[tokio::test]
    async fn compresses_large_text_only() {
        let text: &'static [u8] =
            Box::leak("hello coyote ".repeat(500).into_bytes().into_boxed_slice());
        let r = compress(response("text/plain", text)).await;
        assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[VARY], "Accept-Encoding");
        let gz = r.into_body().collect().await.unwrap().to_bytes();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, text);

        let small = compress(response("text/plain", b"tiny")).await;
        assert!(small.headers().get(CONTENT_ENCODING).is_none());
        let png = compress(response("image/png", text)).await;
        assert!(png.headers().get(CONTENT_ENCODING).is_none());
    }
}
