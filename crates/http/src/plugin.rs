//! The `http` plugin: plans the whole `http` section (middleware options,
//! regexes compiled, the static root resolved, TLS material loaded,
//! addresses parsed, the pool's options), then starts the pool and the
//! listeners (plain or redirecting, HTTPS, FastCGI).

use std::sync::Arc;

use coyote_config::{HttpConfig, ListenAddr, ProblemKind, SslConfig};
use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};
use coyote_pool::{Pool, PoolOptions, RelayAddress};
use hyper::header::{HeaderName, HeaderValue};
use tokio_util::task::TaskTracker;

use crate::{
    ClientAuth, ContextEncoding, CorsOptions, FcgiListener, ForwardingHeader, Handler,
    HeadersOptions, HttpMetrics, HttpOptions, Placement, ProxyOptions, StaticOptions, TlsOptions,
    UploadOptions,
};

/// The `http` plugin.
pub struct HttpPlugin;

struct PlannedHttp {
    pool: PoolOptions,
    opts: HttpOptions,
    metrics: bool,
    address: Option<String>,
    tls: Option<(String, tokio_rustls::TlsAcceptor, bool)>,
    fcgi: Option<FcgiAddress>,
}

enum FcgiAddress {
    Tcp(String),
    Unix(std::path::PathBuf),
}

struct RunningHttp {
    pool: Pool,
    connections: TaskTracker,
}

impl Running for RunningHttp {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            // Connections finish their in-flight requests, then the
            // workers get the stop frame.
            self.connections.close();
            self.connections.wait().await;
            self.pool.shutdown().await;
        })
    }

    fn pending(&self) -> String {
        format!(
            "{} connections or listeners, {} workers busy",
            self.connections.len(),
            self.pool
                .workers()
                .len()
                .saturating_sub(self.pool.idle_count())
        )
    }
}

impl Plugin for HttpPlugin {
    fn name(&self) -> &'static str {
        "http"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let http = plan.config().http.as_ref()?;
        let pool = plan.pool_options("http", &http.pool);
        let mut headers = None;
        let mut gzip = false;
        let mut static_files = None;
        let mut proxy_ip_parser = None;
        for (i, name) in http.middleware.iter().enumerate() {
            match name.as_str() {
                "headers" => headers = headers_options(plan, http),
                "gzip" => gzip = true,
                "proxy_ip_parser" => proxy_ip_parser = proxy_options(plan, http),
                "static" => static_files = static_options(plan, http),
                // RoadRunner's request metrics: Coyote keeps them whenever
                // a metrics section exists.
                "http_metrics" => {}
                other => plan.warn(
                    &format!("http.middleware[{i}]"),
                    format_args!("{other}: not supported by Coyote yet; ignored"),
                ),
            }
        }
        let ssl = http.ssl.as_ref().filter(|ssl| ssl.enabled());
        let fcgi = http.fcgi.as_ref().and_then(|f| f.address.clone());
        if http.address.is_none() && ssl.is_none() && fcgi.is_none() {
            plan.problem_of(
                ProblemKind::Missing,
                "http.address",
                "set at least one of http.address, http.ssl (cert and key) or http.fcgi.address",
            );
        }
        let tls = ssl.and_then(|ssl| tls_plan(plan, ssl));
        let address = http
            .address
            .as_ref()
            .and_then(|a| plan.tcp_address("http.address", a));
        let fcgi = match fcgi {
            Some(ListenAddr::Unix(path)) => Some(FcgiAddress::Unix(path)),
            Some(tcp) => Some(FcgiAddress::Tcp(
                plan.tcp_address("http.fcgi.address", &tcp)?,
            )),
            None => None,
        };
        let pool = pool?;
        let opts = HttpOptions {
            max_request_size: http.max_request_size_bytes(),
            raw_body: http.raw_body,
            internal_error_code: http.internal_error_code,
            access_logs: http.access_logs,
            debug: http.pool.debug,
            proxy_ip_parser,
            uploads: UploadOptions {
                dir: http.uploads.dir.clone(),
                forbid: http.uploads.forbid.clone(),
                allow: http.uploads.allow.clone(),
                owner: pool.command.user,
            },
            encoding: match http.context_encoding {
                coyote_config::ContextEncoding::Proto => ContextEncoding::Proto,
                _ => ContextEncoding::Json,
            },
            header_read_timeout: http.header_read_timeout,
            body_read_timeout: http.body_read_timeout,
            max_response_headers: http.max_response_headers,
            max_response_header_bytes: http.max_response_header_bytes,
            h2c: http.http2.h2c,
            max_concurrent_streams: http.http2.max_concurrent_streams,
            headers,
            gzip,
            static_files,
            ..HttpOptions::default()
        };
        if !plan.is_clean() {
            return None;
        }
        Some(Box::new(PlannedHttp {
            pool,
            opts,
            metrics: plan.config().metrics.is_some(),
            address,
            tls,
            fcgi,
        }))
    }
}

impl Planned for PlannedHttp {
    fn pipe_workers(&self) -> usize {
        if self.pool.relay == RelayAddress::Pipes && !self.pool.debug {
            self.pool.effective_workers()
        } else {
            0
        }
    }

    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(self.run(start))
    }
}

impl PlannedHttp {
    async fn run(self, start: Start) -> Result<Box<dyn Running>, StartError> {
        let workers = self.pipe_workers();
        let shards = start.shards.clone().filter(|s| workers >= s.len());
        let options = self.pool.clone();
        let pool = match shards {
            Some(shards) => Pool::start_sharded(options, shards).await,
            None => Pool::start(options).await,
        }
        .map_err(|e| format!("starting the worker pool: {e}"))?;
        let registry = &start.registry;
        registry.add_pool("http", pool.clone());
        let running = RunningHttp {
            pool: pool.clone(),
            connections: TaskTracker::new(),
        };
        let bound = self.listen(&start, &running).await;
        if let Err(e) = bound {
            start.shutdown.cancel();
            running.stop().await;
            return Err(e);
        }
        Ok(Box::new(running))
    }

    async fn listen(self, start: &Start, running: &RunningHttp) -> Result<(), StartError> {
        let registry = &start.registry;
        let header_read_timeout = self.opts.header_read_timeout;
        let pool = running.pool.clone();
        let placement = pool
            .shards()
            .map_or_else(Placement::local, |s| Placement::sharded(s.clone()));
        let mut handler = Handler::new(pool, self.opts);
        if self.metrics {
            let metrics = HttpMetrics::default();
            let registered = metrics.clone();
            registry.add_metrics(move |r| registered.register(r));
            handler = handler.with_metrics(metrics);
        }
        let handler = Arc::new(handler);
        let (stop, tasks) = (start.shutdown.clone(), running.connections.clone());
        let mut redirect_to = None;
        if let Some((address, acceptor, redirect)) = self.tls {
            let listener = registry.bind_tcp("http", "https", &address).await?;
            if redirect {
                redirect_to = Some(listener.local_addr().map_or(443, |a| a.port()));
            }
            tasks.spawn(crate::serve_tls(
                listener,
                placement.clone(),
                acceptor,
                handler.clone(),
                stop.clone(),
                tasks.clone(),
            ));
        }
        if let Some(address) = &self.address {
            let what = if redirect_to.is_some() {
                "redirect"
            } else {
                "http"
            };
            let listener = registry.bind_tcp("http", what, address).await?;
            if let Some(https_port) = redirect_to {
                tasks.spawn(crate::serve_redirect(
                    listener,
                    https_port,
                    header_read_timeout,
                    stop.clone(),
                    tasks.clone(),
                ));
            } else {
                tasks.spawn(crate::serve(
                    listener,
                    placement,
                    handler.clone(),
                    stop.clone(),
                    tasks.clone(),
                ));
            }
        }
        if let Some(address) = &self.fcgi {
            let listener = match address {
                FcgiAddress::Unix(path) => {
                    // A socket left by a previous run would make bind fail;
                    // anything else at that path is left alone (and bind
                    // reports it).
                    use std::os::unix::fs::FileTypeExt;
                    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                        let _ = std::fs::remove_file(path);
                    }
                    let listener = tokio::net::UnixListener::bind(path).map_err(|e| {
                        format!("fastcgi: cannot listen on {}: {e}", path.display())
                    })?;
                    registry.listening("http", "fastcgi", &format!("unix://{}", path.display()));
                    FcgiListener::Unix(listener)
                }
                FcgiAddress::Tcp(address) => {
                    FcgiListener::Tcp(registry.bind_tcp("http", "fastcgi", address).await?)
                }
            };
            tasks.spawn(crate::serve_fcgi(listener, handler, stop, tasks.clone()));
        }
        Ok(())
    }
}

fn header_pairs(
    plan: &mut Plan<'_>,
    map: &std::collections::BTreeMap<String, String>,
    key: &str,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut pairs = Vec::new();
    for (k, v) in map {
        let path = format!("{key}.{k}");
        match (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            (Ok(name), Ok(value)) => pairs.push((name, value)),
            (Err(e), _) => plan.problem(&path, e.to_string()),
            (_, Err(e)) => plan.problem(&path, e.to_string()),
        }
    }
    pairs
}

/// `http.trusted_subnets` + `http.trusted_headers` -> the
/// `proxy_ip_parser` middleware's options. As RoadRunner's plugin, it is
/// disabled (`None`) unless `http.trusted_subnets` is set in the file and
/// not empty: the default private ranges are never trusted implicitly.
fn proxy_options(plan: &mut Plan<'_>, http: &HttpConfig) -> Option<ProxyOptions> {
    let set = plan
        .section("http")
        .and_then(|h| h.get("trusted_subnets"))
        .is_some_and(|n| !n.is_null());
    if !set || http.trusted_subnets.is_empty() {
        plan.warn(
            "http.middleware",
            "proxy_ip_parser needs http.trusted_subnets (the proxies to believe); \
             without it no forwarding header is read",
        );
        return None;
    }
    let names: Vec<&str> = if http.trusted_headers.is_empty() {
        crate::proxy::DEFAULT_HEADERS.to_vec()
    } else {
        http.trusted_headers.iter().map(String::as_str).collect()
    };
    let mut headers = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        match ForwardingHeader::from_name(name) {
            Ok(header) if !headers.contains(&header) => headers.push(header),
            Ok(_) => {}
            Err(e) => plan.problem(
                &format!("http.trusted_headers[{i}]"),
                format!("{name:?}: {e}"),
            ),
        }
    }
    Some(ProxyOptions {
        trusted_subnets: http.trusted_subnets.clone(),
        headers,
    })
}

/// `http.headers` -> the headers middleware's options.
fn headers_options(plan: &mut Plan<'_>, http: &HttpConfig) -> Option<HeadersOptions> {
    let Some(section) = &http.headers else {
        return Some(HeadersOptions::default());
    };
    let cors = section.cors.as_ref().map(|c| CorsOptions {
        allowed_origin: c.allowed_origin.clone(),
        allowed_origin_regex: if c.allowed_origin_regex.is_empty() {
            None
        } else {
            match regex::Regex::new(&c.allowed_origin_regex) {
                Ok(re) => Some(re),
                Err(e) => {
                    plan.problem("http.headers.cors.allowed_origin_regex", e.to_string());
                    None
                }
            }
        },
        allowed_headers: c.allowed_headers.clone(),
        allowed_methods: c.allowed_methods.clone(),
        allow_credentials: c.allow_credentials,
        exposed_headers: c.exposed_headers.clone(),
        max_age: c.max_age,
    });
    Some(HeadersOptions {
        request: header_pairs(plan, &section.request, "http.headers.request"),
        response: header_pairs(plan, &section.response, "http.headers.response"),
        cors,
    })
}

/// `http.static` -> the static middleware's options (root made canonical,
/// so symlinks cannot lead outside it).
fn static_options(plan: &mut Plan<'_>, http: &HttpConfig) -> Option<StaticOptions> {
    let section = http.static_files.clone().unwrap_or_default();
    let dir = plan.working_dir().join(&section.dir);
    let dir = match std::fs::canonicalize(&dir) {
        Ok(dir) if dir.is_dir() => dir,
        Ok(_) => {
            plan.problem_of(
                ProblemKind::File,
                "http.static.dir",
                format!("{} is not a directory", section.dir.display()),
            );
            return None;
        }
        Err(e) => {
            plan.problem_of(
                ProblemKind::File,
                "http.static.dir",
                format!("{}: {e}", section.dir.display()),
            );
            return None;
        }
    };
    let response = header_pairs(plan, &section.response, "http.static.response");
    let lower = |v: &[String]| v.iter().map(|e| e.to_lowercase()).collect::<Vec<_>>();
    // Never hand out PHP sources by accident (`static.dir: .` is common).
    let forbid = if section.forbid.is_empty() {
        vec![".php".to_owned(), ".htaccess".to_owned()]
    } else {
        lower(&section.forbid)
    };
    Some(StaticOptions {
        dir,
        forbid,
        allow: lower(&section.allow),
        calculate_etag: section.calculate_etag,
        weak: section.weak,
        response,
    })
}

/// `http.ssl` -> the address and a loaded TLS acceptor.
fn tls_plan(
    plan: &mut Plan<'_>,
    ssl: &SslConfig,
) -> Option<(String, tokio_rustls::TlsAcceptor, bool)> {
    use coyote_config::ClientAuthType as C;
    if ssl.acme.is_some() {
        plan.problem(
            "http.ssl.acme",
            "automatic certificates are not supported by Coyote yet; use cert and key",
        );
        return None;
    }
    let (Some(cert), Some(key)) = (&ssl.cert, &ssl.key) else {
        plan.problem_of(
            ProblemKind::Missing,
            "http.ssl",
            "cert and key are both required",
        );
        return None;
    };
    let address = plan.tcp_address("http.ssl.address", &ssl.address)?;
    let opts = TlsOptions {
        cert: cert.clone(),
        key: key.clone(),
        root_ca: ssl.root_ca.clone(),
        client_auth: match ssl.client_auth_type {
            C::NoClientCerts => ClientAuth::None,
            C::RequestClientCert => ClientAuth::Request,
            C::RequireAnyClientCert => ClientAuth::RequireAny,
            C::VerifyClientCertIfGiven => ClientAuth::VerifyIfGiven,
            C::RequireAndVerifyClientCert => ClientAuth::RequireAndVerify,
        },
        http2: true,
    };
    match crate::tls_acceptor(&opts) {
        Ok(acceptor) => Some((address, acceptor, ssl.redirect)),
        Err(e) => {
            plan.problem_of(ProblemKind::File, "http.ssl", e.to_string());
            None
        }
    }
}
