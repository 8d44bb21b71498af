use std::path::PathBuf;
use std::time::Duration;

/// How the request context travels to workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContextEncoding {
    /// JSON (`CODEC_JSON`): understood by every roadrunner-http version.
    #[default]
    Json,
    /// `http.v1.Request` protobuf (`CODEC_PROTO`), as RoadRunner >= 2024.1.
    Proto,
}

/// Where multipart files go and which are refused.
#[derive(Clone, Debug)]
pub struct UploadOptions {
    /// Directory for temp files (the system temp dir when `None`).
    pub dir: Option<PathBuf>,
    /// Extensions (lower-case, with the dot) never written to disk.
    pub forbid: Vec<String>,
    /// When not empty, the only extensions accepted.
    pub allow: Vec<String>,
    /// uid / gid the workers run as: temp files (mode 0600) are given to
    /// them so PHP can read them and nobody else can.
    pub owner: Option<(u32, u32)>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            dir: None,
            forbid: vec![".php".into(), ".exe".into(), ".bat".into()],
            allow: Vec::new(),
            owner: None,
        }
    }
}

/// The HTTP plugin's settings (the `http` section, mapped by the server).
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Largest body accepted, in bytes (RoadRunner's default is 1000 MB).
    pub max_request_size: u64,
    /// Send form bodies raw instead of parsed.
    pub raw_body: bool,
    /// Status for a failed worker execution.
    pub internal_error_code: u16,
    /// Log one line per request.
    pub access_logs: bool,
    /// `pool.debug`: worker error texts go to the client.
    pub debug: bool,
    /// The `proxy_ip_parser` middleware, when listed in `http.middleware`
    /// (and `http.trusted_subnets` is not empty): the only way a request
    /// header changes the client address PHP sees.
    pub proxy_ip_parser: Option<crate::ProxyOptions>,
    /// Multipart uploads.
    pub uploads: UploadOptions,
    /// Context encoding sent to workers.
    pub encoding: ContextEncoding,
    /// A client must send its request headers within this time.
    pub header_read_timeout: Duration,
    /// A request body must arrive whole within this time (408 otherwise).
    pub body_read_timeout: Duration,
    /// Largest request head (request line + headers); larger gets 431.
    /// Go's default, which RoadRunner keeps: 1 MiB.
    pub max_header_bytes: usize,
    /// Most header lines a worker's response may have; more is a worker
    /// fault (500). The config keeps it at most 16,384, well within what a
    /// `HeaderMap` holds.
    pub max_response_headers: usize,
    /// Most bytes (`name: value\r\n`, added up) a worker's response head
    /// may have; more is a worker fault (500). Go's request-side default:
    /// 1 MiB.
    pub max_response_header_bytes: usize,
    /// HTTP/2 over cleartext (h2c) alongside HTTP/1.1.
    pub h2c: bool,
    /// `http2.max_concurrent_streams`.
    pub max_concurrent_streams: u32,
    /// The `headers` middleware, when listed in `http.middleware`.
    pub headers: Option<crate::HeadersOptions>,
    /// The `gzip` middleware, when listed in `http.middleware`.
    pub gzip: bool,
    /// The `static` middleware, when listed in `http.middleware`.
    pub static_files: Option<crate::StaticOptions>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_request_size: 1000 * 1024 * 1024,
            raw_body: false,
            internal_error_code: 500,
            access_logs: false,
            debug: false,
            proxy_ip_parser: None,
            uploads: UploadOptions::default(),
            encoding: ContextEncoding::Json,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
            max_header_bytes: 1 << 20,
            max_response_headers: 1000,
            max_response_header_bytes: 1 << 20,
            h2c: false,
            max_concurrent_streams: 128,
            headers: None,
            gzip: false,
            static_files: None,
        }
    }
}
