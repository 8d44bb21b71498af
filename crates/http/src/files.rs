//! The `static` middleware: files under `dir` served by Rust, never by a
//! worker. The file is opened once, beneath the root, without following
//! any symlink (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, or
//! a component-by-component `O_NOFOLLOW` walk where the kernel lacks it),
//! and everything after that works on the open descriptor: swapping the
//! path for a symlink or a FIFO mid-request changes nothing. Only regular
//! files are served; a directory or a missing path falls through to PHP,
//! any other kind of file (FIFO, device, socket) is 403. ETags come from
//! the file's metadata, never from reading it. Conditional requests
//! (ETag / Last-Modified) and single byte ranges are supported.

use std::fs::Metadata;
use std::io::SeekFrom;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RANGE,
};
use hyper::{Method, Response, StatusCode};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
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
    /// Send an ETag, made from the file's device, inode, size and
    /// modification time (so a replaced or rewritten file gets a new one,
    /// and the file is never read to make it).
    pub calculate_etag: bool,
    /// Weak ETags (`W/"..."`).
    pub weak: bool,
    /// Headers added to every static response.
    pub response: Vec<(HeaderName, HeaderValue)>,
}

/// What a request path names under the root.
#[derive(Debug)]
pub(crate) enum Found {
    /// A regular file, open, with its metadata from the descriptor.
    File(std::fs::File, Metadata),
    /// Not a file to serve: missing, a directory, a symlink somewhere on
    /// the way, outside the root. The request goes on to PHP.
    Nothing,
    /// A FIFO, device or socket: never opened for reading, never served.
    Special,
}

/// The request path as components under the root, or `None` when it
/// could leave the root or is not a path (`..`, NUL, bad escapes).
fn relative(uri_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(uri_path)
        .decode_utf8()
        .ok()?;
    if decoded.contains('\0') {
        return None;
    }
    let mut path = PathBuf::new();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            // `..`, a second root, or a prefix: never leave the root.
            _ => return None,
        }
    }
    Some(path)
}

/// Set once `openat2` turned out to be unavailable (kernel < 5.6, or a
/// seccomp filter): the portable walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Flags of the final open: never blocks (a FIFO without a writer opens at
/// once), never becomes a controlling terminal.
fn file_flags() -> OFlags {
    OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY
}

/// Opens `rel` beneath `root` without following symlinks.
fn open_beneath(root: &Path, rel: &Path) -> rustix::io::Result<rustix::fd::OwnedFd> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&dir, rel, file_flags(), Mode::empty(), resolve) {
            Err(Errno::NOSYS | Errno::PERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
            other => return other,
        }
    }
    walk(dir, rel)
}

/// The same without `openat2`: one `openat` per component, directories
/// with `O_DIRECTORY | O_NOFOLLOW` (a symlink fails), the file with
/// `O_NOFOLLOW`.
fn walk(mut dir: rustix::fd::OwnedFd, rel: &Path) -> rustix::io::Result<rustix::fd::OwnedFd> {
    let mut components = rel.components().peekable();
    while let Some(component) = components.next() {
        let Component::Normal(name) = component else {
            return Err(Errno::XDEV);
        };
        if components.peek().is_none() {
            return rustix::fs::openat(&dir, name, file_flags() | OFlags::NOFOLLOW, Mode::empty());
        }
        dir = rustix::fs::openat(
            &dir,
            name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
    }
    // The root itself: a directory, never served.
    Ok(dir)
}

/// Finds `rel` (from [`relative`]) under `root`: opened once, checked on
/// the descriptor.
pub(crate) fn find(root: &Path, rel: &Path) -> Found {
    if rel.as_os_str().is_empty() {
        return Found::Nothing;
    }
    let Ok(fd) = open_beneath(root, rel) else {
        return Found::Nothing;
    };
    let file = std::fs::File::from(fd);
    let Ok(meta) = file.metadata() else {
        return Found::Nothing;
    };
    let kind = meta.file_type();
    if kind.is_file() {
        Found::File(file, meta)
    } else if kind.is_dir() {
        Found::Nothing
    } else {
        Found::Special
    }
}

/// The ETag of a file, from its metadata alone: device, inode and
/// modification time (to the nanosecond) hashed, then the size.
pub(crate) fn etag(meta: &Metadata, weak: bool) -> String {
    let mut h = crc32fast::Hasher::new();
    h.update(&meta.dev().to_le_bytes());
    h.update(&meta.ino().to_le_bytes());
    h.update(&meta.mtime().to_le_bytes());
    h.update(&meta.mtime_nsec().to_le_bytes());
    let w = if weak { "W/" } else { "" };
    format!("{w}\"{:08x}-{:x}\"", h.finalize(), meta.len())
}

/// Whether the name's extension may be served. A dot file without an
/// extension (`.htaccess`, `.env`) counts as its whole name.
fn extension_allowed(path: &Path, opts: &StaticOptions) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => Some(ext),
        None => name.strip_prefix('.'),
    };
    let is = |listed: &String| {
        ext.is_some_and(|ext| {
            listed
                .strip_prefix('.')
                .is_some_and(|l| l.eq_ignore_ascii_case(ext))
        })
    };
    !opts.forbid.iter().any(is) && (opts.allow.is_empty() || opts.allow.iter().any(is))
}

fn empty(status: StatusCode) -> Response<HttpBody> {
    let mut r = Response::new(crate::handler::whole(Bytes::new()));
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
    let rel = relative(uri_path)?;
    // The extension is the one asked for (decoded): with no symlink
    // followed, it is the served file's own.
    if !extension_allowed(&rel, opts) {
        return None;
    }
    let (file, meta) = match find(&opts.dir, &rel) {
        Found::File(file, meta) => (file, meta),
        Found::Nothing => return None,
        Found::Special => return Some(empty(StatusCode::FORBIDDEN)),
    };
    let len = meta.len();
    let modified = meta.modified().ok();
    let etag = if opts.calculate_etag {
        HeaderValue::from_str(&etag(&meta, opts.weak)).ok()
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
    let mime = mime_guess::from_path(&rel).first_or_octet_stream();
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
        crate::handler::whole(Bytes::new())
    } else {
        let mut file = tokio::fs::File::from_std(file);
        file.seek(SeekFrom::Start(start)).await.ok()?;
        let chunks = tokio_util::io::ReaderStream::new(file.take(count))
            .map(|chunk| chunk.map(Frame::data).map_err(crate::body::BoxError::from));
        crate::handler::boxed(StreamBody::new(chunks))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().extend(headers);
    Some(response)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

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

    fn opts(dir: &Path, calculate_etag: bool) -> StaticOptions {
        StaticOptions {
            dir: dir.to_path_buf(),
            forbid: vec![".php".into(), ".htaccess".into()],
            allow: Vec::new(),
            calculate_etag,
            weak: false,
            response: Vec::new(),
        }
    }

    fn found(root: &Path, uri: &str) -> Option<String> {
        let rel = relative(uri)?;
        match find(root, &rel) {
            Found::File(mut file, _) => {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut file, &mut text).unwrap();
                Some(text)
            }
            Found::Nothing => None,
            Found::Special => Some("<special>".into()),
        }
    }

    async fn get(
        opts: &StaticOptions,
        method: Method,
        uri: &str,
    ) -> Option<(StatusCode, HeaderMap, Bytes)> {
        let response = serve(opts, &method, uri, &HeaderMap::new()).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Some((parts.status, parts.headers, body))
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
        std::os::unix::fs::symlink("css", root.join("inner")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("css/up.txt")).unwrap();
        assert_eq!(found(&root, "/css/a.css").as_deref(), Some("a{}"));
        assert!(found(&root, "/css/./a.css").is_some());
        assert!(found(&root, "/%63ss/a.css").is_some());
        assert!(found(&root, "/../secret.txt").is_none());
        assert!(found(&root, "/%2e%2e/secret.txt").is_none());
        assert!(found(&root, "/css/%2E%2E/%2E%2E/secret.txt").is_none());
        assert!(found(&root, "//etc/passwd").is_none());
        assert!(
            found(&root, "/link.txt").is_none(),
            "symlink out of the root"
        );
        assert!(
            found(&root, "/css/up.txt").is_none(),
            "relative symlink out"
        );
        assert!(
            found(&root, "/inner/a.css").is_none(),
            "no symlink is followed"
        );
        assert!(found(&root, "/css").is_none(), "directories are not files");
        assert!(found(&root, "/").is_none());
        assert!(found(&root, "/a%00.css").is_none());
        assert!(found(&root, "/missing.txt").is_none());
        // The portable walk refuses the same.
        let walked = |rel: &str| {
            let dir =
                rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
            walk(dir, Path::new(rel))
                .ok()
                .map(std::fs::File::from)
                .map(|f| f.metadata().unwrap().is_file())
        };
        assert_eq!(walked("css/a.css"), Some(true));
        assert_eq!(walked("link.txt"), None);
        assert_eq!(walked("inner/a.css"), None);
        assert_eq!(walked("css/up.txt"), None);
    }

    #[tokio::test]
    async fn extensions_are_checked_on_the_decoded_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(root.join("index.php"), "<?php secret").unwrap();
        std::fs::write(root.join(".htaccess"), "deny").unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        let opts = opts(&root, false);
        assert!(get(&opts, Method::GET, "/index.php").await.is_none());
        assert!(get(&opts, Method::GET, "/index.%70hp").await.is_none());
        assert!(get(&opts, Method::GET, "/INDEX.PHP").await.is_none());
        assert!(get(&opts, Method::GET, "/.htaccess").await.is_none());
        assert_eq!(get(&opts, Method::GET, "/a.txt").await.unwrap().2, "a");
    }

    /// A FIFO (or device) under the root is refused at once: it is opened
    /// non-blocking and never read. (Before: the open blocked a thread and
    /// the request for ever.)
    #[tokio::test]
    async fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("pipe.txt"),
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let opts = opts(&root, true);
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            get(&opts, Method::GET, "/pipe.txt"),
        )
        .await
        .expect("a FIFO must not hang the request");
        assert_eq!(answer.unwrap().0, StatusCode::FORBIDDEN);
    }

    /// The ETag comes from metadata: rewriting a file with other bytes of
    /// the same length, keeping its inode and modification time, leaves it
    /// unchanged, so the content was never read to make it. A new
    /// modification time or size, or a new inode, changes it.
    #[tokio::test]
    async fn etags_come_from_metadata_never_from_reading_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let path = root.join("a.txt");
        std::fs::write(&path, "aaaa").unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let opts = opts(&root, true);
        let tag = |h: &HeaderMap| h[ETAG].to_str().unwrap().to_owned();
        let first = tag(&get(&opts, Method::HEAD, "/a.txt").await.unwrap().1);
        assert!(first.starts_with('"') && first.ends_with("-4\""), "{first}");
        // Same inode, same length, same mtime, other bytes.
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        std::io::Write::write_all(&mut &file, b"bbbb").unwrap();
        file.set_modified(mtime).unwrap();
        drop(file);
        assert_eq!(
            tag(&get(&opts, Method::GET, "/a.txt").await.unwrap().1),
            first
        );
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_modified(mtime + std::time::Duration::from_nanos(1))
            .unwrap();
        drop(file);
        let touched = tag(&get(&opts, Method::GET, "/a.txt").await.unwrap().1);
        assert_ne!(touched, first);
        std::fs::write(root.join("b.txt"), "bbbb").unwrap();
        std::fs::rename(root.join("b.txt"), &path).unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_modified(mtime).unwrap();
        drop(file);
        assert_ne!(
            tag(&get(&opts, Method::GET, "/a.txt").await.unwrap().1),
            first,
            "new inode"
        );
        let weak = StaticOptions {
            weak: true,
            ..opts.clone()
        };
        assert!(tag(&get(&weak, Method::GET, "/a.txt").await.unwrap().1).starts_with("W/\""));
        // A large sparse file: HEAD with an ETag answers without reading
        // 8 GiB (the old code read it into memory on every request).
        let big = std::fs::File::create(root.join("big.bin")).unwrap();
        big.set_len(8 << 30).unwrap();
        let started = std::time::Instant::now();
        let (status, headers, _) = get(&opts, Method::HEAD, "/big.bin").await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[CONTENT_LENGTH], (8u64 << 30).to_string().as_str());
        assert!(headers[ETAG].to_str().unwrap().ends_with("-200000000\""));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// The path is swapped between a regular file and a symlink to a
    /// secret outside the root, as fast as possible, for 2 s while it is
    /// served: the secret never comes out. (Before: resolved, then
    /// reopened by name, so the swap won the race.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_symlink_swap_race_never_serves_outside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let root = base.join("public");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(base.join("secret.txt"), "SECRET").unwrap();
        std::fs::write(root.join("x.txt"), "inside").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let swapper = {
            let root = root.clone();
            let secret = base.join("secret.txt");
            std::thread::spawn(move || {
                let mut swaps = 0u32;
                while std::time::Instant::now() < deadline {
                    let link = root.join(".link");
                    let _ = std::fs::remove_file(&link);
                    std::os::unix::fs::symlink(&secret, &link).unwrap();
                    std::fs::rename(&link, root.join("x.txt")).unwrap();
                    let file = root.join(".file");
                    std::fs::write(&file, "inside").unwrap();
                    std::fs::rename(&file, root.join("x.txt")).unwrap();
                    swaps += 1;
                }
                swaps
            })
        };
        let opts = opts(&root, true);
        let (mut served, mut passed) = (0u32, 0u32);
        while std::time::Instant::now() < deadline {
            match get(&opts, Method::GET, "/x.txt").await {
                Some((status, _, body)) => {
                    assert_ne!(&body[..], b"SECRET", "served a file outside the root");
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(&body[..], b"inside");
                    served += 1;
                }
                None => passed += 1,
            }
        }
        let swaps = swapper.join().unwrap();
        assert!(
            swaps > 100 && served > 100,
            "swaps {swaps}, served {served}, passed {passed}"
        );
    }
}
