//! The routes under `/dashboard`:
//! - `GET /dashboard`: the page;
//! - `GET /dashboard/events`: the SSE stream of snapshots;
//! - `GET /dashboard/api/snapshot`: one snapshot as JSON (no rates);
//! - `POST /dashboard/api/reset?pool=X`: a rolling reset of pool `X`
//!   (as `coyote reset X`), answered when it is done;
//! - `POST /dashboard/api/pause?pipeline=Y`, `.../resume?pipeline=Y`: as
//!   the jobs RPC `Pause` / `Resume`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};

use crate::guard::Refusal;
use crate::{ActionError, Dashboard};

/// The page, one self-contained document.
pub const PAGE: &str = include_str!("page.html");

/// A response of the dashboard (bodies may stream).
pub type Answer = Response<UnsyncBoxBody<Bytes, Infallible>>;

/// The page may load nothing from elsewhere and connect only back here.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

fn text(status: StatusCode, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Answer {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = text(status, body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn only(allowed: &'static str) -> Answer {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allowed));
    response
}

/// The value of `key` in a query string, percent-decoded.
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

fn refused(refusal: Refusal) -> Answer {
    let mut response = text(refusal.status(), refusal.message());
    if refusal == Refusal::Missing {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"coyote dashboard\""),
        );
    }
    response
}

fn failed(error: &ActionError) -> Answer {
    let status = match error {
        ActionError::UnknownPool(_) | ActionError::NoJobs => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    text(status, format!("{error}\n"))
}

impl Dashboard {
    /// Whether `path` is one of the dashboard's (`/dashboard`, `/dashboard/...`).
    pub fn owns(path: &str) -> bool {
        path == "/dashboard" || path.starts_with("/dashboard/")
    }

    /// Answers a request whose path the dashboard [owns](Dashboard::owns)
    /// (its body is not read).
    pub async fn handle<B>(self: &Arc<Self>, req: Request<B>) -> Answer {
        let (parts, _) = req.into_parts();
        let route = parts.uri.path().strip_prefix("/dashboard").unwrap_or("/");
        match route {
            "" | "/" => self.page(&parts.method),
            "/events" => self.events(&parts.method),
            "/api/snapshot" if parts.method == Method::GET => {
                json(StatusCode::OK, &self.sample_once())
            }
            "/api/snapshot" => only("GET"),
            "/api/reset" | "/api/pause" | "/api/resume" => self.act(route, &parts).await,
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    fn page(&self, method: &Method) -> Answer {
        if method != Method::GET && method != Method::HEAD {
            return only("GET, HEAD");
        }
        let mut response = text(StatusCode::OK, PAGE);
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert("content-security-policy", HeaderValue::from_static(CSP));
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        response
    }

    fn events(&self, method: &Method) -> Answer {
        if method != Method::GET {
            return only("GET");
        }
        let stream = crate::sse::stream(
            self.subscribe(),
            self.shutdown.clone(),
            crate::sse::KEEP_ALIVE,
        );
        let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // nginx in front: do not buffer the stream.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }

    async fn act(&self, route: &str, req: &Parts) -> Answer {
        if req.method != Method::POST {
            return only("POST");
        }
        if let Err(refusal) = self.guard.check(&req.headers) {
            return refused(refusal);
        }
        let query = req.uri.query();
        let result = if route == "/api/reset" {
            let Some(name) = query_value(query, "pool") else {
                return text(StatusCode::BAD_REQUEST, "pool=<name> is required\n");
            };
            let Some(pool) = self.source.pools().remove(&name) else {
                return failed(&ActionError::UnknownPool(name));
            };
            tracing::info!(target: "coyote::status", pool = %name, "dashboard: reset");
            pool.reset()
                .await
                .map(|()| serde_json::json!({ "reset": name }))
                .map_err(|e| ActionError::Failed(e.to_string()))
        } else {
            let Some(name) = query_value(query, "pipeline") else {
                return text(StatusCode::BAD_REQUEST, "pipeline=<name> is required\n");
            };
            let pause = route == "/api/pause";
            tracing::info!(target: "coyote::status", pipeline = %name, pause, "dashboard: pause/resume");
            self.source
                .set_paused(&name, pause)
                .await
                .map(|()| serde_json::json!({ "pipeline": name, "paused": pause }))
        };
        match result {
            Ok(body) => json(StatusCode::OK, &body),
            Err(error) => failed(&error),
        }
    }
}

#[cfg(test)]
mod tests;
