//! The `static` middleware: files under `dir` served by Rust, never by a
//! worker. A path is served only if, after decoding and resolving symlinks,
//! it is a regular file inside the root; anything else falls through to
//! PHP. Conditional requests (ETag / Last-Modified) and single byte ranges
//! are supported.

use std::io::SeekFrom;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RANGE,
};
use hyper::{Method, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::handler::HttpBody;

/// Settings of the `static` middleware (`http.static`).
#[derive(Clone, Debug)]
pub struct StaticOptions {
    /// The root (made absolute and canonical when the server starts).
    pub dir: PathBuf,
    /// Extensions never served (lower-case, with the dot).
    pub forbid: Vec<String>,
    /// When not empty, the only extensions served.
    pub allow: Vec<String>,
    /// Send an ETag: a CRC32 of the content (strong), or of name, size and
    /// modification time when `weak`.
    pub calculate_etag: bool,
    /// Weak ETags.
    pub weak: bool,
    /// Headers added to every static response.
    pub response: Vec<(HeaderName, HeaderValue)>,
}

/// Resolves a request path to a file inside `root`, or `None`.
pub(crate) fn resolve(root: &Path, uri_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(uri_path)
        .decode_utf8()
        .ok()?;
    if decoded.contains('\0') {
        return None;
    }
    let mut path = root.to_path_buf();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            // `..`, a second root, or a prefix: never leave the root.
            _ => return None,
        }
    }
    // Symlinks are followed, then the result must still be inside the root.
    let real = std::fs::canonicalize(&path).ok()?;
    (real.starts_with(root) && real.is_file()).then_some(real)
}

fn extension_allowed(path: &Path, opts: &StaticOptions) -> bool {
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy().to_lowercase()))
        .unwrap_or_default();
    !opts.forbid.iter().any(|f| f.eq_ignore_ascii_case(&ext))
        && (opts.allow.is_empty() || opts.allow.iter().any(|a| a.eq_ignore_ascii_case(&ext)))
}

fn empty(status: StatusCode) -> Response<HttpBody> {
    let mut r = Response::new(
        Full::new(Bytes::new())
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r
}

/// `Some(start, end_inclusive)` for one satisfiable `bytes=` range,
/// `Err(())` for an unsatisfiable one, `Ok(None)` to send the whole file.
fn parse_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: the whole file is a valid answer
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (s, "") => (s.parse().map_err(|_| ())?, len.saturating_sub(1)),
        (s, e) => (
            s.parse().map_err(|_| ())?,
            e.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1)),
        ),
    };
    if len == 0 || start > end || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Serves `uri_path` if it is a static file; `None` lets the request go
/// on to the worker.
pub(crate) async fn serve(
    opts: &StaticOptions,
    method: &Method,
    uri_path: &str,
    request: &HeaderMap,
) -> Option<Response<HttpBody>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let path = resolve(&opts.dir, uri_path)?;
    if !extension_allowed(&path, opts) {
        return None;
    }
    let meta = tokio::fs::metadata(&path).await.ok()?;
    let len = meta.len();
    let modified = meta.modified().ok();
    let etag = if opts.calculate_etag {
        let tag = if opts.weak {
            let mut h = crc32fast::Hasher::new();
            h.update(path.to_string_lossy().as_bytes());
            h.update(&len.to_le_bytes());
            if let Some(m) = modified.and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok()) {
                h.update(&m.as_nanos().to_le_bytes());
            }
            format!("W/\"{:08x}-{len:x}\"", h.finalize())
        } else {
            let content = tokio::fs::read(&path).await.ok()?;
            format!("\"{:08x}-{len:x}\"", crc32fast::hash(&content))
        };
        HeaderValue::from_str(&tag).ok()
    } else {
        None
    };
    let mut headers = HeaderMap::new();
    if let Some(tag) = &etag {
        headers.insert(ETAG, tag.clone());
    }
    if let Some(m) = modified {
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(m)) {
            headers.insert(LAST_MODIFIED, v);
        }
    }
    for (name, value) in &opts.response {
        headers.insert(name.clone(), value.clone());
    }
    let not_modified = match (request.get(IF_NONE_MATCH), &etag) {
        (Some(inm), Some(tag)) => inm.to_str().is_ok_and(|v| {
            v.split(',').any(|t| {
                t.trim() == "*"
                    || t.trim().trim_start_matches("W/")
                        == tag.to_str().unwrap_or("").trim_start_matches("W/")
            })
        }),
        (Some(_), None) => false,
        (None, _) => match (
            request.get(IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()),
            modified,
        ) {
            (Some(since), Some(m)) => httpdate::parse_http_date(since)
                .is_ok_and(|since| m.duration_since(since).map_or(true, |d| d.as_secs() == 0)),
            _ => false,
        },
    };
    if not_modified {
        let mut r = empty(StatusCode::NOT_MODIFIED);
        r.headers_mut().extend(headers);
        return Some(r);
    }
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(CONTENT_TYPE, v);
    }
    let range = match request.get(RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => match parse_range(r, len) {
            Ok(range) => range,
            Err(()) => {
                let mut resp = empty(StatusCode::RANGE_NOT_SATISFIABLE);
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    resp.headers_mut().insert(CONTENT_RANGE, v);
                }
                return Some(resp);
            }
        },
        None => None,
    };
    let (status, start, count) = match range {
        Some((start, end)) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                headers.insert(CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        None => (StatusCode::OK, 0, len),
    };
    headers.insert(CONTENT_LENGTH, HeaderValue::from(count));
    let body: HttpBody = if method == Method::HEAD {
        Full::new(Bytes::new())
            .map_err(|e| match e {})
            .boxed_unsync()
    } else {
        let mut file = tokio::fs::File::open(&path).await.ok()?;
        file.seek(SeekFrom::Start(start)).await.ok()?;
        let chunks = tokio_util::io::ReaderStream::new(file.take(count))
            .map(|chunk| chunk.map(Frame::data).map_err(crate::body::BoxError::from));
        StreamBody::new(chunks).boxed_unsync()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().extend(headers);
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=9-0", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
        assert_eq!(parse_range("bytes=x-1", 100), Err(()));
    }

    #[test]
    fn paths_never_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap().join("public");
        std::fs::create_dir_all(root.join("css")).unwrap();
        std::fs::write(root.join("css/a.css"), "a{}").unwrap();
        std::fs::write(root.parent().unwrap().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(
            root.parent().unwrap().join("secret.txt"),
            root.join("link.txt"),
        )
        .unwrap();
        assert!(resolve(&root, "/css/a.css").is_some());
        assert!(resolve(&root, "/css/./a.css").is_some());
        assert!(resolve(&root, "/../secret.txt").is_none());
        assert!(resolve(&root, "/%2e%2e/secret.txt").is_none());
        assert!(resolve(&root, "/css/%2E%2E/%2E%2E/secret.txt").is_none());
        assert!(resolve(&root, "//etc/passwd").is_none());
        assert!(
            resolve(&root, "/link.txt").is_none(),
            "symlink out of the root"
        );
        assert!(
            resolve(&root, "/css").is_none(),
            "directories are not files"
        );
        assert!(resolve(&root, "/a%00.css").is_none());
    }
}
