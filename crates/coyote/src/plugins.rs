//! Starting each plugin from its config section. Every plugin gets its
//! own tracker; `serve` stops them in order.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use coyote_config::{Config, ListenAddr, ServerConfig};
use coyote_http::{
    ClientAuth, ContextEncoding, CorsOptions, FcgiListener, Handler, HeadersOptions, HttpMetrics,
    HttpOptions, Placement, StaticOptions, TlsOptions, UploadOptions,
};
use coyote_http::{HeaderName, HeaderValue};
use coyote_metrics::{CollectorSpec, CollectorType, Metrics, MetricsService};
use coyote_pool::{Pool, RelayAddress, Shards};
use coyote_rpc::services::{AppLogger, Informer, Resetter};
use coyote_rpc::{RpcServer, Services};
use coyote_server::pool_options;
use coyote_status::{Checker, Status};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{config_failure, runtime_failure, Failure};

/// A started listener with its own tasks and stop token.
pub struct Running {
    /// Plugin name, for logs.
    pub name: &'static str,
    /// Cancel to stop accepting.
    pub stop: CancellationToken,
    /// The plugin's tasks (accept loop, connections).
    pub tasks: TaskTracker,
}

impl Running {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Stops accepting and waits for in-flight work.
    pub async fn stop(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

fn tcp_address(addr: &ListenAddr, key: &str) -> Result<String, Failure> {
    match addr {
        ListenAddr::Tcp { host, port } if host.is_empty() => Ok(format!("0.0.0.0:{port}")),
        ListenAddr::Tcp { host, port } if host.contains(':') => Ok(format!("[{host}]:{port}")),
        ListenAddr::Tcp { host, port } => Ok(format!("{host}:{port}")),
        ListenAddr::Unix(_) => Err(config_failure(anyhow::anyhow!(
            "{key}: unix sockets are not supported here yet; use host:port"
        ))),
    }
}

/// How many event-loop shards to start: up to `limit`, no more than the
/// http pool has workers, and none for a pool on a tcp/unix relay (its
/// worker connections are accepted by the main event loop) or in debug
/// mode. A config error here means 1: `start_pools` reports it.
pub fn shard_count(config: &Config, working_dir: &Path, limit: usize) -> usize {
    let Some(http) = &config.http else {
        return 1;
    };
    let server = config.server.clone().unwrap_or_default();
    match pool_options(
        "http",
        &http.pool,
        &server,
        config.rpc.as_ref(),
        Some(working_dir),
    ) {
        Ok(opts) if opts.relay == RelayAddress::Pipes => limit.min(opts.effective_workers()).max(1),
        _ => 1,
    }
}

/// Starts the pools of plugins that run workers (only `http` today). A
/// pool over pipes with at least as many workers as there are `shards`
/// is spread over them.
pub async fn start_pools(
    config: &Config,
    server: &ServerConfig,
    working_dir: &Path,
    shards: Option<&Shards>,
) -> Result<BTreeMap<String, Pool>, Failure> {
    let mut pools = BTreeMap::new();
    if let Some(http) = &config.http {
        let opts = pool_options(
            "http",
            &http.pool,
            server,
            config.rpc.as_ref(),
            Some(working_dir),
        )
        .map_err(config_failure)?;
        let shards = shards.filter(|shards| {
            opts.relay == RelayAddress::Pipes && opts.effective_workers() >= shards.len()
        });
        let pool = match shards {
            Some(shards) => Pool::start_sharded(opts, shards.clone()).await,
            None => Pool::start(opts).await,
        };
        let pool = pool
            .context("http: starting the worker pool")
            .map_err(runtime_failure)?;
        pools.insert("http".to_owned(), pool);
    }
    Ok(pools)
}

/// The metrics registry, when a `metrics` section exists: pools, HTTP
/// request metrics, and the collectors of `metrics.collect`.
pub fn build_metrics(
    config: &Config,
    pools: &BTreeMap<String, Pool>,
    http: Option<&HttpMetrics>,
) -> Result<Option<Arc<Metrics>>, Failure> {
    let Some(section) = &config.metrics else {
        return Ok(None);
    };
    let metrics = Metrics::new(pools.clone(), |registry| {
        if let Some(http) = http {
            http.register(registry);
        }
    });
    for (name, c) in &section.collect {
        let spec = CollectorSpec {
            namespace: c.namespace.clone(),
            subsystem: c.subsystem.clone(),
            kind: match c.kind {
                coyote_config::CollectorType::Counter => CollectorType::Counter,
                coyote_config::CollectorType::Gauge => CollectorType::Gauge,
                coyote_config::CollectorType::Histogram => CollectorType::Histogram,
                coyote_config::CollectorType::Summary => CollectorType::Summary,
            },
            help: c.help.clone(),
            labels: c.labels.clone(),
            buckets: c.buckets.clone(),
            objectives: c
                .objectives
                .iter()
                .map(|(q, e)| (q.to_string(), *e))
                .collect(),
        };
        metrics
            .user()
            .declare(name, &spec)
            .with_context(|| format!("metrics.collect.{name}"))
            .map_err(config_failure)?;
    }
    Ok(Some(Arc::new(metrics)))
}

/// The Prometheus endpoint.
pub async fn start_metrics(
    config: &Config,
    metrics: Option<&Arc<Metrics>>,
) -> Result<Option<Running>, Failure> {
    let (Some(section), Some(metrics)) = (&config.metrics, metrics) else {
        return Ok(None);
    };
    let address = tcp_address(&section.address, "metrics.address")?;
    let listener = TcpListener::bind(&address)
        .await
        .with_context(|| format!("metrics: cannot listen on {address}"))
        .map_err(runtime_failure)?;
    tracing::info!(target: "coyote::metrics", %address, "metrics listening");
    let running = Running::new("metrics");
    running.tasks.spawn(coyote_metrics::serve(
        metrics.clone(),
        listener,
        running.stop.clone(),
        running.tasks.clone(),
    ));
    Ok(Some(running))
}

/// `http.headers` -> the headers middleware's options.
fn headers_options(http: &coyote_config::HttpConfig) -> Result<HeadersOptions, Failure> {
    let Some(section) = &http.headers else {
        return Ok(HeadersOptions::default());
    };
    let pairs = |map: &std::collections::BTreeMap<String, String>, key: &str| {
        map.iter()
            .map(|(k, v)| {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|e| config_failure(anyhow::anyhow!("http.headers.{key}.{k}: {e}")))?;
                let value = HeaderValue::from_str(v)
                    .map_err(|e| config_failure(anyhow::anyhow!("http.headers.{key}.{k}: {e}")))?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, Failure>>()
    };
    let cors = match &section.cors {
        None => None,
        Some(c) => Some(CorsOptions {
            allowed_origin: c.allowed_origin.clone(),
            allowed_origin_regex: if c.allowed_origin_regex.is_empty() {
                None
            } else {
                Some(regex::Regex::new(&c.allowed_origin_regex).map_err(|e| {
                    config_failure(anyhow::anyhow!(
                        "http.headers.cors.allowed_origin_regex: {e}"
                    ))
                })?)
            },
            allowed_headers: c.allowed_headers.clone(),
            allowed_methods: c.allowed_methods.clone(),
            allow_credentials: c.allow_credentials,
            exposed_headers: c.exposed_headers.clone(),
            max_age: c.max_age,
        }),
    };
    Ok(HeadersOptions {
        request: pairs(&section.request, "request")?,
        response: pairs(&section.response, "response")?,
        cors,
    })
}

/// `http.static` -> the static middleware's options (root made canonical,
/// so symlinks cannot lead outside it).
fn static_options(http: &coyote_config::HttpConfig) -> Result<StaticOptions, Failure> {
    let section = http.static_files.clone().unwrap_or_default();
    let dir = std::fs::canonicalize(&section.dir)
        .with_context(|| format!("http.static.dir: {}", section.dir.display()))
        .map_err(config_failure)?;
    let response = section
        .response
        .iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| config_failure(anyhow::anyhow!("http.static.response.{k}: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| config_failure(anyhow::anyhow!("http.static.response.{k}: {e}")))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let lower = |v: &[String]| v.iter().map(|e| e.to_lowercase()).collect::<Vec<_>>();
    // Never hand out PHP sources by accident (`static.dir: .` is common).
    let forbid = if section.forbid.is_empty() {
        vec![".php".to_owned(), ".htaccess".to_owned()]
    } else {
        lower(&section.forbid)
    };
    Ok(StaticOptions {
        dir,
        forbid,
        allow: lower(&section.allow),
        calculate_etag: section.calculate_etag,
        weak: section.weak,
        response,
    })
}

/// The HTTP listener.
pub async fn start_http(
    config: &Config,
    pool: Pool,
    metrics: Option<HttpMetrics>,
) -> Result<Option<Running>, Failure> {
    let Some(http) = &config.http else {
        return Ok(None);
    };
    let owner = pool.options().command.user;
    let mut headers = None;
    let mut gzip = false;
    let mut static_files = None;
    for name in &http.middleware {
        match name.as_str() {
            "headers" => headers = Some(headers_options(http)?),
            "gzip" => gzip = true,
            "static" => static_files = Some(static_options(http)?),
            other => tracing::warn!(target: "coyote::http", middleware = other,
                "http.middleware: not supported by Coyote yet; ignored"),
        }
    }
    let opts = HttpOptions {
        max_request_size: http.max_request_size_bytes(),
        raw_body: http.raw_body,
        internal_error_code: http.internal_error_code,
        access_logs: http.access_logs,
        debug: http.pool.debug,
        trusted_subnets: http.trusted_subnets.clone(),
        uploads: UploadOptions {
            dir: http.uploads.dir.clone(),
            forbid: http.uploads.forbid.clone(),
            allow: http.uploads.allow.clone(),
            owner,
        },
        encoding: match http.context_encoding {
            coyote_config::ContextEncoding::Proto => ContextEncoding::Proto,
            _ => ContextEncoding::Json,
        },
        header_read_timeout: http.header_read_timeout,
        h2c: http.http2.h2c,
        max_concurrent_streams: http.http2.max_concurrent_streams,
        headers,
        gzip,
        static_files,
        ..HttpOptions::default()
    };
    let ssl = http.ssl.as_ref().filter(|ssl| ssl.enabled());
    let fcgi = http.fcgi.as_ref().and_then(|f| f.address.as_ref());
    if http.address.is_none() && ssl.is_none() && fcgi.is_none() {
        return Err(config_failure(anyhow::anyhow!(
            "http: set at least one of http.address, http.ssl (cert and key) or http.fcgi.address"
        )));
    }
    if ssl.is_some_and(|ssl| ssl.acme.is_some()) {
        return Err(config_failure(anyhow::anyhow!(
            "http.ssl.acme: automatic certificates are not supported by Coyote yet; use cert and key"
        )));
    }
    let acceptor = match ssl {
        Some(ssl) => Some(tls_acceptor(ssl)?),
        None => None,
    };
    let header_read_timeout = opts.header_read_timeout;
    let placement = pool.shards().map_or_else(Placement::local, |shards| {
        Placement::sharded(shards.clone())
    });
    let running = Running::new("http");
    let mut handler = Handler::new(pool, opts);
    if let Some(metrics) = metrics {
        handler = handler.with_metrics(metrics);
    }
    let handler = Arc::new(handler);
    let mut redirect_to = None;
    if let (Some(ssl), Some(acceptor)) = (ssl, acceptor) {
        let address = tcp_address(&ssl.address, "http.ssl.address")?;
        let listener = bind(&address, "http.ssl").await?;
        tracing::info!(target: "coyote::http", %address, "https listening (HTTP/1.1 and HTTP/2)");
        if ssl.redirect {
            redirect_to = Some(listener.local_addr().map_or(443, |a| a.port()));
        }
        running.tasks.spawn(coyote_http::serve_tls(
            listener,
            placement.clone(),
            acceptor,
            handler.clone(),
            running.stop.clone(),
            running.tasks.clone(),
        ));
    }
    if let Some(address) = &http.address {
        let address = tcp_address(address, "http.address")?;
        let listener = bind(&address, "http").await?;
        if let Some(https_port) = redirect_to {
            tracing::info!(target: "coyote::http", %address, https_port, "http listening (redirecting to https)");
            running.tasks.spawn(coyote_http::serve_redirect(
                listener,
                https_port,
                header_read_timeout,
                running.stop.clone(),
                running.tasks.clone(),
            ));
        } else {
            tracing::info!(target: "coyote::http", %address, "http listening");
            running.tasks.spawn(coyote_http::serve(
                listener,
                placement,
                handler.clone(),
                running.stop.clone(),
                running.tasks.clone(),
            ));
        }
    }
    if let Some(address) = fcgi {
        let listener = match address {
            ListenAddr::Unix(path) => {
                // A socket left by a previous run would make bind fail;
                // anything else at that path is left alone (and bind
                // reports it).
                use std::os::unix::fs::FileTypeExt;
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                    let _ = std::fs::remove_file(path);
                }
                let listener = tokio::net::UnixListener::bind(path)
                    .with_context(|| format!("http.fcgi: cannot listen on {}", path.display()))
                    .map_err(runtime_failure)?;
                FcgiListener::Unix(listener)
            }
            tcp => {
                let address = tcp_address(tcp, "http.fcgi.address")?;
                FcgiListener::Tcp(bind(&address, "http.fcgi").await?)
            }
        };
        tracing::info!(target: "coyote::http", address = %address.dsn(), "fastcgi listening");
        running.tasks.spawn(coyote_http::serve_fcgi(
            listener,
            handler,
            running.stop.clone(),
            running.tasks.clone(),
        ));
    }
    Ok(Some(running))
}

async fn bind(address: &str, key: &str) -> Result<TcpListener, Failure> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("{key}: cannot listen on {address}"))
        .map_err(runtime_failure)
}

fn tls_acceptor(ssl: &coyote_config::SslConfig) -> Result<coyote_http::TlsAcceptor, Failure> {
    use coyote_config::ClientAuthType as C;
    let (Some(cert), Some(key)) = (&ssl.cert, &ssl.key) else {
        return Err(config_failure(anyhow::anyhow!(
            "http.ssl: cert and key are both required"
        )));
    };
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
    coyote_http::tls_acceptor(&opts)
        .context("http.ssl")
        .map_err(config_failure)
}

/// The RPC listener with informer, resetter and app logger.
pub async fn start_rpc(
    config: &Config,
    pools: &BTreeMap<String, Pool>,
    metrics: Option<&Arc<Metrics>>,
) -> Result<Option<Running>, Failure> {
    let Some(rpc) = &config.rpc else {
        return Ok(None);
    };
    let address = rpc.listen.dsn();
    let server = RpcServer::bind(&address)
        .await
        .with_context(|| format!("rpc: cannot listen on {address}"))
        .map_err(runtime_failure)?;
    tracing::info!(target: "coyote::rpc", address = server.address(), "rpc listening");
    let mut services = Services::new()
        .with(Arc::new(Informer::new(pools.clone())))
        .with(Arc::new(Resetter::new(pools.clone())))
        .with(Arc::new(AppLogger));
    if let Some(metrics) = metrics {
        services = services.with(Arc::new(MetricsService::new(metrics.user().clone())));
    }
    let running = Running::new("rpc");
    running
        .tasks
        .spawn(server.serve(services, running.stop.clone(), running.tasks.clone()));
    Ok(Some(running))
}

/// The status endpoint; `stopping` flips its answers during a stop.
pub async fn start_status(
    config: &Config,
    pools: &BTreeMap<String, Pool>,
    stopping: CancellationToken,
) -> Result<Option<Running>, Failure> {
    let Some(status) = &config.status else {
        return Ok(None);
    };
    let address = tcp_address(&status.address, "status.address")?;
    let listener = TcpListener::bind(&address)
        .await
        .with_context(|| format!("status: cannot listen on {address}"))
        .map_err(runtime_failure)?;
    tracing::info!(target: "coyote::status", %address, "status listening");
    let checkers: BTreeMap<String, Arc<dyn Checker>> = pools
        .iter()
        .map(|(name, pool)| (name.clone(), Arc::new(pool.clone()) as Arc<dyn Checker>))
        .collect();
    let endpoint = Arc::new(Status::new(
        checkers,
        status.unavailable_status_code,
        stopping,
    ));
    let running = Running::new("status");
    running
        .tasks
        .spawn(endpoint.serve(listener, running.stop.clone(), running.tasks.clone()));
    Ok(Some(running))
}
