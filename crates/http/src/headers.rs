//! The `headers` middleware: extra request headers (seen by PHP), extra
//! response headers, and CORS (preflight answered here, without a worker).

use hyper::header::{HeaderMap, HeaderName, HeaderValue, ORIGIN, VARY};
use hyper::{Method, StatusCode};

/// CORS settings (`http.headers.cors`).
#[derive(Clone, Debug, Default)]
pub struct CorsOptions {
    /// Origins allowed: `*`, or a comma-separated list; one `*` wildcard
    /// per entry is allowed (`https://*.example.com`).
    pub allowed_origin: String,
    /// A regular expression origins may match instead.
    pub allowed_origin_regex: Option<regex::Regex>,
    /// Request headers allowed in preflights (`*` or a list).
    pub allowed_headers: String,
    /// Methods allowed in preflights (a list; empty = GET, POST, HEAD).
    pub allowed_methods: String,
    /// Send `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
    /// `Access-Control-Expose-Headers`.
    pub exposed_headers: String,
    /// `Access-Control-Max-Age` in seconds (0 = not sent).
    pub max_age: u64,
}

/// The middleware's settings (`http.headers`).
#[derive(Clone, Debug, Default)]
pub struct HeadersOptions {
    /// Added to every request before it reaches the worker.
    pub request: Vec<(HeaderName, HeaderValue)>,
    /// Added to every response.
    pub response: Vec<(HeaderName, HeaderValue)>,
    /// CORS, when configured.
    pub cors: Option<CorsOptions>,
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

fn wildcard_match(pattern: &str, origin: &str) -> bool {
    match pattern.split_once('*') {
        Some((prefix, suffix)) => {
            origin.len() >= prefix.len() + suffix.len()
                && origin[..prefix.len()].eq_ignore_ascii_case(prefix)
                && origin[origin.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
        None => pattern.eq_ignore_ascii_case(origin),
    }
}

impl CorsOptions {
    fn allows_any_origin(&self) -> bool {
        list(&self.allowed_origin).any(|o| o == "*")
    }

    fn allows(&self, origin: &str) -> bool {
        self.allows_any_origin()
            || list(&self.allowed_origin).any(|p| wildcard_match(p, origin))
            || self
                .allowed_origin_regex
                .as_ref()
                .is_some_and(|r| r.is_match(origin))
    }

    fn allows_method(&self, method: &str) -> bool {
        if self.allowed_methods.trim().is_empty() {
            return ["GET", "POST", "HEAD"].contains(&method);
        }
        list(&self.allowed_methods).any(|m| m == "*" || m.eq_ignore_ascii_case(method))
    }

    fn allows_headers(&self, requested: &str) -> bool {
        let allowed: Vec<&str> = list(&self.allowed_headers).collect();
        allowed.contains(&"*")
            || list(requested).all(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h)))
    }

    /// The value for Access-Control-Allow-Origin.
    fn origin_value(&self, origin: &str) -> Option<HeaderValue> {
        if self.allows_any_origin() && !self.allow_credentials {
            Some(HeaderValue::from_static("*"))
        } else {
            HeaderValue::from_str(origin).ok()
        }
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// A CORS preflight answered without a worker: status and headers, or
/// `None` when the request is not a preflight.
pub(crate) fn preflight(
    cors: &CorsOptions,
    method: &Method,
    request: &HeaderMap,
) -> Option<(StatusCode, HeaderMap)> {
    if method != Method::OPTIONS {
        return None;
    }
    let origin = request.get(ORIGIN)?.to_str().ok()?;
    let asked_method = request
        .get("access-control-request-method")?
        .to_str()
        .ok()?;
    let mut headers = HeaderMap::new();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    headers.append(
        VARY,
        HeaderValue::from_static("Access-Control-Request-Method"),
    );
    headers.append(
        VARY,
        HeaderValue::from_static("Access-Control-Request-Headers"),
    );
    let asked_headers = request
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !cors.allows(origin)
        || !cors.allows_method(asked_method)
        || !cors.allows_headers(asked_headers)
    {
        // Refused: no CORS headers, the browser blocks the real request.
        return Some((StatusCode::NO_CONTENT, headers));
    }
    if let Some(value) = cors.origin_value(origin) {
        headers.insert(
            HeaderName::from_static("access-control-allow-origin"),
            value,
        );
    }
    set(
        &mut headers,
        "access-control-allow-methods",
        &asked_method.to_ascii_uppercase(),
    );
    if !asked_headers.is_empty() {
        set(&mut headers, "access-control-allow-headers", asked_headers);
    }
    if cors.allow_credentials {
        set(&mut headers, "access-control-allow-credentials", "true");
    }
    if cors.max_age > 0 {
        set(
            &mut headers,
            "access-control-max-age",
            &cors.max_age.to_string(),
        );
    }
    Some((StatusCode::NO_CONTENT, headers))
}

/// CORS headers for an actual (non-preflight) request.
pub(crate) fn cors_response(
    cors: &CorsOptions,
    origin: Option<&HeaderValue>,
    response: &mut HeaderMap,
) {
    response.append(VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin.and_then(|v| v.to_str().ok()) else {
        return;
    };
    if !cors.allows(origin) {
        return;
    }
    if let Some(value) = cors.origin_value(origin) {
        response.insert(
            HeaderName::from_static("access-control-allow-origin"),
            value,
        );
    }
    if cors.allow_credentials {
        set(response, "access-control-allow-credentials", "true");
    }
    if !cors.exposed_headers.trim().is_empty() {
        set(
            response,
            "access-control-expose-headers",
            &cors.exposed_headers,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> CorsOptions {
        CorsOptions {
            allowed_origin: "https://app.example.com, https://*.example.org".into(),
            allowed_headers: "Content-Type, X-Token".into(),
            allowed_methods: "GET,POST,PUT".into(),
            allow_credentials: true,
            exposed_headers: "X-Total".into(),
            max_age: 600,
            ..CorsOptions::default()
        }
    }

    fn req(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_static(k),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn preflight_allowed_and_refused() {
        let ok = req(&[
            ("origin", "https://a.b.example.org"),
            ("access-control-request-method", "put"),
            ("access-control-request-headers", "x-token"),
        ]);
        let (status, h) = preflight(&cors(), &Method::OPTIONS, &ok).unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(h["access-control-allow-origin"], "https://a.b.example.org");
        assert_eq!(h["access-control-allow-methods"], "PUT");
        assert_eq!(h["access-control-allow-headers"], "x-token");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["access-control-max-age"], "600");

        let bad_origin = req(&[
            ("origin", "https://evil.com"),
            ("access-control-request-method", "GET"),
        ]);
        let (_, h) = preflight(&cors(), &Method::OPTIONS, &bad_origin).unwrap();
        assert!(h.get("access-control-allow-origin").is_none());
        let bad_method = req(&[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "DELETE"),
        ]);
        assert!(preflight(&cors(), &Method::OPTIONS, &bad_method)
            .unwrap()
            .1
            .get("access-control-allow-origin")
            .is_none());
        let bad_header = req(&[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-other"),
        ]);
        assert!(preflight(&cors(), &Method::OPTIONS, &bad_header)
            .unwrap()
            .1
            .get("access-control-allow-origin")
            .is_none());
        assert!(
            preflight(&cors(), &Method::GET, &ok).is_none(),
            "not a preflight"
        );
        assert!(
            preflight(&cors(), &Method::OPTIONS, &req(&[("origin", "x")])).is_none(),
            "plain OPTIONS"
        );
    }

    #[test]
    fn actual_requests_and_star() {
        let mut out = HeaderMap::new();
        cors_response(
            &cors(),
            Some(&HeaderValue::from_static("https://app.example.com")),
            &mut out,
        );
        assert_eq!(
            out["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert_eq!(out["access-control-expose-headers"], "X-Total");
        let star = CorsOptions {
            allowed_origin: "*".into(),
            ..CorsOptions::default()
        };
        let mut out = HeaderMap::new();
        cors_response(
            &star,
            Some(&HeaderValue::from_static("https://any.io")),
            &mut out,
        );
        assert_eq!(out["access-control-allow-origin"], "*");
        let regex = CorsOptions {
            allowed_origin_regex: Some(regex::Regex::new(r"^https://[a-z]+\.test$").unwrap()),
            ..CorsOptions::default()
        };
        assert!(regex.allows("https://abc.test"));
        assert!(!regex.allows("https://abc.test.evil"));
    }
}
