//! `http`: the HTTP front end, its middleware options and its pool.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use crate::addr::ListenAddr;
use crate::error::ProblemKind;
use crate::sections::pool::PoolConfig;
use crate::validate::Validator;

/// RoadRunner's default `trusted_subnets` (http plugin `InitDefaults`):
/// private, shared, benchmarking, loopback and link-local ranges.
pub const DEFAULT_TRUSTED_SUBNETS: &[&str] = &[
    "10.0.0.0/8",
    "100.64.0.0/10",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "127.0.0.0/8",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// Headers the `proxy_ip_parser` middleware consults, in order, when the peer
/// is in `trusted_subnets`.
pub const DEFAULT_TRUSTED_HEADERS: &[&str] = &[
    "Forwarded",
    "X-Forwarded-For",
    "X-Real-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
];

/// Upload extensions refused by default. RoadRunner's code has no default
/// list (its sample config shows this one); Coyote takes the safer choice.
pub const DEFAULT_UPLOAD_FORBID: &[&str] = &[".php", ".exe", ".bat"];

/// `max_request_size` when 0 or absent, in MB (RoadRunner's code default;
/// its sample config wrongly says 0 is unlimited).
pub const DEFAULT_MAX_REQUEST_SIZE_MB: u64 = 1000;

/// The `http` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Plain HTTP listener; `None` when only TLS or FastCGI is served.
    #[serde(deserialize_with = "crate::addr::de_opt_listen")]
    pub address: Option<ListenAddr>,
    /// Status for internal errors (worker errors, no free worker). 500.
    pub internal_error_code: u16,
    /// Log every request at info level.
    pub access_logs: bool,
    /// Largest request body in MB; 0 in the file means 1000.
    pub max_request_size: u64,
    /// Send `application/x-www-form-urlencoded` and multipart bodies raw
    /// instead of parsed.
    pub raw_body: bool,
    /// Peers whose forwarding headers are believed (`proxy_ip_parser`).
    /// Default: [`DEFAULT_TRUSTED_SUBNETS`].
    #[serde(deserialize_with = "crate::fields::de_cidrs")]
    pub trusted_subnets: Vec<IpNet>,
    /// Headers consulted for the client IP, in order.
    /// Default: [`DEFAULT_TRUSTED_HEADERS`].
    pub trusted_headers: Vec<String>,
    /// Where uploaded files go and which are refused.
    pub uploads: UploadsConfig,
    /// Middleware names, outermost first (`headers`, `gzip`, `static`, ...).
    pub middleware: Vec<String>,
    /// Options of the `headers` middleware.
    pub headers: Option<HeadersConfig>,
    /// Options of the `static` middleware.
    #[serde(rename = "static")]
    pub static_files: Option<StaticConfig>,
    /// The worker pool serving requests.
    pub pool: PoolConfig,
    /// HTTPS listener.
    pub ssl: Option<SslConfig>,
    /// HTTP/2 options.
    pub http2: Http2Config,
    /// HTTP/3 listener (experimental in RoadRunner).
    pub http3: Option<Http3Config>,
    /// FastCGI listener.
    pub fcgi: Option<FcgiConfig>,
    /// Coyote extension: how the request context is encoded for workers.
    /// `json` (default; every roadrunner-http version understands it, and
    /// PHP decodes JSON in C) or `proto` (what RoadRunner ≥ 2024.1 sends).
    /// Responses are accepted in either encoding regardless.
    pub context_encoding: ContextEncoding,
    /// Coyote extension: a client must send its whole request head within
    /// this time, or the connection is closed (slowloris). Default 10s.
    #[serde(deserialize_with = "crate::duration::de")]
    pub header_read_timeout: std::time::Duration,
    /// Coyote extension: most header lines a worker's response may carry
    /// (each value of a list counts); more is answered 500. Default
    /// [`DEFAULT_MAX_RESPONSE_HEADERS`], at most [`MAX_RESPONSE_HEADERS`].
    pub max_response_headers: usize,
    /// Coyote extension: most bytes of a worker's response head
    /// (`name: value\r\n` lines added up); more is answered 500. Default
    /// 1 MiB, Go's `DefaultMaxHeaderBytes`.
    pub max_response_header_bytes: usize,
    /// Coyote extension: a request body must arrive whole within this
    /// time from the end of its head, or the client gets 408 and the
    /// connection is closed (slow bodies; no worker is involved until the
    /// body is in). Default 60s; raise it for large uploads over slow
    /// links.
    #[serde(deserialize_with = "crate::duration::de")]
    pub body_read_timeout: std::time::Duration,
}

/// Default `http.max_response_headers`.
pub const DEFAULT_MAX_RESPONSE_HEADERS: usize = 1000;

/// Upper bound of `http.max_response_headers`: comfortably under what a
/// response header map holds (24,576 entries).
pub const MAX_RESPONSE_HEADERS: usize = 16_384;

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            address: None,
            internal_error_code: 500,
            access_logs: false,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE_MB,
            raw_body: false,
            trusted_subnets: DEFAULT_TRUSTED_SUBNETS
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect(),
            trusted_headers: DEFAULT_TRUSTED_HEADERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            uploads: UploadsConfig::default(),
            middleware: Vec::new(),
            headers: None,
            static_files: None,
            pool: PoolConfig::default(),
            ssl: None,
            http2: Http2Config::default(),
            http3: None,
            fcgi: None,
            context_encoding: ContextEncoding::Json,
            header_read_timeout: std::time::Duration::from_secs(10),
            max_response_headers: DEFAULT_MAX_RESPONSE_HEADERS,
            max_response_header_bytes: 1 << 20,
            body_read_timeout: std::time::Duration::from_secs(60),
        }
    }
}

impl HttpConfig {
    /// `max_request_size` in bytes (MB × 1024²).
    pub fn max_request_size_bytes(&self) -> u64 {
        self.max_request_size.saturating_mul(1024 * 1024)
    }

    /// Whether an HTTPS listener runs: `ssl` with a certificate and key, or
    /// with `acme`.
    pub fn tls_enabled(&self) -> bool {
        self.ssl.as_ref().is_some_and(SslConfig::enabled)
    }

    /// The FastCGI listen address, when FastCGI is on.
    pub fn fcgi_address(&self) -> Option<&ListenAddr> {
        self.fcgi.as_ref().and_then(|f| f.address.as_ref())
    }

    pub(crate) fn check(&mut self, v: &mut Validator<'_>) {
        if !(100..=599).contains(&self.internal_error_code) {
            v.error(
                ProblemKind::Invalid,
                "http.internal_error_code",
                format!(
                    "{} is not an HTTP status code (100-599)",
                    self.internal_error_code
                ),
            );
        }
        if !(1..=MAX_RESPONSE_HEADERS).contains(&self.max_response_headers) {
            v.error(
                ProblemKind::Invalid,
                "http.max_response_headers",
                format!(
                    "{} is out of range (1-{MAX_RESPONSE_HEADERS})",
                    self.max_response_headers
                ),
            );
        }
        if self.max_response_header_bytes == 0 {
            v.error(
                ProblemKind::Invalid,
                "http.max_response_header_bytes",
                "must be at least 1",
            );
        }
        if self.body_read_timeout.is_zero() {
            v.error(
                ProblemKind::Invalid,
                "http.body_read_timeout",
                "must be longer than 0 (a large value such as 1h suits very slow uploads)",
            );
        }
        if self.max_request_size == 0 {
            self.max_request_size = DEFAULT_MAX_REQUEST_SIZE_MB;
        }
        if self.http2.max_concurrent_streams == 0 {
            self.http2.max_concurrent_streams = 128;
        }
        for ext in self
            .uploads
            .forbid
            .iter_mut()
            .chain(self.uploads.allow.iter_mut())
        {
            *ext = ext.to_ascii_lowercase();
        }
        if let Some(fcgi) = &self.fcgi {
            if fcgi.address.is_none() {
                v.error(
                    ProblemKind::Missing,
                    "http.fcgi.address",
                    "required when fcgi is set",
                );
            }
        }
        if let Some(ssl) = &mut self.ssl {
            ssl.check(v);
        }
        if let Some(h3) = &self.http3 {
            if h3.address.is_none() {
                v.error(
                    ProblemKind::Missing,
                    "http.http3.address",
                    "required when http3 is set",
                );
            }
            if h3.cert.is_some() != h3.key.is_some() {
                v.error(
                    ProblemKind::Missing,
                    "http.http3",
                    "cert and key must be given together",
                );
            }
        }
        if self.address.is_none() && !self.tls_enabled() && self.fcgi_address().is_none() {
            v.error(
                ProblemKind::Missing,
                "http.address",
                "no listener: set http.address, http.ssl (cert and key, or acme) \
                 or http.fcgi.address",
            );
        }
        if let Some(ssl) = &self.ssl {
            if ssl.redirect && self.address.is_none() {
                v.warn(
                    "http.ssl.redirect",
                    "has no effect without http.address (nothing to redirect from)",
                );
            }
        }
        self.pool.check(v, "http.pool");
    }
}

/// How the request context is encoded on the wire to the worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextEncoding {
    /// JSON (RoadRunner ≤ 2023.3; understood by every roadrunner-http).
    #[default]
    Json,
    /// Protobuf `http.v1.Request` (RoadRunner ≥ 2024.1).
    #[serde(alias = "protobuf")]
    Proto,
}

/// `http.uploads`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct UploadsConfig {
    /// Directory for temporary upload files; `None` is the OS temp dir.
    #[serde(deserialize_with = "crate::fields::de_opt_path")]
    pub dir: Option<PathBuf>,
    /// Extensions (with the dot, lower-cased) refused; wins over `allow`.
    /// Default: [`DEFAULT_UPLOAD_FORBID`].
    pub forbid: Vec<String>,
    /// When not empty, the only extensions accepted.
    pub allow: Vec<String>,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        Self {
            dir: None,
            forbid: DEFAULT_UPLOAD_FORBID
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            allow: Vec::new(),
        }
    }
}

/// `http.headers`: options of the `headers` middleware.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HeadersConfig {
    /// CORS answers; `None` disables them.
    pub cors: Option<CorsConfig>,
    /// Headers added to every request passed to the worker.
    pub request: BTreeMap<String, String>,
    /// Headers added to every response.
    pub response: BTreeMap<String, String>,
}

/// `http.headers.cors`. Empty strings mean "not sent".
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CorsConfig {
    /// `Access-Control-Allow-Origin` (e.g. `*`).
    pub allowed_origin: String,
    /// A regular expression matched against the `Origin` header.
    pub allowed_origin_regex: String,
    /// `Access-Control-Allow-Headers`.
    pub allowed_headers: String,
    /// `Access-Control-Allow-Methods` (comma separated).
    pub allowed_methods: String,
    /// `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
    /// `Access-Control-Expose-Headers` (comma separated).
    pub exposed_headers: String,
    /// `Access-Control-Max-Age`, in seconds.
    pub max_age: u64,
}

/// `http.static`: options of the `static` middleware.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct StaticConfig {
    /// Root directory of the files. Default `.`.
    pub dir: PathBuf,
    /// Extensions never served.
    pub forbid: Vec<String>,
    /// When not empty, the only extensions served.
    pub allow: Vec<String>,
    /// Send an `ETag`.
    pub calculate_etag: bool,
    /// Weak ETags (from the name and size, not the content).
    pub weak: bool,
    /// Headers added to requests for static files.
    pub request: BTreeMap<String, String>,
    /// Headers added to responses with static files.
    pub response: BTreeMap<String, String>,
}

impl Default for StaticConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("."),
            forbid: Vec::new(),
            allow: Vec::new(),
            calculate_etag: false,
            weak: false,
            request: BTreeMap::new(),
            response: BTreeMap::new(),
        }
    }
}

/// `http.ssl`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct SslConfig {
    /// HTTPS listener. Default `127.0.0.1:443`.
    pub address: ListenAddr,
    /// Redirect plain HTTP requests to HTTPS.
    pub redirect: bool,
    /// Certificate file (PEM).
    #[serde(deserialize_with = "crate::fields::de_opt_path")]
    pub cert: Option<PathBuf>,
    /// Private key file (PEM).
    #[serde(deserialize_with = "crate::fields::de_opt_path")]
    pub key: Option<PathBuf>,
    /// CA used to verify client certificates (mTLS).
    #[serde(deserialize_with = "crate::fields::de_opt_path")]
    pub root_ca: Option<PathBuf>,
    /// Client certificate policy.
    pub client_auth_type: ClientAuthType,
    /// Certificates from an ACME provider (Let's Encrypt) instead of files.
    pub acme: Option<AcmeConfig>,
}

impl Default for SslConfig {
    fn default() -> Self {
        Self {
            address: ListenAddr::tcp("127.0.0.1", 443),
            redirect: false,
            cert: None,
            key: None,
            root_ca: None,
            client_auth_type: ClientAuthType::default(),
            acme: None,
        }
    }
}

impl SslConfig {
    /// HTTPS runs when a certificate or key is given, or `acme` is set
    /// (RoadRunner's rule; a half pair is reported as an error).
    pub fn enabled(&self) -> bool {
        self.acme.is_some() || self.cert.is_some() || self.key.is_some()
    }

    fn check(&mut self, v: &mut Validator<'_>) {
        if let Some(acme) = &self.acme {
            if self.cert.is_some() || self.key.is_some() {
                v.error(
                    ProblemKind::Invalid,
                    "http.ssl.acme",
                    "use either acme or cert/key, not both",
                );
            }
            if acme.email.trim().is_empty() {
                v.error(
                    ProblemKind::Missing,
                    "http.ssl.acme.email",
                    "required for acme",
                );
            }
            if acme.domains.is_empty() {
                v.error(
                    ProblemKind::Missing,
                    "http.ssl.acme.domains",
                    "at least one domain is required for acme",
                );
            }
        } else {
            match (&self.cert, &self.key) {
                (Some(_), None) => v.error(
                    ProblemKind::Missing,
                    "http.ssl.key",
                    "required with ssl.cert",
                ),
                (None, Some(_)) => v.error(
                    ProblemKind::Missing,
                    "http.ssl.cert",
                    "required with ssl.key",
                ),
                (None, None) => v.warn(
                    "http.ssl",
                    "no cert/key and no acme: the HTTPS listener is off",
                ),
                (Some(_), Some(_)) => {}
            }
        }
        if let Some(cert) = &self.cert {
            v.file_exists("http.ssl.cert", cert);
        }
        if let Some(key) = &self.key {
            v.file_exists("http.ssl.key", key);
        }
        if let Some(ca) = &self.root_ca {
            v.file_exists("http.ssl.root_ca", ca);
        }
        if self.client_auth_type.requires_root_ca() && self.root_ca.is_none() {
            v.error(
                ProblemKind::Missing,
                "http.ssl.root_ca",
                "required to verify client certificates",
            );
        }
    }
}

/// `http.ssl.client_auth_type` (Go's `tls.ClientAuthType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthType {
    /// No client certificate is requested (default).
    #[default]
    #[serde(alias = "no_client_cert")]
    NoClientCerts,
    /// Requested, not required, not verified.
    RequestClientCert,
    /// Required, not verified.
    RequireAnyClientCert,
    /// Verified when given.
    VerifyClientCertIfGiven,
    /// Required and verified.
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    fn requires_root_ca(self) -> bool {
        matches!(
            self,
            Self::VerifyClientCertIfGiven | Self::RequireAndVerifyClientCert
        )
    }
}

/// `http.ssl.acme`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct AcmeConfig {
    /// Where certificates and account data are kept. `rr_cache_dir`.
    pub cache_dir: PathBuf,
    /// Account e-mail (required).
    pub email: String,
    /// Port for the HTTP-01 challenge. 80.
    pub alt_http_port: u16,
    /// Port for the TLS-ALPN-01 challenge. 443.
    pub alt_tlsalpn_port: u16,
    /// Which challenge to answer.
    pub challenge_type: ChallengeType,
    /// Use the production endpoint instead of staging.
    pub use_production_endpoint: bool,
    /// Domains to obtain certificates for (at least one).
    pub domains: Vec<String>,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        Self {
            cache_dir: PathBuf::from("rr_cache_dir"),
            email: String::new(),
            alt_http_port: 80,
            alt_tlsalpn_port: 443,
            challenge_type: ChallengeType::Http01,
            use_production_endpoint: false,
            domains: Vec::new(),
        }
    }
}

/// `http.ssl.acme.challenge_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum ChallengeType {
    /// `http-01` (default).
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// `tlsalpn-01`.
    #[serde(rename = "tlsalpn-01")]
    TlsAlpn01,
}

/// `http.http2`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct Http2Config {
    /// HTTP/2 over cleartext TCP (prior knowledge / upgrade).
    pub h2c: bool,
    /// Streams per connection. 128 (0 in the file means 128).
    pub max_concurrent_streams: u32,
}

impl Default for Http2Config {
    fn default() -> Self {
        Self {
            h2c: false,
            max_concurrent_streams: 128,
        }
    }
}

/// `http.http3` (experimental in RoadRunner).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Http3Config {
    /// UDP listen address (required).
    #[serde(deserialize_with = "crate::addr::de_opt_listen")]
    pub address: Option<ListenAddr>,
    /// Certificate file, unless `ssl.acme` provides one.
    #[serde(deserialize_with = "crate::fields::de_opt_path")]
    pub cert: Option<PathBuf>,
    /// Key file.
    #[serde(deserialize_with = "crate::fields::de_opt_path")]
    pub key: Option<PathBuf>,
}

/// `http.fcgi`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FcgiConfig {
    /// `tcp://host:port`, `host:port` or `unix:///path` (required).
    #[serde(deserialize_with = "crate::addr::de_opt_listen")]
    pub address: Option<ListenAddr>,
}
