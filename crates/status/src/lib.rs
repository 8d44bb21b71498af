//! The status plugin: `GET /health?plugin=http` and `GET /ready?plugin=http`
//! for load balancers and orchestrators, as RoadRunner serves them.
//!
//! - health: a plugin is healthy while at least one of its workers is alive
//!   (ready or working);
//! - ready: a plugin is ready while at least one worker is idle, i.e. a
//!   request would be served now.
//!
//! Both answer a JSON array of `{plugin_name, error_message, status_code}`
//! with HTTP 200, or `unavailable_status_code` (503 by default) when any
//! plugin asked about is not. `/health` without `plugin` checks every
//! plugin; `/ready` requires one (400). `GET /jobs` answers the jobs
//! plugins' pipeline states (RoadRunner's JSON objects). Once the server begins to stop,
//! `/health` answers 200 "service is shutting down" and `/ready` the
//! unavailable code, so traffic drains away before workers stop.
//!
//! `/dashboard` (unless `status.dashboard.enabled: false`) is the live
//! dashboard of the `coyote-dashboard` crate; `dashboard` adapts the host's
//! registry to it.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use coyote_host::Checker;

/// One line of the answer (RoadRunner's JSON names).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The plugin.
    pub plugin_name: String,
    /// Why it is not OK, or empty.
    pub error_message: String,
    /// Its code.
    pub status_code: u16,
}

pub use coyote_dashboard::Dashboard;

type JobsFn = Box<dyn Fn() -> Option<Vec<serde_json::Value>> + Send + Sync>;

/// The status plugin's state.
pub struct Status {
    plugins: Box<dyn Fn() -> BTreeMap<String, Arc<dyn Checker>> + Send + Sync>,
    jobs: Option<JobsFn>,
    dashboard: Option<Arc<Dashboard>>,
    unavailable: StatusCode,
    stopping: CancellationToken,
}

impl Status {
    /// `plugins` by name; `unavailable` is `status.unavailable_status_code`;
    /// `stopping` is cancelled when the server begins its graceful stop.
    pub fn new(
        plugins: BTreeMap<String, Arc<dyn Checker>>,
        unavailable: u16,
        stopping: CancellationToken,
    ) -> Self {
        Self::live(move || plugins.clone(), unavailable, stopping)
    }

    /// Like [`Status::new`], asking `plugins` for the current checks on
    /// every request (plugins that start later appear).
    pub fn live(
        plugins: impl Fn() -> BTreeMap<String, Arc<dyn Checker>> + Send + Sync + 'static,
        unavailable: u16,
        stopping: CancellationToken,
    ) -> Self {
        Self {
            plugins: Box::new(plugins),
            jobs: None,
            dashboard: None,
            unavailable: StatusCode::from_u16(unavailable)
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            stopping,
        }
    }

    /// Also serves `GET /jobs`: the pipeline states `jobs` returns
    /// (`None`: no jobs plugin runs).
    pub fn with_jobs(
        mut self,
        jobs: impl Fn() -> Option<Vec<serde_json::Value>> + Send + Sync + 'static,
    ) -> Self {
        self.jobs = Some(Box::new(jobs));
        self
    }

    /// Also serves the dashboard's routes under `/dashboard`.
    pub fn with_dashboard(mut self, dashboard: Arc<Dashboard>) -> Self {
        self.dashboard = Some(dashboard);
        self
    }

    fn jobs_answer(&self) -> (StatusCode, String) {
        if self.stopping.is_cancelled() {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "service is shutting down\n".into(),
            );
        }
        match self.jobs.as_ref().and_then(|f| f()) {
            Some(states) => (
                StatusCode::OK,
                serde_json::to_string(&states).unwrap_or_else(|_| "[]".into()),
            ),
            None => (self.unavailable, "jobs plugin not found\n".into()),
        }
    }

    /// Answers one request (no socket needed, for tests).
    pub fn answer(&self, path: &str, query: Option<&str>) -> (StatusCode, String) {
        let asked: Vec<String> = query
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.strip_prefix("plugin="))
            .map(|p| p.to_owned())
            .collect();
        let ready = match path {
            "/health" => false,
            "/ready" => true,
            "/jobs" => return self.jobs_answer(),
            _ => return (StatusCode::NOT_FOUND, "not found\n".into()),
        };
        if self.stopping.is_cancelled() {
            let code = if ready {
                self.unavailable
            } else {
                StatusCode::OK
            };
            return (code, "service is shutting down\n".into());
        }
        if ready && asked.is_empty() {
            return (
                StatusCode::BAD_REQUEST,
                "No plugins provided in query. Query should be in form of: ready?plugin=plugin1&plugin=plugin2\n".into(),
            );
        }
        let plugins = (self.plugins)();
        let names: Vec<String> = if asked.is_empty() {
            plugins.keys().cloned().collect()
        } else {
            asked
        };
        let mut code = StatusCode::OK;
        let mut reports = Vec::new();
        for name in names {
            let Some(plugin) = plugins.get(&name) else {
                tracing::info!(target: "coyote::status", plugin = %name, "plugin does not support status checks");
                continue;
            };
            let status = if ready {
                plugin.ready()
            } else {
                plugin.health()
            };
            let report = if status >= 500 {
                code = self.unavailable;
                Report {
                    plugin_name: name,
                    error_message: if ready {
                        "no idle workers".into()
                    } else {
                        "no live workers".into()
                    },
                    status_code: self.unavailable.as_u16(),
                }
            } else {
                Report {
                    plugin_name: name,
                    error_message: String::new(),
                    status_code: status,
                }
            };
            reports.push(report);
        }
        let body = serde_json::to_string(&reports).unwrap_or_else(|_| "[]".into());
        (code, body)
    }

    /// Serves until `shutdown` (a token separate from `stopping`: the
    /// status endpoint keeps answering "shutting down" while the rest
    /// drains).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) {
        let handle = move |req: hyper::Request<hyper::body::Incoming>| {
            let this = self.clone();
            async move {
                if let Some(dashboard) = &this.dashboard {
                    if Dashboard::owns(req.uri().path()) {
                        return dashboard.handle(req).await;
                    }
                }
                let (code, body) = this.answer(req.uri().path(), req.uri().query());
                let mut response = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
                *response.status_mut() = code;
                response
            }
        };
        coyote_host::endpoint::serve_streamed(listener, handle, shutdown, tracker).await;
    }
}

mod dashboard;
mod plugin;
pub use plugin::StatusPlugin;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU16, Ordering};

    use super::*;

    struct Fixed(AtomicU16, AtomicU16);
    impl Checker for Fixed {
        fn health(&self) -> u16 {
            self.0.load(Ordering::Relaxed)
        }
        fn ready(&self) -> u16 {
            self.1.load(Ordering::Relaxed)
        }
    }

    #[test]
    fn answers_like_roadrunner() {
        let http = Arc::new(Fixed(AtomicU16::new(200), AtomicU16::new(200)));
        let mut plugins: BTreeMap<String, Arc<dyn Checker>> = BTreeMap::new();
        plugins.insert("http".into(), http.clone());
        let stopping = CancellationToken::new();
        let status = Status::new(plugins, 503, stopping.clone());

        let (code, body) = status.answer("/health", Some("plugin=http"));
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            body,
            r#"[{"plugin_name":"http","error_message":"","status_code":200}]"#
        );
        assert_eq!(status.answer("/health", None).0, StatusCode::OK);
        assert_eq!(status.answer("/ready", None).0, StatusCode::BAD_REQUEST);
        assert_eq!(status.answer("/nope", None).0, StatusCode::NOT_FOUND);

        http.1.store(503, Ordering::Relaxed);
        let (code, body) = status.answer("/ready", Some("plugin=http"));
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("no idle workers"), "{body}");
        assert_eq!(
            status.answer("/health", Some("plugin=http")).0,
            StatusCode::OK
        );

        stopping.cancel();
        assert_eq!(
            status.answer("/health", Some("plugin=http")).0,
            StatusCode::OK
        );
        let (code, body) = status.answer("/ready", Some("plugin=http"));
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("shutting down"));
    }

    #[test]
    fn custom_unavailable_code() {
        let dead = Arc::new(Fixed(AtomicU16::new(503), AtomicU16::new(503)));
        let mut plugins: BTreeMap<String, Arc<dyn Checker>> = BTreeMap::new();
        plugins.insert("http".into(), dead);
        let status = Status::new(plugins, 599, CancellationToken::new());
        assert_eq!(
            status.answer("/health", Some("plugin=http")).0.as_u16(),
            599
        );
    }
}
